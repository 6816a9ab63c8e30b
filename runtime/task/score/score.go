// Package score is the scoring task: the loss of a text under a character
// model, in nats and bits per character and as perplexity, stateful (each
// character given everything before it) or windowed (each character given
// the window before it, from a fresh state, as the exporter measures its
// held-out loss). It serves POST {prefix}/models/{name}/score and the
// command `rnnrun score`, and is written only against package task, the
// registry's Task interface and textgen's public API.
package score

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rnnrun/rnnrun/runtime/internal/avx"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// Name is the task's name: its route is .../models/{name}/score.
const Name = "score"

func init() { registry.RegisterTask(Task{}) }

// Errors about the text to score.
var (
	ErrEmptyText = errors.New("empty text")
	ErrTooShort  = errors.New("text too short")
	// ErrModeUnavailable: the model cannot run the mode asked for.
	ErrModeUnavailable = errors.New("scoring mode unavailable")
)

// Scorer scores texts with one model, in either mode the model allows.
// It holds no per-request state: one Scorer serves concurrent calls.
type Scorer struct {
	auto  textgen.Mode
	modes map[textgen.Mode]*textgen.Generator
	why   map[textgen.Mode]error // why a mode is unavailable
}

// NewScorer prepares m for scoring. opts.Mode picks the mode used when a
// request says auto (default: stateful when the model has state).
func NewScorer(m *model.Model, opts textgen.Options) (*Scorer, error) {
	g, err := textgen.New(m, opts)
	if err != nil {
		return nil, err
	}
	return newScorer(m, g, opts), nil
}

// newScorer is the Scorer whose auto mode is g's (over m, or over m with its
// state exposed), the other mode over m when m allows it.
func newScorer(m *model.Model, g *textgen.Generator, opts textgen.Options) *Scorer {
	s := &Scorer{auto: g.Mode(), modes: map[textgen.Mode]*textgen.Generator{g.Mode(): g}, why: map[textgen.Mode]error{}}
	for _, mode := range []textgen.Mode{textgen.ModeStateful, textgen.ModeWindowed} {
		if mode == g.Mode() {
			continue
		}
		o := opts
		o.Mode = mode
		if other, err := textgen.New(m, o); err == nil {
			s.modes[mode] = other
		} else {
			s.why[mode] = err
		}
	}
	return s
}

// Modes lists the modes the model can score in, the auto one first.
func (s *Scorer) Modes() []string {
	out := []string{s.auto.String()}
	for _, m := range []textgen.Mode{textgen.ModeStateful, textgen.ModeWindowed} {
		if _, ok := s.modes[m]; ok && m != s.auto {
			out = append(out, m.String())
		}
	}
	return out
}

// Request is one text to score.
type Request struct {
	Text string
	// Mode is ModeAuto, ModeStateful or ModeWindowed.
	Mode textgen.Mode
	// Progress, when set, is called as characters are scored (about every
	// ProgressEvery characters, and once at the end).
	Progress func(scored, total int)
}

// ProgressEvery is how many characters are scored between Progress calls.
const ProgressEvery = 4096

// Result is the loss of one text.
type Result struct {
	Mode string `json:"mode"`
	// Window is the window length of windowed scoring.
	Window int `json:"window,omitempty"`
	// Chars is how many characters were scored; ContextChars only conditioned
	// the model: the first character (stateful) or the first window (windowed).
	Chars        int     `json:"chars"`
	ContextChars int     `json:"context_chars"`
	TotalNats    float64 `json:"total_nats"`
	NatsPerChar  float64 `json:"nats_per_char"`
	BitsPerChar  float64 `json:"bits_per_char"`
	Perplexity   float64 `json:"perplexity"`
	Seconds      float64 `json:"seconds"`
	CharsPerSec  float64 `json:"chars_per_second"`
}

// Score computes the mean cross-entropy of each character of the text after
// the context, given what comes before it: stateful, everything before it
// (the state carried from the first character); windowed, the Window
// characters before it run from a fresh state (the exporter's held-out loss).
func (s *Scorer) Score(ctx context.Context, req Request) (Result, error) {
	start := time.Now()
	g, err := s.generator(req.Mode)
	if err != nil {
		return Result{}, err
	}
	idx, err := g.Vocab().Encode(req.Text)
	if err != nil {
		return Result{}, err
	}
	res := Result{Mode: g.Mode().String(), ContextChars: 1}
	if g.Mode() == textgen.ModeWindowed {
		res.Window, res.ContextChars = g.Window(), g.Window()
	}
	if err := checkLength(len(idx), res); err != nil {
		return res, err
	}
	total := len(idx) - res.ContextChars
	add := func(t int, dist []float32) error {
		lp, err := logProb(dist, idx[t], g.Logits())
		if err != nil {
			return fmt.Errorf("%s, character %d: %w", g.Model().Path(), t, err)
		}
		res.TotalNats -= lp
		res.Chars++
		if req.Progress != nil && (res.Chars%ProgressEvery == 0 || res.Chars == total) {
			req.Progress(res.Chars, total)
		}
		return nil
	}
	if g.Mode() == textgen.ModeWindowed {
		err = g.Windows(ctx, idx, WindowBatch, add)
	} else {
		err = carry(ctx, g, idx, add)
	}
	if err != nil {
		return res, err
	}
	return res.finish(start), nil
}

// WindowBatch is how many windows windowed scoring runs per model call.
const WindowBatch = 64

// carry feeds the text one character at a time, carrying the state from the
// first character, and hands f the distribution over each next one.
func carry(ctx context.Context, g *textgen.Generator, idx []int, f func(t int, dist []float32) error) error {
	cur, err := g.Open(ctx, idx[:1])
	if err != nil {
		return err
	}
	defer cur.Close()
	for t := 1; t < len(idx); t++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f(t, cur.Next()); err != nil {
			return err
		}
		if t+1 < len(idx) {
			if err := cur.Feed(ctx, idx[t]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Scorer) generator(mode textgen.Mode) (*textgen.Generator, error) {
	if mode == textgen.ModeAuto {
		mode = s.auto
	}
	if g, ok := s.modes[mode]; ok {
		return g, nil
	}
	return nil, fmt.Errorf("%w: %s scoring: %v", ErrModeUnavailable, mode, s.why[mode])
}

func checkLength(n int, res Result) error {
	switch {
	case n == 0:
		return fmt.Errorf("%w: there is nothing to score", ErrEmptyText)
	case n <= res.ContextChars && res.Mode == textgen.ModeWindowed.String():
		return fmt.Errorf("%w: %d characters; windowed scoring needs more than the window of %d (the window only conditions the model)", ErrTooShort, n, res.Window)
	case n <= res.ContextChars:
		return fmt.Errorf("%w: %d character; stateful scoring needs at least 2 (the first only conditions the model)", ErrTooShort, n)
	}
	return nil
}

func (r Result) finish(start time.Time) Result {
	r.NatsPerChar = r.TotalNats / float64(r.Chars)
	r.BitsPerChar = r.NatsPerChar / math.Ln2
	r.Perplexity = math.Exp(r.NatsPerChar)
	r.Seconds = time.Since(start).Seconds()
	if r.Seconds > 0 {
		r.CharsPerSec = float64(r.Chars) / r.Seconds
	}
	return r
}

// logProb is the natural log of the probability the distribution gives
// index i; probabilities are floored at 1e-300, as the exporter does.
func logProb(dist []float32, i int, logits bool) (float64, error) {
	if i < 0 || i >= len(dist) {
		return 0, fmt.Errorf("%w: index %d of a distribution over %d", textgen.ErrBadDistribution, i, len(dist))
	}
	if !logits {
		p := float64(dist[i])
		if math.IsNaN(p) || p < 0 || p > 1+1e-3 {
			return 0, fmt.Errorf("%w: probability %v", textgen.ErrBadDistribution, p)
		}
		return math.Log(math.Max(p, 1e-300)), nil
	}
	maxv := math.Inf(-1)
	for _, x := range dist {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 1) {
			return 0, fmt.Errorf("%w: logit %v", textgen.ErrBadDistribution, x)
		}
		maxv = math.Max(maxv, float64(x))
	}
	var sum float64
	avx.ClearUpper() // math.Exp: see package avx
	for _, x := range dist {
		sum += math.Exp(float64(x) - maxv)
	}
	return float64(dist[i]) - maxv - math.Log(sum), nil
}
