package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/rnnrun/rnnrun/internal/mnistdata"
	"github.com/rnnrun/rnnrun/runtime/task/classify"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

func init() { subcommands = append(subcommands, (*app).evalCmd) }

func (a *app) evalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eval --model FILE [--data DIR] [flags]",
		Short: "Evaluate an image-classification model on the 10,000 MNIST test images",
		Long: `eval classifies the MNIST test set (t10k) and prints the accuracy, the
per-class accuracy, the confusion matrix and the speed.

The data comes from the Go module ` + mnistdata.Module() + ` (its data/
folder), found in the module cache or fetched with ` + "`go mod download`" + `; --data DIR reads
t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (or uncompressed) from
DIR instead.

The images are fed exactly as the exporter fed Keras, so on the full test set the
count of correct images must equal the eval_correct the model's metadata
records; if it does not, eval says so and exits with status 1.`,
		Args: cobra.NoArgs,
		RunE: a.eval,
	}
	fs := cmd.Flags()
	addModelFlags(fs)
	classify.AddFlags(fs)
	fs.String("data", "", "folder with the MNIST test idx files (default: the GoMNIST Go module)")
	fs.Int("limit", 0, "evaluate only the first N images (0: all)")
	fs.Bool("json", false, "print JSON (accuracy, correct, total, images_per_second, per_class, confusion, keras_*)")
	fs.Bool("progress", true, "show a progress bar when stderr is a terminal")
	return cmd
}

// evalJSON is the output of `eval --json`.
type evalJSON struct {
	Model           string                 `json:"model"`
	Backend         string                 `json:"backend"`
	Data            string                 `json:"data"`
	Accuracy        float64                `json:"accuracy"`
	Correct         int                    `json:"correct"`
	Total           int                    `json:"total"`
	ImagesPerSecond float64                `json:"images_per_second"`
	Seconds         float64                `json:"seconds"`
	BatchSize       int                    `json:"batch_size"`
	KerasAccuracy   *float64               `json:"keras_accuracy,omitempty"`
	KerasCorrect    *int                   `json:"keras_correct,omitempty"`
	KerasTotal      *int                   `json:"keras_total,omitempty"`
	MatchesKeras    *bool                  `json:"matches_keras,omitempty"`
	Labels          []string               `json:"labels"`
	PerClass        []vision.ClassAccuracy `json:"per_class"`
	Confusion       [][]int                `json:"confusion"`
}

func (a *app) eval(cmd *cobra.Command, _ []string) error {
	ctx := cmd.Context()
	v, err := a.config(cmd)
	if err != nil {
		return err
	}
	limit := v.GetInt("limit")
	if limit < 0 {
		return usagef("--limit must not be negative, got %d", limit)
	}
	opts, err := classify.Options(v, 1)
	if err != nil {
		return err
	}
	m, err := a.openModel(ctx, v)
	if err != nil {
		return err
	}
	defer m.Close()
	c, err := vision.NewClassifier(m, opts)
	if err != nil {
		return err
	}
	dir := v.GetString("data")
	if dir == "" {
		if dir, err = mnistdata.Dir(ctx); err != nil {
			return err
		}
	}
	images, labels, err := vision.LoadMNISTTest(dir)
	if err != nil {
		return err
	}
	if limit > 0 && limit < len(images) {
		images, labels = images[:limit], labels[:limit]
	}
	var eopts vision.EvalOptions
	if v.GetBool("progress") && isTerminal(a.stderr) {
		eopts.Progress = progressBar(a.stderr)
	}
	r, err := c.Evaluate(ctx, images, labels, eopts)
	if err != nil {
		return err
	}

	meta := m.Metadata()
	out := evalJSON{
		Model: m.Path(), Backend: m.BackendName(), Data: dir,
		Accuracy: r.Accuracy, Correct: r.Correct, Total: r.Total,
		ImagesPerSecond: r.ImagesPerSecond, Seconds: r.Seconds, BatchSize: c.BatchSize(),
		Labels: c.Labels(), PerClass: r.PerClass, Confusion: r.Confusion,
	}
	var mismatch error
	keras := "no figure in the model's metadata"
	if meta.EvalTotal > 0 {
		acc := float64(meta.EvalCorrect) / float64(meta.EvalTotal)
		out.KerasAccuracy, out.KerasCorrect, out.KerasTotal = &acc, &meta.EvalCorrect, &meta.EvalTotal
		keras = fmt.Sprintf("%.4f (%d/%d)", acc, meta.EvalCorrect, meta.EvalTotal)
		if meta.EvalTotal == r.Total {
			same := meta.EvalCorrect == r.Correct
			out.MatchesKeras = &same
			if same {
				keras += ", identical"
			} else {
				keras += fmt.Sprintf(", DIFFERENT: %+d images", r.Correct-meta.EvalCorrect)
				mismatch = fmt.Errorf("%s: %d of %d images correct, but the model's metadata records %d correct in Keras (eval_correct): the accuracy differs",
					m.Path(), r.Correct, r.Total, meta.EvalCorrect)
			}
		} else {
			keras += fmt.Sprintf(", not compared: %d images evaluated", r.Total)
		}
	}

	if v.GetBool("json") {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
		return mismatch
	}
	var b strings.Builder
	fmt.Fprintf(&b, "model     %s (%s)\n", m.Path(), m.BackendName())
	fmt.Fprintf(&b, "data      %s (%d images)\n", dir, r.Total)
	fmt.Fprintf(&b, "accuracy  %.4f (%d/%d)\n", r.Accuracy, r.Correct, r.Total)
	fmt.Fprintf(&b, "keras     %s\n", keras)
	fmt.Fprintf(&b, "speed     %.0f images/s (%.2f s, batch %d)\n", r.ImagesPerSecond, r.Seconds, c.BatchSize())
	width := 5
	for _, l := range out.Labels {
		width = max(width, len(l)+1)
	}
	fmt.Fprintf(&b, "\nper-class accuracy\n  %-*s  accuracy  correct  total\n", width, "label")
	for _, pc := range r.PerClass {
		fmt.Fprintf(&b, "  %-*s  %8.4f  %7d  %5d\n", width, pc.Label, pc.Accuracy, pc.Correct, pc.Total)
	}
	fmt.Fprintf(&b, "\nconfusion matrix (rows: true label, columns: predicted label)\n  %-*s", width, "")
	for _, l := range out.Labels {
		fmt.Fprintf(&b, " %5s", l)
	}
	b.WriteByte('\n')
	for t, row := range r.Confusion {
		fmt.Fprintf(&b, "  %-*s", width, out.Labels[t])
		for _, n := range row {
			fmt.Fprintf(&b, " %5d", n)
		}
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(a.stdout, b.String()); err != nil {
		return err
	}
	return mismatch
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws "[=====     ] done/total" on one terminal line, redrawn
// at most ten times a second, and clears it when the work is done.
func progressBar(w io.Writer) func(done, total int) {
	const width = 30
	var mu sync.Mutex
	var last time.Time
	return func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if done >= total {
			fmt.Fprint(w, "\r\033[K")
			return
		}
		if now := time.Now(); now.Sub(last) < 100*time.Millisecond && done > 0 {
			return
		} else {
			last = now
		}
		n := width * done / max(1, total)
		fmt.Fprintf(w, "\r[%s%s] %d/%d images", strings.Repeat("=", n), strings.Repeat(" ", width-n), done, total)
	}
}
