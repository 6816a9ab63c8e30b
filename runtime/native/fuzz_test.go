package native_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/native"
)

// FuzzCheck feeds mutated model files to the loader: it must return a model
// or an error, never panic. The seeds are small ONNX node-test models.
func FuzzCheck(f *testing.F) {
	for _, name := range []string{"test_lstm_defaults", "test_gru_with_initial_bias", "test_loop11", "test_gemm_all_attributes", "test_slice", "test_split_variable_parts_2d"} {
		if b, err := os.ReadFile(filepath.Join(onnxtest.NodeDir, name, "model.onnx")); err == nil {
			f.Add(b)
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.onnx")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = native.Check(path)
	})
}
