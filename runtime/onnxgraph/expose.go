// Package onnxgraph rewrites ONNX graphs (through the generated protobuf types
// of runtime/native/onnxpb) for every ONNX backend. ExposeState turns a
// stateless recurrent export, whose LSTM, GRU and RNN nodes (or the Loop
// holding a Keras cell) start from zero state, into a stateful one: each
// initial state becomes a graph input and each final state a graph output,
// and the input's time dimension becomes dynamic, so the model can be stepped
// one character at a time carrying its state.
package onnxgraph

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	pb "github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// ErrCannotExpose is wrapped by ExposeState's errors for data it cannot rewrite.
var ErrCannotExpose = errors.New("cannot expose the recurrent state")

// Exposed describes the state ExposeState added.
type Exposed struct {
	// StateInputs and StateOutputs are the new tensors, paired by position,
	// each float32 [batch, StateSizes[i]].
	StateInputs, StateOutputs []string
	StateSizes                []int
	// Window is the fixed time dimension the input had (0 if it was dynamic).
	Window int
}

// ExposeState rewrites the ONNX model in data (see the package comment). The
// result's metadata_props gain state_inputs, state_outputs and, when every
// state has the same width, state_size (and window_length from a fixed time
// dimension, when the metadata has none). Data that is not a model, or a
// graph it cannot rewrite, gets an error wrapping ErrCannotExpose that says
// why (naming the node when one is at fault).
func ExposeState(data []byte) ([]byte, *Exposed, error) {
	var m pb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, nil, fmt.Errorf("%w: not an ONNX model: %v", ErrCannotExpose, err)
	}
	g := m.GetGraph()
	if g == nil {
		return nil, nil, fmt.Errorf("%w: the model has no graph", ErrCannotExpose)
	}
	r := newRewriter(&m)
	if err := r.relaxTime(); err != nil {
		return nil, nil, err
	}
	if err := r.exposeAll(); err != nil {
		return nil, nil, err
	}
	g.Node = append(r.early, g.Node...) // the graph stays in topological order, as ONNX requires
	prune(g)
	g.ValueInfo = nil // shapes recorded for the fixed window no longer hold
	r.writeMetadata()
	out, err := proto.Marshal(&m)
	if err != nil {
		return nil, nil, fmt.Errorf("onnxgraph: encoding the rewritten model: %w", err)
	}
	return out, &r.ex, nil
}

// rewriter holds one rewrite in progress.
type rewriter struct {
	m        *pb.ModelProto
	g        *pb.GraphProto
	opset    int64
	names    map[string]bool // every name in use
	producer map[string]*pb.NodeProto
	inits    map[string]*pb.TensorProto
	input    *pb.ValueInfoProto // the data input [batch, time, ...]
	ex       Exposed
	time     string          // a scalar int64 holding the input's time length, once made
	early    []*pb.NodeProto // new nodes that read only graph inputs and initializers: they go first
}

func newRewriter(m *pb.ModelProto) *rewriter {
	g := m.GetGraph()
	r := &rewriter{m: m, g: g, opset: 13, names: map[string]bool{}, producer: map[string]*pb.NodeProto{}, inits: map[string]*pb.TensorProto{}}
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			r.opset = o.GetVersion()
		}
	}
	for _, t := range g.GetInitializer() {
		r.inits[t.GetName()] = t
		r.names[t.GetName()] = true
	}
	for _, vi := range append(append([]*pb.ValueInfoProto{}, g.GetInput()...), g.GetOutput()...) {
		r.names[vi.GetName()] = true
	}
	walkNodes(g, func(n *pb.NodeProto) {
		for _, o := range n.GetOutput() {
			r.names[o] = true
		}
		r.names[n.GetName()] = true
	})
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			r.producer[o] = n
		}
	}
	for _, vi := range g.GetInput() {
		if r.inits[vi.GetName()] == nil && r.input == nil {
			r.input = vi
		}
	}
	return r
}

// walkNodes calls f on every node of g and of its subgraphs.
func walkNodes(g *pb.GraphProto, f func(*pb.NodeProto)) {
	for _, n := range g.GetNode() {
		f(n)
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil {
				walkNodes(a.GetG(), f)
			}
			for _, sg := range a.GetGraphs() {
				walkNodes(sg, f)
			}
		}
	}
}

// fresh returns an unused name built from base.
func (r *rewriter) fresh(base string) string {
	name := base
	for i := 1; r.names[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	r.names[name] = true
	return name
}

// relaxTime makes the data input's time dimension (axis 1) dynamic.
func (r *rewriter) relaxTime() error {
	if r.input == nil {
		return fmt.Errorf("%w: the graph has no input", ErrCannotExpose)
	}
	dims := r.input.GetType().GetTensorType().GetShape().GetDim()
	if len(dims) < 2 {
		return fmt.Errorf("%w: input %q has %d dimensions, not [batch, time, ...]", ErrCannotExpose, r.input.GetName(), len(dims))
	}
	t := dims[1].GetDimValue()
	if t <= 0 {
		return nil
	}
	r.ex.Window = int(t)
	dims[1].Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: "time"}
	for _, n := range r.g.GetNode() {
		if n.GetOpType() != "Reshape" || len(n.GetInput()) < 2 {
			continue
		}
		if c := r.inits[n.GetInput()[1]]; c != nil {
			if v, err := ints(c); err == nil && slices.Contains(v, t) {
				return fmt.Errorf("%w: Reshape node %q bakes the window %d into its shape %v", ErrCannotExpose, n.GetName(), t, v)
			}
		}
	}
	for _, o := range r.g.GetOutput() {
		if d := o.GetType().GetTensorType().GetShape().GetDim(); len(d) == 3 && d[1].GetDimValue() == t {
			d[1].Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: "time"}
		}
	}
	return nil
}

// exposeAll exposes the state of every recurrent node of the main graph, in order.
func (r *rewriter) exposeAll() error {
	nodes := append([]*pb.NodeProto{}, r.g.GetNode()...)
	found := false
	for _, n := range nodes {
		var err error
		switch n.GetOpType() {
		case "LSTM", "GRU", "RNN":
			found = true
			err = r.exposeRNN(n)
		case "Loop":
			found = true
			err = r.exposeLoop(n)
		case "Scan":
			err = fmt.Errorf("%w: node %q is a Scan, whose state rnnrun does not rewrite", ErrCannotExpose, n.GetName())
		}
		if err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("%w: the graph has no LSTM, GRU, RNN or Loop node", ErrCannotExpose)
	}
	return nil
}

// exposeRNN replaces the initial states of an LSTM, GRU or RNN node by new
// [batch, hidden] inputs and exposes its final states as outputs.
func (r *rewriter) exposeRNN(n *pb.NodeProto) error {
	what := fmt.Sprintf("%s node %q", n.GetOpType(), n.GetName())
	hidden := int64(0)
	for _, a := range n.GetAttribute() {
		switch a.GetName() {
		case "direction":
			if d := string(a.GetS()); d != "forward" {
				return fmt.Errorf("%w: %s runs %s: its state cannot be carried forward step by step", ErrCannotExpose, what, d)
			}
		case "hidden_size":
			hidden = a.GetI()
		case "layout":
			if a.GetI() != 0 {
				return fmt.Errorf("%w: %s uses layout %d (only 0, time-major, is rewritten)", ErrCannotExpose, what, a.GetI())
			}
		}
	}
	if hidden <= 0 {
		return fmt.Errorf("%w: %s has no hidden_size", ErrCannotExpose, what)
	}
	if in := n.GetInput(); len(in) > 4 && in[4] != "" {
		return fmt.Errorf("%w: %s has sequence_lens %q", ErrCannotExpose, what, in[4])
	}
	slots := map[string][]int{"LSTM": {5, 6}, "GRU": {5}, "RNN": {5}}[n.GetOpType()]
	for i, slot := range slots {
		if in := n.GetInput(); len(in) > slot && in[slot] != "" && !r.isZero(in[slot], 0) {
			return fmt.Errorf("%w: %s starts from state %q, which is not a constant zero", ErrCannotExpose, what, in[slot])
		}
		prefix := "h"
		if i == 1 {
			prefix = "c"
		}
		name := r.fresh(prefix + strconv.Itoa(len(r.ex.StateInputs)/len(slots)))
		r.addStateInput(name, hidden)
		for len(n.Input) <= slot {
			n.Input = append(n.Input, "")
		}
		n.Input[slot] = r.unsqueeze(name)
		outSlot := slot - 4
		for len(n.Output) <= outSlot {
			n.Output = append(n.Output, "")
		}
		if n.Output[outSlot] == "" {
			n.Output[outSlot] = r.fresh(n.GetName() + "_" + prefix + "_last")
		}
		r.addStateOutput(r.squeeze(n.Output[outSlot], name+"_out"), hidden)
		r.ex.StateInputs = append(r.ex.StateInputs, name)
		r.ex.StateSizes = append(r.ex.StateSizes, int(hidden))
	}
	return nil
}

// exposeLoop exposes the loop-carried float [batch, hidden] values of a Loop
// (the form tf2onnx writes for a Keras GRU cell) that start from zero, and
// makes its trip count the input's time length.
func (r *rewriter) exposeLoop(n *pb.NodeProto) error {
	what := fmt.Sprintf("Loop node %q", n.GetName())
	var body *pb.GraphProto
	for _, a := range n.GetAttribute() {
		if a.GetName() == "body" {
			body = a.GetG()
		}
	}
	in := n.GetInput()
	if body == nil || len(in) < 2 || len(body.GetInput()) != len(in) {
		return fmt.Errorf("%w: %s has no body matching its inputs", ErrCannotExpose, what)
	}
	exposed := 0
	for i := 2; i < len(in); i++ {
		tt := body.GetInput()[i].GetType().GetTensorType()
		dims := tt.GetShape().GetDim()
		if tt.GetElemType() != int32(pb.TensorProto_FLOAT) || in[i] == "" || r.inits[in[i]] != nil || !r.isZero(in[i], 0) {
			continue
		}
		if len(dims) != 2 || dims[1].GetDimValue() <= 0 {
			return fmt.Errorf("%w: %s carries %q from zero, but its shape is not [batch, hidden] with a known hidden size", ErrCannotExpose, what, in[i])
		}
		hidden := dims[1].GetDimValue()
		name := r.fresh("h" + strconv.Itoa(len(r.ex.StateInputs)))
		r.addStateInput(name, hidden)
		n.Input[i] = name
		k := i - 2 // its final value's position among the Loop's outputs
		for len(n.Output) <= k {
			n.Output = append(n.Output, "")
		}
		if n.Output[k] == "" {
			n.Output[k] = r.fresh(n.GetName() + "_state_last")
		}
		out := r.fresh(name + "_out")
		r.node("Identity", []string{n.Output[k]}, []string{out}, false)
		r.addStateOutput(out, hidden)
		r.ex.StateInputs = append(r.ex.StateInputs, name)
		r.ex.StateSizes = append(r.ex.StateSizes, int(hidden))
		exposed++
	}
	if exposed == 0 {
		return fmt.Errorf("%w: %s carries no float [batch, hidden] value that starts from zero", ErrCannotExpose, what)
	}
	return r.dynamicTrips(n, body, what)
}

// dynamicTrips makes a Loop whose trip count is a constant (the window it was
// exported for) run once per input time step, its condition always true.
func (r *rewriter) dynamicTrips(n *pb.NodeProto, body *pb.GraphProto, what string) error {
	if n.Input[0] == "" {
		return fmt.Errorf("%w: %s has no trip count: its length cannot follow the input", ErrCannotExpose, what)
	}
	c := r.inits[n.Input[0]]
	if c == nil {
		return nil // already dynamic
	}
	if v, err := ints(c); err != nil || len(v) != 1 || (r.ex.Window > 0 && v[0] != int64(r.ex.Window)) {
		return fmt.Errorf("%w: %s runs a constant %v times, not once per step of the input's %d", ErrCannotExpose, what, v, r.ex.Window)
	}
	n.Input[0] = r.timeLength()
	tr := r.fresh(n.GetName() + "_always")
	r.g.Initializer = append(r.g.Initializer, &pb.TensorProto{Name: proto.String(tr), DataType: proto.Int32(int32(pb.TensorProto_BOOL)), Int32Data: []int32{1}})
	n.Input[1] = tr
	cond := body.GetInput()[1].GetName()
	keep := r.fresh(cond + "_kept")
	body.Node = append(body.Node, &pb.NodeProto{OpType: proto.String("Identity"), Name: proto.String(r.fresh(keep)), Input: []string{cond}, Output: []string{keep}})
	body.Output[0].Name = proto.String(keep)
	return nil
}

// timeLength is a scalar int64 tensor: the data input's dimension 1.
func (r *rewriter) timeLength() string {
	if r.time != "" {
		return r.time
	}
	shape := r.fresh(r.input.GetName() + "_shape")
	r.node("Shape", []string{r.input.GetName()}, []string{shape}, true)
	one := r.fresh("time_axis")
	r.g.Initializer = append(r.g.Initializer, &pb.TensorProto{Name: proto.String(one), DataType: proto.Int32(int32(pb.TensorProto_INT64)), Int64Data: []int64{1}})
	r.time = r.fresh("time_length")
	r.node("Gather", []string{shape, one}, []string{r.time}, true)
	return r.time
}

// node adds a node to the main graph: among the early ones (before every
// existing node) when it reads only graph inputs and initializers, else last.
func (r *rewriter) node(op string, in, out []string, early bool) {
	r.add(&pb.NodeProto{OpType: proto.String(op), Name: proto.String(r.fresh(out[0] + "_" + op)), Input: in, Output: out}, early)
}

func (r *rewriter) add(n *pb.NodeProto, early bool) {
	if early {
		r.early = append(r.early, n)
		return
	}
	r.g.Node = append(r.g.Node, n)
}

// axes0 adds an Unsqueeze or Squeeze with the axes operand [0] (an input from
// opset 13, an attribute before); early as for node.
func (r *rewriter) axes0(op string, in, out string, early bool) {
	n := &pb.NodeProto{OpType: proto.String(op), Name: proto.String(r.fresh(out + "_" + op)), Input: []string{in}, Output: []string{out}}
	if r.opset >= 13 {
		axes := r.fresh(out + "_axes")
		r.g.Initializer = append(r.g.Initializer, &pb.TensorProto{Name: proto.String(axes), DataType: proto.Int32(int32(pb.TensorProto_INT64)), Dims: []int64{1}, Int64Data: []int64{0}})
		n.Input = append(n.Input, axes)
	} else {
		n.Attribute = []*pb.AttributeProto{{Name: proto.String("axes"), Type: pb.AttributeProto_INTS.Enum(), Ints: []int64{0}}}
	}
	r.add(n, early)
}

// unsqueeze returns name [batch, H] as [1, batch, H].
func (r *rewriter) unsqueeze(name string) string {
	out := r.fresh(name + "_3d")
	r.axes0("Unsqueeze", name, out, true) // name is a new graph input
	return out
}

// squeeze returns name [1, batch, H] as out [batch, H].
func (r *rewriter) squeeze(name, out string) string {
	out = r.fresh(out)
	r.axes0("Squeeze", name, out, false)
	return out
}

func stateType(hidden int64) *pb.TypeProto {
	return &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{
		ElemType: proto.Int32(int32(pb.TensorProto_FLOAT)),
		Shape: &pb.TensorShapeProto{Dim: []*pb.TensorShapeProto_Dimension{
			{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
			{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: hidden}},
		}},
	}}}
}

func (r *rewriter) addStateInput(name string, hidden int64) {
	r.g.Input = append(r.g.Input, &pb.ValueInfoProto{Name: proto.String(name), Type: stateType(hidden)})
}

func (r *rewriter) addStateOutput(name string, hidden int64) {
	r.g.Output = append(r.g.Output, &pb.ValueInfoProto{Name: proto.String(name), Type: stateType(hidden)})
	r.ex.StateOutputs = append(r.ex.StateOutputs, name)
}

// writeMetadata records the state for textgen in metadata_props.
func (r *rewriter) writeMetadata() {
	props := map[string]string{}
	for _, p := range r.m.GetMetadataProps() {
		props[p.GetKey()] = p.GetValue()
	}
	set := func(k, v string) {
		for _, p := range r.m.GetMetadataProps() {
			if p.GetKey() == k {
				p.Value = proto.String(v)
				return
			}
		}
		r.m.MetadataProps = append(r.m.MetadataProps, &pb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)})
	}
	in, _ := json.Marshal(r.ex.StateInputs)
	out, _ := json.Marshal(r.ex.StateOutputs)
	set("state_inputs", string(in))
	set("state_outputs", string(out))
	same := true
	for _, s := range r.ex.StateSizes {
		same = same && s == r.ex.StateSizes[0]
	}
	if same {
		set("state_size", strconv.Itoa(r.ex.StateSizes[0]))
	}
	if _, ok := props["window_length"]; !ok && r.ex.Window > 0 {
		set("window_length", strconv.Itoa(r.ex.Window))
	}
}
