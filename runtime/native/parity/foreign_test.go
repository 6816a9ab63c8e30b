//go:build cgo

package parity_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native"
)

// Models exported by torch.onnx.export and Keras 3 model.export(format="onnx")
// (a GRU char model, a 2-layer LSTM, a bidirectional LSTM classifier, an
// Embedding + LSTM model, an MNIST LSTM): native's outputs are within 1e-5 of
// the framework's own and of ONNX Runtime's.
func TestForeignModels(t *testing.T) {
	dir := onnxtest.ForeignDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) < 10 {
		t.Fatalf("%d exported models in %s, want 10", len(files), dir)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			doc := onnxtest.LoadForeign(t, file)
			path := filepath.Join(dir, doc.Model)
			if err := native.Check(path); err != nil {
				if errors.Is(err, native.ErrUnsupported) {
					t.Fatalf("refused: %v", err)
				}
				t.Fatal(err)
			}
			results := map[string]map[string]*model.Tensor{}
			var sig model.Signature
			for _, backend := range backends {
				m := onnxtest.Open(t, path, backend)
				sig = m.Signature()
				in := map[string]*model.Tensor{}
				for k, x := range doc.Inputs {
					in[sig.Inputs[k].Name] = x.Tensor()
				}
				out, err := m.Run(context.Background(), in)
				if err != nil {
					t.Fatalf("%s: %v", backend, err)
				}
				results[backend] = out
				if backend == "native" {
					checkNoAllocs(t, m, in, out)
				}
			}
			for k, want := range doc.Outputs {
				o := sig.Outputs[k].Name
				got := results["native"][o]
				d, err := golden.MaxAbsDiff(got.Float32s(), want.Tensor().Float32s())
				if err != nil || d > 1e-5 {
					t.Errorf("output %q: native vs the framework: max abs diff %g (%v)", o, d, err)
				}
				dort, err := golden.MaxAbsDiff(got.Float32s(), results["onnx"][o].Float32s())
				if err != nil || dort > 1e-5 {
					t.Errorf("output %q: native vs ONNX Runtime: max abs diff %g (%v)", o, dort, err)
				}
				t.Logf("%s %s%v: max abs diff %.2g vs the framework, %.2g vs ONNX Runtime", name, o, got.Shape, d, dort)
			}
		})
	}
}

// checkNoAllocs binds the model over the call's tensors and checks that a
// Binding's Run allocates nothing after the first.
func checkNoAllocs(t *testing.T, m *model.Model, in, out map[string]*model.Tensor) {
	t.Helper()
	outs := map[string]*model.Tensor{}
	for name, o := range out {
		outs[name] = model.NewFloat32(o.Shape, nil)
	}
	bd, err := m.Bind(in, outs)
	if err != nil {
		t.Fatal(err)
	}
	defer bd.Close()
	ctx := context.Background()
	if err := bd.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(5, func() { bd.Run(ctx) }); a != 0 {
		t.Errorf("a Binding's Run allocates %v times", a)
	}
	for name, o := range out {
		if d, err := golden.MaxAbsDiff(outs[name].Float32s(), o.Float32s()); err != nil || d != 0 {
			t.Errorf("output %q through a Binding differs from Run by %g (%v)", name, d, err)
		}
	}
}
