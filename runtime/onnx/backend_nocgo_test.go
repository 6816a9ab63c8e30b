//go:build !cgo

package onnx_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/onnx"
)

// Without cgo the names stay registered, and opening a model with them says
// how to get a build that has ONNX Runtime.
func TestNoCgoStub(t *testing.T) {
	if onnx.Enabled {
		t.Fatal("Enabled is true in a cgo-free build")
	}
	path := filepath.Join(golden.ExportDir(), "char.onnx")
	for _, name := range []string{"onnx", "ort"} {
		_, err := model.Open(context.Background(), path, model.Options{Backend: name})
		if !errors.Is(err, model.ErrNoBackend) {
			t.Fatalf("%s: err = %v, want ErrNoBackend", name, err)
		}
		for _, want := range []string{"CGO_ENABLED=1", "make setup-ort", "--backend native"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %q", name, err, want)
			}
		}
	}
}
