package native_test

import (
	"path/filepath"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
)

func openShipped(t testing.TB, name string) *model.Model {
	t.Helper()
	return onnxtest.Open(t, filepath.Join(golden.ExportDir(), name), "native")
}

// Every golden file of every shipped model (one step, windowed calls, image
// batches, the 50-step stateful rollout through Bindings) on the native
// backend: within the file's tolerance (1e-5) of Keras's outputs.
func TestGolden(t *testing.T) { onnxtest.GoldenAll(t, "native") }
