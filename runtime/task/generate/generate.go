// Package generate is the text-generation task: a character model's
// Generator (stateful or windowed), optionally a Batcher for concurrent
// streams, its smoke check, POST {prefix}/models/{name}/generate (JSON or
// Server-Sent Events) and rnnrun's default command.
package generate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// Name is the task's name: its route is .../models/{name}/generate.
const Name = "generate"

func init() { registry.RegisterTask(New(Options{})) }

// Engine generates text for one request; *textgen.Generator and
// *textgen.Batcher are engines.
type Engine interface {
	Generate(ctx context.Context, req textgen.Request, emit func(string) error) (textgen.Stats, error)
}

// Options configure the task.
type Options struct {
	// Engine wraps each loaded model's Generator, e.g. in a Batcher (see
	// Batching); nil generates each request alone. An engine that is an
	// io.Closer is closed before its model.
	Engine func(model string, g *textgen.Generator) (Engine, error)
}

// Batching makes an Engine option that steps the concurrent streams of each
// stateful model together; windowed models generate alone.
func Batching(opts textgen.BatcherOptions) func(string, *textgen.Generator) (Engine, error) {
	return func(_ string, g *textgen.Generator) (Engine, error) {
		if g.Mode() != textgen.ModeStateful {
			return g, nil
		}
		return textgen.NewBatcher(g, opts)
	}
}

// Task is the text-generation task.
type Task struct{ opts Options }

// New makes the task; registry.WithTask(generate.New(...)) plugs a configured one into a registry.
func New(opts Options) *Task { return &Task{opts: opts} }

// Name implements registry.Task.
func (*Task) Name() string { return Name }

// Serves text-generation models, and models that declare no task.
func (*Task) Serves(kind string) bool { return kind == "" || kind == model.TaskTextGeneration }

// CheckConfig checks the generation settings: mode, window and the sampling defaults.
func (*Task) CheckConfig(mc registry.ModelConfig) error {
	s, err := SettingsOf(mc)
	if err != nil {
		return err
	}
	if _, err := textgen.ParseMode(s.Mode); err != nil {
		return err
	}
	if s.Window < 0 {
		return fmt.Errorf("window %d must not be negative", s.Window)
	}
	if err := s.Defaults.request().Validate(); err != nil {
		return fmt.Errorf("defaults: %w", err)
	}
	return nil
}

// Load prepares the Generator (and the engine) and generates two characters.
func (t *Task) Load(ctx context.Context, m *model.Model, mc registry.ModelConfig) (registry.Instance, error) {
	s, err := SettingsOf(mc)
	if err != nil {
		return nil, err
	}
	mode, err := textgen.ParseMode(s.Mode)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", registry.ErrBadConfig, err)
	}
	g, closeFn, err := NewGenerator(ctx, m, textgen.Options{Mode: mode, Window: s.Window})
	if err != nil {
		return nil, err
	}
	in := &Instance{gen: g, engine: g, defaults: s.Defaults, closeModel: closeFn}
	if _, _, err := g.Text(ctx, textgen.Request{Prompt: SmokePrompt(g.Vocab()), MaxLength: 2}); err != nil {
		in.Close()
		return nil, fmt.Errorf("%w: smoke generation: %v", registry.ErrCheck, err)
	}
	if t.opts.Engine != nil {
		if in.engine, err = t.opts.Engine(mc.Name, g); err != nil {
			in.Close()
			return nil, fmt.Errorf("text engine: %w", err)
		}
	}
	return in, nil
}

// SmokePrompt is one entry of the vocabulary, a letter if there is one
// (never a special entry such as "[UNK]").
func SmokePrompt(v *textgen.Vocab) string {
	first := ""
	for i := range v.Size() {
		tok := v.Token(i)
		if _, ok := v.ID(tok); !ok {
			continue
		}
		if first == "" {
			first = tok
		}
		if unicode.IsLetter(v.Char(i)) {
			return tok
		}
	}
	return first
}

// Instance is the task prepared for one model version.
type Instance struct {
	gen        *textgen.Generator
	engine     Engine
	defaults   Defaults
	closeModel func() error // closes the model with its state exposed, if NewGenerator opened one
}

// Generator is the model's Generator.
func (in *Instance) Generator() *textgen.Generator { return in.gen }

// Defaults are the model's configured defaults.
func (in *Instance) Defaults() Defaults { return in.defaults }

// Engine is what generates requests: the Generator, or what Options.Engine made.
func (in *Instance) Engine() Engine { return in.engine }

// Status reports the mode, the input encoding and the vocabulary, and for
// windowed mode on a fixed-window model how a history shorter than the
// window runs (short_history: relaxed or zero-padded).
func (in *Instance) Status() map[string]any {
	st := map[string]any{"mode": in.gen.Mode().String(), "encoding": in.gen.Encoding(), "vocab": VocabStrings(in.gen.Vocab()), "defaults": in.defaults}
	if h := in.gen.ShortHistory(); h != "" {
		st["short_history"] = h
	}
	return st
}

// VocabStrings lists a vocabulary's entries in index order.
func VocabStrings(v *textgen.Vocab) []string {
	out := make([]string, v.Size())
	for i := range out {
		out[i] = v.Token(i)
	}
	return out
}

// Close closes the engine when it is not the Generator itself, then the
// model with its state exposed, if there is one.
func (in *Instance) Close() error {
	var err error
	if c, ok := in.engine.(io.Closer); ok && in.engine != Engine(in.gen) {
		err = c.Close()
	}
	return errors.Join(err, in.closeModel())
}

// NewHTTP implements task.HTTP.
func (t *Task) NewHTTP() task.Handlers {
	h := &handler{chars: task.ModelCounter("rnnrun_generated_characters_total", "Characters generated, by model.")}
	return task.Post(Name, h.generate, h.chars, MapError)
}

// MapError maps text errors to HTTP statuses and codes.
func MapError(err error) (int, string, bool) {
	switch {
	case errors.Is(err, textgen.ErrInvalidParams):
		return http.StatusBadRequest, "invalid_params", true
	case errors.Is(err, textgen.ErrUnknownChar):
		return http.StatusUnprocessableEntity, "unknown_character", true
	case errors.Is(err, textgen.ErrEmptyPrompt):
		return http.StatusUnprocessableEntity, "empty_prompt", true
	case errors.Is(err, textgen.ErrNotTextModel):
		return http.StatusUnprocessableEntity, "wrong_task", true
	}
	return 0, "", false
}

var (
	_ task.HTTP      = (*Task)(nil)
	_ task.Commander = (*Task)(nil)
)
