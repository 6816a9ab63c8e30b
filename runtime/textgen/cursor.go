package textgen

import (
	"context"
	"fmt"
	"slices"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Cursor runs a model over a text one character at a time: after Open, and
// after each Feed, Next is the model's distribution over the next character
// (probabilities, or logits when Generator.Logits says so). It is the step
// that generation uses, for callers that read the distributions themselves
// (scoring a text, say). Not safe for concurrent use; Close releases it.
type Cursor struct{ s *stream }

// Open primes a cursor with prompt (already encoded): the whole prompt in one
// call from the zero state (stateful), or the prompt's last Window characters
// (windowed). An empty prompt starts from a newline, as in Generate.
func (g *Generator) Open(ctx context.Context, prompt []int) (*Cursor, error) {
	s, err := g.newStream(ctx, prompt)
	if err != nil {
		return nil, err
	}
	return &Cursor{s: s}, nil
}

// Next is the distribution over the next character: call it after every
// Feed (the slice may be overwritten by the next Feed, or replaced by it).
func (c *Cursor) Next() []float32 { return c.s.probs.Float32s() }

// Feed advances by the character idx: one step carrying the state, or the
// window slid by one and re-run.
func (c *Cursor) Feed(ctx context.Context, idx int) error { return c.s.step(ctx, idx) }

// Close releases the cursor's bindings.
func (c *Cursor) Close() { c.s.close() }

// Logits reports whether the model's output is logits rather than probabilities.
func (g *Generator) Logits() bool { return g.logits }

// Snapshot is a stateful cursor's position, detached from the model: the
// next distribution and the recurrent state (h, c, ...) after it. A caller
// keeps it between requests and resumes from it on any Generator of the same
// model (KServe v2 sequences do).
type Snapshot struct {
	Probs []float32
	State [][]float32
}

// Snapshot copies the cursor's position; only a stateful cursor has one.
func (c *Cursor) Snapshot() (Snapshot, error) {
	s := c.s
	if s.g.mode != ModeStateful {
		return Snapshot{}, fmt.Errorf("%w: only a stateful model keeps its state between calls", ErrInvalidMode)
	}
	cur := s.b
	if s.nextIsA {
		cur = s.a
	}
	snap := Snapshot{Probs: slices.Clone(s.probs.Float32s()), State: make([][]float32, len(cur))}
	for i, t := range cur {
		snap.State[i] = slices.Clone(t.Float32s())
	}
	return snap, nil
}

// Resume opens a stateful cursor at a snapshot of this model.
func (g *Generator) Resume(snap Snapshot) (*Cursor, error) {
	if g.mode != ModeStateful {
		return nil, fmt.Errorf("%w: only a stateful model resumes from a state", ErrInvalidMode)
	}
	s := &stream{g: g, probs: model.NewFloat32(model.Shape{1, int64(g.vocab.Size())}, nil)}
	s.a, s.b = s.newStates(), s.newStates()
	if len(snap.Probs) != len(s.probs.Float32s()) || len(snap.State) != len(s.a) {
		return nil, fmt.Errorf("textgen: a snapshot of %d probabilities and %d states does not fit this model", len(snap.Probs), len(snap.State))
	}
	copy(s.probs.Float32s(), snap.Probs)
	for i, st := range snap.State {
		if len(st) != len(s.a[i].Float32s()) {
			return nil, fmt.Errorf("textgen: state %d of the snapshot has %d values, the model %d", i, len(st), len(s.a[i].Float32s()))
		}
		copy(s.a[i].Float32s(), st)
	}
	if err := s.bindSteps(); err != nil {
		s.close()
		return nil, err
	}
	return &Cursor{s: s}, nil
}
