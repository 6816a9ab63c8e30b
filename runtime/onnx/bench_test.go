package onnx_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
)

// The raw model calls under rnnrun's generation and classification, without
// sampling: how long ONNX Runtime takes per call through a zero-allocation
// Binding, at several batch sizes and intra-op thread counts (the measurements
// behind onnx.DefaultThreads; see docs/benchmarks.md).

func benchModel(b *testing.B, name string, threads int) *model.Model {
	b.Helper()
	m, err := model.Open(context.Background(), filepath.Join(golden.ExportDir(), name), model.Options{Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

func runBinding(b *testing.B, bd model.Binding, perOp int, unit string) {
	b.Helper()
	defer bd.Close()
	ctx := context.Background()
	if err := bd.Run(ctx); err != nil { // warm-up
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := bd.Run(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), unit)
}

// charBinding binds a stateful text model (char.onnx, char_large.onnx) over
// [batch, steps, V] inputs and its state tensors (from its metadata).
func charBinding(b *testing.B, m *model.Model, batch, steps int) model.Binding {
	b.Helper()
	V := m.Signature().Inputs[0].Shape[2]
	if V < 0 {
		V = int64(len(m.Metadata().Vocab))
	}
	md := m.Metadata()
	H := int64(md.StateSize)
	n := int64(batch)
	x := model.NewFloat32(model.Shape{n, int64(steps), V}, nil)
	for r := range int64(batch) * int64(steps) {
		x.Float32s()[r*V+r%V] = 1
	}
	in := map[string]*model.Tensor{"x": x}
	out := map[string]*model.Tensor{"probs": model.NewFloat32(model.Shape{n, V}, nil)}
	for i := range md.StateInputs {
		in[md.StateInputs[i]] = model.NewFloat32(model.Shape{n, H}, nil)
		out[md.StateOutputs[i]] = model.NewFloat32(model.Shape{n, H}, nil)
	}
	bd, err := m.Bind(in, out)
	if err != nil {
		b.Fatal(err)
	}
	return bd
}

// One LSTM step of char.onnx (the stateful per-character call) for a batch of
// streams; rows/s is streams stepped per second.
func BenchmarkCharStep(b *testing.B) {
	for _, threads := range []int{1, 2} {
		m := benchModel(b, "char.onnx", threads)
		for _, batch := range []int{1, 64, 256} {
			b.Run(fmt.Sprintf("threads=%d/batch=%d", threads, batch), func(b *testing.B) {
				runBinding(b, charBinding(b, m, batch, 1), batch, "rows/s")
			})
		}
	}
}

// One step of char_large.onnx (two LSTM(256) layers, about 8x char's
// arithmetic per character): here compute, not call overhead, dominates.
func BenchmarkCharLargeStep(b *testing.B) {
	for _, threads := range []int{1, 2} {
		m := benchModel(b, "char_large.onnx", threads)
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("threads=%d/batch=%d", threads, batch), func(b *testing.B) {
				runBinding(b, charBinding(b, m, batch, 1), batch, "rows/s")
			})
		}
	}
}

// The tutorial's per-character call: the 100-character window from a zero state.
func BenchmarkCharWindow(b *testing.B) {
	m := benchModel(b, "char.onnx", 1)
	runBinding(b, charBinding(b, m, 1, 100), 1, "windows/s")
}

// The same step through Model.Run, which wraps and allocates every tensor per
// call: the cost a Binding saves.
func BenchmarkCharStepRun(b *testing.B) {
	m := benchModel(b, "char.onnx", 1)
	V := m.Signature().Inputs[0].Shape[2]
	H := int64(m.Metadata().StateSize)
	in := map[string]*model.Tensor{"x": model.NewFloat32(model.Shape{1, 1, V}, nil),
		"h": model.NewFloat32(model.Shape{1, H}, nil), "c": model.NewFloat32(model.Shape{1, H}, nil)}
	in["x"].Float32s()[0] = 1
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// mnist.onnx at batch 1, 32 and 256 with 1 and 2 intra-op threads.
func BenchmarkMNIST(b *testing.B) {
	for _, threads := range []int{1, 2} {
		m := benchModel(b, "mnist.onnx", threads)
		for _, batch := range []int{1, 32, 256} {
			b.Run(fmt.Sprintf("threads=%d/batch=%d", threads, batch), func(b *testing.B) {
				n := int64(batch)
				x := model.NewFloat32(model.Shape{n, 28, 28}, nil)
				for i, d := 0, x.Float32s(); i < len(d); i++ {
					d[i] = float32(i*7919%256) / 255
				}
				bd, err := m.Bind(map[string]*model.Tensor{"x": x},
					map[string]*model.Tensor{"probs": model.NewFloat32(model.Shape{n, 10}, nil)})
				if err != nil {
					b.Fatal(err)
				}
				runBinding(b, bd, batch, "images/s")
			})
		}
	}
}
