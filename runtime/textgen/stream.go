package textgen

import (
	"context"

	"fmt"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// stream is the state of one generation: its tensors, bindings and position.
type stream struct {
	g     *Generator
	probs *model.Tensor // [1, V], the distribution for the next character

	// stateful mode: x is [1, 1, V]; the state ping-pongs between a and b.
	x        *model.Tensor
	last     int
	a, b     []*model.Tensor
	runA     model.Binding
	runB     model.Binding
	nextIsA  bool
	bindings []model.Binding

	// windowed mode: win holds the last Window indices (-1 pads a short prompt
	// of a fixed-length model); xw is [1, Window, V].
	win   []int
	xw    *model.Tensor
	zeros map[string]*model.Tensor // zero state inputs of a stateful model used windowed
	sink  map[string]*model.Tensor // their outputs, discarded
	full  model.Binding
}

func (g *Generator) newStream(ctx context.Context, prompt []int) (*stream, error) {
	V := int64(g.vocab.Size())
	s := &stream{g: g, probs: model.NewFloat32(model.Shape{1, V}, nil)}
	var err error
	if g.mode == ModeStateful {
		if len(prompt) == 0 {
			nl, ok := g.vocab.Index('\n')
			if !ok {
				return nil, fmt.Errorf("%w: the vocabulary has no newline to start from; give a prompt", ErrEmptyPrompt)
			}
			prompt = []int{nl}
		}
		err = s.primeStateful(ctx, prompt)
	} else {
		if len(prompt) == 0 {
			return nil, fmt.Errorf("%w: windowed generation needs at least one character of prompt", ErrEmptyPrompt)
		}
		err = s.primeWindowed(ctx, prompt)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *stream) close() {
	for _, b := range s.bindings {
		b.Close()
	}
	s.bindings = nil
}

func (s *stream) bind(in, out map[string]*model.Tensor) (model.Binding, error) {
	b, err := s.g.m.Bind(in, out)
	if err != nil {
		return nil, err
	}
	s.bindings = append(s.bindings, b)
	return b, nil
}

func (s *stream) newStates() []*model.Tensor {
	ts := make([]*model.Tensor, len(s.g.state))
	for i, shape := range s.g.state {
		ts[i] = model.NewFloat32(shape, nil)
	}
	return ts
}

// primeStateful runs the whole prompt in one call from the zero state, then
// binds the two ping-pong steps used for every following character.
func (s *stream) primeStateful(ctx context.Context, prompt []int) error {
	g := s.g
	V := int64(g.vocab.Size())
	x := model.NewFloat32(model.Shape{1, int64(len(prompt)), V}, nil)
	g.vocab.OneHot(x.Float32s(), prompt)
	in := map[string]*model.Tensor{g.input: x}
	zero := s.newStates()
	for i, name := range g.stateIn {
		in[name] = zero[i]
	}
	out, err := g.m.Run(ctx, in)
	if err != nil {
		return err
	}
	if err := s.take(out); err != nil {
		return err
	}
	s.a, s.b = s.newStates(), s.newStates()
	for i, name := range g.stateOut {
		if err := model.CopyInto(s.a[i], out[name]); err != nil {
			return fmt.Errorf("%s: state output %q: %w", g.m.Path(), name, err)
		}
	}
	return s.bindSteps()
}

// bindSteps binds the two ping-pong steps of a stateful stream whose state is in s.a.
func (s *stream) bindSteps() error {
	g := s.g
	s.x = model.NewFloat32(model.Shape{1, 1, int64(g.vocab.Size())}, nil)
	s.last = 0
	var err error
	pair := func(from, to []*model.Tensor) (model.Binding, error) {
		b, err := g.bindStep(s.x, s.probs, from, to)
		if err == nil {
			s.bindings = append(s.bindings, b)
		}
		return b, err
	}
	if s.runA, err = pair(s.a, s.b); err != nil {
		return err
	}
	if s.runB, err = pair(s.b, s.a); err != nil {
		return err
	}
	s.nextIsA = true
	return nil
}

// bindStep binds one step of a stateful model: x and the state from in, the
// distribution into probs and the next state into to.
func (g *Generator) bindStep(x, probs *model.Tensor, from, to []*model.Tensor) (model.Binding, error) {
	in := map[string]*model.Tensor{g.input: x}
	out := map[string]*model.Tensor{g.output: probs}
	for i := range g.stateIn {
		in[g.stateIn[i]] = from[i]
		out[g.stateOut[i]] = to[i]
	}
	return g.m.Bind(in, out)
}

// primed runs the prompt of a stateful stream and returns copies of the
// distribution and the state after it, for a caller that steps the stream
// itself (the Batcher).
func (g *Generator) primed(ctx context.Context, prompt []int) ([]float32, [][]float32, error) {
	s, err := g.newStream(ctx, prompt)
	if err != nil {
		return nil, nil, err
	}
	defer s.close()
	probs := append([]float32(nil), s.probs.Float32s()...)
	state := make([][]float32, len(s.a))
	for i, t := range s.a {
		state[i] = append([]float32(nil), t.Float32s()...)
	}
	return probs, state, nil
}

// stateShapes are the shapes of the state inputs, with a batch dimension of 1.
func (g *Generator) stateShapes() []model.Shape { return g.state }

// take copies the distribution output of a Run into s.probs.
func (s *stream) take(out map[string]*model.Tensor) error {
	p, ok := out[s.g.output]
	if !ok {
		return fmt.Errorf("%s: no output %q", s.g.m.Path(), s.g.output)
	}
	if err := model.CopyInto(s.probs, p); err != nil {
		return fmt.Errorf("%s: output %q: %w", s.g.m.Path(), s.g.output, err)
	}
	return nil
}

// primeWindowed fills the window with the prompt (its last Window characters).
func (s *stream) primeWindowed(ctx context.Context, prompt []int) error {
	g := s.g
	W := g.window
	if len(prompt) > W {
		prompt = prompt[len(prompt)-W:]
	}
	if g.static {
		s.win = make([]int, W)
		pad := W - len(prompt)
		for i := range pad {
			s.win[i] = -1
		}
		copy(s.win[pad:], prompt)
	} else {
		s.win = append(make([]int, 0, W), prompt...)
	}
	if len(g.stateIn) > 0 {
		s.zeros, s.sink = map[string]*model.Tensor{}, map[string]*model.Tensor{}
		for i, t := range s.newStates() {
			s.zeros[g.stateIn[i]] = t
		}
		for i, t := range s.newStates() {
			s.sink[g.stateOut[i]] = t
		}
	}
	return s.runWindow(ctx)
}

// runWindow runs the model on the current window from a fresh state.
func (s *stream) runWindow(ctx context.Context) error {
	g := s.g
	V := g.vocab.Size()
	if len(s.win) < g.window { // a short window of a dynamic-length model
		x := model.NewFloat32(model.Shape{1, int64(len(s.win)), int64(V)}, nil)
		g.vocab.OneHot(x.Float32s(), s.win)
		in := map[string]*model.Tensor{g.input: x}
		for k, v := range s.zeros {
			in[k] = v
		}
		out, err := g.m.Run(ctx, in)
		if err != nil {
			return err
		}
		return s.take(out)
	}
	if s.full == nil {
		s.xw = model.NewFloat32(model.Shape{1, int64(g.window), int64(V)}, nil)
		in := map[string]*model.Tensor{g.input: s.xw}
		out := map[string]*model.Tensor{g.output: s.probs}
		for k, v := range s.zeros {
			in[k] = v
		}
		for k, v := range s.sink {
			out[k] = v
		}
		b, err := s.bind(in, out)
		if err != nil {
			return err
		}
		s.full = b
	}
	x := s.xw.Float32s()
	clear(x)
	for t, i := range s.win {
		if i >= 0 {
			x[t*V+i] = 1
		}
	}
	return s.full.Run(ctx)
}

// step feeds the character idx and leaves the next distribution in s.probs.
func (s *stream) step(ctx context.Context, idx int) error {
	if s.g.mode == ModeStateful {
		x := s.x.Float32s()
		x[s.last] = 0
		x[idx] = 1
		s.last = idx
		run := s.runB
		if s.nextIsA {
			run = s.runA
		}
		s.nextIsA = !s.nextIsA
		return run.Run(ctx)
	}
	if len(s.win) == s.g.window {
		copy(s.win, s.win[1:])
		s.win[len(s.win)-1] = idx
	} else {
		s.win = append(s.win, idx)
	}
	return s.runWindow(ctx)
}

// stopper holds back text that may be the start of a stop string.
type stopper struct {
	stops   []string
	pending strings.Builder
}

func newStopper(stops []string) *stopper { return &stopper{stops: stops} }

// push adds a generated piece; it returns the text that is safe to emit and
// whether a stop string has just completed (its text is dropped).
func (p *stopper) push(piece string) (string, bool) {
	if len(p.stops) == 0 {
		return piece, false
	}
	p.pending.WriteString(piece)
	text := p.pending.String()
	for _, stop := range p.stops {
		if i := strings.Index(text, stop); i >= 0 {
			p.pending.Reset()
			return text[:i], true
		}
	}
	// Keep the longest suffix that is a prefix of some stop string.
	keep := 0
	for _, stop := range p.stops {
		for n := min(len(stop)-1, len(text)); n > keep; n-- {
			if strings.HasSuffix(text, stop[:n]) {
				keep = n
				break
			}
		}
	}
	p.pending.Reset()
	p.pending.WriteString(text[len(text)-keep:])
	return text[:len(text)-keep], false
}

// flush returns what is still held back at the end.
func (p *stopper) flush() string {
	s := p.pending.String()
	p.pending.Reset()
	return s
}
