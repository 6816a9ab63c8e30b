//go:build cgo

package onnx_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
)

// The raw model calls under rnnrun's generation and classification, without
// sampling: how long ONNX Runtime takes per call through a zero-allocation
// Binding, at several batch sizes and intra-op thread counts (the measurements
// behind onnx.DefaultThreads; see docs/benchmarks.md).

func benchModel(b *testing.B, name string, threads int) *model.Model {
	return onnxtest.OpenShipped(b, name, model.Options{Backend: "onnx", Threads: threads})
}

// One LSTM step of char.onnx (the stateful per-character call) for a batch of
// streams; rows/s is streams stepped per second.
func BenchmarkCharStep(b *testing.B) {
	for _, threads := range []int{1, 2} {
		m := benchModel(b, "char.onnx", threads)
		for _, batch := range []int{1, 64, 256} {
			b.Run(fmt.Sprintf("threads=%d/batch=%d", threads, batch), func(b *testing.B) {
				onnxtest.RunBinding(b, onnxtest.CharBinding(b, m, batch, 1), batch, "rows/s")
			})
		}
	}
}

// One step of char_large.onnx (two LSTM(512) layers, about 30x char's
// arithmetic per character): here compute, not call overhead, dominates.
func BenchmarkCharLargeStep(b *testing.B) {
	for _, threads := range []int{1, 2} {
		m := benchModel(b, "char_large.onnx", threads)
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("threads=%d/batch=%d", threads, batch), func(b *testing.B) {
				onnxtest.RunBinding(b, onnxtest.CharBinding(b, m, batch, 1), batch, "rows/s")
			})
		}
	}
}

// The tutorial's per-character call: the 100-character window from a zero state.
func BenchmarkCharWindow(b *testing.B) {
	m := benchModel(b, "char.onnx", 1)
	onnxtest.RunBinding(b, onnxtest.CharBinding(b, m, 1, 100), 1, "windows/s")
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
				onnxtest.RunBinding(b, onnxtest.MNISTBinding(b, m, batch), batch, "images/s")
			})
		}
	}
}
