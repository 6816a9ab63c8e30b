// Package golden reads the exporter's golden vectors (models/export/testdata/*.json,
// format in models/export/README.md) for tests of every backend.
package golden

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Tensor is a golden tensor: a shape and row-major float32 values.
type Tensor struct {
	Shape []int64   `json:"shape"`
	Data  []float32 `json:"data"`
}

// Model converts t to a model.Tensor (sharing the data).
func (t Tensor) Model() *model.Tensor { return &model.Tensor{Shape: t.Shape, Data: t.Data} }

// Case is one call: named inputs and the outputs Keras computed.
type Case struct {
	Name    string            `json:"name"`
	Inputs  map[string]Tensor `json:"inputs"`
	Outputs map[string]Tensor `json:"outputs"`
}

// Inputs converts the case's inputs for Model.Run.
func (c Case) ModelInputs() map[string]*model.Tensor {
	in := make(map[string]*model.Tensor, len(c.Inputs))
	for k, t := range c.Inputs {
		in[k] = t.Model()
	}
	return in
}

// File is one golden file. Rollout files (char_rollout.json,
// char_large_rollout.json) use Indices, Probs and Final; image files add Labels.
type File struct {
	Model     string  `json:"model"`
	Tolerance float64 `json:"tolerance"`
	Cases     []Case  `json:"cases"`
	Labels    []int   `json:"labels"`

	Indices []int  `json:"indices"`
	Probs   Tensor `json:"probs"`
	// Final holds a rollout's state after its last step, by state output name
	// (h_out, c_out; h0_out, c0_out, h1_out, c1_out): the file's *_out keys.
	Final map[string]Tensor `json:"-"`
}

// ExportDir is the absolute path of models/export in this checkout.
func ExportDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "models", "export")
}

// Load reads models/export/testdata/name.
func Load(name string) (*File, error) { return LoadFrom(ExportDir(), name) }

// LoadFrom reads dir/testdata/name, the golden file of the export in dir.
func LoadFrom(dir, name string) (*File, error) {
	path := filepath.Join(dir, "testdata", name)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Tolerance == 0 {
		f.Tolerance = 1e-5
	}
	if len(f.Indices) > 0 {
		if f.Final, err = finalState(b); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return &f, nil
}

// finalState reads a rollout file's *_out tensors.
func finalState(b []byte) (map[string]Tensor, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, err
	}
	final := map[string]Tensor{}
	for k, v := range keys {
		if !strings.HasSuffix(k, "_out") {
			continue
		}
		var t Tensor
		if err := json.Unmarshal(v, &t); err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		final[k] = t
	}
	if len(final) == 0 {
		return nil, fmt.Errorf("a rollout file with no final state (*_out keys)")
	}
	return final, nil
}

// CaseFiles lists the golden files that hold cases (testdata/*.json except
// the *_rollout.json files), sorted: tests of every backend iterate over them,
// so a model exported with golden vectors is tested without a code change.
func CaseFiles() ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(ExportDir(), "testdata", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range paths {
		if name := filepath.Base(p); !strings.HasSuffix(name, "_rollout.json") {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no golden files in %s", filepath.Join(ExportDir(), "testdata"))
	}
	return out, nil
}

// MaxDiff is the golden files' comparison: the largest |got - want| /
// max(1, |want|) over equally shaped float32 slices, the absolute difference
// for values within [-1, 1] (probabilities, hidden states) and the relative
// one above (LSTM cell states, which grow past 80 in char.onnx, where one
// float32 step is already about 1e-5). A file passes within its Tolerance.
func MaxDiff(got, want []float32) (float64, error) { return maxDiff(got, want, true) }

// MaxAbsDiff compares two equally shaped float32 slices.
func MaxAbsDiff(got, want []float32) (float64, error) { return maxDiff(got, want, false) }

// maxDiff is MaxDiff (scaled) or MaxAbsDiff.
func maxDiff(got, want []float32, scaled bool) (float64, error) {
	if len(got) != len(want) {
		return math.Inf(1), fmt.Errorf("length %d, want %d", len(got), len(want))
	}
	var m float64
	for i := range got {
		if math.IsNaN(float64(got[i])) {
			return math.Inf(1), fmt.Errorf("NaN at %d", i)
		}
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if scaled {
			d /= max(1, math.Abs(float64(want[i])))
		}
		m = max(m, d)
	}
	return m, nil
}

// Files lists the golden files in models/export/testdata (names, sorted).
func Files() ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(ExportDir(), "testdata", "*.json"))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(paths))
	for k, p := range paths {
		names[k] = filepath.Base(p)
	}
	return names, nil
}

// Predicted is the class each row of the only output of the case named
// caseName scores highest (probabilities or logits alike): what the exported
// model itself answers for those inputs.
func (f *File) Predicted(caseName string) ([]int, error) {
	for _, c := range f.Cases {
		if c.Name != caseName {
			continue
		}
		if len(c.Outputs) != 1 {
			return nil, fmt.Errorf("golden %s case %q has %d outputs, want one", f.Model, caseName, len(c.Outputs))
		}
		var t Tensor
		for _, t = range c.Outputs {
		}
		if len(t.Shape) != 2 || int64(len(t.Data)) != t.Shape[0]*t.Shape[1] {
			return nil, fmt.Errorf("golden %s case %q: output of shape %v is not [rows, classes]", f.Model, caseName, t.Shape)
		}
		rows, n := int(t.Shape[0]), int(t.Shape[1])
		best := make([]int, rows)
		for r := range rows {
			row := t.Data[r*n : (r+1)*n]
			for i, v := range row {
				if v > row[best[r]] {
					best[r] = i
				}
			}
		}
		return best, nil
	}
	return nil, fmt.Errorf("golden %s: no case %q", f.Model, caseName)
}

// FirstTestImages names the golden case of an image model holding the first
// 32 images of MNIST's test set, t10k-00000 to t10k-00031 (pyexport writes it).
const FirstTestImages = "t10k_first32"

// TestImagePredictions is what the image model modelFile ("mnist.onnx") of the
// export in dir answers for the first MNIST test images, by index, as its
// golden file (dir/testdata/mnist.json) records.
func TestImagePredictions(dir, modelFile string) ([]int, error) {
	name := strings.TrimSuffix(filepath.Base(modelFile), filepath.Ext(modelFile)) + ".json"
	f, err := LoadFrom(dir, name)
	if err != nil {
		return nil, err
	}
	return f.Predicted(FirstTestImages)
}
