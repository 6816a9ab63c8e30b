package onnxtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
)

// OpenShipped opens a shipped model (models/export/name) with opts.
func OpenShipped(tb testing.TB, name string, opts model.Options) *model.Model {
	tb.Helper()
	m, err := model.Open(context.Background(), filepath.Join(golden.ExportDir(), name), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// RunBinding benchmarks bd (after one warm-up call), reporting perOp units per call.
func RunBinding(b *testing.B, bd model.Binding, perOp int, unit string) {
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

// CharBinding binds a stateful char model (char.onnx, char_large.onnx) over one-hot
// [batch, steps, V] inputs and its state tensors (named by its metadata).
func CharBinding(tb testing.TB, m *model.Model, batch, steps int) model.Binding {
	tb.Helper()
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
	for i := range md.StateInputs { // h, c of each layer, named by the metadata
		in[md.StateInputs[i]] = model.NewFloat32(model.Shape{n, H}, nil)
		out[md.StateOutputs[i]] = model.NewFloat32(model.Shape{n, H}, nil)
	}
	bd, err := m.Bind(in, out)
	if err != nil {
		tb.Fatal(err)
	}
	return bd
}

// MNISTBinding binds an MNIST model over a batch of fixed pseudo-random images.
func MNISTBinding(tb testing.TB, m *model.Model, batch int) model.Binding {
	tb.Helper()
	n := int64(batch)
	x := model.NewFloat32(model.Shape{n, 28, 28}, nil)
	for i, d := 0, x.Float32s(); i < len(d); i++ {
		d[i] = float32(i*7919%256) / 255
	}
	outName := m.Signature().Outputs[0].Name
	bd, err := m.Bind(map[string]*model.Tensor{"x": x},
		map[string]*model.Tensor{outName: model.NewFloat32(model.Shape{n, 10}, nil)})
	if err != nil {
		tb.Fatal(err)
	}
	return bd
}
