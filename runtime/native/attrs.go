package native

import (
	"strings"

	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// attrs reads a node's attributes and remembers which ones the op builder
// looked at: any other attribute is refused at load (leftover).
type attrs struct {
	m    map[string]*onnxpb.AttributeProto
	used map[string]bool
	bad  string // first attribute read with the wrong type
}

func newAttrs(np *onnxpb.NodeProto) *attrs {
	a := &attrs{m: map[string]*onnxpb.AttributeProto{}, used: map[string]bool{}}
	for _, at := range np.GetAttribute() {
		a.m[at.GetName()] = at
	}
	return a
}

func (a *attrs) get(name string, typ onnxpb.AttributeProto_AttributeType) *onnxpb.AttributeProto {
	at, ok := a.m[name]
	if !ok {
		return nil
	}
	a.used[name] = true
	if at.GetRefAttrName() != "" || (at.GetType() != typ && at.GetType() != onnxpb.AttributeProto_UNDEFINED) {
		if a.bad == "" {
			a.bad = name
		}
		return nil
	}
	return at
}

func (a *attrs) has(name string) bool { _, ok := a.m[name]; return ok }

func (a *attrs) int(name string, def int64) int64 {
	if at := a.get(name, onnxpb.AttributeProto_INT); at != nil {
		return at.GetI()
	}
	return def
}

func (a *attrs) float(name string, def float32) float32 {
	if at := a.get(name, onnxpb.AttributeProto_FLOAT); at != nil {
		return at.GetF()
	}
	return def
}

func (a *attrs) str(name, def string) string {
	if at := a.get(name, onnxpb.AttributeProto_STRING); at != nil {
		return string(at.GetS())
	}
	return def
}

// ints returns an INTS attribute and whether it was present.
func (a *attrs) ints(name string) ([]int64, bool) {
	if at := a.get(name, onnxpb.AttributeProto_INTS); at != nil {
		return at.GetInts(), true
	}
	return nil, false
}

func (a *attrs) floats(name string) ([]float32, bool) {
	if at := a.get(name, onnxpb.AttributeProto_FLOATS); at != nil {
		return at.GetFloats(), true
	}
	return nil, false
}

func (a *attrs) strs(name string) ([]string, bool) {
	at := a.get(name, onnxpb.AttributeProto_STRINGS)
	if at == nil {
		return nil, false
	}
	out := make([]string, len(at.GetStrings()))
	for k, s := range at.GetStrings() {
		out[k] = string(s)
	}
	return out, true
}

func (a *attrs) tensor(name string) *onnxpb.TensorProto {
	if at := a.get(name, onnxpb.AttributeProto_TENSOR); at != nil {
		return at.GetT()
	}
	return nil
}

func (a *attrs) graph(name string) *onnxpb.GraphProto {
	if at := a.get(name, onnxpb.AttributeProto_GRAPH); at != nil {
		return at.GetG()
	}
	return nil
}

// ignore marks attributes that do not change the result (e.g. Dropout's seed).
func (a *attrs) ignore(names ...string) {
	for _, n := range names {
		a.used[n] = true
	}
}

// leftover refuses the first attribute no one read, or one of the wrong type.
func (a *attrs) leftover(c *nodeCtx) error {
	if a.bad != "" {
		return c.unsupportedAttr(a.bad, "has type %s, or refers to a function attribute; this is not supported",
			strings.ToLower(a.m[a.bad].GetType().String()))
	}
	for _, at := range c.np.GetAttribute() {
		if !a.used[at.GetName()] {
			return c.unsupportedAttr(at.GetName(), "this attribute of %s is not implemented", c.np.GetOpType())
		}
	}
	return nil
}
