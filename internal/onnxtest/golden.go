package onnxtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
)

// GoldenCases runs every case of a golden file through m: each output within
// the file's tolerance of what Keras computed. It returns the worst difference.
func GoldenCases(t testing.TB, m *model.Model, g *golden.File) float64 {
	t.Helper()
	if len(g.Cases) == 0 {
		t.Fatal("no cases")
	}
	var worst float64
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
			worst = max(worst, d)
		}
	}
	return worst
}

// GoldenRollout runs a stateful rollout file (char_rollout.json): one
// character per call through two Bindings that swap h and c, as the
// generation hot path does; every step's distribution and the final state
// must be within the file's tolerance. It returns the worst difference.
func GoldenRollout(t testing.TB, m *model.Model, g *golden.File) float64 {
	t.Helper()
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
	return worst
}

// GoldenFiles lists the golden files of models/export/testdata (every shipped model).
func GoldenFiles(t testing.TB) []string {
	t.Helper()
	files, err := golden.Files()
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	return files
}

// RunGolden checks m against one golden file, cases or rollout.
func RunGolden(t testing.TB, m *model.Model, g *golden.File) float64 {
	t.Helper()
	if len(g.Indices) > 0 {
		return GoldenRollout(t, m, g)
	}
	return GoldenCases(t, m, g)
}

// Open opens a model file on the named backend and closes it when t ends.
func Open(t testing.TB, path, backend string) *model.Model {
	t.Helper()
	m, err := model.Open(context.Background(), path, model.Options{Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// GoldenAll checks every golden file against its model on the named backend.
func GoldenAll(t *testing.T, backend string) {
	for _, file := range GoldenFiles(t) {
		t.Run(file, func(t *testing.T) {
			g, err := golden.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			worst := RunGolden(t, Open(t, filepath.Join(golden.ExportDir(), g.Model), backend), g)
			t.Logf("%s on %s: max diff %.3g (tolerance %g)", file, backend, worst, g.Tolerance)
		})
	}
}

// ShippedDir is models/export, where the shipped models are.
func ShippedDir() string { return golden.ExportDir() }
