package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/onnx"
	"github.com/rnnrun/rnnrun/runtime/textgen"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

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
		fs.String("only", "", "comma-separated sections to run: stateful, windowed, batched, images (default: all that apply)")
		fs.Int("inter-threads", 0, "inter-op threads (0: the backend's default)")
		fs.String("cpuprofile", "", "write a CPU profile (pprof) of the measurements to this file")
		fs.Bool("json", false, "print the results as JSON")
		return cmd
	})
}

// benchResult is the JSON form of `rnnrun bench --json`. The keys
// stateful_chars_per_second, windowed_chars_per_second, allocs_per_char and
// images_per_second are a documented contract (docs/benchmarks.md).
type benchResult struct {
	Model          string `json:"model"`
	Backend        string `json:"backend"`
	Task           string `json:"task"`
	Threads        int    `json:"threads"`
	InterOpThreads int    `json:"inter_op_threads"`
	Workers        int    `json:"workers,omitempty"`
	GoVersion      string `json:"go_version"`
	GOOS           string `json:"goos"`
	GOARCH         string `json:"goarch"`
	CPUs           int    `json:"cpus"`
	GOMAXPROCS     int    `json:"gomaxprocs"`

	// Text models.
	StatefulCharsPerSecond float64            `json:"stateful_chars_per_second,omitempty"`
	StatefulChars          int                `json:"stateful_chars,omitempty"`
	StatefulCPUCores       float64            `json:"stateful_cpu_cores,omitempty"`
	AllocsPerChar          *float64           `json:"allocs_per_char,omitempty"`
	BytesPerChar           *float64           `json:"bytes_per_char,omitempty"`
	WindowedCharsPerSecond float64            `json:"windowed_chars_per_second,omitempty"`
	WindowedChars          int                `json:"windowed_chars,omitempty"`
	WindowedAllocsPerChar  *float64           `json:"windowed_allocs_per_char,omitempty"`
	Window                 int                `json:"window,omitempty"`
	BatchedCharsPerSecond  map[string]float64 `json:"batched_chars_per_second,omitempty"`
	BatchShards            int                `json:"batch_shards,omitempty"`
	BatchedCharsPerStream  map[string]int     `json:"batched_chars_per_stream,omitempty"`
	BatchedCPUCores        map[string]float64 `json:"batched_cpu_cores,omitempty"`

	// Image models.
	ImagesPerSecond map[string]float64 `json:"images_per_second,omitempty"`
	ImagesCPUCores  map[string]float64 `json:"images_cpu_cores,omitempty"`
	ImagesData      string             `json:"images_data,omitempty"`
}

// cpuSeconds is the CPU time (user + system) of the whole process, every
// thread included (ONNX Runtime's own too), from /proc/self/stat; -1 where
// that file does not exist. It allocates: call it outside allocation counts.
func cpuSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	// Fields after the command name (which ends at the last ')'): state is 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (u + s) / 100 // USER_HZ is 100 on Linux
}

// cores is the average number of cores busy: CPU seconds over wall seconds (0 if unknown).
func cores(cpu0, cpu1 float64, wall time.Duration) float64 {
	if cpu0 < 0 || cpu1 < 0 || wall <= 0 {
		return 0
	}
	return (cpu1 - cpu0) / wall.Seconds()
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
	path := v.GetString("model")
	if path == "" {
		return usagef("--model is required (or RNNRUN_MODEL, or model: in the config file)")
	}
	opts := model.Options{
		Backend:        model.BackendName(v.GetString("backend")),
		Threads:        v.GetInt("threads"),
		InterOpThreads: v.GetInt("inter-threads"),
		LibraryPath:    v.GetString("ort-lib"),
	}
	m, err := model.Open(ctx, path, opts)
	if err != nil {
		return err
	}
	defer m.Close()

	res := &benchResult{
		Model: m.Path(), Backend: m.BackendName(), Task: m.Metadata().Task,
		Threads: opts.Threads, InterOpThreads: opts.InterOpThreads,
		GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	if m.BackendName() == "onnx" {
		if res.Threads == 0 {
			res.Threads = onnx.DefaultThreads
		}
		if res.InterOpThreads == 0 {
			res.InterOpThreads = 1
		}
	}
	if p := v.GetString("cpuprofile"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	progress := a.stderr
	if !v.GetBool("json") {
		progress = io.Discard
	}
	if m.Metadata().Task == model.TaskImageClassification {
		if cfg.sections != nil && !cfg.sections[secImages] {
			return usagef("%s is an image model: only the images section applies", m.Path())
		}
		res.Workers, res.ImagesData = cfg.workers, "pseudo-random pixels"
		if cfg.images != "" {
			res.ImagesData = cfg.images
		}
		if res.ImagesPerSecond, res.ImagesCPUCores, err = benchImages(ctx, m, cfg, progress); err != nil {
			return err
		}
	} else {
		if cfg.sections != nil && cfg.sections[secImages] {
			return usagef("%s is not an image model: the images section does not apply", m.Path())
		}
		if err := benchText(ctx, m, cfg, res, progress); err != nil {
			return err
		}
	}
	if v.GetBool("json") {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printBench(a.stdout, res)
	return nil
}

// printBench writes the human-readable report.
func printBench(w io.Writer, r *benchResult) {
	fmt.Fprintf(w, "model     %s (%s, %d intra-op / %d inter-op threads)\n", r.Model, r.Backend, r.Threads, r.InterOpThreads)
	fmt.Fprintf(w, "machine   %s/%s, %d CPUs, %s\n", r.GOOS, r.GOARCH, r.CPUs, r.GoVersion)
	if r.StatefulCharsPerSecond > 0 {
		fmt.Fprintf(w, "stateful  %12.0f chars/s  (%.2f µs/char, %d chars)\n", r.StatefulCharsPerSecond, 1e6/r.StatefulCharsPerSecond, r.StatefulChars)
	}
	if r.AllocsPerChar != nil {
		fmt.Fprintf(w, "allocs    %12.3f per char (%.1f bytes/char), steady state\n", *r.AllocsPerChar, *r.BytesPerChar)
	}
	if r.WindowedCharsPerSecond > 0 {
		fmt.Fprintf(w, "windowed  %12.0f chars/s  (window %d, %.1f µs/char, %d chars)", r.WindowedCharsPerSecond, r.Window, 1e6/r.WindowedCharsPerSecond, r.WindowedChars)
		if r.StatefulCharsPerSecond > 0 {
			fmt.Fprintf(w, "  stateful is %.0fx faster", r.StatefulCharsPerSecond/r.WindowedCharsPerSecond)
		}
		fmt.Fprintln(w)
	}
	for _, k := range sortedKeys(r.BatchedCharsPerSecond) {
		cps := r.BatchedCharsPerSecond[k]
		fmt.Fprintf(w, "batched   %12.0f chars/s  aggregate, %s streams", cps, k)
		if r.StatefulCharsPerSecond > 0 {
			fmt.Fprintf(w, "  (%.1fx one stream)", cps/r.StatefulCharsPerSecond)
		}
		fmt.Fprintln(w)
	}
	for _, k := range sortedKeys(r.ImagesPerSecond) {
		fmt.Fprintf(w, "images    %12.0f images/s at batch %s", r.ImagesPerSecond[k], k)
		if r.Workers > 1 {
			fmt.Fprintf(w, " (%d concurrent calls)", r.Workers)
		}
		fmt.Fprintln(w)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, _ := strconv.Atoi(keys[i])
		b, _ := strconv.Atoi(keys[j])
		return a < b
	})
	return keys
}

// benchParams are the sampling settings of every benchmark stream: the
// tutorial's temperature sampling over the whole distribution.
func benchParams(seed uint64) textgen.Params { return textgen.Params{Temperature: 1, Seed: seed} }

func benchText(ctx context.Context, m *model.Model, cfg *benchConfig, res *benchResult, progress io.Writer) error {
	g, err := textgen.New(m, textgen.Options{})
	if err != nil {
		return err
	}
	stateful := g.Mode() == textgen.ModeStateful
	if _, err := g.Vocab().Encode(cfg.prompt); err != nil {
		return usagef("--prompt: %v", err)
	}
	if stateful && cfg.want(secStateful) {
		fmt.Fprintln(progress, "bench: stateful")
		r, err := benchGenerate(ctx, g, cfg)
		if err != nil {
			return fmt.Errorf("stateful: %w", err)
		}
		res.StatefulCharsPerSecond, res.StatefulChars, res.StatefulCPUCores = r.cps, r.chars, r.cores
		res.AllocsPerChar, res.BytesPerChar = &r.allocs, &r.bytes
	}
	if cfg.want(secWindowed) {
		w := g
		if stateful {
			if w, err = textgen.New(m, textgen.Options{Mode: textgen.ModeWindowed}); err != nil {
				if cfg.sections != nil {
					return err
				}
				w = nil // no window known: skip the windowed path
			}
		}
		if w != nil {
			n, _ := g.Vocab().Encode(cfg.prompt)
			if len(n) < w.Window() {
				return usagef("--prompt has %d characters; the windowed path needs at least the window (%d)", len(n), w.Window())
			}
			fmt.Fprintln(progress, "bench: windowed")
			r, err := benchGenerate(ctx, w, cfg)
			if err != nil {
				return fmt.Errorf("windowed: %w", err)
			}
			res.WindowedCharsPerSecond, res.WindowedChars, res.Window = r.cps, r.chars, w.Window()
			res.WindowedAllocsPerChar = &r.allocs
		}
	}
	if stateful && cfg.want(secBatched) && len(cfg.streams) > 0 {
		res.BatchedCharsPerSecond = map[string]float64{}
		res.BatchShards = cfg.shards
		res.BatchedCharsPerStream = map[string]int{}
		res.BatchedCPUCores = map[string]float64{}
		for _, n := range cfg.streams {
			fmt.Fprintf(progress, "bench: batched, %d streams\n", n)
			r, err := benchBatched(ctx, g, cfg, n)
			if err != nil {
				return fmt.Errorf("batched, %d streams: %w", n, err)
			}
			k := strconv.Itoa(n)
			res.BatchedCharsPerSecond[k], res.BatchedCharsPerStream[k] = r.cps, r.chars
			if r.cores > 0 {
				res.BatchedCPUCores[k] = r.cores
			}
		}
	} else if !stateful && cfg.sections != nil && (cfg.sections[secStateful] || cfg.sections[secBatched]) {
		return usagef("%s is not a stateful model: only the windowed section applies", m.Path())
	}
	return nil
}

type genResult struct {
	cps           float64
	chars         int
	allocs, bytes float64
	cores         float64 // average cores busy
}

// benchGenerate times one long generation of g after a warm-up. The clock and
// the allocation counters start at a character well after priming and stop
// at the last one, so the figures are the steady state of the per-character loop.
func benchGenerate(ctx context.Context, g *textgen.Generator, cfg *benchConfig) (genResult, error) {
	run := func(n int) (genResult, error) {
		skip := max(n/10, 1)
		if n < 3 {
			return genResult{}, fmt.Errorf("need at least 3 characters, got %d", n)
		}
		var m1, m2 runtime.MemStats
		var t1, t2 time.Time
		var cpu1, cpu2 float64
		count := 0
		emit := func(string) error {
			count++
			switch count {
			case skip:
				cpu1 = cpuSeconds()
				runtime.ReadMemStats(&m1)
				t1 = time.Now()
			case n:
				t2 = time.Now()
				runtime.ReadMemStats(&m2)
				cpu2 = cpuSeconds()
			}
			return nil
		}
		req := textgen.Request{Prompt: cfg.prompt, MaxLength: n, Sampling: benchParams(1)}
		if _, err := g.Generate(ctx, req, emit); err != nil {
			return genResult{}, err
		}
		if count != n {
			return genResult{}, fmt.Errorf("generated %d characters, want %d", count, n)
		}
		steps := float64(n - skip)
		return genResult{
			cps:    steps / t2.Sub(t1).Seconds(),
			chars:  n,
			allocs: float64(m2.Mallocs-m1.Mallocs) / steps,
			bytes:  float64(m2.TotalAlloc-m1.TotalAlloc) / steps,
			cores:  cores(cpu1, cpu2, t2.Sub(t1)),
		}, nil
	}
	if _, err := run(50); err != nil { // warm-up
		return genResult{}, err
	}
	n := cfg.length
	if n == 0 {
		// Calibrate on a short run, then size the measured one to the duration.
		est, err := run(300)
		if err != nil {
			return genResult{}, err
		}
		n = clamp(int(est.cps*cfg.duration.Seconds()), 300, 50_000_000)
	}
	return run(max(n, 3))
}

// benchBatched measures the aggregate rate of n concurrent streams in one
// Batcher: from the moment the last stream has joined to the moment the first
// one finishes, so every step of the window runs all n streams.
func benchBatched(ctx context.Context, g *textgen.Generator, cfg *benchConfig, n int) (genResult, error) {
	b, err := textgen.NewBatcher(g, textgen.BatcherOptions{MaxBatch: (n + cfg.shards - 1) / cfg.shards, Shards: cfg.shards})
	if err != nil {
		return genResult{}, err
	}
	defer b.Close()
	// round runs n streams of length characters; it returns the aggregate rate
	// over the window in which all n streams ran, and that window's share of the round.
	var coresBusy float64 // of the last round
	round := func(length int) (cps, share float64, err error) {
		var total, joined atomic.Int64
		var mu sync.Mutex
		var t1, t2 time.Time
		var c1, c2 int64
		var cpu1, cpu2 float64
		var wg sync.WaitGroup
		errs := make(chan error, n)
		start := time.Now()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first := true
				req := textgen.Request{Prompt: cfg.prompt, MaxLength: length, Sampling: benchParams(uint64(i + 1))}
				_, err := b.Generate(ctx, req, func(piece string) error {
					// A piece holds every character generated since the stream's last wake-up.
					c := total.Add(int64(utf8.RuneCountInString(piece)))
					if first {
						first = false
						if joined.Add(1) == int64(n) {
							mu.Lock()
							t1, c1, cpu1 = time.Now(), c, cpuSeconds()
							mu.Unlock()
						}
					}
					return nil
				})
				mu.Lock()
				if t2.IsZero() {
					t2, c2, cpu2 = time.Now(), total.Load(), cpuSeconds()
				}
				mu.Unlock()
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(errs)
		if err := <-errs; err != nil {
			return 0, 0, err
		}
		if t1.IsZero() || !t2.After(t1) || c2 <= c1 {
			return 0, 0, nil // the streams never all ran together
		}
		coresBusy = cores(cpu1, cpu2, t2.Sub(t1))
		return float64(c2-c1) / t2.Sub(t1).Seconds(), t2.Sub(t1).Seconds() / elapsed.Seconds(), nil
	}
	length := cfg.length
	if length == 0 {
		// Calibrate: lengthen until the streams run together for most of a
		// round, then size the measured round to the duration.
		length = 64
		for {
			cps, share, err := round(length)
			if err != nil {
				return genResult{}, err
			}
			if share >= 0.5 || length >= 1<<20 {
				if cps > 0 {
					length = clamp(int(cps*cfg.duration.Seconds()/float64(n)), length, 5_000_000)
				}
				break
			}
			length *= 4
		}
	}
	length = max(length, 20)
	for range 4 {
		cps, share, err := round(length)
		if err != nil {
			return genResult{}, err
		}
		if cps > 0 && (share >= 0.5 || cfg.length != 0) {
			return genResult{cps: cps, chars: length, cores: coresBusy}, nil
		}
		length *= 4 // priming took most of the round: lengthen and retry
	}
	return genResult{}, errors.New("the streams never ran together for long; raise --length")
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

// maxDistinctBatches caps the different batches each worker cycles through
// when --images gives real images.
const maxDistinctBatches = 64

// benchImages measures images per second at each batch size through
// zero-allocation bindings over fixed tensors: real images (cfg.images, cycling
// through up to maxDistinctBatches different batches, as Python's figures do)
// or pixel-like pseudo-random values. With several workers, each runs its own
// bindings concurrently. It also returns the average number of cores busy.
func benchImages(ctx context.Context, m *model.Model, cfg *benchConfig, progress io.Writer) (rates, busy map[string]float64, err error) {
	sig, md := m.Signature(), m.Metadata()
	inName := md.Input
	if inName == "" && len(sig.Inputs) == 1 {
		inName = sig.Inputs[0].Name
	}
	in, ok := sig.Input(inName)
	if !ok || len(sig.Inputs) != 1 {
		return nil, nil, fmt.Errorf("%w: %s: the image benchmark needs a model with one input", model.ErrBadModel, m.Path())
	}
	shapeFor := func(t model.TensorInfo, batch int) (model.Shape, error) {
		s := append(model.Shape{}, t.Shape...)
		for i := range s {
			switch {
			case i == 0:
				if s[0] >= 0 && s[0] != int64(batch) {
					return nil, fmt.Errorf("%w: %s: %s has a fixed batch of %d", model.ErrBadModel, m.Path(), t, s[0])
				}
				s[0] = int64(batch)
			case s[i] < 0:
				return nil, fmt.Errorf("%w: %s: %s has a dynamic dimension besides the batch", model.ErrBadModel, m.Path(), t)
			}
		}
		return s, nil
	}
	var pixels []uint8 // the real images, concatenated
	if cfg.images != "" {
		imgs, err := vision.ReadIdxImages(cfg.images)
		if err != nil {
			return nil, nil, usageError{fmt.Errorf("--images: %w", err)}
		}
		for _, g := range imgs {
			pixels = append(pixels, g.Pix...)
		}
	}
	// bind prepares the k-th batch of the given size.
	bind := func(batch, k int) (model.Binding, error) {
		s, err := shapeFor(in, batch)
		if err != nil {
			return nil, err
		}
		x := model.NewFloat32(s, nil)
		d := x.Float32s()
		if pixels != nil {
			if len(pixels) < len(d) {
				return nil, usagef("--images holds %d pixels, fewer than one batch of %s", len(pixels), s)
			}
			n := len(pixels) / len(d) // whole batches in the file
			off := (k % n) * len(d)
			for i := range d {
				d[i] = (float32(pixels[off+i]) - md.InputMean) / md.InputStd
			}
		} else {
			seed := uint32(12345 + k)
			for i := range d {
				seed = seed*1664525 + 1013904223
				d[i] = float32(seed>>24) / 255
			}
		}
		outs := map[string]*model.Tensor{}
		for _, t := range sig.Outputs {
			shape, err := shapeFor(t, batch)
			if err != nil {
				return nil, err
			}
			outs[t.Name] = model.NewFloat32(shape, nil)
		}
		return m.Bind(map[string]*model.Tensor{in.Name: x}, outs)
	}
	rates, busy = map[string]float64{}, map[string]float64{}
	for _, batch := range cfg.batches {
		fmt.Fprintf(progress, "bench: images, batch %d, %d workers\n", batch, cfg.workers)
		distinct := 1
		if pixels != nil {
			per := int(shapeSize(in.Shape, batch))
			distinct = clamp(len(pixels)/max(per, 1), 1, maxDistinctBatches)
		}
		rate, c, err := benchBatch(ctx, cfg, batch, distinct, bind)
		if err != nil {
			return nil, nil, err
		}
		rates[strconv.Itoa(batch)] = rate
		if c > 0 {
			busy[strconv.Itoa(batch)] = c
		}
	}
	return rates, busy, nil
}

// shapeSize is the element count of shape with its batch dimension set to batch.
func shapeSize(shape model.Shape, batch int) int64 {
	n := int64(batch)
	for _, d := range shape[1:] {
		n *= max(d, 1)
	}
	return n
}

// benchBatch times one batch size: every worker gets distinct bindings and
// runs them in turn; after a warm-up, three rounds of a third of the duration
// each run all workers concurrently, and the best round counts (as Python's
// figures in bench/sidebyside.py), which damps a noisy machine.
func benchBatch(ctx context.Context, cfg *benchConfig, batch, distinct int, bind func(batch, k int) (model.Binding, error)) (rate, busy float64, err error) {
	sets := make([][]model.Binding, cfg.workers)
	defer func() {
		for _, set := range sets {
			for _, bd := range set {
				bd.Close()
			}
		}
	}()
	for w := range sets {
		for k := range distinct {
			bd, err := bind(batch, k)
			if err != nil {
				return 0, 0, err
			}
			sets[w] = append(sets[w], bd)
		}
	}
	runK := func(set []model.Binding, k int) error {
		for i := range k {
			if err := set[i%len(set)].Run(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	for _, set := range sets { // warm-up
		if err := runK(set, 1); err != nil {
			return 0, 0, err
		}
	}
	start := time.Now()
	if err := runK(sets[0], 2); err != nil { // estimate
		return 0, 0, err
	}
	per := time.Since(start).Seconds() / 2
	k := clamp(int(cfg.duration.Seconds()/3/per), 2, 10_000_000)
	cpu0, start := cpuSeconds(), time.Now()
	for range 3 {
		var wg sync.WaitGroup
		errs := make([]error, len(sets))
		t := time.Now()
		for w, set := range sets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[w] = runK(set, k)
			}()
		}
		wg.Wait()
		el := time.Since(t)
		if err := errors.Join(errs...); err != nil {
			return 0, 0, err
		}
		rate = max(rate, float64(k*batch*len(sets))/el.Seconds())
	}
	return rate, cores(cpu0, cpuSeconds(), time.Since(start)), nil
}
