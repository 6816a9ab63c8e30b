package onnx_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
)

func openShipped(t testing.TB, name string) *model.Model {
	t.Helper()
	m, err := model.Open(context.Background(), filepath.Join(golden.ExportDir(), name), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// Every golden case of every shipped ONNX model (every golden file with cases:
// char, char_window, char_large, mnist, mnist_tf): Go's outputs equal the Keras
// outputs recorded by the exporter within the file's tolerance (1e-5).
func TestGoldenCases(t *testing.T) {
	files, err := golden.CaseFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"char.json", "char_large.json", "char_window.json", "mnist.json", "mnist_tf.json"} {
		if !slices.Contains(files, want) {
			t.Fatalf("golden files %v lack %s", files, want)
		}
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			g, err := golden.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			m := openShipped(t, g.Model)
			if len(g.Cases) == 0 {
				t.Fatal("no cases")
			}
			for _, c := range g.Cases {
				out, err := m.Run(context.Background(), c.ModelInputs())
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				for name, want := range c.Outputs {
					got, ok := out[name]
					if !ok {
						t.Fatalf("%s: no output %q", c.Name, name)
					}
					d, err := golden.MaxDiff(got.Float32s(), want.Data)
					if err != nil || d > g.Tolerance {
						t.Fatalf("%s/%s: max diff %g > %g (%v)", c.Name, name, d, g.Tolerance, err)
					}
					t.Logf("%s %s/%s: max diff %.3g", file, c.Name, name, d)
				}
			}
		})
	}
}

// The 50-step stateful rollout, one character per call through a Binding
// (the generation hot path), carrying h and c: every step's distribution and
// the final state equal Keras's.
func TestGoldenRollout(t *testing.T) {
	g, err := golden.Load("char_rollout.json")
	if err != nil {
		t.Fatal(err)
	}
	m := openShipped(t, g.Model)
	V := g.Probs.Shape[1]
	H := g.HOut.Shape[1]
	x := model.NewFloat32(model.Shape{1, 1, V}, nil)
	probs := model.NewFloat32(model.Shape{1, V}, nil)
	h := [2]*model.Tensor{model.NewFloat32(model.Shape{1, H}, nil), model.NewFloat32(model.Shape{1, H}, nil)}
	c := [2]*model.Tensor{model.NewFloat32(model.Shape{1, H}, nil), model.NewFloat32(model.Shape{1, H}, nil)}
	var runs [2]model.Binding
	for k := range 2 {
		b, err := m.Bind(map[string]*model.Tensor{"x": x, "h": h[k], "c": c[k]},
			map[string]*model.Tensor{"probs": probs, "h_out": h[1-k], "c_out": c[1-k]})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		runs[k] = b
	}
	var worst float64
	cur := 0
	for step, idx := range g.Indices {
		clear(x.Float32s())
		x.Float32s()[idx] = 1
		if err := runs[cur].Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		cur = 1 - cur
		want := g.Probs.Data[int64(step)*V : int64(step+1)*V]
		d, err := golden.MaxDiff(probs.Float32s(), want)
		if err != nil || d > g.Tolerance {
			t.Fatalf("step %d: max diff %g > %g (%v)", step, d, g.Tolerance, err)
		}
		worst = max(worst, d)
	}
	for name, pair := range map[string]struct {
		got  *model.Tensor
		want golden.Tensor
	}{"h_out": {h[cur], g.HOut}, "c_out": {c[cur], g.COut}} {
		d, err := golden.MaxDiff(pair.got.Float32s(), pair.want.Data)
		if err != nil || d > g.Tolerance {
			t.Fatalf("final %s: max diff %g (%v)", name, d, err)
		}
		worst = max(worst, d)
	}
	t.Logf("50-step rollout: max diff %.3g over every step's probs and the final state", worst)
}
