package vision

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rnnrun/rnnrun/internal/mnistdata"
	"github.com/rnnrun/rnnrun/runtime/model"
	_ "github.com/rnnrun/rnnrun/runtime/onnx" // registers the "onnx" backend
)

// exportDir holds the shipped models and their golden vectors;
// RNNRUN_EXPORT_DIR points the tests at another export (e.g. a fresh one in /tmp).
var exportDir = func() string {
	if d := os.Getenv("RNNRUN_EXPORT_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "models", "export")
}()

var mnistOnce struct {
	sync.Once
	images []Gray
	labels []uint8
	err    error
}

// mnistTest returns the 10,000 MNIST test images and labels (read once).
func mnistTest(t testing.TB) ([]Gray, []uint8) {
	t.Helper()
	mnistOnce.Do(func() {
		dir, err := mnistdata.Dir(context.Background())
		if err != nil {
			mnistOnce.err = err
			return
		}
		mnistOnce.images, mnistOnce.labels, mnistOnce.err = LoadMNISTTest(dir)
	})
	if mnistOnce.err != nil {
		t.Fatal(mnistOnce.err)
	}
	return mnistOnce.images, mnistOnce.labels
}

// openModel opens a shipped model (closed when the test ends). A missing
// model fails the test: the models are committed.
func openModel(t testing.TB, name string) *model.Model {
	t.Helper()
	path := filepath.Join(exportDir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("shipped model missing (models/export is committed): %v", err)
	}
	m, err := model.Open(context.Background(), path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newClassifier(t testing.TB, name string, opts Options) *Classifier {
	t.Helper()
	c, err := NewClassifier(openModel(t, name), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
