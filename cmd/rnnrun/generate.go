package main

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/runtime/textgen"
)

func addGenerateFlags(fs *pflag.FlagSet) {
	fs.String("prompt", "", "text that primes the model (stateful models may start empty)")
	fs.Int("length", textgen.DefaultLength, "characters to generate")
	fs.String("temp", "1.0", "sampling temperature, or a comma-separated list (0.2,0.6,1.2) for one labelled sample each; 0 is greedy")
	fs.Int("top-k", 0, "keep only the K most likely characters (0: all)")
	fs.Float64("top-p", 1, "keep the most likely characters up to this total probability, in (0, 1]")
	fs.Int64("seed", -1, "random seed; the same seed gives the same text (-1: a random seed)")
	fs.String("mode", "auto", "auto, stateful (carry the LSTM state) or windowed (re-run the window, as the tutorial)")
	fs.Int("window", 0, "window length for windowed mode (0: from the model)")
	fs.String("vocab", "", "vocabulary JSON file (an array of characters), for models without one in their metadata")
	fs.String("case", "preserve", "case policy for --vocab: preserve or lower")
	fs.String("unknown", "error", "characters outside the vocabulary: error, skip or replace")
	fs.StringArray("stop", nil, "stop when the text ends with this string (repeatable; taken as is, commas included)")
}

// parseTemps reads one temperature or a comma-separated list.
func parseTemps(v *viper.Viper) ([]float64, error) {
	raw := v.GetString("temp")
	if raw == "" {
		raw = strings.Join(v.GetStringSlice("temp"), ",")
	}
	var temps []float64
	for _, f := range strings.Split(raw, ",") {
		t, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(t) || math.IsInf(t, 0) || t < 0 {
			return nil, usagef("--temp %q: each temperature must be a number >= 0 (0 is greedy)", raw)
		}
		temps = append(temps, t)
	}
	return temps, nil
}

// samplingFromFlags reads and validates the sampling flags other than the temperature.
func samplingFromFlags(v *viper.Viper) (textgen.Params, error) {
	p := textgen.Params{TopK: v.GetInt("top-k"), TopP: v.GetFloat64("top-p")}
	if p.TopP <= 0 || p.TopP > 1 || math.IsNaN(p.TopP) {
		return p, usagef("--top-p %v: must be in (0, 1]", p.TopP)
	}
	if p.TopK < 0 {
		return p, usagef("--top-k %d: must be >= 0 (0 keeps all)", p.TopK)
	}
	seed := v.GetInt64("seed")
	if seed < -1 {
		return p, usagef("--seed %d: must be >= 0, or -1 for a random seed", seed)
	}
	if seed == -1 {
		var b [8]byte
		rand.Read(b[:])
		p.Seed = binary.LittleEndian.Uint64(b[:])
	} else {
		p.Seed = uint64(seed)
	}
	return p, nil
}

func (a *app) generate(cmd *cobra.Command, _ []string) error {
	v, err := a.config(cmd)
	if err != nil {
		return err
	}
	temps, err := parseTemps(v)
	if err != nil {
		return err
	}
	params, err := samplingFromFlags(v)
	if err != nil {
		return err
	}
	length := v.GetInt("length")
	if length <= 0 {
		return usagef("--length %d: must be > 0", length)
	}
	mode, err := textgen.ParseMode(v.GetString("mode"))
	if err != nil {
		return usageError{err}
	}
	unknown, err := textgen.ParseUnknownPolicy(v.GetString("unknown"))
	if err != nil {
		return usageError{err}
	}
	window := v.GetInt("window")
	if window < 0 {
		return usagef("--window %d: must be >= 0", window)
	}
	ctx := cmd.Context()
	m, err := openModel(ctx, v)
	if err != nil {
		return err
	}
	defer m.Close()
	opts := textgen.Options{Mode: mode, Window: window}
	if path := v.GetString("vocab"); path != "" {
		if opts.Vocab, err = textgen.LoadVocab(path, v.GetString("case")); err != nil {
			return err
		}
	}
	g, err := textgen.New(m, opts)
	if err != nil {
		if errors.Is(err, textgen.ErrInvalidMode) || errors.Is(err, textgen.ErrInvalidWindow) {
			return usageError{err}
		}
		return err
	}
	g.Vocab().Unknown = unknown
	for _, t := range temps {
		if len(temps) > 1 {
			fmt.Fprintf(a.stdout, "----- temperature %g -----\n", t)
		}
		p := params
		p.Temperature = t
		req := textgen.Request{Prompt: v.GetString("prompt"), MaxLength: length, Sampling: p, Stop: v.GetStringSlice("stop")}
		wrote := len(temps) > 1
		_, err := g.Generate(ctx, req, func(s string) error {
			wrote = true
			_, err := io.WriteString(a.stdout, s)
			return err
		})
		if wrote {
			fmt.Fprintln(a.stdout)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
