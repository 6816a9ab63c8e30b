// Package onnxtest holds what the backends' tests share: ONNX's node tests
// (Debian's libonnx-testdata) read through the generated protobuf types, and
// the checks of a model against the exporter's golden vectors.
package onnxtest

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native"
	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// NodeDir holds ONNX's node tests (installed by scripts/setup-testdata.sh).
const NodeDir = "/usr/share/libonnx-testdata/data/node"

// NodeTests lists the node test folders whose names match re, sorted.
func NodeTests(t testing.TB, re *regexp.Regexp) []string {
	t.Helper()
	entries, err := os.ReadDir(NodeDir)
	if err != nil {
		t.Fatalf("ONNX node tests missing (run scripts/setup-testdata.sh): %v", err)
	}
	var dirs []string
	for _, e := range entries {
		if re.MatchString(e.Name()) {
			dirs = append(dirs, filepath.Join(NodeDir, e.Name()))
		}
	}
	sort.Strings(dirs)
	return dirs
}

// ReadTensor decodes one TensorProto file (input_N.pb, output_N.pb).
func ReadTensor(path string) (string, *model.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	tensor, err := native.TensorFromProto(&tp)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	return tp.GetName(), tensor, nil
}

// DataSets lists a node test's test_data_set_* folders.
func DataSets(dir string) []string {
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	sort.Strings(sets)
	return sets
}

// readAll reads prefix_*.pb of a data set, named by the file or by list order.
func readAll(set, prefix string, names []model.TensorInfo) (map[string]*model.Tensor, []string, error) {
	files, _ := filepath.Glob(filepath.Join(set, prefix+"_*.pb"))
	sort.Slice(files, func(a, b int) bool { return pbIndex(files[a]) < pbIndex(files[b]) })
	out := map[string]*model.Tensor{}
	var order []string
	for i, f := range files {
		name, t, err := ReadTensor(f)
		if err != nil {
			return nil, nil, err
		}
		if name == "" && i < len(names) {
			name = names[i].Name
		}
		out[name] = t
		order = append(order, name)
	}
	return out, order, nil
}

func pbIndex(path string) int {
	var n int
	fmt.Sscanf(regexp.MustCompile(`_(\d+)\.pb$`).FindStringSubmatch(path)[1], "%d", &n)
	return n
}

// RunDataSet runs one data set through m and compares every output with
// ONNX's expected values (abs 1e-5 + rel 1e-4, as ONNX's own runner).
func RunDataSet(m *model.Model, set string) error {
	sig := m.Signature()
	inputs, _, err := readAll(set, "input", sig.Inputs)
	if err != nil {
		return err
	}
	out, err := m.Run(context.Background(), inputs)
	if err != nil {
		return fmt.Errorf("%s: run: %w", filepath.Base(set), err)
	}
	wants, order, err := readAll(set, "output", sig.Outputs)
	if err != nil {
		return err
	}
	for _, name := range order {
		got, ok := out[name]
		if !ok {
			return fmt.Errorf("%s: no output %q", filepath.Base(set), name)
		}
		if err := Compare(got, wants[name]); err != nil {
			return fmt.Errorf("%s: output %q: %w", filepath.Base(set), name, err)
		}
	}
	return nil
}

// Compare checks shape, element type and values (floats within abs 1e-5 + rel 1e-4).
func Compare(got, want *model.Tensor) error {
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	switch w := want.Data.(type) {
	case []float32:
		g := got.Float32s()
		if g == nil {
			return fmt.Errorf("type %s, want float32", got.DType())
		}
		for j := range w {
			if d := math.Abs(float64(g[j] - w[j])); d > 1e-5+1e-4*math.Abs(float64(w[j])) || math.IsNaN(float64(g[j])) != math.IsNaN(float64(w[j])) {
				return fmt.Errorf("[%d] = %v, want %v (diff %g)", j, g[j], w[j], d)
			}
		}
		return nil
	}
	if fmt.Sprint(got.Data) != fmt.Sprint(want.Data) || got.DType() != want.DType() {
		return fmt.Errorf("%s %v, want %s %v", got.DType(), got.Data, want.DType(), want.Data)
	}
	return nil
}
