//go:build cgo

package onnxgraph_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// benchGenerate measures one character per op of char_window.onnx on the
// native backend in mode: the pair BenchmarkCharWindowStateful and
// BenchmarkCharWindowWindowed gives the rate ratio of the rewrite.
func benchGenerate(b *testing.B, mode textgen.Mode) {
	m := onnxtest.Open(b, filepath.Join(onnxtest.ShippedDir(), "char_window.onnx"), "native")
	g, closeFn, err := generate.NewGenerator(context.Background(), m, textgen.Options{Mode: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer closeFn()
	if g.Mode() != mode {
		b.Fatalf("runs %s, want %s", g.Mode(), mode)
	}
	req := textgen.Request{Prompt: strings.Repeat(text, 2)[:100], MaxLength: b.N, Sampling: textgen.Params{Temperature: 1, Seed: 1}}
	b.ResetTimer()
	if _, _, err := g.Text(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chars/s")
}

func BenchmarkCharWindowStateful(b *testing.B) { benchGenerate(b, textgen.ModeStateful) }
func BenchmarkCharWindowWindowed(b *testing.B) { benchGenerate(b, textgen.ModeWindowed) }
