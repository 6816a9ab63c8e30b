//go:build cgo

package parity_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// recurrentCase is one LSTM, GRU or RNN node with random weights.
type recurrentCase struct {
	op        string
	direction string
	lbr       int64 // GRU linear_before_reset
	seqLens   bool
	initial   bool
	weightsIn bool // W fed as a graph input rather than an initializer
	peepholes bool // LSTM input P
	layout    int64
}

func (c recurrentCase) String() string {
	return fmt.Sprintf("%s/%s/lbr=%d/lens=%v/init=%v/Win=%v/P=%v", c.op, c.direction, c.lbr, c.seqLens, c.initial, c.weightsIn, c.peepholes)
}

const (
	rT, rB, rI, rH = 5, 3, 4, 6
)

func floatTensor(name string, dims []int64, r *rand.Rand) *onnxpb.TensorProto {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for k := range data {
		data[k] = float32(r.NormFloat64() * 0.5)
	}
	return onnxtest.Floats(name, dims, data)
}

// build writes the case's model and returns its path and inputs.
func (c recurrentCase) build(t *testing.T, r *rand.Rand) (string, map[string]*model.Tensor) {
	gates := map[string]int64{"LSTM": 4, "GRU": 3, "RNN": 1}[c.op]
	D := int64(1)
	if c.direction == "bidirectional" {
		D = 2
	}
	w := floatTensor("W", []int64{D, gates * rH, rI}, r)
	g := &onnxpb.GraphProto{Name: proto.String("recurrent")}
	g.Initializer = append(g.Initializer, floatTensor("R", []int64{D, gates * rH, rH}, r), floatTensor("B", []int64{D, 2 * gates * rH}, r))
	inputs := map[string]*model.Tensor{"X": randTensor(r, rT, rB, rI)}
	g.Input = append(g.Input, onnxtest.ValueInfo("X", onnxpb.TensorProto_FLOAT, rT, rB, rI))
	if c.layout == 1 { // batch-major X [B, T, I], states [B, D, H]
		x := inputs["X"]
		inputs["X"] = &model.Tensor{Shape: model.Shape{rB, rT, rI}, Data: permute(x.Float32s(), x.Shape, 1, 0, 2)}
		g.Input[0] = onnxtest.ValueInfo("X", onnxpb.TensorProto_FLOAT, rB, rT, rI)
	}
	if c.weightsIn {
		g.Input = append(g.Input, onnxtest.ValueInfo("W", onnxpb.TensorProto_FLOAT, w.Dims...))
		inputs["W"] = &model.Tensor{Shape: w.Dims, Data: w.FloatData}
	} else {
		g.Initializer = append(g.Initializer, w)
	}
	node := onnxtest.Node(c.op, "rnn", []string{"X", "W", "R", "B", "", "", ""}, nil,
		onnxtest.AttrInt("hidden_size", rH), onnxtest.AttrString("direction", c.direction))
	if c.seqLens {
		node.Input[4] = "lens"
		g.Input = append(g.Input, onnxtest.ValueInfo("lens", onnxpb.TensorProto_INT32, rB))
		inputs["lens"] = &model.Tensor{Shape: model.Shape{rB}, Data: []int32{rT, 2, 0}} // 0: an empty sequence
	}
	if c.initial {
		node.Input[5] = "h0"
		g.Initializer = append(g.Initializer, c.state(floatTensor("h0", []int64{D, rB, rH}, r)))
		if c.op == "LSTM" {
			node.Input[6] = "c0"
			g.Initializer = append(g.Initializer, c.state(floatTensor("c0", []int64{D, rB, rH}, r)))
		}
	}
	if c.op != "LSTM" {
		node.Input = node.Input[:6]
	} else if c.peepholes {
		node.Input = append(node.Input, "P")
		g.Initializer = append(g.Initializer, floatTensor("P", []int64{D, 3 * rH}, r))
	}
	node.Output = []string{"Y", "Y_h"}
	g.Output = append(g.Output, onnxtest.ValueInfo("Y", onnxpb.TensorProto_FLOAT), onnxtest.ValueInfo("Y_h", onnxpb.TensorProto_FLOAT))
	if c.op == "LSTM" {
		node.Output = append(node.Output, "Y_c")
		g.Output = append(g.Output, onnxtest.ValueInfo("Y_c", onnxpb.TensorProto_FLOAT))
	}
	if c.layout == 1 {
		node.Attribute = append(node.Attribute, onnxtest.AttrInt("layout", 1))
	}
	if c.op == "GRU" {
		node.Attribute = append(node.Attribute, onnxtest.AttrInt("linear_before_reset", c.lbr))
	}
	g.Node = []*onnxpb.NodeProto{node}
	return onnxtest.WriteModel(t, "rnn.onnx", g, 17), inputs
}

// state lays an initial state out for the case's layout.
func (c recurrentCase) state(tp *onnxpb.TensorProto) *onnxpb.TensorProto {
	if c.layout == 1 {
		tp.FloatData = permute(tp.FloatData, tp.Dims, 1, 0, 2)
		tp.Dims = []int64{tp.Dims[1], tp.Dims[0], tp.Dims[2]}
	}
	return tp
}

// permute transposes row-major data of shape dims by perm (numpy's transpose).
func permute(data []float32, dims []int64, perm ...int) []float32 {
	r := len(dims)
	st := make([]int64, r)
	s := int64(1)
	for d := r - 1; d >= 0; d-- {
		st[d] = s
		s *= dims[d]
	}
	out := make([]float32, len(data))
	idx := make([]int64, r)
	for k := range out {
		off := int64(0)
		for d := range r {
			off += idx[d] * st[perm[d]]
		}
		out[k] = data[off]
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < dims[perm[d]] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

func randTensor(r *rand.Rand, dims ...int64) *model.Tensor {
	t := model.NewFloat32(dims, nil)
	for k := range t.Float32s() {
		t.Float32s()[k] = float32(r.NormFloat64())
	}
	return t
}

// LSTM, GRU (both linear_before_reset) and RNN, forward, reverse and
// bidirectional, with and without sequence_lens and initial states, weights
// as initializers or as an input, LSTM peepholes: every output of native
// equals ONNX Runtime's.
func TestRecurrentOpsMatchONNXRuntime(t *testing.T) {
	var cases []recurrentCase
	for _, op := range []string{"LSTM", "GRU", "RNN"} {
		for _, dir := range []string{"forward", "reverse", "bidirectional"} {
			for _, lens := range []bool{false, true} {
				c := recurrentCase{op: op, direction: dir, seqLens: lens, initial: lens, weightsIn: dir == "reverse", peepholes: op == "LSTM" && lens}
				cases = append(cases, c)
				if op == "GRU" {
					c.lbr = 1
					cases = append(cases, c)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(11, 1))
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			path, inputs := c.build(t, r)
			outs := map[string]map[string]*model.Tensor{}
			for _, backend := range backends {
				m := onnxtest.Open(t, path, backend)
				out, err := m.Run(context.Background(), inputs)
				if err != nil {
					t.Fatalf("%s: %v", backend, err)
				}
				outs[backend] = out
			}
			for name, want := range outs["onnx"] {
				if err := onnxtest.Compare(outs["native"][name], want); err != nil {
					t.Errorf("output %s: %v", name, err)
				}
			}
		})
	}
}

// Layout 1 (batch-major), which ONNX Runtime's CPU provider does not run: on
// native, every op in every direction with sequence_lens and initial states
// gives layout 0's outputs, transposed.
func TestRecurrentLayout1(t *testing.T) {
	for _, op := range []string{"LSTM", "GRU", "RNN"} {
		for _, dir := range []string{"forward", "reverse", "bidirectional"} {
			c := recurrentCase{op: op, direction: dir, seqLens: true, initial: true, peepholes: op == "LSTM", lbr: 1}
			t.Run(c.String(), func(t *testing.T) {
				var outs [2]map[string]*model.Tensor
				for layout := range 2 {
					c.layout = int64(layout)
					path, inputs := c.build(t, rand.New(rand.NewPCG(5, 6)))
					out, err := onnxtest.Open(t, path, "native").Run(context.Background(), inputs)
					if err != nil {
						t.Fatal(err)
					}
					outs[layout] = out
				}
				for name, perm := range map[string][]int{"Y": {2, 0, 1, 3}, "Y_h": {1, 0, 2}, "Y_c": {1, 0, 2}} {
					y0, ok := outs[0][name]
					if !ok {
						continue
					}
					want := &model.Tensor{Data: permute(y0.Float32s(), y0.Shape, perm...)}
					for _, p := range perm {
						want.Shape = append(want.Shape, y0.Shape[p])
					}
					if err := onnxtest.Compare(outs[1][name], want); err != nil {
						t.Errorf("%s: %v", name, err)
					}
				}
			})
		}
	}
}
