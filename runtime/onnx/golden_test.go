//go:build cgo

package onnx_test

import (
	"testing"

	"github.com/rnnrun/rnnrun/internal/onnxtest"
)

// Every golden file of every shipped ONNX model (cases, and the 50-step
// stateful rollout through Bindings): Go's outputs equal the Keras outputs
// recorded by the exporter within the file's tolerance (1e-5).
func TestGolden(t *testing.T) { onnxtest.GoldenAll(t, "onnx") }
