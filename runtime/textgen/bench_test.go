package textgen_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// benchPrompt is longer than char.onnx's 100-character window, so the
// windowed benchmark always runs full windows (the tutorial's code path).
const benchPrompt = "LYSANDER.\nHow now, my love! Why is your cheek so pale?\n" +
	"How chance the roses there do fade so fast?\n\nHERMIA.\n" +
	"Belike for want of rain, which I could well\nBeteem them from the tempest of my eyes.\n"

func benchGenerator(b *testing.B, mode textgen.Mode) *textgen.Generator {
	b.Helper()
	m, err := model.Open(context.Background(), filepath.Join(golden.ExportDir(), "char.onnx"), model.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	g, err := textgen.New(m, textgen.Options{Mode: mode})
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// benchChars runs one generation of b.N+1 characters and times the b.N steps
// after the first character, so each op is one model step and one sample, and
// allocs/op is the steady state of the per-character loop (priming excluded).
func benchChars(b *testing.B, g *textgen.Generator) {
	b.ReportAllocs()
	req := textgen.Request{Prompt: benchPrompt, MaxLength: b.N + 1, Sampling: textgen.Params{Temperature: 1, Seed: 1}}
	n := 0
	_, err := g.Generate(context.Background(), req, func(string) error {
		if n++; n == 1 {
			b.ResetTimer()
		}
		return nil
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if n != b.N+1 {
		b.Fatalf("generated %d characters, want %d", n, b.N+1)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chars/s")
}

// One stream carrying the LSTM state: one [1,1,V] step per character.
func BenchmarkStatefulChar(b *testing.B) { benchChars(b, benchGenerator(b, textgen.ModeStateful)) }

// The tutorial's path on the same model: the 100-character window re-run
// from a zero state for every character.
func BenchmarkWindowedChar(b *testing.B) { benchChars(b, benchGenerator(b, textgen.ModeWindowed)) }

// Concurrent streams stepped together by a Batcher. An op is one generated
// character (of any stream); chars/s is the aggregate rate over the window in
// which every stream is in the batch (priming excluded).
func BenchmarkBatcher(b *testing.B) {
	g := benchGenerator(b, textgen.ModeStateful)
	for _, n := range []int{1, 8, 64, 256} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			bt, err := textgen.NewBatcher(g, textgen.BatcherOptions{MaxBatch: n})
			if err != nil {
				b.Fatal(err)
			}
			defer bt.Close()
			length := max(2, (b.N+n-1)/n)
			var total, joined atomic.Int64
			var mu sync.Mutex
			var t1, t2 time.Time
			var c1, c2 int64
			var wg sync.WaitGroup
			errs := make(chan error, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					first := true
					req := textgen.Request{Prompt: benchPrompt, MaxLength: length, Sampling: textgen.Params{Temperature: 1, Seed: uint64(i + 1)}}
					_, err := bt.Generate(context.Background(), req, func(piece string) error {
						// A piece holds every character generated since the stream's last wake-up.
						c := total.Add(int64(utf8.RuneCountInString(piece)))
						if first {
							first = false
							if joined.Add(1) == int64(n) {
								mu.Lock()
								t1, c1 = time.Now(), c
								mu.Unlock()
							}
						}
						return nil
					})
					mu.Lock()
					if t2.IsZero() {
						t2, c2 = time.Now(), total.Load()
					}
					mu.Unlock()
					if err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
			if got := total.Load(); got != int64(n*length) {
				b.Fatalf("generated %d characters, want %d", got, n*length)
			}
			if !t1.IsZero() && t2.After(t1) && c2 > c1 {
				b.ReportMetric(float64(c2-c1)/t2.Sub(t1).Seconds(), "chars/s")
			}
		})
	}
}

// The sampler alone on a 70-character distribution (the shipped vocabulary).
func BenchmarkSampler(b *testing.B) {
	p := make([]float32, 70)
	var sum float32
	for i := range p {
		p[i] = float32(i%7 + 1)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	for _, prm := range []textgen.Params{{Temperature: 1}, {Temperature: 0.8}, {Temperature: 0.8, TopK: 10, TopP: 0.9}} {
		b.Run(fmt.Sprintf("temp=%g,top_k=%d,top_p=%g", prm.Temperature, prm.TopK, prm.TopP), func(b *testing.B) {
			s, err := textgen.NewSampler(prm)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sample(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
