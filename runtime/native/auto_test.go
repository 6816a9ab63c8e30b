package native_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native"
	"github.com/rnnrun/rnnrun/runtime/onnx" // ONNX Runtime, or its stub in a cgo-free build
)

// "auto" (and the empty name) runs every shipped ONNX model on native.
func TestAutoPicksNativeOnShippedModels(t *testing.T) {
	for _, name := range []string{"char.onnx", "char_window.onnx", "char_large.onnx", "mnist.onnx", "mnist_tf.onnx"} {
		path := filepath.Join(onnxtest.ShippedDir(), name)
		for _, b := range []string{"", model.Auto} {
			m, err := model.Open(context.Background(), path, model.Options{Backend: b})
			if err != nil {
				t.Fatalf("%s, backend %q: %v", name, b, err)
			}
			if got := m.BackendName(); got != "native" {
				t.Errorf("%s, backend %q: chose %q, want native", name, b, got)
			}
			m.Close()
		}
		if c, err := model.Choose(path); err != nil || c.Backend != "native" || len(c.Refused) != 0 {
			t.Errorf("%s: Choose = %+v, %v", name, c, err)
		}
	}
	if c, err := model.Choose(filepath.Join(onnxtest.ShippedDir(), "char_savedmodel")); err != nil || c.Backend != "tf" {
		t.Errorf("a SavedModel folder: Choose = %+v, %v; want tf", c, err)
	}
}

// A model with a node native does not run (Pad) goes to ONNX Runtime when it
// is compiled in; in a cgo-free build "auto" gives native's error, naming the node.
func TestAutoFallsBackFromNative(t *testing.T) {
	g := oneNode(onnxtest.Node("Pad", "pad", []string{"x", "pads"}, []string{"y"}),
		onnxtest.Int64s("pads", []int64{4}, []int64{0, 1, 0, 1}))
	path := onnxtest.WriteModel(t, "pad.onnx", g, 17)
	c, err := model.Choose(path)
	if err != nil {
		t.Fatal(err)
	}
	var ue *native.UnsupportedError
	if len(c.Refused) == 0 || c.Refused[0].Backend != "native" || !errors.As(c.Refused[0].Err, &ue) || ue.Node != "pad" || ue.Op != "Pad" {
		t.Fatalf("Choose = %+v: want native refused at node pad (Pad)", c)
	}
	m, err := model.Open(context.Background(), path, model.Options{Backend: model.Auto})
	if !onnx.Enabled {
		if !errors.As(err, &ue) || ue.Node != "pad" || c.Backend != "" {
			t.Fatalf("cgo-free build: Open = %v, Choose = %+v; want native's UnsupportedError", err, c)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.BackendName() != "onnx" || c.Backend != "onnx" {
		t.Fatalf("chose %q (Choose %q), want onnx", m.BackendName(), c.Backend)
	}
	out, err := m.Run(context.Background(), map[string]*model.Tensor{"x": model.NewFloat32(model.Shape{1, 2}, []float32{3, 4})})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].Data.([]float32); len(got) != 4 || got[0] != 0 || got[1] != 3 || got[2] != 4 || got[3] != 0 {
		t.Fatalf("Pad on ONNX Runtime gave %v, want [0 3 4 0]", got)
	}
}
