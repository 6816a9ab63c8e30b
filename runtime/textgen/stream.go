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

	// stateful mode: x is one step of one row; the state ping-pongs between a and b.
	x        *model.Tensor
	a, b     []*model.Tensor
	runA     model.Binding
	runB     model.Binding
	nextIsA  bool
	bindings []model.Binding

	// windowed mode: win holds the last Window indices (-1 pads a short prompt
	// of a fixed-length model without a relaxed one); xw is the input of one
	// full window. short steps a fixed-length model's history, while it is
	// shorter than the window, through the relaxed model from the zero state.
	win   []int
	short *stream
	xw    *model.Tensor
	zeros map[string]*model.Tensor // zero state inputs of a stateful model used windowed
	sink  map[string]*model.Tensor // their outputs, discarded
	full  model.Binding
}

func (g *Generator) newStream(ctx context.Context, prompt []int) (*stream, error) {
	s := &stream{g: g, probs: model.NewFloat32(model.Shape{1, int64(g.vocab.Size())}, nil)}
	if len(prompt) == 0 {
		nl, ok := g.vocab.Index('\n')
		if !ok {
			return nil, fmt.Errorf("%w: the vocabulary has no newline to start from; give a prompt", ErrEmptyPrompt)
		}
		prompt = []int{nl}
	}
	var err error
	if g.mode == ModeStateful {
		err = s.primeStateful(ctx, prompt)
	} else {
		err = s.primeWindowed(ctx, prompt)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *stream) close() {
	if s.short != nil {
		s.short.close()
		s.short = nil
	}
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
	x := g.enc.New(1, len(prompt))
	encode(g.enc, x, prompt)
	in := map[string]*model.Tensor{g.input: x}
	zero := s.newStates()
	for i, name := range g.stateIn {
		in[name] = zero[i]
	}
	out, err := g.m.Run(ctx, in)
	if err != nil {
		return err
	}
	if err := s.take(out, len(prompt)); err != nil {
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
	s.x = g.enc.New(1, 1)
	probs := g.outView(s.probs.Float32s(), 1, 1)
	var err error
	pair := func(from, to []*model.Tensor) (model.Binding, error) {
		b, err := g.bindStep(s.x, probs, from, to)
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

// outView is the output tensor for n rows of t steps over data: [n, V], or
// [n, t, V] for a model that scores every step.
func (g *Generator) outView(data []float32, n, t int) *model.Tensor {
	V := g.vocab.Size()
	if !g.perStep {
		return &model.Tensor{Shape: model.Shape{int64(n), int64(V)}, Data: data[:n*V]}
	}
	return &model.Tensor{Shape: model.Shape{int64(n), int64(t), int64(V)}, Data: data[:n*t*V]}
}

// lastSteps checks the distribution output of a Run over n rows of t steps
// and returns it with the row stride: row b's distribution over the next
// token is dist[b*stride+stride-V : b*stride+stride].
func (g *Generator) lastSteps(out map[string]*model.Tensor, n, t int) ([]float32, int, error) {
	V := g.vocab.Size()
	want := model.Shape{int64(n), int64(V)}
	if g.perStep {
		want = model.Shape{int64(n), int64(t), int64(V)}
	}
	p, ok := out[g.output]
	if !ok || p.DType() != model.Float32 || p.Shape.Size() != want.Size() || p.Len() != int(want.Size()) {
		return nil, 0, fmt.Errorf("%w: %s: output %q of %d rows of %d steps is %v, want float32%v", model.ErrBadModel, g.m.Path(), g.output, n, t, shapeOf(p), want)
	}
	return p.Float32s(), int(want.Size()) / n, nil
}

// take copies the distribution after the last of t steps of a Run into s.probs.
func (s *stream) take(out map[string]*model.Tensor, t int) error {
	dist, stride, err := s.g.lastSteps(out, 1, t)
	if err != nil {
		return err
	}
	copy(s.probs.Float32s(), dist[stride-len(s.probs.Float32s()):])
	return nil
}

// primeWindowed fills the window with the prompt (its last Window characters).
func (s *stream) primeWindowed(ctx context.Context, prompt []int) error {
	g := s.g
	W := g.window
	if len(prompt) > W {
		prompt = prompt[len(prompt)-W:]
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
	if g.short != nil && len(prompt) < W {
		return s.primeShort(ctx, prompt)
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
	return s.runWindow(ctx)
}

// primeShort starts a history shorter than the window of a fixed-length
// model: the prompt from the zero state through the relaxed model, whose
// state then carries each next character until the history fills the window
// (the same as running the whole history from the zero state every step).
func (s *stream) primeShort(ctx context.Context, prompt []int) error {
	sub, err := s.g.short.newStream(ctx, prompt)
	if err != nil {
		return err
	}
	s.short, s.probs = sub, sub.probs
	s.win = append(make([]int, 0, s.g.window), prompt...)
	return nil
}

// stepShort adds idx to a short history: one more step of the relaxed model
// while the history is shorter than the window, then (once, as it fills)
// the first full window through the model itself.
func (s *stream) stepShort(ctx context.Context, idx int) error {
	s.win = append(s.win, idx)
	if len(s.win) < s.g.window {
		return s.short.step(ctx, idx)
	}
	s.short.close()
	s.short = nil
	s.probs = model.NewFloat32(model.Shape{1, int64(s.g.vocab.Size())}, nil)
	return s.runWindow(ctx)
}

// runWindow runs the model on the current window from a fresh state.
func (s *stream) runWindow(ctx context.Context) error {
	g := s.g
	if len(s.win) < g.window { // a short window of a dynamic-length model
		x := g.enc.New(1, len(s.win))
		encode(g.enc, x, s.win)
		in := map[string]*model.Tensor{g.input: x}
		for k, v := range s.zeros {
			in[k] = v
		}
		out, err := g.m.Run(ctx, in)
		if err != nil {
			return err
		}
		return s.take(out, len(s.win))
	}
	if s.full == nil {
		if err := s.bindWindow(); err != nil {
			return err
		}
	}
	encode(g.enc, s.xw, s.win)
	return s.full.Run(ctx)
}

// bindWindow binds the run of one full window; for a model that scores every
// step, s.probs becomes the last step of the bound output.
func (s *stream) bindWindow() error {
	g := s.g
	V, W := g.vocab.Size(), g.window
	s.xw = g.enc.New(1, W)
	var probs *model.Tensor
	if g.perStep {
		buf := make([]float32, W*V)
		probs = g.outView(buf, 1, W)
		s.probs = model.NewFloat32(model.Shape{1, int64(V)}, buf[(W-1)*V:])
	} else {
		probs = g.outView(s.probs.Float32s(), 1, W)
	}
	in := map[string]*model.Tensor{g.input: s.xw}
	out := map[string]*model.Tensor{g.output: probs}
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
	return nil
}

// step feeds the token idx and leaves the next distribution in s.probs.
func (s *stream) step(ctx context.Context, idx int) error {
	if s.g.mode == ModeStateful {
		s.g.enc.Put(s.x, 0, idx)
		run := s.runB
		if s.nextIsA {
			run = s.runA
		}
		s.nextIsA = !s.nextIsA
		return run.Run(ctx)
	}
	if s.short != nil {
		return s.stepShort(ctx, idx)
	}
	if len(s.win) == s.g.window {
		copy(s.win, s.win[1:])
		s.win[len(s.win)-1] = idx
	} else {
		s.win = append(s.win, idx)
	}
	return s.runWindow(ctx)
}

// stopper holds back text that may be the start of a stop string. The text
// it returns and holds are substrings of the pieces (the vocabulary's own
// strings) or of their concatenation, so a piece with nothing held before it
// costs no allocation.
type stopper struct {
	stops []string
	held  string // the end of the text so far that may start a stop string
}

func newStopper(stops []string) *stopper { return &stopper{stops: stops} }

// push adds a generated piece; it returns the text that is safe to emit and
// whether a stop string has just completed (its text is dropped).
func (p *stopper) push(piece string) (string, bool) {
	if len(p.stops) == 0 {
		return piece, false
	}
	text := piece
	if p.held != "" {
		text = p.held + piece
	}
	for _, stop := range p.stops {
		if i := strings.Index(text, stop); i >= 0 {
			p.held = ""
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
	p.held = text[len(text)-keep:]
	return text[:len(text)-keep], false
}

// flush returns what is still held back at the end.
func (p *stopper) flush() string {
	s := p.held
	p.held = ""
	return s
}
