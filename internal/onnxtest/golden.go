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

// Stepper steps a stateful model one character per call through two
// Bindings that swap the state tensors, as the generation hot path does. The
// state pairs come from the model's metadata (h, c; h0, c0, h1, c1, ...).
type Stepper struct {
	x, probs *model.Tensor
	ins      []string // state input names
	outs     []string // the matching state output names
	state    [2][]*model.Tensor
	runs     [2]model.Binding
	cur      int
}

// NewStepper binds m for one stream; the Bindings close when t ends.
func NewStepper(t testing.TB, m *model.Model) *Stepper {
	t.Helper()
	meta, sig := m.Metadata(), m.Signature()
	xi, ok := sig.Input("x")
	if !ok || len(meta.StateInputs) == 0 {
		t.Fatalf("not a stateful char model: inputs %v, state inputs %v", sig.Inputs, meta.StateInputs)
	}
	V := xi.Shape[2]
	s := &Stepper{x: model.NewFloat32(model.Shape{1, 1, V}, nil), probs: model.NewFloat32(model.Shape{1, V}, nil),
		ins: meta.StateInputs, outs: meta.StateOutputs}
	for k := range 2 {
		for _, name := range s.ins {
			si, _ := sig.Input(name)
			s.state[k] = append(s.state[k], model.NewFloat32(model.Shape{1, si.Shape[1]}, nil))
		}
	}
	for k := range 2 {
		in := map[string]*model.Tensor{"x": s.x}
		out := map[string]*model.Tensor{"probs": s.probs}
		for i := range s.ins {
			in[s.ins[i]], out[s.outs[i]] = s.state[k][i], s.state[1-k][i]
		}
		b, err := m.Bind(in, out)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		s.runs[k] = b
	}
	return s
}

// Step feeds the character of index idx and returns the next distribution.
func (s *Stepper) Step(idx int) ([]float32, error) {
	clear(s.x.Float32s())
	s.x.Float32s()[idx] = 1
	if err := s.runs[s.cur].Run(context.Background()); err != nil {
		return nil, err
	}
	s.cur = 1 - s.cur
	return s.probs.Float32s(), nil
}

// State returns the current value of the state output named out (h_out, ...).
func (s *Stepper) State(out string) ([]float32, bool) {
	for i, o := range s.outs {
		if o == out {
			return s.state[s.cur][i].Float32s(), true
		}
	}
	return nil, false
}

// GoldenRollout runs a stateful rollout file (char_rollout.json,
// char_large_rollout.json) through a Stepper: every step's distribution and
// the final state must be within the file's tolerance. It returns the worst
// difference.
func GoldenRollout(t testing.TB, m *model.Model, g *golden.File) float64 {
	t.Helper()
	s := NewStepper(t, m)
	V := g.Probs.Shape[1]
	var worst float64
	for step, idx := range g.Indices {
		probs, err := s.Step(idx)
		if err != nil {
			t.Fatal(err)
		}
		want := g.Probs.Data[int64(step)*V : int64(step+1)*V]
		d, err := golden.MaxDiff(probs, want)
		if err != nil || d > g.Tolerance {
			t.Fatalf("step %d: max diff %g > %g (%v)", step, d, g.Tolerance, err)
		}
		worst = max(worst, d)
	}
	for name, want := range g.Final {
		got, ok := s.State(name)
		if !ok {
			t.Fatalf("the golden file's %s is not a state output of %s", name, g.Model)
		}
		d, err := golden.MaxDiff(got, want.Data)
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
