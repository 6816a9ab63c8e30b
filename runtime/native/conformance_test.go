package native_test

import (
	"errors"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native"
)

// nodeTests selects ONNX's node tests of every op the native backend
// implements (the _expanded variants rewrite an op into others).
var nodeTests = regexp.MustCompile(`^test_(lstm|gru|rnn|simple_rnn|gemm|matmul|add|sub|mul|div|sigmoid|tanh|relu|softmax|logsoftmax|transpose|reshape|flatten|squeeze|unsqueeze|slice|gather|concat|split|identity|cast|shape|constant|constantofshape|loop\d*|less|greater|equal|not|and|or|xor|expand|neg|exp|log|abs|sqrt)(_|$)`)

// nodeTestSkip are cases outside the engine by design: element types it does
// not compute (double, uint8, float16, strings...) and ops it does not implement.
var nodeTestSkip = regexp.MustCompile(`_(bfloat16|float16|double|uint8|int8|int16|uint16|uint32|uint64|string|FLOAT16|DOUBLE|STRING|BFLOAT16|FLOAT8)|gather_elements|split_to_sequence`)

// TestNodeTests runs ONNX's node tests for the native backend's ops: every
// case either matches ONNX's expected outputs or is refused at load with an
// error wrapping native.ErrUnsupported that names the node and what it lacks.
func TestNodeTests(t *testing.T) {
	var passed, refused []string
	reasons := map[string]string{}
	for _, dir := range onnxtest.NodeTests(t, nodeTests) {
		name := filepath.Base(dir)
		if nodeTestSkip.MatchString(name) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "model.onnx")
			if err := native.Check(path); err != nil {
				if !errors.Is(err, native.ErrUnsupported) || !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), "--backend onnx") {
					t.Fatalf("load error is not a clear refusal: %v", err)
				}
				refused = append(refused, name)
				reasons[name] = err.Error()
				t.Logf("refused: %v", err)
				return
			}
			m := onnxtest.Open(t, path, "native")
			for _, set := range onnxtest.DataSets(dir) {
				if err := onnxtest.RunDataSet(m, set); err != nil {
					t.Fatal(err)
				}
			}
			passed = append(passed, name)
		})
	}
	sort.Strings(passed)
	t.Logf("%d node tests pass: %s", len(passed), strings.Join(passed, " "))
	t.Logf("%d refused at load:", len(refused))
	for _, n := range refused {
		t.Logf("  %s: %s", n, reasons[n])
	}
	if len(passed) < 150 {
		t.Errorf("only %d node tests pass", len(passed))
	}
}
