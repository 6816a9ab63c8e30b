package onnx_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/onnx"
)

// conformanceDir holds ONNX's node tests (Debian's libonnx-testdata, installed by scripts/setup-testdata.sh).
const conformanceDir = "/usr/share/libonnx-testdata/data/node"

var conformanceOps = regexp.MustCompile(`^test_(lstm|gru|rnn|simple_rnn|gemm|softmax)_`)

// TestConformance runs ONNX's own node tests for the recurrent and dense ops
// through the generic Run and compares every output with ONNX's expected values.
// The batchwise (layout=1) cases must fail with a clear error: ONNX Runtime's
// CPU provider does not implement that layout.
func TestConformance(t *testing.T) {
	entries, err := os.ReadDir(conformanceDir)
	if err != nil {
		t.Fatalf("ONNX conformance data missing (run scripts/setup-testdata.sh): %v", err)
	}
	var passed, rejected int
	for _, e := range entries {
		if !conformanceOps.MatchString(e.Name()) {
			continue
		}
		dir := filepath.Join(conformanceDir, e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			m, err := model.Open(context.Background(), filepath.Join(dir, "model.onnx"), model.Options{})
			if strings.HasSuffix(e.Name(), "_batchwise") {
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
			sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
			if len(sets) == 0 {
				t.Fatal("no test data sets")
			}
			for _, set := range sets {
				runDataSet(t, m, set)
			}
			passed++
		})
	}
	t.Logf("conformance: %d node tests passed, %d layout=1 tests rejected with a clear error", passed, rejected)
	if passed < 20 || rejected < 2 {
		t.Fatalf("expected at least 20 passing and 2 rejected conformance tests, got %d and %d", passed, rejected)
	}
}

func runDataSet(t *testing.T, m *model.Model, set string) {
	t.Helper()
	sig := m.Signature()
	inputs := map[string]*model.Tensor{}
	files, _ := filepath.Glob(filepath.Join(set, "input_*.pb"))
	sort.Strings(files)
	for i, f := range files {
		name, tensor := readTensorProto(t, f)
		if name == "" {
			name = sig.Inputs[i].Name
		}
		inputs[name] = tensor
	}
	out, err := m.Run(context.Background(), inputs)
	if err != nil {
		t.Fatalf("%s: run: %v", set, err)
	}
	files, _ = filepath.Glob(filepath.Join(set, "output_*.pb"))
	sort.Strings(files)
	for i, f := range files {
		name, want := readTensorProto(t, f)
		if name == "" {
			name = sig.Outputs[i].Name
		}
		got, ok := out[name]
		if !ok {
			t.Fatalf("%s: no output %q", set, name)
		}
		if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
			t.Fatalf("%s: output %q shape %v, want %v", set, name, got.Shape, want.Shape)
		}
		g, w := got.Float32s(), want.Float32s()
		for j := range w {
			if d := math.Abs(float64(g[j] - w[j])); d > 1e-5+1e-4*math.Abs(float64(w[j])) {
				t.Fatalf("%s: output %q[%d] = %v, want %v (diff %g)", set, name, j, g[j], w[j], d)
			}
		}
	}
}

// readTensorProto decodes the fields of onnx.TensorProto these tests need:
// dims (1), data_type (2), float_data (4), int32_data (5), int64_data (7), name (8), raw_data (9).
func readTensorProto(t *testing.T, path string) (string, *model.Tensor) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		name   string
		dims   []int64
		dtype  int
		raw    []byte
		floats []float32
		ints   []int64
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("%s: bad tag", path)
		}
		b = b[n:]
		varints := func(dst *[]int64) {
			if typ == protowire.BytesType {
				v, n := protowire.ConsumeBytes(b)
				b = b[n:]
				for len(v) > 0 {
					x, m := protowire.ConsumeVarint(v)
					v = v[m:]
					*dst = append(*dst, int64(x))
				}
				return
			}
			x, n := protowire.ConsumeVarint(b)
			b = b[n:]
			*dst = append(*dst, int64(x))
		}
		switch {
		case num == 1:
			varints(&dims)
		case num == 2:
			x, n := protowire.ConsumeVarint(b)
			b, dtype = b[n:], int(x)
		case num == 4 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			b = b[n:]
			for i := 0; i+4 <= len(v); i += 4 {
				floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(v[i:])))
			}
		case num == 5 || num == 7:
			varints(&ints)
		case num == 8:
			v, n := protowire.ConsumeBytes(b)
			b, name = b[n:], string(v)
		case num == 9:
			v, n := protowire.ConsumeBytes(b)
			b, raw = b[n:], v
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				t.Fatalf("%s: bad field %d", path, num)
			}
			b = b[n:]
		}
	}
	shape := model.Shape(dims)
	if shape == nil {
		shape = model.Shape{}
	}
	switch dtype {
	case 1: // float
		if raw != nil {
			floats = make([]float32, len(raw)/4)
			for i := range floats {
				floats[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
		return name, &model.Tensor{Shape: shape, Data: floats}
	case 6: // int32
		out := make([]int32, 0)
		if raw != nil {
			for i := 0; i+4 <= len(raw); i += 4 {
				out = append(out, int32(binary.LittleEndian.Uint32(raw[i:])))
			}
		} else {
			for _, x := range ints {
				out = append(out, int32(x))
			}
		}
		return name, &model.Tensor{Shape: shape, Data: out}
	case 7: // int64
		if raw != nil {
			ints = ints[:0]
			for i := 0; i+8 <= len(raw); i += 8 {
				ints = append(ints, int64(binary.LittleEndian.Uint64(raw[i:])))
			}
		}
		return name, &model.Tensor{Shape: shape, Data: ints}
	}
	t.Fatalf("%s: unsupported data type %d", path, dtype)
	return "", nil
}

var _ = onnx.Version
