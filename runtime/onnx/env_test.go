//go:build cgo

package onnx_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/onnx"
)

// ONNX Runtime cannot create its environment again after destroying it, so the
// backend creates it once per process and keeps it. Twenty open/run/close
// cycles, each closing the only open model, then one more open: every run
// gives the same numbers as the first, and the library stays loaded.
func TestEnvironmentSurvivesClose(t *testing.T) {
	g, err := golden.Load("char.json")
	if err != nil {
		t.Fatal(err)
	}
	c := g.Cases[0]
	path := filepath.Join(golden.ExportDir(), g.Model)
	run := func() map[string][]float32 {
		m, err := model.Open(context.Background(), path, model.Options{Backend: "onnx"})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		out, err := m.Run(context.Background(), c.ModelInputs())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]float32{}
		for name, v := range out {
			got[name] = v.Float32s()
		}
		return got
	}
	first := run()
	for name, want := range c.Outputs {
		if d, err := golden.MaxAbsDiff(first[name], want.Data); err != nil || d > g.Tolerance {
			t.Fatalf("first run %s: max abs diff %g > %g (%v)", name, d, g.Tolerance, err)
		}
	}
	for i := range 20 {
		got := run()
		for name, want := range first {
			if !slices.Equal(got[name], want) {
				t.Fatalf("cycle %d: output %q differs from the first run", i+1, name)
			}
		}
		if onnx.LoadedLibrary() == "" {
			t.Fatalf("cycle %d: the environment was released after the last Close", i+1)
		}
	}
	last := run()
	for name, want := range first {
		if !slices.Equal(last[name], want) {
			t.Fatalf("open after 20 cycles: output %q differs from the first run", name)
		}
	}
}
