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

// ExportsDir is where scripts/NAME-models.sh (through
// scripts/framework-exports.sh) exports its models for key:
// $RNNRUN_CACHE/NAME-<first 12 hex of the sha256 of NAME-models.py,
// NAME-models.sh, framework-exports.sh and key + "\n">. It does not check
// that the export is there.
func ExportsDir(name, key string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	h := sha256.New()
	for _, f := range []string{name + "-models.py", name + "-models.sh", "framework-exports.sh"} {
		b, err := os.ReadFile(filepath.Join(root, "scripts", f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	h.Write([]byte(key + "\n"))
	return filepath.Join(onnx.CacheDir(), name+"-"+hex.EncodeToString(h.Sum(nil))[:12]), nil
}

// ForeignDir is where scripts/foreign-models.sh exported the models of other
// tools (ExportsDir "foreign", no key); it fails the test when they are missing.
func ForeignDir(t testing.TB) string {
	t.Helper()
	dir, err := ExportsDir("foreign", "")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, ".complete"))
	}
	if err != nil {
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
