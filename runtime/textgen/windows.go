package textgen

import (
	"context"
	"fmt"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Windows runs a windowed Generator's model on every full window of text,
// batch windows per call: for each t from Window to len(text)-1 it feeds the
// Window characters before t from a fresh state and calls f with t and the
// distribution over text[t] (probabilities, or logits when Logits says so;
// the slice is reused after f returns). It is the windowed step for callers
// that need every position (scoring a text) rather than a sampled stream.
func (g *Generator) Windows(ctx context.Context, text []int, batch int, f func(t int, dist []float32) error) error {
	if g.mode != ModeWindowed {
		return fmt.Errorf("%w: Windows needs windowed mode; %s runs %s", ErrInvalidMode, g.m.Path(), g.mode)
	}
	W, V := g.window, g.vocab.Size()
	if len(text) <= W {
		return fmt.Errorf("%w: %d characters leave no full window of %d and a character after it", ErrInvalidWindow, len(text), W)
	}
	batch = max(batch, 1)
	for start := W; start < len(text); start += batch {
		n := min(batch, len(text)-start)
		x := g.enc.New(n, W)
		for b := range n {
			for t, id := range text[start+b-W : start+b] {
				g.enc.Put(x, b*W+t, id)
			}
		}
		in := map[string]*model.Tensor{g.input: x}
		for i, shape := range g.state {
			rows := append(model.Shape{int64(n)}, shape[1:]...)
			in[g.stateIn[i]] = model.NewFloat32(rows, nil)
		}
		out, err := g.m.Run(ctx, in)
		if err != nil {
			return err
		}
		dist, stride, err := g.lastSteps(out, n, W)
		if err != nil {
			return err
		}
		for b := range n {
			if err := f(start+b, lastRow(dist, b, stride, V)); err != nil {
				return err
			}
		}
	}
	return nil
}

func shapeOf(t *model.Tensor) any {
	if t == nil {
		return "missing"
	}
	return t.Shape
}
