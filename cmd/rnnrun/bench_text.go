package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// benchParams are the sampling settings of every benchmark stream: the
// tutorial's temperature sampling over the whole distribution.
func benchParams(seed uint64) textgen.Params { return textgen.Params{Temperature: 1, Seed: seed} }

// benchTextTask runs the sections of a text model: stateful, windowed, batched.
func benchTextTask(ctx context.Context, m *model.Model, cfg *benchConfig, res *benchResult, progress io.Writer) error {
	if cfg.sections != nil && cfg.sections[secImages] {
		return usagef("%s is not an image model: the images section does not apply", m.Path())
	}
	g, closeFn, err := generate.NewGenerator(ctx, m, textgen.Options{Mode: cfg.mode})
	if err != nil {
		return err
	}
	defer closeFn()
	stateful := g.Mode() == textgen.ModeStateful
	if cfg.mode != textgen.ModeAuto && cfg.sections == nil {
		cfg.sections = map[string]bool{secStateful: stateful, secBatched: stateful, secWindowed: !stateful}
	}
	if _, err := g.Vocab().Encode(cfg.prompt); err != nil {
		return usagef("--prompt: %v", err)
	}
	if !stateful && cfg.sections != nil && (cfg.sections[secStateful] || cfg.sections[secBatched]) {
		return usagef("%s is not a stateful model: only the windowed section applies", m.Path())
	}
	if stateful && cfg.want(secStateful) {
		if err := benchStateful(ctx, g, cfg, res, progress); err != nil {
			return err
		}
	}
	if cfg.want(secWindowed) {
		if err := benchWindowed(ctx, m, g, cfg, res, progress); err != nil {
			return err
		}
	}
	if stateful && cfg.want(secBatched) && len(cfg.streams) > 0 {
		return benchBatchedSection(ctx, g, cfg, res, progress)
	}
	return nil
}

// benchStateful measures one stream carrying the state.
func benchStateful(ctx context.Context, g *textgen.Generator, cfg *benchConfig, res *benchResult, progress io.Writer) error {
	fmt.Fprintln(progress, "bench: stateful")
	r, err := benchGenerate(ctx, g, cfg)
	if err != nil {
		return fmt.Errorf("stateful: %w", err)
	}
	res.StatefulCharsPerSecond, res.StatefulChars, res.StatefulCPUCores = r.cps, r.chars, r.cores
	res.AllocsPerChar, res.BytesPerChar = &r.allocs, &r.bytes
	return nil
}

// benchWindowed measures the tutorial's path: g itself for a windowed model,
// a windowed generator over the same model for a stateful one (skipped when
// no window is known, unless the section was asked for).
func benchWindowed(ctx context.Context, m *model.Model, g *textgen.Generator, cfg *benchConfig, res *benchResult, progress io.Writer) error {
	w := g
	if g.Mode() == textgen.ModeStateful {
		var err error
		if w, err = textgen.New(m, textgen.Options{Mode: textgen.ModeWindowed}); err != nil {
			if cfg.sections != nil {
				return err
			}
			return nil
		}
	}
	if n, _ := g.Vocab().Encode(cfg.prompt); len(n) < w.Window() {
		return usagef("--prompt has %d characters; the windowed path needs at least the window (%d)", len(n), w.Window())
	}
	fmt.Fprintln(progress, "bench: windowed")
	r, err := benchGenerate(ctx, w, cfg)
	if err != nil {
		return fmt.Errorf("windowed: %w", err)
	}
	res.WindowedCharsPerSecond, res.WindowedChars, res.Window = r.cps, r.chars, w.Window()
	res.WindowedAllocsPerChar = &r.allocs
	return nil
}

// benchBatchedSection measures each --streams count of concurrent streams.
func benchBatchedSection(ctx context.Context, g *textgen.Generator, cfg *benchConfig, res *benchResult, progress io.Writer) error {
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
	if _, err := measureGeneration(ctx, g, cfg.prompt, 50); err != nil { // warm-up
		return genResult{}, err
	}
	n := cfg.length
	if n == 0 {
		// Calibrate on a short run, then size the measured one to the duration.
		est, err := measureGeneration(ctx, g, cfg.prompt, 300)
		if err != nil {
			return genResult{}, err
		}
		n = clamp(int(est.cps*cfg.duration.Seconds()), 300, 50_000_000)
	}
	return measureGeneration(ctx, g, cfg.prompt, max(n, 3))
}

// measureGeneration generates n characters and measures characters skip to n.
func measureGeneration(ctx context.Context, g *textgen.Generator, prompt string, n int) (genResult, error) {
	if n < 3 {
		return genResult{}, fmt.Errorf("need at least 3 characters, got %d", n)
	}
	meter := &genMeter{skip: max(n/10, 1), n: n}
	req := textgen.Request{Prompt: prompt, MaxLength: n, Sampling: benchParams(1)}
	if _, err := g.Generate(ctx, req, meter.emit); err != nil {
		return genResult{}, err
	}
	if meter.count != n {
		return genResult{}, fmt.Errorf("generated %d characters, want %d", meter.count, n)
	}
	return meter.result(), nil
}

// genMeter reads the clock, the CPU time and the allocation counters at
// character skip and at character n of one generation.
type genMeter struct {
	skip, n, count int
	m1, m2         runtime.MemStats
	t1, t2         time.Time
	cpu1, cpu2     float64
}

func (g *genMeter) emit(string) error {
	g.count++
	switch g.count {
	case g.skip:
		g.cpu1 = cpuSeconds()
		runtime.ReadMemStats(&g.m1)
		g.t1 = time.Now()
	case g.n:
		g.t2 = time.Now()
		runtime.ReadMemStats(&g.m2)
		g.cpu2 = cpuSeconds()
	}
	return nil
}

func (g *genMeter) result() genResult {
	steps := float64(g.n - g.skip)
	return genResult{
		cps:    steps / g.t2.Sub(g.t1).Seconds(),
		chars:  g.n,
		allocs: float64(g.m2.Mallocs-g.m1.Mallocs) / steps,
		bytes:  float64(g.m2.TotalAlloc-g.m1.TotalAlloc) / steps,
		cores:  cores(g.cpu1, g.cpu2, g.t2.Sub(g.t1)),
	}
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
	length := cfg.length
	if length == 0 {
		if length, err = calibrateRound(ctx, b, cfg.prompt, n, cfg.duration); err != nil {
			return genResult{}, err
		}
	}
	length = max(length, 20)
	for range 4 {
		r, err := batchRound(ctx, b, cfg.prompt, n, length)
		if err != nil {
			return genResult{}, err
		}
		if r.cps > 0 && (r.share >= 0.5 || cfg.length != 0) {
			return genResult{cps: r.cps, chars: length, cores: r.cores}, nil
		}
		length *= 4 // priming took most of the round: lengthen and retry
	}
	return genResult{}, errors.New("the streams never ran together for long; raise --length")
}

// calibrateRound lengthens the streams until they run together for most of a
// round, then sizes the measured round to the duration.
func calibrateRound(ctx context.Context, b *textgen.Batcher, prompt string, n int, duration time.Duration) (int, error) {
	for length := 64; ; length *= 4 {
		r, err := batchRound(ctx, b, prompt, n, length)
		if err != nil {
			return 0, err
		}
		if r.share >= 0.5 || length >= 1<<20 {
			if r.cps > 0 {
				length = clamp(int(r.cps*duration.Seconds()/float64(n)), length, 5_000_000)
			}
			return length, nil
		}
	}
}

// roundResult is one batched round: the aggregate rate over the window in
// which all streams ran, that window's share of the round, the cores busy.
type roundResult struct{ cps, share, cores float64 }

// batchRound runs n streams of length characters through b.
func batchRound(ctx context.Context, b *textgen.Batcher, prompt string, n, length int) (roundResult, error) {
	w := &roundWindow{n: int64(n)}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.stream(ctx, b, prompt, length, uint64(i+1)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return roundResult{}, err
	}
	return w.result(elapsed), nil
}

// roundWindow records the window of a round in which all n streams ran:
// from the last stream's first piece to the first stream's end.
type roundWindow struct {
	n             int64
	total, joined atomic.Int64
	mu            sync.Mutex
	t1, t2        time.Time
	c1, c2        int64
	cpu1, cpu2    float64
}

// stream runs one stream of the round, counting its characters.
func (w *roundWindow) stream(ctx context.Context, b *textgen.Batcher, prompt string, length int, seed uint64) error {
	first := true
	req := textgen.Request{Prompt: prompt, MaxLength: length, Sampling: benchParams(seed)}
	_, err := b.Generate(ctx, req, func(piece string) error {
		// A piece holds every character generated since the stream's last wake-up.
		c := w.total.Add(int64(utf8.RuneCountInString(piece)))
		if first {
			first = false
			if w.joined.Add(1) == w.n {
				w.mu.Lock()
				w.t1, w.c1, w.cpu1 = time.Now(), c, cpuSeconds()
				w.mu.Unlock()
			}
		}
		return nil
	})
	w.mu.Lock()
	if w.t2.IsZero() {
		w.t2, w.c2, w.cpu2 = time.Now(), w.total.Load(), cpuSeconds()
	}
	w.mu.Unlock()
	return err
}

func (w *roundWindow) result(elapsed time.Duration) roundResult {
	if w.t1.IsZero() || !w.t2.After(w.t1) || w.c2 <= w.c1 {
		return roundResult{} // the streams never all ran together
	}
	window := w.t2.Sub(w.t1)
	return roundResult{
		cps:   float64(w.c2-w.c1) / window.Seconds(),
		share: window.Seconds() / elapsed.Seconds(),
		cores: cores(w.cpu1, w.cpu2, window),
	}
}
