package generate_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
	_ "github.com/rnnrun/rnnrun/runtime/native"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
)

// The generate task on the fixed-window char_window.onnx runs windowed and
// reports that short histories run relaxed (unpadded, from the zero state);
// on the stateful char.onnx the key is absent.
func TestStatusShortHistory(t *testing.T) {
	for name, want := range map[string]any{"char_window.onnx": "relaxed", "char.onnx": nil} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			m, err := model.Open(ctx, filepath.Join(golden.ExportDir(), name), model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			in, err := generate.New(generate.Options{}).Load(ctx, m, registry.ModelConfig{Name: "m"})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			st := in.Status()
			if st["short_history"] != want {
				t.Fatalf("status %v: short_history %v, want %v", st, st["short_history"], want)
			}
		})
	}
}
