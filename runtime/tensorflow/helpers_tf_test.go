//go:build tensorflow && cgo

package tensorflow_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
	_ "github.com/rnnrun/rnnrun/runtime/onnx" // the reference backend
	"github.com/rnnrun/rnnrun/runtime/tensorflow"
)

// exportDir is models/export, or $RNNRUN_TF_EXPORT_DIR (a folder laid out the
// same way, for trying the tests on other exports).
func exportDir() string {
	if d := os.Getenv("RNNRUN_TF_EXPORT_DIR"); d != "" {
		return d
	}
	return golden.ExportDir()
}

// loadGolden reads testdata/name of the export folder.
func loadGolden(t testing.TB, name string) *golden.File {
	t.Helper()
	f, err := golden.LoadFrom(exportDir(), name)
	if err != nil {
		t.Fatalf("golden vectors: %v (make export writes them)", err)
	}
	return f
}

// savedModel and onnxFile name the two exports of a model ("char", "mnist"...).
func savedModel(name string) string { return filepath.Join(exportDir(), name+"_savedmodel") }
func onnxFile(name string) string   { return filepath.Join(exportDir(), name+".onnx") }

// open loads path with the named backend through model.Open, as the CLI does.
func open(t testing.TB, path, backend string) *model.Model { return onnxtest.Open(t, path, backend) }

// loadTF loads a SavedModel through the package's own API.
func loadTF(t testing.TB, path string) *tensorflow.Model {
	t.Helper()
	m, err := tensorflow.LoadModel(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// copyDir copies a SavedModel folder so a test can damage the copy.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func errContains(t *testing.T, err error, target error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one wrapping %v", target)
	}
	if target != nil && !errors.Is(err, target) {
		t.Fatalf("error %q does not wrap %v", err, target)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
	t.Logf("error: %v", err)
}
