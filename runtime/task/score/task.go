package score

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// Task is the scoring task.
type Task struct{}

// Name implements registry.Task.
func (Task) Name() string { return Name }

// Serves the models text generation serves: character models.
func (Task) Serves(kind string) bool { return kind == "" || kind == model.TaskTextGeneration }

// Settings are the mode (what auto means) and window keys it shares with generation.
func (Task) Settings() []string { return []string{"mode", "window"} }

// settings are the keys scoring reads.
type settings struct {
	Mode   string `mapstructure:"mode"`
	Window int    `mapstructure:"window"`
}

func options(mc registry.ModelConfig) (textgen.Options, error) {
	var s settings
	if err := registry.DecodeSettings(mc, &s); err != nil {
		return textgen.Options{}, err
	}
	mode, err := textgen.ParseMode(s.Mode)
	if err != nil {
		return textgen.Options{}, fmt.Errorf("%w: %v", registry.ErrBadConfig, err)
	}
	return textgen.Options{Mode: mode, Window: s.Window}, nil
}

// CheckConfig checks the mode key.
func (Task) CheckConfig(mc registry.ModelConfig) error {
	_, err := options(mc)
	return err
}

// Load prepares a Scorer (the config's mode is what auto means) and scores
// a short text in every mode the model allows.
func (Task) Load(ctx context.Context, m *model.Model, mc registry.ModelConfig) (registry.Instance, error) {
	opts, err := options(mc)
	if err != nil {
		return nil, err
	}
	// The configured mode is settled as generation settles it: stateful on
	// a stateless export runs it with its state exposed.
	g, closeFn, err := generate.NewGenerator(ctx, m, opts)
	if err != nil {
		return nil, err
	}
	s := newScorer(m, g, opts)
	for mode, g := range s.modes {
		text := strings.Repeat(generate.SmokePrompt(g.Vocab()), g.Window()+2)
		if _, err := s.Score(ctx, Request{Text: text, Mode: mode}); err != nil {
			closeFn()
			return nil, fmt.Errorf("%w: smoke scoring (%s): %v", registry.ErrCheck, mode, err)
		}
	}
	return &Instance{s: s, closeModel: closeFn}, nil
}

// Instance is the task prepared for one model version.
type Instance struct {
	s          *Scorer
	closeModel func() error // closes the model with its state exposed, if Load opened one
}

// Scorer is the model's scorer.
func (in *Instance) Scorer() *Scorer { return in.s }

// Status lists the modes the model can score in.
func (in *Instance) Status() map[string]any { return map[string]any{"score_modes": in.s.Modes()} }

// Close closes the model with its state exposed, if there is one (each
// Score call closes its own bindings).
func (in *Instance) Close() error { return in.closeModel() }

// MapError maps scoring errors to HTTP statuses and codes.
func MapError(err error) (int, string, bool) {
	switch {
	case errors.Is(err, ErrEmptyText):
		return http.StatusUnprocessableEntity, "empty_text", true
	case errors.Is(err, ErrTooShort):
		return http.StatusUnprocessableEntity, "text_too_short", true
	case errors.Is(err, ErrModeUnavailable):
		return http.StatusUnprocessableEntity, "mode_unavailable", true
	case errors.Is(err, textgen.ErrUnknownChar):
		return http.StatusUnprocessableEntity, "unknown_character", true
	case errors.Is(err, textgen.ErrNotTextModel):
		return http.StatusUnprocessableEntity, "wrong_task", true
	}
	return 0, "", false
}

var (
	_ task.HTTP      = Task{}
	_ task.Commander = Task{}
)
