package textgen_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
	_ "github.com/rnnrun/rnnrun/runtime/onnx"
	"github.com/rnnrun/rnnrun/runtime/registry/registrytest"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

const prompt = "LYSANDER.\nHow now, my love! Why is your cheek so pale?\n"

func open(t testing.TB, name string) *model.Model {
	t.Helper()
	m, err := model.Open(context.Background(), filepath.Join(golden.ExportDir(), name), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func generator(t testing.TB, m *model.Model, mode textgen.Mode) *textgen.Generator {
	t.Helper()
	g, err := textgen.New(m, textgen.Options{Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func text(t testing.TB, g interface {
	Generate(context.Context, textgen.Request, func(string) error) (textgen.Stats, error)
}, req textgen.Request) string {
	t.Helper()
	var b strings.Builder
	if _, err := g.Generate(context.Background(), req, func(s string) error { b.WriteString(s); return nil }); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestModeFromSignature(t *testing.T) {
	if g := generator(t, open(t, "char.onnx"), textgen.ModeAuto); g.Mode() != textgen.ModeStateful {
		t.Errorf("char.onnx: mode %v, want stateful", g.Mode())
	}
	g := generator(t, open(t, "char_window.onnx"), textgen.ModeAuto)
	if g.Mode() != textgen.ModeWindowed || g.Window() != 100 {
		t.Errorf("char_window.onnx: mode %v window %d, want windowed 100", g.Mode(), g.Window())
	}
	if _, err := textgen.New(open(t, "char_window.onnx"), textgen.Options{Mode: textgen.ModeStateful}); !errors.Is(err, textgen.ErrInvalidMode) {
		t.Errorf("stateful on a stateless model: %v", err)
	}
	if _, err := textgen.New(open(t, "mnist.onnx"), textgen.Options{}); !errors.Is(err, textgen.ErrNotTextModel) {
		t.Errorf("image model accepted for text: %v", err)
	}
}

// Carrying the state and re-running the window are the same computation while
// the whole text fits in the window: greedy text must be identical, on the
// stateful model run both ways and on the tutorial's stateless model.
func TestStatefulAndWindowedAgree(t *testing.T) {
	req := textgen.Request{Prompt: prompt, MaxLength: 100 - len(prompt)}
	m := open(t, "char.onnx")
	stateful := text(t, generator(t, m, textgen.ModeStateful), req)
	windowed := text(t, generator(t, m, textgen.ModeWindowed), req)
	if stateful != windowed {
		t.Fatalf("stateful %q\nwindowed %q", stateful, windowed)
	}
	// char_window.onnx has a fixed 100-step input: a full 100-character prompt
	// needs no padding, and the next character must match the stateful one.
	long := strings.Repeat("Lord, what fools these mortals be!\n", 3)[:100]
	one := textgen.Request{Prompt: long, MaxLength: 1}
	a := text(t, generator(t, m, textgen.ModeStateful), one)
	b := text(t, generator(t, open(t, "char_window.onnx"), textgen.ModeAuto), one)
	if a != b {
		t.Fatalf("after a 100-character prompt: stateful %q, char_window.onnx %q", a, b)
	}
	if len(stateful) != 100-len(prompt) {
		t.Fatalf("generated %d characters, want %d", len(stateful), 100-len(prompt))
	}
}

func TestSeedReproducible(t *testing.T) {
	g := generator(t, open(t, "char.onnx"), textgen.ModeAuto)
	req := textgen.Request{Prompt: prompt, MaxLength: 200, Sampling: textgen.Params{Temperature: 1.2, Seed: 11}}
	a, b := text(t, g, req), text(t, g, req)
	req.Sampling.Seed = 12
	c := text(t, g, req)
	if a != b {
		t.Fatalf("same seed, different text:\n%q\n%q", a, b)
	}
	if a == c {
		t.Fatalf("seeds 11 and 12 gave the same text %q", a)
	}
}

// fake opens a pure-Go registrytest model over "abcdefgh" that predicts the
// next letter with probability 1 (greedy or not): for the tests that need
// no real numbers, so they run without ONNX Runtime.
func fake(t testing.TB, spec registrytest.Spec) *model.Model {
	t.Helper()
	registrytest.Register()
	path := filepath.Join(t.TempDir(), "fake.json")
	if err := registrytest.Write(path, spec); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(context.Background(), path, model.Options{Backend: registrytest.Backend})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestStopCancelAndErrors(t *testing.T) {
	g := generator(t, fake(t, registrytest.StatefulText("stop")), textgen.ModeAuto)
	if g.Mode() != textgen.ModeStateful {
		t.Fatalf("the stateful fake runs %v", g.Mode())
	}
	// A stop string ends generation and is not emitted.
	if full := text(t, g, textgen.Request{Prompt: "a", MaxLength: 12}); full != "bcdefghabcde" {
		t.Fatalf("fake text %q", full)
	}
	if cut := text(t, g, textgen.Request{Prompt: "a", MaxLength: 300, Stop: []string{"fg"}}); cut != "bcde" {
		t.Fatalf("stop \"fg\": got %q, want \"bcde\"", cut)
	}
	// Cancellation stops a generation early with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := g.Generate(ctx, textgen.Request{Prompt: "a", MaxLength: 10000}, func(string) error {
		if n++; n == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 5 {
		t.Fatalf("cancel: err %v after %d pieces", err, n)
	}
	// Unknown characters name the character and its position.
	_, err = g.Generate(context.Background(), textgen.Request{Prompt: "ab\x00c"}, func(string) error { return nil })
	if !errors.Is(err, textgen.ErrUnknownChar) || !strings.Contains(err.Error(), "position 2") {
		t.Fatalf("unknown char: %v", err)
	}
	w := generator(t, fake(t, registrytest.Text("window")), textgen.ModeAuto)
	if _, err := w.Generate(context.Background(), textgen.Request{}, func(string) error { return nil }); !errors.Is(err, textgen.ErrEmptyPrompt) {
		t.Fatalf("empty prompt on a windowed model: %v", err)
	}
	if _, err := g.Generate(context.Background(), textgen.Request{Prompt: "a", Sampling: textgen.Params{Temperature: -1}}, func(string) error { return nil }); !errors.Is(err, textgen.ErrInvalidParams) {
		t.Fatalf("negative temperature: %v", err)
	}
}

// Each stream of a Batcher yields exactly the text it gets alone with the same
// request, while streams with different settings join and leave.
func TestBatcherMatchesSingleStreams(t *testing.T) {
	for _, shards := range []int{1, 2} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) { testBatcherMatches(t, shards) })
	}
}

func testBatcherMatches(t *testing.T, shards int) {
	g := generator(t, open(t, "char.onnx"), textgen.ModeAuto)
	b, err := textgen.NewBatcher(g, textgen.BatcherOptions{MaxBatch: 8, Shards: shards})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var reqs []textgen.Request
	for i := range 20 {
		reqs = append(reqs, textgen.Request{
			Prompt:    prompt[:10+i],
			MaxLength: 40 + 13*i,
			Sampling:  textgen.Params{Temperature: []float64{0, 0.2, 0.6, 1.2}[i%4], TopK: []int{0, 5}[i%2], Seed: uint64(i)},
		})
		if i%3 == 0 {
			reqs[i].Stop = []string{"e ", "\n\n"}
		}
	}
	want := make([]string, len(reqs))
	for i, r := range reqs {
		want[i] = text(t, g, r)
	}
	got := make([]string, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%5) * time.Millisecond) // join at different steps
			got[i] = text(t, b, r)
		}()
	}
	wg.Wait()
	for i := range reqs {
		if got[i] != want[i] {
			t.Errorf("stream %d: batched %q\nalone %q", i, got[i], want[i])
		}
	}
}

// Flush decides how often a caller is woken, never what it receives: with
// an hour, a stream's text arrives in at most two emits (the first step's
// hand-over, then everything at its end); the text is the same as alone
// whether text is handed over at every step (Flush < 0), by the default or
// hourly.
func TestBatcherFlush(t *testing.T) {
	g := generator(t, open(t, "char.onnx"), textgen.ModeAuto)
	req := textgen.Request{Prompt: prompt[:20], MaxLength: 300, Sampling: textgen.Params{Temperature: 0.6, Seed: 7}}
	want := text(t, g, req)
	for _, c := range []struct {
		flush          time.Duration
		minEmits, most int
	}{{time.Hour, 1, 2}, {-1, 1, 300}, {0, 1, 300}} {
		b, err := textgen.NewBatcher(g, textgen.BatcherOptions{Flush: c.flush})
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		emits := 0
		_, err = b.Generate(context.Background(), req, func(s string) error {
			emits++
			got.WriteString(s)
			return nil
		})
		b.Close()
		if err != nil {
			t.Fatalf("Flush %v: %v", c.flush, err)
		}
		if got.String() != want {
			t.Errorf("Flush %v: batched %q\nalone %q", c.flush, got.String(), want)
		}
		if emits < c.minEmits || emits > c.most {
			t.Errorf("Flush %v: %d emits for %d characters, want %d to %d", c.flush, emits, len(want), c.minEmits, c.most)
		}
	}
}

func TestBatcherCancelAndClose(t *testing.T) {
	g := generator(t, fake(t, registrytest.StatefulText("batch")), textgen.ModeAuto)
	b, err := textgen.NewBatcher(g, textgen.BatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = b.Generate(ctx, textgen.Request{Prompt: "a", MaxLength: 100000}, func(string) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	stopErr := fmt.Errorf("consumer gone")
	_, err = b.Generate(context.Background(), textgen.Request{Prompt: "a", MaxLength: 100000}, func(string) error { return stopErr })
	if !errors.Is(err, stopErr) {
		t.Fatalf("emit error: %v", err)
	}
	b.Close()
	if _, err := b.Generate(context.Background(), textgen.Request{Prompt: "a"}, func(string) error { return nil }); !errors.Is(err, textgen.ErrBatcherClosed) {
		t.Fatalf("after close: %v", err)
	}
	if _, err := textgen.NewBatcher(generator(t, fake(t, registrytest.Text("window")), textgen.ModeAuto), textgen.BatcherOptions{}); !errors.Is(err, textgen.ErrInvalidMode) {
		t.Fatalf("batcher on a windowed model: %v", err)
	}
}

// On the fake, many streams join a Batcher at once and each ends at its own
// length or stop string, with the text it gets alone.
func TestBatcherStreamsEndApart(t *testing.T) {
	g := generator(t, fake(t, registrytest.StatefulText("apart")), textgen.ModeAuto)
	b, err := textgen.NewBatcher(g, textgen.BatcherOptions{MaxBatch: 3, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	for i := range 12 {
		req := textgen.Request{Prompt: string(rune('a' + i%8)), MaxLength: 3 + i}
		if i%4 == 0 {
			req.Stop = []string{"h"}
		}
		want := text(t, g, req)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := text(t, b, req); got != want {
				t.Errorf("stream %d: batched %q, alone %q", i, got, want)
			}
		}()
	}
	wg.Wait()
}

// Windows hands every position after the first window its distribution,
// batched, in order.
func TestWindowsOnFake(t *testing.T) {
	g := generator(t, fake(t, registrytest.Text("windows")), textgen.ModeAuto)
	text, err := g.Vocab().Encode("abcdefghabc")
	if err != nil {
		t.Fatal(err)
	}
	var seen []int
	err = g.Windows(context.Background(), text, 3, func(pos int, dist []float32) error {
		seen = append(seen, pos)
		if want := (text[pos-1] + 1) % g.Vocab().Size(); dist[want] != 1 {
			t.Errorf("position %d: distribution %v, want all mass on %d", pos, dist, want)
		}
		return nil
	})
	if err != nil || fmt.Sprint(seen) != "[4 5 6 7 8 9 10]" {
		t.Fatalf("positions %v, err %v", seen, err)
	}
	if err := g.Windows(context.Background(), text[:4], 3, nil); !errors.Is(err, textgen.ErrInvalidWindow) {
		t.Fatalf("no full window: %v", err)
	}
	s := generator(t, fake(t, registrytest.StatefulText("windows")), textgen.ModeStateful)
	if err := s.Windows(context.Background(), text, 3, nil); !errors.Is(err, textgen.ErrInvalidMode) {
		t.Fatalf("stateful generator: %v", err)
	}
}
