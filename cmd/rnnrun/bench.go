package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/model/infer"
	"github.com/rnnrun/rnnrun/runtime/native/kernel"
	"github.com/rnnrun/rnnrun/runtime/onnx"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// The bench command: flags and configuration here; the text sections in
// bench_text.go, the image section in bench_vision.go, the result and its
// report in bench_report.go.

// defaultBenchPrompt is longer than the shipped model's 100-character window,
// so the windowed (tutorial) path always runs full windows.
const defaultBenchPrompt = "LYSANDER.\nHow now, my love! Why is your cheek so pale?\n" +
	"How chance the roses there do fade so fast?\n\nHERMIA.\n" +
	"Belike for want of rain, which I could well\nBeteem them from the tempest of my eyes.\n"

// Bench sections.
const (
	secStateful = "stateful"
	secWindowed = "windowed"
	secBatched  = "batched"
	secImages   = "images"
)

func init() {
	subcommands = append(subcommands, func(a *app) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "bench",
			Short: "Measure generation and classification speed",
			Long: `bench measures how fast a model runs on this machine.

Text models (stateful, e.g. char.onnx):
  stateful   one stream carrying the LSTM state: one step + one sample per character
  windowed   the tutorial's path on the same model: the last window of characters
             re-run from a zero state for every character (the prompt fills the window)
  batched    N concurrent streams stepped together by textgen.Batcher (one model
             call per step for all streams); aggregate characters per second
  allocs_per_char is the Go heap allocations per generated character in the steady
  state of the stateful run (runtime.MemStats.Mallocs delta / characters).
Image models: images per second through a zero-allocation binding at each --batch.

Every figure excludes warm-up and priming: it is measured over the steady state.`,
			Args: cobra.NoArgs,
			RunE: a.bench,
		}
		addModelFlags(cmd.Flags())
		fs := cmd.Flags()
		fs.Int("length", 0, "characters per stateful and windowed measurement (0: enough for --duration)")
		fs.Duration("duration", 2*time.Second, "target length of each measurement")
		fs.String("streams", "1,8,64,256", "concurrent stream counts for continuous batching (\"\": skip)")
		fs.Int("shards", 1, "batched section: independent batches, one model call per step each (see textgen.BatcherOptions)")
		fs.String("batch", "1,32,256", "batch sizes for image models")
		fs.Int("workers", 1, "image models: concurrent calls, each over its own batch")
		fs.String("images", "", "image models: idx images file (e.g. t10k-images-idx3-ubyte.gz) to run instead of pseudo-random pixels")
		fs.String("prompt", defaultBenchPrompt, "prompt that primes every stream (windowed needs at least the window)")
		fs.String("mode", "auto", "text models: stateful (the stateful and batched sections; a stateless ONNX export runs with its state exposed), windowed (the windowed section) or auto (all that apply)")
		fs.String("only", "", "comma-separated sections to run: stateful, windowed, batched, images (default: all that apply)")
		fs.Int("inter-threads", 0, "inter-op threads (0: the backend's default)")
		fs.String("cpuprofile", "", "write a CPU profile (pprof) of the measurements to this file")
		fs.Bool("json", false, "print the results as JSON")
		return cmd
	})
}

type benchConfig struct {
	length   int
	duration time.Duration
	streams  []int
	batches  []int
	prompt   string
	workers  int
	shards   int
	images   string          // idx images file for image models; "" uses pseudo-random pixels
	sections map[string]bool // nil: all that apply
	mode     textgen.Mode    // the text generation mode (auto: the model's)
}

func (c *benchConfig) want(sec string) bool { return c.sections == nil || c.sections[sec] }

// parseCounts reads a comma-separated list of positive integers.
func parseCounts(flag, raw string) ([]int, error) {
	raw = strings.Trim(strings.TrimSpace(raw), "[]")
	if raw == "" {
		return nil, nil
	}
	var list []int
	for _, f := range strings.Split(raw, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, usagef("--%s %q: want a comma-separated list of positive integers", flag, raw)
		}
		list = append(list, n)
	}
	return list, nil
}

func benchConfigFrom(v *viper.Viper) (*benchConfig, error) {
	c := &benchConfig{length: v.GetInt("length"), duration: v.GetDuration("duration"), prompt: v.GetString("prompt"), workers: v.GetInt("workers"), images: v.GetString("images")}
	if c.workers <= 0 {
		return nil, usagef("--workers %d: must be > 0", c.workers)
	}
	if c.shards = v.GetInt("shards"); c.shards <= 0 {
		return nil, usagef("--shards %d: must be > 0", c.shards)
	}
	if c.length < 0 {
		return nil, usagef("--length %d: must be >= 0 (0: from --duration)", c.length)
	}
	if c.duration <= 0 {
		return nil, usagef("--duration %v: must be > 0", c.duration)
	}
	var err error
	if c.streams, err = parseCounts("streams", v.GetString("streams")); err != nil {
		return nil, err
	}
	if c.batches, err = parseCounts("batch", v.GetString("batch")); err != nil {
		return nil, err
	}
	if c.mode, err = textgen.ParseMode(v.GetString("mode")); err != nil {
		return nil, usagef("--mode: %v", err)
	}
	if only := strings.TrimSpace(v.GetString("only")); only != "" {
		c.sections = map[string]bool{}
		for _, s := range strings.Split(only, ",") {
			s = strings.TrimSpace(s)
			switch s {
			case secStateful, secWindowed, secBatched, secImages:
				c.sections[s] = true
			default:
				return nil, usagef("--only %q: sections are stateful, windowed, batched and images", only)
			}
		}
	}
	if v.GetInt("threads") < 0 || v.GetInt("inter-threads") < 0 {
		return nil, usagef("--threads and --inter-threads must be >= 0")
	}
	return c, nil
}

func (a *app) bench(cmd *cobra.Command, _ []string) error {
	v, err := a.config(cmd)
	if err != nil {
		return err
	}
	cfg, err := benchConfigFrom(v)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	m, opts, err := a.openBenchModel(ctx, v)
	if err != nil {
		return err
	}
	defer m.Close()
	res := newBenchResult(m, opts)
	stop, err := startCPUProfile(v.GetString("cpuprofile"))
	if err != nil {
		return err
	}
	defer stop()
	progress := a.stderr
	if !v.GetBool("json") {
		progress = io.Discard
	}
	if err := benchTask(ctx, m, cfg, res, progress); err != nil {
		return err
	}
	if v.GetBool("json") {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printBench(a.stdout, res)
	return nil
}

// benchTask runs the sections that apply to m's task: the one place bench
// knows the tasks (a task interface can replace this switch).
func benchTask(ctx context.Context, m *model.Model, cfg *benchConfig, res *benchResult, progress io.Writer) error {
	if m.Metadata().Task == model.TaskImageClassification {
		return benchImageTask(ctx, m, cfg, res, progress)
	}
	return benchTextTask(ctx, m, cfg, res, progress)
}

// openBenchModel opens --model with the model flags, its metadata resolved as every command's.
func (a *app) openBenchModel(ctx context.Context, v *viper.Viper) (*model.Model, model.Options, error) {
	path := v.GetString("model")
	if path == "" {
		return nil, model.Options{}, usagef("--model is required (or RNNRUN_MODEL, or model: in the config file)")
	}
	opts := model.Options{
		Backend:        model.BackendName(v.GetString("backend")),
		Threads:        v.GetInt("threads"),
		InterOpThreads: v.GetInt("inter-threads"),
		LibraryPath:    v.GetString("ort-lib"),
	}
	layers, err := a.overrideLayers(v)
	if err != nil {
		return nil, opts, err
	}
	opts.Resolve = infer.Resolver(layers...)
	m, err := model.Open(ctx, path, opts)
	return m, opts, err
}

// newBenchResult describes the model and the machine, with ONNX Runtime's
// thread defaults filled in.
func newBenchResult(m *model.Model, opts model.Options) *benchResult {
	res := &benchResult{
		Model: m.Path(), Backend: m.BackendName(), Task: m.Metadata().Task,
		Threads: opts.Threads, InterOpThreads: opts.InterOpThreads,
		GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	if m.BackendName() == "native" { // one call runs on its caller's goroutine
		res.Kernels, res.Threads, res.InterOpThreads = kernel.Implementation(), 1, 1
	}
	if m.BackendName() == "onnx" {
		if res.Threads == 0 {
			res.Threads = onnx.DefaultThreads
		}
		if res.InterOpThreads == 0 {
			res.InterOpThreads = 1
		}
	}
	return res
}

// startCPUProfile writes a CPU profile to path until stop is called ("" does nothing).
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }
