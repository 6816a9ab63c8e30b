package infer

import (
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// graphFacts is what inference reads from an ONNX graph beyond the signature.
type graphFacts struct {
	onnx bool
	// producer maps each graph output to the node that computes it, looking
	// through ops that only move values (Identity, Reshape, Squeeze, ...).
	producer map[string]*onnxpb.NodeProto
}

// passThrough are the ops that keep a Softmax's values a distribution.
var passThrough = map[string]bool{
	"Identity": true, "Reshape": true, "Squeeze": true, "Unsqueeze": true,
	"Flatten": true, "Transpose": true, "Gather": true, "Slice": true, "Cast": true,
}

// readGraph reads an ONNX file's graph; anything else (a SavedModel folder)
// gives no facts.
func readGraph(path string) graphFacts {
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		return graphFacts{}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return graphFacts{}
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil || m.GetGraph() == nil {
		return graphFacts{}
	}
	made := map[string]*onnxpb.NodeProto{}
	for _, n := range m.GetGraph().GetNode() {
		for _, o := range n.GetOutput() {
			made[o] = n
		}
	}
	f := graphFacts{onnx: true, producer: map[string]*onnxpb.NodeProto{}}
	for _, o := range m.GetGraph().GetOutput() {
		n := made[o.GetName()]
		for seen := 0; n != nil && passThrough[n.GetOpType()] && len(n.GetInput()) > 0 && seen < 64; seen++ {
			if next := made[n.GetInput()[0]]; next != nil {
				n = next
			} else {
				break
			}
		}
		if n != nil {
			f.producer[o.GetName()] = n
		}
	}
	return f
}

// outputKind says whether output is a distribution, and why.
func (f graphFacts) outputKind(output string) (kind, why string) {
	if !f.onnx {
		return model.OutputProbabilities, "assumed: the graph is not an ONNX graph rnnrun reads (set output_kind logits if it outputs logits)"
	}
	n := f.producer[output]
	switch {
	case n == nil:
		return model.OutputLogits, fmt.Sprintf("inferred: no node computes output %s (no Softmax)", output)
	case n.GetOpType() == "Softmax":
		return model.OutputProbabilities, fmt.Sprintf("inferred from output %s: made by Softmax node %q", output, n.GetName())
	}
	return model.OutputLogits, fmt.Sprintf("inferred from output %s: made by %s node %q, not a Softmax", output, n.GetOpType(), n.GetName())
}
