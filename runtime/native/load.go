package native

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// Opsets of the default domain the native backend reads: 7 (ONNX 1.2) to 21.
const (
	MinOpset = 7
	MaxOpset = 21
)

// loaded is a parsed model: its plan, signature and metadata.
type loaded struct {
	g    *graph
	sig  model.Signature
	meta map[string]string
}

// readModel reads the ONNX file at path.
func readModel(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", model.ErrBadModel, err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: model file %s is empty", model.ErrBadModel, path)
	}
	return data, nil
}

// loadData plans the ONNX model in data, read from path.
func loadData(path string, data []byte) (*loaded, error) {
	base := filepath.Base(path)
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s is not an ONNX model (or is truncated): %v", model.ErrBadModel, base, err)
	}
	if m.GetGraph() == nil {
		return nil, fmt.Errorf("%w: %s is not an ONNX model: it has no graph", model.ErrBadModel, base)
	}
	opset, err := defaultOpset(base, &m)
	if err != nil {
		return nil, err
	}
	b := &builder{base: base, opset: opset}
	g, err := b.graph(m.GetGraph(), nil, nil)
	if err != nil {
		return nil, err
	}
	l := &loaded{g: g, meta: map[string]string{}}
	for _, s := range g.inputs {
		l.sig.Inputs = append(l.sig.Inputs, s.info)
	}
	for _, s := range g.outputs {
		l.sig.Outputs = append(l.sig.Outputs, s.info)
	}
	for _, p := range m.GetMetadataProps() {
		l.meta[p.GetKey()] = p.GetValue()
	}
	return l, nil
}

// defaultOpset checks the opset imports: the default domain within
// MinOpset..MaxOpset; other domains are refused where a node uses them.
func defaultOpset(base string, m *onnxpb.ModelProto) (int64, error) {
	var opset int64 = -1
	for _, o := range m.GetOpsetImport() {
		if d := o.GetDomain(); d == "" || d == "ai.onnx" {
			opset = o.GetVersion()
		}
	}
	switch {
	case opset < 0:
		return 0, fmt.Errorf("%w: %s imports no opset of the default ONNX domain", model.ErrBadModel, base)
	case opset < MinOpset || opset > MaxOpset:
		return 0, unsupported(base, "the model uses ONNX opset %d; the native backend reads opsets %d to %d", opset, MinOpset, MaxOpset)
	}
	return opset, nil
}

// builder turns a GraphProto into a plan. Subgraphs (Loop bodies) get a
// builder whose parent resolves the outer names they read.
type builder struct {
	base   string
	opset  int64
	parent *scope
}

// scope is the name table of one graph under construction.
type scope struct {
	b      *builder
	g      *graph
	index  map[string]int
	parent *scope
}

func (s *scope) newSlot(name string) int {
	k := s.g.nvals
	s.g.nvals++
	s.g.names = append(s.g.names, name)
	s.index[name] = k
	return k
}

// lookup finds a name here or in an enclosing graph (capturing it).
func (s *scope) lookup(name string) (int, bool) {
	if k, ok := s.index[name]; ok {
		return k, true
	}
	if s.parent == nil {
		return 0, false
	}
	outer, ok := s.parent.lookup(name)
	if !ok {
		return 0, false
	}
	k := s.newSlot(name)
	if c, isConst := s.parent.g.consts[outer]; isConst {
		s.g.consts[k] = c
	} else {
		s.g.captures = append(s.g.captures, capture{outer: outer, inner: k})
	}
	return k, true
}

// constant returns the load-time value of a slot, or nil.
func (s *scope) constant(k int) *value {
	if k < 0 {
		return nil
	}
	return s.g.consts[k]
}

func (b *builder) fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", model.ErrBadModel, b.base, fmt.Sprintf(format, args...))
}

// graph plans gp; parent is the enclosing scope for a subgraph, and preset
// binds some of its inputs to load-time constants (a Loop's unchanging values).
func (b *builder) graph(gp *onnxpb.GraphProto, parent *scope, preset map[string]*value) (*graph, error) {
	s := &scope{b: b, g: &graph{consts: map[int]*value{}}, index: map[string]int{}, parent: parent}
	for _, tp := range gp.GetInitializer() {
		if err := s.addConst(tp.GetName(), tp); err != nil {
			return nil, err
		}
	}
	if len(gp.GetSparseInitializer()) > 0 {
		return nil, unsupported(b.base, "sparse initializers")
	}
	for _, vi := range gp.GetInput() {
		if _, isInit := s.index[vi.GetName()]; isInit {
			continue // an initializer listed as an input (IR < 4): a constant
		}
		info, err := b.tensorInfo(vi)
		if err != nil {
			return nil, err
		}
		k := s.newSlot(vi.GetName())
		if c, ok := preset[vi.GetName()]; ok {
			s.g.consts[k] = c
		}
		s.g.inputs = append(s.g.inputs, slot{name: vi.GetName(), index: k, info: info})
	}
	if err := s.schedule(gp.GetNode()); err != nil {
		return nil, err
	}
	for _, vi := range gp.GetOutput() {
		k, ok := s.lookup(vi.GetName())
		if !ok {
			return nil, b.fail("graph output %q is produced by no node", vi.GetName())
		}
		info, err := b.tensorInfo(vi)
		if err != nil {
			return nil, err
		}
		s.g.outputs = append(s.g.outputs, slot{name: vi.GetName(), index: k, info: info})
	}
	return s.g, nil
}

func (s *scope) addConst(name string, tp *onnxpb.TensorProto) error {
	t, err := TensorFromProto(tp)
	if err != nil {
		if strings.Contains(err.Error(), "external file") || strings.Contains(err.Error(), "not support") {
			return unsupported(s.b.base, "%v", err)
		}
		return s.b.fail("%v", err)
	}
	v, err := constValue(t)
	if err != nil {
		return unsupported(s.b.base, "tensor %q: %v", name, err)
	}
	s.g.consts[s.newSlot(name)] = v
	return nil
}

// tensorInfo reads a graph input's or output's type.
func (b *builder) tensorInfo(vi *onnxpb.ValueInfoProto) (model.TensorInfo, error) {
	info := model.TensorInfo{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		if vi.GetType() == nil {
			return info, nil // untyped (allowed in subgraphs)
		}
		return info, unsupported(b.base, "%q is not a tensor (sequences, maps and optionals are not supported)", vi.GetName())
	}
	info.Type = modelDType(tt.GetElemType())
	if _, ok := elemOf(tt.GetElemType()); !ok && tt.GetElemType() != 0 {
		return info, unsupported(b.base, "tensor %q has element type %s (float32, int64, int32 and bool are supported)",
			vi.GetName(), dataTypeName(tt.GetElemType()))
	}
	if tt.GetShape() != nil {
		info.Shape = model.Shape{}
		for _, d := range tt.GetShape().GetDim() {
			if dv, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
				info.Shape = append(info.Shape, dv.DimValue)
			} else {
				info.Shape = append(info.Shape, -1)
			}
		}
		if len(info.Shape) > maxRank {
			return info, unsupported(b.base, "tensor %q has rank %d, above the limit of %d", vi.GetName(), len(info.Shape), maxRank)
		}
	}
	return info, nil
}

// schedule orders the nodes topologically (ONNX files are usually in order
// already) and builds each node's op.
func (s *scope) schedule(nodes []*onnxpb.NodeProto) error {
	done := make([]bool, len(nodes))
	for left := len(nodes); left > 0; {
		progress := false
		for k, np := range nodes {
			if done[k] || !s.ready(np) {
				continue
			}
			if err := s.addNode(np); err != nil {
				return err
			}
			done[k], progress = true, true
			left--
		}
		if !progress {
			for k, np := range nodes {
				if !done[k] {
					return s.b.fail("node %q (%s) reads %q, which no node, input or initializer produces (or the graph has a cycle)",
						np.GetName(), np.GetOpType(), s.missing(np))
				}
			}
		}
	}
	return nil
}

func (s *scope) ready(np *onnxpb.NodeProto) bool { return s.missing(np) == "" }

// missing names the first input of np not yet defined ("" when all are).
func (s *scope) missing(np *onnxpb.NodeProto) string {
	for _, in := range np.GetInput() {
		if in == "" {
			continue
		}
		if _, ok := s.lookup(in); !ok {
			return in
		}
	}
	for _, a := range np.GetAttribute() {
		if a.GetG() != nil {
			if name := s.outerNeed(a.GetG()); name != "" {
				return name
			}
		}
	}
	return ""
}

// outerNeed names an outer value a subgraph reads that is not defined yet.
func (s *scope) outerNeed(gp *onnxpb.GraphProto) string {
	local := map[string]bool{}
	for _, t := range gp.GetInitializer() {
		local[t.GetName()] = true
	}
	for _, vi := range gp.GetInput() {
		local[vi.GetName()] = true
	}
	for _, n := range gp.GetNode() {
		for _, o := range n.GetOutput() {
			local[o] = true
		}
	}
	for _, n := range gp.GetNode() {
		for _, in := range n.GetInput() {
			if in != "" && !local[in] {
				if _, ok := s.lookup(in); !ok {
					return in
				}
			}
		}
	}
	return ""
}

func (s *scope) addNode(np *onnxpb.NodeProto) error {
	name := np.GetName()
	for _, o := range np.GetOutput() {
		if name == "" {
			name = o // unnamed nodes go by their first output
		}
	}
	c := &nodeCtx{s: s, np: np, name: name, attrs: newAttrs(np)}
	if d := np.GetDomain(); d != "" && d != "ai.onnx" {
		return c.unsupported("the operator domain %q is not supported (only the default ONNX domain is)", d)
	}
	build, ok := builders[np.GetOpType()]
	if !ok {
		return c.unsupported("the operator is not implemented")
	}
	n := &node{name: name, opType: np.GetOpType(), slot: len(s.g.nodes)}
	for _, in := range np.GetInput() {
		k := -1
		if in != "" {
			k, _ = s.lookup(in)
		}
		n.in = append(n.in, k)
	}
	c.n = n
	o, err := build(c)
	if err != nil {
		return err
	}
	if err := c.attrs.leftover(c); err != nil {
		return err
	}
	if o == nil { // folded into a constant at load (Constant)
		return nil
	}
	for _, out := range np.GetOutput() {
		k := -1
		if out != "" {
			k = s.newSlot(out)
		}
		n.out = append(n.out, k)
	}
	n.op = o
	s.g.nodes = append(s.g.nodes, n)
	return nil
}

// nodeCtx is what an op builder sees of its node.
type nodeCtx struct {
	s     *scope
	np    *onnxpb.NodeProto
	n     *node
	name  string
	attrs *attrs
}

func (c *nodeCtx) opset() int64 { return c.s.b.opset }

// numIn is the number of inputs the node lists (omitted ones included).
func (c *nodeCtx) numIn() int { return len(c.n.in) }

// has reports whether input k is given.
func (c *nodeCtx) has(k int) bool { return k < len(c.n.in) && c.n.in[k] >= 0 }

// constant returns input k's load-time value, or nil.
func (c *nodeCtx) constant(k int) *value {
	if !c.has(k) {
		return nil
	}
	return c.s.constant(c.n.in[k])
}

func (c *nodeCtx) where() string {
	return fmt.Sprintf("%s: node %q (%s)", c.s.b.base, c.name, c.np.GetOpType())
}

// unsupported refuses the node: the error names the file, node and op.
func (c *nodeCtx) unsupported(format string, args ...any) error {
	return c.unsupportedAttr("", format, args...)
}

// unsupportedAttr refuses an attribute (or its value).
func (c *nodeCtx) unsupportedAttr(attr, format string, args ...any) error {
	return &UnsupportedError{File: c.s.b.base, Node: c.name, Op: c.np.GetOpType(), Attr: attr, Reason: fmt.Sprintf(format, args...)}
}

// invalid reports a malformed node.
func (c *nodeCtx) invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", model.ErrBadModel, c.where(), fmt.Sprintf(format, args...))
}

// inputs checks the node has between lo and hi inputs (hi < 0: any number).
func (c *nodeCtx) inputs(lo, hi int) error {
	n := c.numIn()
	if n < lo || (hi >= 0 && n > hi) {
		if hi >= 0 && n > hi {
			return c.unsupported("input %d (of %d) is not supported; at most %d are", hi, n, hi)
		}
		return c.invalid("has %d inputs, needs at least %d", n, lo)
	}
	for k := 0; k < lo; k++ {
		if !c.has(k) {
			return c.invalid("input %d is required", k)
		}
	}
	return nil
}
