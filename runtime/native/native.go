// Package native is rnnrun's own engine for recurrent ONNX graphs, in pure Go
// (no cgo): it reads the file with protobuf types generated from onnx.proto,
// plans the graph once (topological order, weights laid out for the kernels,
// buffers reused from call to call) and runs it with the kernels of
// runtime/native/kernel. It supports the ops recurrent models are made of
// (see Ops and docs/native.md) and refuses any other op, attribute or input
// at load, naming the node. Importing it registers the backend "native".
package native

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/rnnrun/rnnrun/runtime/model"
)

func init() {
	model.Register(Open, "native")
	// "auto" prefers native for every ONNX file it supports whole.
	model.RegisterProbe("native", 20, Check)
}

// Session is a loaded model. Run and Bind are safe for concurrent use.
type Session struct {
	base   string
	l      *loaded
	frames sync.Pool
}

// Open loads an ONNX model file (or opts.Data, the model in memory). It
// satisfies model.Opener; the thread options are not used (the engine runs
// each call on the calling goroutine).
func Open(ctx context.Context, path string, opts model.Options) (model.Backend, error) {
	if opts.Data != nil {
		return openData(path, opts.Data)
	}
	return OpenSession(path)
}

// OpenSession loads and plans an ONNX model file.
func OpenSession(path string) (*Session, error) {
	data, err := readModel(path)
	if err != nil {
		return nil, err
	}
	return openData(path, data)
}

// openData plans the ONNX model in data, named path.
func openData(path string, data []byte) (*Session, error) {
	l, err := loadData(path, data)
	if err != nil {
		return nil, err
	}
	s := &Session{base: filepath.Base(path), l: l}
	s.frames.New = func() any { return newFrame(l.g) }
	return s, nil
}

// Check reports whether the native backend can run the model at path: nil if
// it supports every node, else the load error, which wraps ErrUnsupported
// (naming the first node, op and attribute it does not support) when ONNX
// Runtime may still run the model.
func Check(path string) error {
	data, err := readModel(path)
	if err == nil {
		_, err = loadData(path, data)
	}
	return err
}

// Signature lists the inputs and outputs.
func (s *Session) Signature() model.Signature { return s.l.sig }

// Metadata returns the ONNX metadata_props.
func (s *Session) Metadata() map[string]string { return s.l.meta }

// Close releases nothing the garbage collector does not; it exists for model.Backend.
func (s *Session) Close() error { return nil }

// Run feeds every input by name and returns every output by name.
func (s *Session) Run(ctx context.Context, inputs map[string]*model.Tensor) (map[string]*model.Tensor, error) {
	if err := s.l.sig.CheckInputs(inputs); err != nil {
		return nil, fmt.Errorf("%s: %w", s.base, err)
	}
	f := s.frames.Get().(*frame)
	defer s.frames.Put(f)
	for _, in := range s.l.g.inputs {
		if err := setInput(&f.vals[in.index], in.name, inputs[in.name]); err != nil {
			return nil, fmt.Errorf("%s: %w", s.base, err)
		}
	}
	if err := f.exec(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", s.base, err)
	}
	out := make(map[string]*model.Tensor, len(s.l.g.outputs))
	for _, o := range s.l.g.outputs {
		t, err := newOutput(&f.vals[o.index], o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.base, err)
		}
		out[o.name] = t
	}
	return out, nil
}

// Bind prepares a call over fixed tensors: each Run reads the inputs' Data
// and writes the outputs' Data in place, with no allocation once the first
// call has sized the buffers.
func (s *Session) Bind(inputs, outputs map[string]*model.Tensor) (model.Binding, error) {
	if err := s.l.sig.CheckInputs(inputs); err != nil {
		return nil, fmt.Errorf("%s: %w", s.base, err)
	}
	b := &binding{s: s, f: newFrame(s.l.g)}
	for _, in := range s.l.g.inputs {
		b.ins = append(b.ins, bound{slot: in, t: inputs[in.name]})
	}
	for name, t := range outputs {
		o, ok := s.output(name)
		if !ok {
			return nil, fmt.Errorf("%w: %s: unknown output %q", model.ErrBadInput, s.base, name)
		}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %s: output %q: %v", model.ErrBadInput, s.base, name, err)
		}
		b.outs = append(b.outs, bound{slot: o, t: t})
	}
	return b, nil
}

func (s *Session) output(name string) (slot, bool) {
	for _, o := range s.l.g.outputs {
		if o.name == name {
			return o, true
		}
	}
	return slot{}, false
}

type bound struct {
	slot slot
	t    *model.Tensor
}

type binding struct {
	s    *Session
	f    *frame
	ins  []bound
	outs []bound
}

func (b *binding) Run(ctx context.Context) error {
	for _, in := range b.ins {
		if err := checkInput(in.slot.info, in.t); err != nil {
			return fmt.Errorf("%s: %w", b.s.base, err)
		}
		if err := setInput(&b.f.vals[in.slot.index], in.slot.name, in.t); err != nil {
			return fmt.Errorf("%s: %w", b.s.base, err)
		}
	}
	if err := b.f.exec(ctx); err != nil {
		return fmt.Errorf("%s: %w", b.s.base, err)
	}
	for _, o := range b.outs {
		if err := copyOutput(o.t, &b.f.vals[o.slot.index], o.slot); err != nil {
			return fmt.Errorf("%s: %w", b.s.base, err)
		}
	}
	return nil
}

func (b *binding) Close() error { return nil }

// checkInput is Signature.CheckInputs for one tensor, allocating nothing unless it fails.
func checkInput(info model.TensorInfo, t *model.Tensor) error {
	if t.DType() != info.Type && info.Type != model.Unknown {
		return fmt.Errorf("%w: input %q: element type %s, model wants %s", model.ErrBadInput, info.Name, t.DType(), info.Type)
	}
	if len(info.Shape) > 0 && len(t.Shape) != len(info.Shape) {
		return fmt.Errorf("%w: input %q: shape %v has rank %d, model wants %v", model.ErrBadInput, info.Name, t.Shape, len(t.Shape), info.Shape)
	}
	for k, d := range info.Shape {
		if d >= 0 && t.Shape[k] != d {
			return fmt.Errorf("%w: input %q: shape %v, model wants %v", model.ErrBadInput, info.Name, t.Shape, info.Shape)
		}
	}
	if n := t.Shape.Size(); n < 0 || int64(t.Len()) != n {
		return fmt.Errorf("%w: input %q: shape %v needs %d elements, data has %d", model.ErrBadInput, info.Name, t.Shape, n, t.Len())
	}
	return nil
}

// setInput points v at a caller's tensor (int32 data is widened into v's buffer).
func setInput(v *value, name string, t *model.Tensor) error {
	if len(t.Shape) > maxRank {
		return fmt.Errorf("%w: input %q has rank %d, above the limit of %d", model.ErrBadInput, name, len(t.Shape), maxRank)
	}
	var dims [maxRank]int
	for k, d := range t.Shape {
		dims[k] = int(d)
	}
	shape := dims[:len(t.Shape)]
	switch d := t.Data.(type) {
	case []float32:
		v.alias(&value{et: f32, f: d}, shape)
	case []int64:
		v.alias(&value{et: i64, i: d}, shape)
	case []bool:
		v.alias(&value{et: boolean, b: d}, shape)
	case []int32:
		dst := v.ints(shape)
		for k, x := range d {
			dst[k] = int64(x)
		}
	default:
		return fmt.Errorf("%w: input %q has element type %s; the native backend takes float32, int64, int32 and bool", model.ErrBadInput, name, t.DType())
	}
	return nil
}

// newOutput copies an output value into a new tensor of the declared type.
func newOutput(v *value, o slot) (*model.Tensor, error) {
	shape := make(model.Shape, v.rank())
	for k, d := range v.shape {
		shape[k] = int64(d)
	}
	t := &model.Tensor{Shape: shape}
	switch dtypeFor(v, o.info.Type) {
	case model.Float32:
		t.Data = make([]float32, v.size())
	case model.Int64:
		t.Data = make([]int64, v.size())
	case model.Int32:
		t.Data = make([]int32, v.size())
	case model.Bool:
		t.Data = make([]bool, v.size())
	default:
		return nil, fmt.Errorf("output %q was not computed", o.name)
	}
	return t, copyOutput(t, v, o)
}

// dtypeFor is the type an output is handed out as: the declared one, else the value's.
func dtypeFor(v *value, declared model.DType) model.DType {
	if declared == model.Int32 && v.et == i64 {
		return model.Int32
	}
	switch v.et {
	case f32:
		return model.Float32
	case i64:
		return model.Int64
	case boolean:
		return model.Bool
	}
	return model.Unknown
}

// copyOutput writes an output value into the caller's tensor of the same shape.
func copyOutput(t *model.Tensor, v *value, o slot) error {
	if v.et == noElem {
		return fmt.Errorf("output %q was not computed", o.name)
	}
	same := len(t.Shape) == v.rank()
	for k := 0; same && k < v.rank(); k++ {
		same = t.Shape[k] == int64(v.shape[k])
	}
	if !same {
		return fmt.Errorf("%w: output %q is bound with shape %v, the model produced %v", model.ErrBadInput, o.name, t.Shape, v.shape)
	}
	ok := false
	switch d := t.Data.(type) {
	case []float32:
		ok = v.et == f32 && copy(d, v.f) == len(d)
	case []int64:
		ok = v.et == i64 && copy(d, v.i) == len(d)
	case []bool:
		ok = v.et == boolean && copy(d, v.b) == len(d)
	case []int32:
		if ok = v.et == i64 && len(d) == len(v.i); ok {
			for k, x := range v.i {
				d[k] = int32(x)
			}
		}
	}
	if !ok {
		return fmt.Errorf("%w: output %q is bound as %s%v, the model produced %s%v", model.ErrBadInput, o.name, t.DType(), t.Shape, v.et, v.shape)
	}
	return nil
}
