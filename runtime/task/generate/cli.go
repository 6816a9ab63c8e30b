package generate

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// Commands implements task.Commander: "generate", which rnnrun also runs
// when given no subcommand.
func (t *Task) Commands(cli task.CLI) []*cobra.Command {
	cmd := &cobra.Command{
		Use:   "generate --model FILE [flags]",
		Short: "Generate text with a character model (what rnnrun does without a subcommand)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return run(cli, cmd) },
	}
	cli.AddModelFlags(cmd.Flags())
	AddFlags(cmd.Flags())
	return []*cobra.Command{cmd}
}

// AddFlags adds the generation flags.
func AddFlags(fs *pflag.FlagSet) {
	fs.String("prompt", "", "text that primes the model (empty: start from a newline)")
	fs.Int("length", textgen.DefaultLength, "characters to generate")
	fs.String("temp", "1.0", "sampling temperature, or a comma-separated list (0.2,0.6,1.2) for one labelled sample each; 0 is greedy")
	fs.Int("top-k", 0, "keep only the K most likely characters (0: all)")
	fs.Float64("top-p", 1, "keep the most likely characters up to this total probability, in (0, 1]")
	fs.Int64("seed", -1, "random seed; the same seed gives the same text (-1: a random seed)")
	fs.String("mode", "auto", "auto, stateful (carry the LSTM state) or windowed (re-run the window, as the tutorial)")
	fs.Int("window", 0, "window length for windowed mode (0: from the model)")
	fs.String("unknown", "error", "characters outside the vocabulary: error, skip or replace")
	fs.StringArray("stop", nil, "stop when the text ends with this string (repeatable; taken as is, commas included)")
}

// flagError turns a textgen.ParamError into a usage error naming the flag.
func flagError(err error) error {
	var pe *textgen.ParamError
	if !errors.As(err, &pe) {
		return err
	}
	flag := map[string]string{"temperature": "temp", "max-length": "length"}[pe.Name]
	if flag == "" {
		flag = pe.Name
	}
	return task.Usagef("--%s %v: %s", flag, pe.Value, pe.Rule)
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
		if err != nil || (textgen.Params{Temperature: t, TopP: 1}).Validate() != nil {
			return nil, task.Usagef("--temp %q: each temperature must be a number >= 0 (0 is greedy)", raw)
		}
		temps = append(temps, t)
	}
	return temps, nil
}

// request reads and validates the flags of one request (its temperature is set per sample).
func request(v *viper.Viper) (textgen.Request, error) {
	req := textgen.Request{Prompt: v.GetString("prompt"), MaxLength: v.GetInt("length"), Stop: v.GetStringSlice("stop"),
		Sampling: textgen.Params{TopK: v.GetInt("top-k"), TopP: v.GetFloat64("top-p")}}
	if req.MaxLength <= 0 {
		return req, task.Usagef("--length %d: must be > 0", req.MaxLength)
	}
	if err := req.Validate(); err != nil {
		return req, flagError(err)
	}
	seed := v.GetInt64("seed")
	switch {
	case seed < -1:
		return req, task.Usagef("--seed %d: must be >= 0, or -1 for a random seed", seed)
	case seed == -1:
		var b [8]byte
		_, _ = rand.Read(b[:])
		req.Sampling.Seed = binary.LittleEndian.Uint64(b[:])
	default:
		req.Sampling.Seed = uint64(seed)
	}
	return req, nil
}

// options reads the flags that prepare the Generator.
func options(v *viper.Viper) (textgen.Options, error) {
	mode, err := textgen.ParseMode(v.GetString("mode"))
	if err != nil {
		return textgen.Options{}, task.UsageError{Err: err}
	}
	unknown, err := textgen.ParseUnknownPolicy(v.GetString("unknown"))
	if err != nil {
		return textgen.Options{}, task.UsageError{Err: err}
	}
	opts := textgen.Options{Mode: mode, Window: v.GetInt("window"), Unknown: unknown}
	if opts.Window < 0 {
		return opts, task.Usagef("--window %d: must be >= 0", opts.Window)
	}
	return opts, nil
}

func run(cli task.CLI, cmd *cobra.Command) error {
	v, err := cli.Config(cmd)
	if err != nil {
		return err
	}
	temps, err := parseTemps(v)
	if err != nil {
		return err
	}
	req, err := request(v)
	if err == nil && cmd.Flags().Changed("stop") {
		// pflag reads a lone empty --stop as no value at all; refuse it as
		// Validate refuses an empty stop string.
		if req.Stop, _ = cmd.Flags().GetStringArray("stop"); len(req.Stop) == 0 {
			req.Stop = []string{""}
		}
		err = flagError(req.Validate())
	}
	if err != nil {
		return err
	}
	opts, err := options(v)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	return task.WithModel(ctx, cli, v, func(m *model.Model) error {
		g, closeFn, err := NewGenerator(ctx, m, opts)
		if err != nil {
			if errors.Is(err, textgen.ErrInvalidMode) || errors.Is(err, textgen.ErrInvalidWindow) {
				return task.UsageError{Err: err}
			}
			return err
		}
		defer closeFn()
		return samples(ctx, cli.Stdout(), g, req, temps)
	})
}

// samples writes one sample per temperature, labelled when there are several.
func samples(ctx context.Context, out io.Writer, g *textgen.Generator, req textgen.Request, temps []float64) error {
	for _, t := range temps {
		if len(temps) > 1 {
			fmt.Fprintf(out, "----- temperature %g -----\n", t)
		}
		req.Sampling.Temperature = t
		wrote := len(temps) > 1
		_, err := g.Generate(ctx, req, func(s string) error {
			wrote = true
			_, err := io.WriteString(out, s)
			return err
		})
		if wrote {
			fmt.Fprintln(out)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
