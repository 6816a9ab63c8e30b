package score

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// ProgressMinChars is the text length from which the command reports progress on stderr.
const ProgressMinChars = 20000

// Commands implements task.Commander: `rnnrun score --model FILE TEXT|-`.
func (Task) Commands(cli task.CLI) []*cobra.Command {
	cmd := &cobra.Command{
		Use:   "score --model FILE [flags] TEXT|-",
		Short: "The loss of a text under a character model: nats and bits per character, perplexity",
		Long: `score reads a UTF-8 text file (or stdin for -) and prints the model's loss on it:
the mean cross-entropy of each character given what comes before it, in nats and
bits per character, and the perplexity.

  rnnrun score --model models/export/char.onnx play.txt
  rnnrun score --model models/export/char.onnx --mode windowed --json - < play.txt

--mode stateful carries the LSTM state from the first character (which only
conditions the model); --mode windowed predicts each character from the window
before it, run from a fresh state (the first window only conditions), as the
exporter measures its held-out loss. auto is stateful when the model can.
Texts of more than 20,000 characters report progress on stderr (--quiet: none).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return run(cli, cmd, args[0]) },
	}
	fs := cmd.Flags()
	cli.AddModelFlags(fs)
	fs.String("mode", "auto", "auto, stateful or windowed")
	fs.Int("window", 0, "window length for windowed mode (0: from the model)")
	fs.Bool("json", false, `print JSON: {"file", "mode", "window", "chars", "context_chars", "total_nats", "nats_per_char", "bits_per_char", "perplexity", "seconds", "chars_per_second"}`)
	fs.Bool("quiet", false, "no progress on stderr")
	return []*cobra.Command{cmd}
}

// Output is what --json prints.
type Output struct {
	File string `json:"file"`
	Result
}

func run(cli task.CLI, cmd *cobra.Command, file string) error {
	v, err := cli.Config(cmd)
	if err != nil {
		return err
	}
	mode, err := textgen.ParseMode(v.GetString("mode"))
	if err != nil {
		return task.UsageError{Err: err}
	}
	window := v.GetInt("window")
	if window < 0 {
		return task.Usagef("--window %d: must be >= 0", window)
	}
	text, err := readText(file, cmd.InOrStdin())
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	return task.WithModel(ctx, cli, v, func(m *model.Model) error {
		// The mode is settled as the served task and generation settle it:
		// stateful on a stateless export runs it with its state exposed.
		opts := textgen.Options{Window: window, Mode: mode}
		g, closeFn, err := generate.NewGenerator(ctx, m, opts)
		if err != nil {
			return err
		}
		defer closeFn()
		s := newScorer(m, g, opts)
		req := Request{Text: text, Mode: mode}
		if !v.GetBool("quiet") && utf8.RuneCountInString(text) >= ProgressMinChars {
			req.Progress = func(scored, total int) {
				fmt.Fprintf(cli.Stderr(), "rnnrun: score: %d/%d characters (%d%%)\n", scored, total, scored*100/total)
			}
		}
		res, err := s.Score(ctx, req)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		return report(cli.Stdout(), file, res, v.GetBool("json"))
	})
}

// report writes the result as one line, or as JSON.
func report(out io.Writer, file string, res Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		return enc.Encode(Output{File: file, Result: res})
	}
	how := res.Mode
	if res.Window > 0 {
		how = fmt.Sprintf("%s, window %d", how, res.Window)
	}
	_, err := fmt.Fprintf(out, "%s: %.4f nats/char, %.4f bits/char, perplexity %.3f over %d characters (%s)\n",
		file, res.NatsPerChar, res.BitsPerChar, res.Perplexity, res.Chars, how)
	return err
}

// readText reads the file (or stdin for -) as UTF-8, dropping a byte-order mark.
func readText(file string, stdin io.Reader) (string, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return "", err
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if !utf8.Valid(data) {
		for i := 0; i < len(data); {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return "", fmt.Errorf("%s is not UTF-8 text (byte %d)", file, i)
			}
			i += size
		}
	}
	if len(data) == 0 {
		return "", fmt.Errorf("%s: %w: the file is empty", file, ErrEmptyText)
	}
	return string(data), nil
}
