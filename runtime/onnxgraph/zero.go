package onnxgraph

import (
	"encoding/binary"
	"fmt"
	"math"

	pb "github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// isZero reports whether name is provably all zeros: a zero constant, or a
// zero constant reshaped, expanded, sliced, cast or concatenated (the ways
// exporters build an initial state from the batch size).
func (r *rewriter) isZero(name string, depth int) bool {
	if depth > 32 {
		return false
	}
	if t := r.inits[name]; t != nil {
		return zeroTensor(t)
	}
	n := r.producer[name]
	if n == nil {
		return false
	}
	in := n.GetInput()
	switch n.GetOpType() {
	case "Constant":
		for _, a := range n.GetAttribute() {
			if a.GetName() == "value" {
				return zeroTensor(a.GetT())
			}
		}
	case "ConstantOfShape":
		for _, a := range n.GetAttribute() {
			if a.GetName() == "value" {
				return zeroTensor(a.GetT())
			}
		}
		return true // the default value is a float 0
	case "Expand", "Unsqueeze", "Squeeze", "Reshape", "Slice", "Cast", "Identity", "Transpose", "Tile", "Flatten":
		return len(in) > 0 && r.isZero(in[0], depth+1)
	case "Concat":
		for _, x := range in {
			if !r.isZero(x, depth+1) {
				return false
			}
		}
		return len(in) > 0
	}
	return false
}

// zeroTensor reports whether every value of t is zero.
func zeroTensor(t *pb.TensorProto) bool {
	if t == nil || t.GetDataLocation() == pb.TensorProto_EXTERNAL {
		return false
	}
	return allZero(t.GetRawData()) && allZero(t.GetFloatData()) && allZero(t.GetDoubleData()) &&
		allZero(t.GetInt32Data()) && allZero(t.GetInt64Data())
}

// allZero reports whether every value of v is zero.
func allZero[T byte | float32 | float64 | int32 | int64](v []T) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// ints reads an integer tensor's values.
func ints(t *pb.TensorProto) ([]int64, error) {
	if len(t.GetInt64Data()) > 0 {
		return t.GetInt64Data(), nil
	}
	var v []int64
	for _, x := range t.GetInt32Data() {
		v = append(v, int64(x))
	}
	raw := t.GetRawData()
	switch pb.TensorProto_DataType(t.GetDataType()) {
	case pb.TensorProto_INT64:
		for i := 0; i+8 <= len(raw); i += 8 {
			v = append(v, int64(binary.LittleEndian.Uint64(raw[i:])))
		}
	case pb.TensorProto_INT32:
		for i := 0; i+4 <= len(raw); i += 4 {
			v = append(v, int64(int32(binary.LittleEndian.Uint32(raw[i:]))))
		}
	case pb.TensorProto_FLOAT:
		for i := 0; i+4 <= len(raw); i += 4 {
			v = append(v, int64(math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))))
		}
	default:
		return nil, fmt.Errorf("tensor %q has element type %d, not an integer", t.GetName(), t.GetDataType())
	}
	return v, nil
}

// prune drops the nodes of g whose outputs nothing uses (the zero-state
// builders the rewrite replaced), and initializers no node reads.
func prune(g *pb.GraphProto) {
	for {
		used := map[string]bool{}
		for _, o := range g.GetOutput() {
			used[o.GetName()] = true
		}
		for _, n := range g.GetNode() {
			markUses(n, used)
		}
		kept := g.Node[:0]
		for _, n := range g.GetNode() {
			if anyUsed(n.GetOutput(), used) {
				kept = append(kept, n)
			}
		}
		if len(kept) == len(g.Node) {
			g.Node = kept
			break
		}
		g.Node = kept
	}
	used := map[string]bool{}
	for _, n := range g.GetNode() {
		markUses(n, used)
	}
	for _, in := range g.GetInput() {
		used[in.GetName()] = true
	}
	var inits []*pb.TensorProto
	for _, t := range g.GetInitializer() {
		if used[t.GetName()] {
			inits = append(inits, t)
		}
	}
	g.Initializer = inits
}

// markUses marks every name n reads, its subgraphs' included.
func markUses(n *pb.NodeProto, used map[string]bool) {
	for _, in := range n.GetInput() {
		used[in] = true
	}
	for _, a := range n.GetAttribute() {
		for _, sg := range append([]*pb.GraphProto{a.GetG()}, a.GetGraphs()...) {
			for _, sn := range sg.GetNode() {
				markUses(sn, used)
			}
			for _, o := range sg.GetOutput() {
				used[o.GetName()] = true
			}
		}
	}
}

func anyUsed(names []string, used map[string]bool) bool {
	for _, n := range names {
		if n != "" && used[n] {
			return true
		}
	}
	return false
}
