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

// singleOp is one node over a float input x[2,3,4] at a given opset.
type singleOp struct {
	name  string
	opset int64
	node  *onnxpb.NodeProto
	inits []*onnxpb.TensorProto
	outs  int
}

func ints(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func outNames(n int) []string {
	out := make([]string, n)
	for k := range out {
		out[k] = fmt.Sprintf("y%d", k)
	}
	return out
}

// The ops whose meaning changed between opsets, at old and new versions:
// native equals ONNX Runtime on each.
func TestOpsetVersionsMatchONNXRuntime(t *testing.T) {
	i64 := onnxtest.Int64s
	cases := []singleOp{
		{name: "Softmax axis 1 (flattens)", opset: 11, node: onnxtest.Node("Softmax", "s", []string{"x"}, outNames(1), onnxtest.AttrInt("axis", 1))},
		{name: "Softmax default axis", opset: 11, node: onnxtest.Node("Softmax", "s", []string{"x"}, outNames(1))},
		{name: "Softmax axis 1", opset: 13, node: onnxtest.Node("Softmax", "s", []string{"x"}, outNames(1), onnxtest.AttrInt("axis", 1))},
		{name: "LogSoftmax axis 1 (flattens)", opset: 11, node: onnxtest.Node("LogSoftmax", "s", []string{"x"}, outNames(1), onnxtest.AttrInt("axis", 1))},
		{name: "LogSoftmax axis 0", opset: 17, node: onnxtest.Node("LogSoftmax", "s", []string{"x"}, outNames(1), onnxtest.AttrInt("axis", 0))},
		{name: "Unsqueeze attribute", opset: 11, node: onnxtest.Node("Unsqueeze", "u", []string{"x"}, outNames(1), ints("axes", 0, 3))},
		{name: "Unsqueeze input", opset: 13, node: onnxtest.Node("Unsqueeze", "u", []string{"x", "axes"}, outNames(1)), inits: []*onnxpb.TensorProto{i64("axes", []int64{2}, []int64{-1, 1})}},
		{name: "Squeeze attribute", opset: 11, node: onnxtest.Node("Squeeze", "q", []string{"u"}, outNames(1), ints("axes", 0)), inits: nil},
		{name: "Split attribute", opset: 11, node: onnxtest.Node("Split", "p", []string{"x"}, outNames(2), onnxtest.AttrInt("axis", 2), ints("split", 1, 3)), outs: 2},
		{name: "Split input", opset: 13, node: onnxtest.Node("Split", "p", []string{"x", "sizes"}, outNames(2), onnxtest.AttrInt("axis", 1)), inits: []*onnxpb.TensorProto{i64("sizes", []int64{2}, []int64{2, 1})}, outs: 2},
		{name: "Split num_outputs", opset: 18, node: onnxtest.Node("Split", "p", []string{"x"}, outNames(2), onnxtest.AttrInt("axis", 2), onnxtest.AttrInt("num_outputs", 2)), outs: 2},
		{name: "Slice attributes", opset: 9, node: onnxtest.Node("Slice", "l", []string{"x"}, outNames(1), ints("starts", 1, 0), ints("ends", 2, -1), ints("axes", 0, 2))},
		{name: "Slice inputs, negative step", opset: 13, node: onnxtest.Node("Slice", "l", []string{"x", "st", "en", "ax", "sp"}, outNames(1)),
			inits: []*onnxpb.TensorProto{i64("st", []int64{2}, []int64{-1, 2}), i64("en", []int64{2}, []int64{-100, 0}), i64("ax", []int64{2}, []int64{2, 1}), i64("sp", []int64{2}, []int64{-2, -1})}},
		{name: "Reshape allowzero", opset: 14, node: onnxtest.Node("Reshape", "r", []string{"x", "shape"}, outNames(1), onnxtest.AttrInt("allowzero", 0)), inits: []*onnxpb.TensorProto{i64("shape", []int64{3}, []int64{0, -1, 2})}},
		{name: "Gemm transA transB", opset: 11, node: onnxtest.Node("Gemm", "g", []string{"m", "k", "c"}, outNames(1), onnxtest.AttrInt("transA", 1), onnxtest.AttrInt("transB", 1), onnxtest.AttrFloat("alpha", 0.5), onnxtest.AttrFloat("beta", 2))},
		{name: "MatMul batched broadcast", opset: 13, node: onnxtest.Node("MatMul", "mm", []string{"x", "k3"}, outNames(1))},
		{name: "Transpose", opset: 13, node: onnxtest.Node("Transpose", "t", []string{"x"}, outNames(1), ints("perm", 2, 0, 1))},
		{name: "Gather axis 1", opset: 13, node: onnxtest.Node("Gather", "ga", []string{"x", "idx"}, outNames(1), onnxtest.AttrInt("axis", 1)), inits: []*onnxpb.TensorProto{i64("idx", []int64{2, 2}, []int64{2, -1, 0, 1})}},
	}
	r := rand.New(rand.NewPCG(3, 4))
	x := randTensor(r, 2, 3, 4)
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/opset=%d", c.name, c.opset), func(t *testing.T) {
			g := &onnxpb.GraphProto{Name: proto.String("g"), Node: []*onnxpb.NodeProto{c.node}, Initializer: c.inits,
				Input: []*onnxpb.ValueInfoProto{onnxtest.ValueInfo("x", onnxpb.TensorProto_FLOAT, 2, 3, 4)}}
			g.Initializer = append(g.Initializer, floatTensor("m", []int64{4, 3}, r), floatTensor("k", []int64{5, 4}, r),
				floatTensor("c", []int64{5}, r), floatTensor("k3", []int64{1, 4, 6}, r))
			if c.node.GetOpType() == "Squeeze" { // squeeze a [1,2,3,4] made by Unsqueeze
				g.Node = append([]*onnxpb.NodeProto{onnxtest.Node("Unsqueeze", "u0", []string{"x"}, []string{"u"}, ints("axes", 0))}, g.Node...)
			}
			for _, o := range c.node.Output {
				g.Output = append(g.Output, onnxtest.ValueInfo(o, onnxpb.TensorProto_FLOAT))
			}
			path := onnxtest.WriteModel(t, "op.onnx", g, c.opset)
			outs := map[string]map[string]*model.Tensor{}
			for _, backend := range backends {
				out, err := onnxtest.Open(t, path, backend).Run(context.Background(), map[string]*model.Tensor{"x": x})
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
