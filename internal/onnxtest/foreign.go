package onnxtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/onnx"
)

// ForeignDir is where scripts/foreign-models.sh exported the models of other
// tools: $RNNRUN_CACHE/foreign-<first 12 hex of sha256 of both scripts>.
func ForeignDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	h := sha256.New()
	for _, name := range []string{"foreign-models.py", "foreign-models.sh"} {
		b, err := os.ReadFile(filepath.Join(root, "scripts", name))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	dir := filepath.Join(onnx.CacheDir(), "foreign-"+hex.EncodeToString(h.Sum(nil))[:12])
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		t.Fatalf("the exports of other tools are missing: run bash scripts/foreign-models.sh (make test does): %v", err)
	}
	return dir
}

// ForeignTensor is one tensor of a foreign model's reference file.
type ForeignTensor struct {
	Shape []int64   `json:"shape"`
	DType string    `json:"dtype"`
	Data  []float64 `json:"data"`
}

// Tensor converts f to a model.Tensor of its dtype.
func (f ForeignTensor) Tensor() *model.Tensor {
	t := &model.Tensor{Shape: f.Shape}
	switch f.DType {
	case "int64":
		d := make([]int64, len(f.Data))
		for k, v := range f.Data {
			d[k] = int64(v)
		}
		t.Data = d
	case "int32":
		d := make([]int32, len(f.Data))
		for k, v := range f.Data {
			d[k] = int32(v)
		}
		t.Data = d
	default:
		d := make([]float32, len(f.Data))
		for k, v := range f.Data {
			d[k] = float32(v)
		}
		t.Data = d
	}
	return t
}

// ForeignCase is a foreign model's reference file (OUT/<tool>_<name>.json):
// the inputs fed and the outputs the framework computed, in graph order.
type ForeignCase struct {
	Model   string          `json:"model"`
	Inputs  []ForeignTensor `json:"inputs"`
	Outputs []ForeignTensor `json:"outputs"`
}

// LoadForeign reads a reference file.
func LoadForeign(t testing.TB, file string) ForeignCase {
	t.Helper()
	var doc ForeignCase
	b, err := os.ReadFile(file)
	if err == nil {
		err = json.Unmarshal(b, &doc)
	}
	if err != nil {
		t.Fatal(err)
	}
	return doc
}
