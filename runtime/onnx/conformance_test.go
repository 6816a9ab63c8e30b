//go:build cgo

package onnx_test

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
)

var conformanceOps = regexp.MustCompile(`^test_(lstm|gru|rnn|simple_rnn|gemm|softmax)_`)

// TestConformance runs ONNX's own node tests for the recurrent and dense ops
// through the generic Run and compares every output with ONNX's expected values.
// The batchwise (layout=1) cases must fail with a clear error: ONNX Runtime's
// CPU provider does not implement that layout.
func TestConformance(t *testing.T) {
	var passed, rejected int
	for _, dir := range onnxtest.NodeTests(t, conformanceOps) {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			m, err := model.Open(context.Background(), filepath.Join(dir, "model.onnx"), model.Options{Backend: "onnx"})
			if strings.HasSuffix(name, "_batchwise") {
				if err == nil {
					m.Close()
					t.Fatalf("layout=1 model loaded; ONNX Runtime's CPU provider was expected to reject it")
				}
				if !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), "model.onnx") || !strings.Contains(err.Error(), "layout=1") {
					t.Fatalf("layout=1 error does not name the model or kind: %v", err)
				}
				t.Logf("rejected as expected: %v", err)
				rejected++
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer m.Close()
			sets := onnxtest.DataSets(dir)
			if len(sets) == 0 {
				t.Fatal("no test data sets")
			}
			for _, set := range sets {
				if err := onnxtest.RunDataSet(m, set); err != nil {
					t.Fatal(err)
				}
			}
			passed++
		})
	}
	t.Logf("conformance: %d node tests passed, %d layout=1 tests rejected with a clear error", passed, rejected)
	if passed < 20 || rejected < 2 {
		t.Fatalf("expected at least 20 passing and 2 rejected conformance tests, got %d and %d", passed, rejected)
	}
}
