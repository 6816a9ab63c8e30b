package textgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Mode is how a Generator feeds the model.
type Mode int

const (
	// ModeAuto picks stateful when the model has state inputs and outputs, else windowed.
	ModeAuto Mode = iota
	// ModeStateful primes the LSTM state with the prompt, then feeds one
	// character per step, carrying the state (h, c) from step to step.
	ModeStateful
	// ModeWindowed feeds the last Window characters on every step from a fresh
	// state, as the tutorial's model.predict loop does. A history shorter than
	// the window is fed as it is, from the zero state (on a fixed-window model,
	// through Options.Relaxed; zero-padded at the front when there is none).
	ModeWindowed
)

func (m Mode) String() string {
	switch m {
	case ModeStateful:
		return "stateful"
	case ModeWindowed:
		return "windowed"
	}
	return "auto"
}

// ParseMode reads "auto", "stateful" or "windowed".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "auto":
		return ModeAuto, nil
	case "stateful":
		return ModeStateful, nil
	case "windowed", "window":
		return ModeWindowed, nil
	}
	return 0, fmt.Errorf("mode %q: want auto, stateful or windowed", s)
}

// DefaultLength is the number of characters generated when Request.MaxLength is 0,
// as in the tutorial.
const DefaultLength = 500

// Options configure a Generator. The zero value takes everything from the model.
type Options struct {
	Mode Mode
	// Vocab overrides the model's metadata vocabulary (for models exported elsewhere).
	Vocab *Vocab
	// Window overrides the window length of windowed mode.
	Window int
	// Unknown is the policy for prompt characters outside the vocabulary
	// (the Generator applies it to its own copy of the vocabulary).
	Unknown UnknownPolicy
	// Relaxed is the model itself with its time dimension relaxed and its
	// recurrent state exposed (model.OpenStateful), for windowed mode on a
	// model whose input takes exactly Window steps: a history shorter than
	// the window runs through it from the zero state, as the model computes
	// inside every training window. Nil: such a history is zero-padded at
	// the front (vectors the model never saw in training). Full windows run
	// through the model itself either way. The caller closes it after the
	// Generator's last use.
	Relaxed *model.Model
}

// Ways a windowed Generator on a fixed-window model runs a history shorter
// than the window (Generator.ShortHistory).
const (
	ShortRelaxed = "relaxed"     // as it is, from the zero state, through Options.Relaxed
	ShortPadded  = "zero-padded" // zero vectors (or the pad id) in front, through the model
)

// Generator generates text with one model. It holds no per-request state, so
// one Generator serves any number of concurrent Generate calls.
type Generator struct {
	m        *model.Model
	vocab    *Vocab
	chars    []string // chars[i] is the text of index i, so emitting allocates nothing
	enc      Encoder  // writes ids into the input
	perStep  bool     // the output is [batch, time, V]: the last step is the distribution
	mode     Mode
	window   int
	input    string
	output   string
	logits   bool
	stateIn  []string
	stateOut []string
	state    []model.Shape // per state input, with a batch dimension of 1
	static   bool          // the input's time dimension is fixed (to window)
	short    *Generator    // stateful over Options.Relaxed: a fixed-window model's short histories
}

// ErrNotTextModel is returned for models that cannot generate text.
var ErrNotTextModel = errors.New("not a text-generation model")

// New checks that m can generate text and prepares a Generator for it.
func New(m *model.Model, opts Options) (*Generator, error) {
	md := m.Metadata()
	if md.Task != "" && md.Task != model.TaskTextGeneration {
		return nil, fmt.Errorf("%w: %s declares task %q", ErrNotTextModel, m.Path(), md.Task)
	}
	g := &Generator{m: m, logits: md.OutputKind == model.OutputLogits}
	for _, step := range []func(Options) error{g.useVocab, g.findTensors, g.checkShapes, g.stateShapesFromSignature, g.chooseMode, g.useRelaxed, g.probe} {
		if err := step(opts); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// useVocab takes the vocabulary from the options or the metadata.
func (g *Generator) useVocab(opts Options) error {
	v := opts.Vocab
	if v == nil {
		var err error
		if v, err = VocabFromMetadata(g.m.Metadata()); err != nil {
			return fmt.Errorf("%s: %w", g.m.Path(), err)
		}
	}
	g.vocab = v.WithUnknown(opts.Unknown)
	g.chars = make([]string, g.vocab.Size())
	for i := range g.chars {
		g.chars[i] = g.vocab.Token(i)
	}
	return nil
}

// findTensors names the input, the output and the state pairs: from the
// metadata, else each input N with an output N_out (the contract's
// convention), and the first other input and output.
func (g *Generator) findTensors(Options) error {
	md, sig := g.m.Metadata(), g.m.Signature()
	g.stateIn, g.stateOut = md.StateInputs, md.StateOutputs
	if len(g.stateIn) == 0 {
		for _, t := range sig.Inputs {
			if _, ok := sig.Output(t.Name + "_out"); ok && t.Name != md.Input {
				g.stateIn = append(g.stateIn, t.Name)
				g.stateOut = append(g.stateOut, t.Name+"_out")
			}
		}
	}
	g.input, g.output = md.Input, md.Output
	if g.input == "" {
		g.input = firstOther(sig.Inputs, g.stateIn)
	}
	if g.output == "" {
		g.output = firstOther(sig.Outputs, g.stateOut)
	}
	return nil
}

// firstOther is the first tensor not in skip.
func firstOther(ts []model.TensorInfo, skip []string) string {
	for _, t := range ts {
		if !slices.Contains(skip, t.Name) {
			return t.Name
		}
	}
	return ""
}

// checkShapes picks the input encoding (the metadata's input_encoding, else
// from the input's type and rank) and checks the output: [batch, V] or, for
// every step, [batch, time, V].
func (g *Generator) checkShapes(Options) error {
	m, sig := g.m, g.m.Signature()
	in, ok := sig.Input(g.input)
	if !ok {
		return fmt.Errorf("%w: %s has no input %q", model.ErrBadModel, m.Path(), g.input)
	}
	out, ok := sig.Output(g.output)
	if !ok {
		return fmt.Errorf("%w: %s has no output %q", model.ErrBadModel, m.Path(), g.output)
	}
	V := g.vocab.Size()
	md := m.Metadata()
	name, err := encodingFor(in, cmp.Or(md.InputEncoding, md.Raw["input_encoding"]))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotTextModel, m.Path(), err)
	}
	if g.enc, err = encoders[name](in, V, g.vocab.padID()); err != nil {
		return fmt.Errorf("%w: %s: %w", model.ErrBadModel, m.Path(), err)
	}
	if len(out.Shape) != 2 && len(out.Shape) != 3 {
		return fmt.Errorf("%w: %s: output %s must be [batch, %d] or [batch, time, %d]", model.ErrBadModel, m.Path(), out, V, V)
	}
	if w := out.Shape[len(out.Shape)-1]; w >= 0 && w != int64(V) {
		return fmt.Errorf("%w: %s: output %s gives %d scores per step but the vocabulary has %d entries", ErrVocabSize, m.Path(), out, w, V)
	}
	g.perStep = len(out.Shape) == 3
	g.static = in.Shape[1] >= 0
	return nil
}

// stateShapesFromSignature checks each state pair and fixes its shape with a
// batch of 1 (a dynamic width takes the metadata's state_size).
func (g *Generator) stateShapesFromSignature(Options) error {
	m, sig, md := g.m, g.m.Signature(), g.m.Metadata()
	for i, name := range g.stateIn {
		t, ok := sig.Input(name)
		if !ok {
			return fmt.Errorf("%w: %s: metadata names state input %q, the model has none", model.ErrBadModel, m.Path(), name)
		}
		if _, ok := sig.Output(g.stateOut[i]); !ok {
			return fmt.Errorf("%w: %s: metadata names state output %q, the model has none", model.ErrBadModel, m.Path(), g.stateOut[i])
		}
		shape := append(model.Shape{}, t.Shape...)
		for d := range shape {
			if d == 0 {
				shape[d] = 1
			} else if shape[d] < 0 {
				if md.StateSize <= 0 {
					return fmt.Errorf("%w: %s: state input %s has a dynamic width and no state_size in the metadata", model.ErrBadModel, m.Path(), t)
				}
				shape[d] = int64(md.StateSize)
			}
		}
		g.state = append(g.state, shape)
	}
	return nil
}

// chooseMode settles the window and the mode: stateful when the model has
// state and a dynamic time axis, else windowed.
func (g *Generator) chooseMode(opts Options) error {
	m := g.m
	in, _ := m.Signature().Input(g.input)
	g.window = cmp.Or(opts.Window, m.Metadata().WindowLength)
	if g.static {
		if g.window != 0 && g.window != int(in.Shape[1]) {
			return fmt.Errorf("%w: window %d, but %s takes exactly %d steps", ErrInvalidWindow, g.window, in, in.Shape[1])
		}
		g.window = int(in.Shape[1])
	}
	g.mode = opts.Mode
	if g.mode == ModeAuto {
		g.mode = ModeWindowed
		if len(g.stateIn) > 0 && !g.static {
			g.mode = ModeStateful
		}
	}
	switch {
	case g.mode == ModeStateful && len(g.stateIn) == 0:
		return fmt.Errorf("%w: %s has no state inputs and outputs; use windowed mode", ErrInvalidMode, m.Path())
	case g.mode == ModeStateful && g.static:
		return fmt.Errorf("%w: %s takes exactly %d steps per call; use windowed mode", ErrInvalidMode, m.Path(), g.window)
	case g.mode == ModeWindowed && g.window <= 0:
		return fmt.Errorf("%w: %s has no window_length in its metadata and a dynamic time dimension; set a window", ErrInvalidWindow, m.Path())
	}
	return nil
}

// useRelaxed prepares the stateful Generator over opts.Relaxed that runs the
// short histories of windowed mode on a fixed-window model.
func (g *Generator) useRelaxed(opts Options) error {
	if opts.Relaxed == nil || g.mode != ModeWindowed || !g.static {
		return nil
	}
	s, err := New(opts.Relaxed, Options{Mode: ModeStateful, Vocab: g.vocab})
	if err != nil {
		return fmt.Errorf("%s relaxed for histories shorter than the window: %w", g.m.Path(), err)
	}
	if s.enc.Name() != g.enc.Name() || s.perStep != g.perStep {
		return fmt.Errorf("%w: %s relaxed takes %s input with per-step output %v, the model %s with %v",
			model.ErrBadModel, g.m.Path(), s.enc.Name(), s.perStep, g.enc.Name(), g.perStep)
	}
	g.short = s
	return nil
}

// ShortHistory says how windowed mode runs a history shorter than the window
// on a model whose input takes exactly Window steps: ShortRelaxed or
// ShortPadded ("" in stateful mode, and when the time dimension is dynamic:
// a short history then runs as it is).
func (g *Generator) ShortHistory() string {
	switch {
	case g.mode != ModeWindowed || !g.static:
		return ""
	case g.short != nil:
		return ShortRelaxed
	}
	return ShortPadded
}

// Errors about a Generator's configuration.
var (
	ErrInvalidMode   = errors.New("invalid generation mode")
	ErrInvalidWindow = errors.New("invalid window")
	ErrEmptyPrompt   = errors.New("empty prompt")
	// ErrVocabSize: the vocabulary's size differs from the model's V.
	ErrVocabSize = errors.New("vocabulary size does not match the model")
	// ErrTokenRange: the model rejects a token id of the vocabulary (an
	// embedding table with fewer rows than the vocabulary has entries).
	ErrTokenRange = errors.New("token id out of the model's range")
)

// Mode is the mode in use (never ModeAuto).
func (g *Generator) Mode() Mode { return g.mode }

// Window is the window length of windowed mode (0 if unknown).
func (g *Generator) Window() int { return g.window }

// Encoding is the input encoding in use ("one_hot", "token_ids").
func (g *Generator) Encoding() string { return g.enc.Name() }

// Vocab is the vocabulary in use.
func (g *Generator) Vocab() *Vocab { return g.vocab }

// Model is the model the Generator runs.
func (g *Generator) Model() *model.Model { return g.m }

// Request is one generation.
type Request struct {
	// Prompt primes the model. An empty prompt starts from a newline, in
	// every mode (an error if the vocabulary has none).
	Prompt string
	// MaxLength is how many characters to generate; 0 means DefaultLength.
	MaxLength int
	// Sampling holds temperature, top-k, top-p and seed.
	Sampling Params
	// Stop ends generation as soon as the text ends with any of these strings;
	// the stop string itself is not emitted.
	Stop []string
}

// Stop reasons reported in Stats.
const (
	StopLength    = "length"
	StopString    = "stop"
	StopCancelled = "cancelled"
)

// Stats describe a finished generation.
type Stats struct {
	Mode           string        `json:"mode"`
	PromptChars    int           `json:"prompt_chars"`
	Generated      int           `json:"generated_chars"`
	StopReason     string        `json:"stop_reason"`
	Elapsed        time.Duration `json:"-"`
	Seconds        float64       `json:"seconds"`
	CharsPerSecond float64       `json:"chars_per_second"`
}

// MaxStops is the most stop strings one request may give.
const MaxStops = 16

// Validate checks a request as a user gives it: a length >= 0 (0 is
// DefaultLength), the sampling values (Params.Validate), and at most
// MaxStops stop strings, none empty.
func (r Request) Validate() error {
	if r.MaxLength < 0 {
		return &ParamError{"max-length", r.MaxLength, "must be >= 0"}
	}
	if err := r.Sampling.Validate(); err != nil {
		return err
	}
	if len(r.Stop) > MaxStops {
		return &ParamError{"stop", len(r.Stop), fmt.Sprintf("strings; at most %d", MaxStops)}
	}
	for _, s := range r.Stop {
		if s == "" {
			return &ParamError{"stop", `""`, "must not be empty"}
		}
	}
	return nil
}

// check validates the request (a TopP of 0 read as 1) and encodes the prompt.
func (r *Request) check(v *Vocab) ([]int, error) {
	r.Sampling = r.Sampling.orDefault()
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return v.Encode(r.Prompt)
}

// Generate runs one request, calling emit with each generated piece of text in
// order (a character, or several when a possible stop string was held back).
// It stops at MaxLength, at a stop string, when emit returns an error, or
// when ctx is cancelled (returning ctx.Err()).
func (g *Generator) Generate(ctx context.Context, req Request, emit func(string) error) (Stats, error) {
	d, prompt, err := g.newDecoder(req, g.mode.String())
	if err != nil {
		return Stats{}, err
	}
	s, err := g.newStream(ctx, prompt)
	if err != nil {
		return d.finish(), err
	}
	defer s.close()
	err = g.run(ctx, d, s, emit)
	if err == nil {
		if rest := d.rest(); rest != "" {
			err = emit(rest)
		}
	}
	return d.finish(), err
}

// run steps one stream until its decoder says it is done.
func (g *Generator) run(ctx context.Context, d *decoder, s *stream, emit func(string) error) error {
	for {
		if ctx.Err() != nil {
			return d.cancelled(ctx)
		}
		piece, idx, done, err := d.next(s.probs.Float32s())
		if err != nil {
			return err
		}
		if piece != "" {
			if err := emit(piece); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
		if err := s.step(ctx, idx); err != nil {
			if ctx.Err() != nil {
				return d.cancelled(ctx)
			}
			return err
		}
	}
}

// Text runs a request and returns the generated text.
func (g *Generator) Text(ctx context.Context, req Request) (string, Stats, error) {
	var b strings.Builder
	st, err := g.Generate(ctx, req, func(s string) error { b.WriteString(s); return nil })
	return b.String(), st, err
}

// Stream runs a request as an iterator over the generated pieces; breaking
// out of the loop stops generation. A failure is yielded as the last error.
func (g *Generator) Stream(ctx context.Context, req Request) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		errStop := errors.New("stopped by the consumer")
		_, err := g.Generate(ctx, req, func(s string) error {
			if !yield(s, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			yield("", err)
		}
	}
}
