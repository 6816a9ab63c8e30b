//go:build tensorflow && cgo

package tensorflow_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// benchBackends are the two backends at equal thread settings (ONNX Runtime's
// default is 1 intra-op thread), plus TensorFlow at its own default (every core).
var benchBackends = []struct {
	name, backend, kind string
	threads             int
}{
	{"onnx/threads=1", "onnx", "onnx", 1},
	{"tf/threads=1", "tf", "savedmodel", 1},
	{"tf/threads=default", "tf", "savedmodel", 0},
}

func benchOpen(b *testing.B, name, backend, kind string, threads int) *model.Model {
	path := onnxFile(name)
	if kind == "savedmodel" {
		path = savedModel(name)
	}
	m, err := model.Open(context.Background(), path, model.Options{Backend: backend, Threads: threads, InterOpThreads: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// One character step of the stateful char model through a Binding, as
// generation runs it: x [1,1,V], h and c [1,H] in; probs, h_out, c_out out.
func BenchmarkCharStep(b *testing.B) {
	for _, bb := range benchBackends {
		b.Run(bb.name, func(b *testing.B) {
			m := benchOpen(b, "char", bb.backend, bb.kind, bb.threads)
			xi, _ := m.Signature().Input("x")
			hi, _ := m.Signature().Input("h")
			V, H := xi.Shape[2], hi.Shape[1]
			x := model.NewFloat32(model.Shape{1, 1, V}, nil)
			x.Float32s()[1] = 1
			h, c := model.NewFloat32(model.Shape{1, H}, nil), model.NewFloat32(model.Shape{1, H}, nil)
			outs := map[string]*model.Tensor{"probs": model.NewFloat32(model.Shape{1, V}, nil),
				"h_out": model.NewFloat32(model.Shape{1, H}, nil), "c_out": model.NewFloat32(model.Shape{1, H}, nil)}
			bind, err := m.Bind(map[string]*model.Tensor{"x": x, "h": h, "c": c}, outs)
			if err != nil {
				b.Fatal(err)
			}
			defer bind.Close()
			ctx := context.Background()
			for range 10 { // the first calls optimise the graph
				if err := bind.Run(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := bind.Run(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// MNIST classification of one batch of 256 images (the vision package's
// default batch) through Run, for both exported MNIST models.
func BenchmarkMNISTBatch(b *testing.B) {
	const batch = 256
	for _, name := range []string{"mnist", "mnist_tf"} {
		for _, bb := range benchBackends {
			b.Run(fmt.Sprintf("%s/%s", name, bb.name), func(b *testing.B) {
				m := benchOpen(b, name, bb.backend, bb.kind, bb.threads)
				x := model.NewFloat32(model.Shape{batch, 28, 28}, nil)
				r := rand.New(rand.NewPCG(3, 4))
				for i := range x.Float32s() {
					x.Float32s()[i] = r.Float32()
				}
				in := map[string]*model.Tensor{"x": x}
				ctx := context.Background()
				for range 3 { // the first calls optimise the graph
					if _, err := m.Run(ctx, in); err != nil {
						b.Fatal(err)
					}
				}
				for b.Loop() {
					if _, err := m.Run(ctx, in); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
