//go:build cgo

package onnx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Enabled reports whether the ONNX Runtime backend is compiled in (it needs cgo).
const Enabled = true

func init() {
	model.Register(Open, "onnx", "ort")
	// "auto" falls back to ONNX Runtime for any ONNX file a more specific
	// backend (native) refuses; its own load reports what is wrong with the file.
	model.RegisterProbe("onnx", 10, func(string) error { return nil })
}

// Session is a loaded ONNX model. Run and Bind are safe for concurrent use.
type Session struct {
	path    string
	sess    *ort.DynamicAdvancedSession
	sig     model.Signature
	meta    map[string]string
	inNames []string
	outIdx  map[string]int

	closeOnce sync.Once
	closeErr  error
}

// Open loads an ONNX model file. It satisfies model.Opener.
func Open(ctx context.Context, path string, opts model.Options) (model.Backend, error) {
	return OpenSession(path, opts)
}

// OpenSession loads an ONNX model file (or opts.Data, the model in memory)
// into a Session.
func OpenSession(path string, opts model.Options) (*Session, error) {
	data := opts.Data
	if data == nil {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("%w: %v", model.ErrBadModel, err)
		}
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: model file %s is empty", model.ErrBadModel, path)
	}
	if err := ensureEnv(opts.LibraryPath); err != nil {
		return nil, err
	}
	return newSession(path, data, opts)
}

func newSession(path string, data []byte, opts model.Options) (*Session, error) {
	base := filepath.Base(path)
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	defer so.Destroy()
	threads := opts.Threads
	if threads <= 0 {
		threads = DefaultThreads
	}
	inter := opts.InterOpThreads
	if inter <= 0 {
		inter = 1
	}
	if err := so.SetIntraOpNumThreads(threads); err != nil {
		return nil, fmt.Errorf("onnx: intra-op threads: %w", err)
	}
	if err := so.SetInterOpNumThreads(inter); err != nil {
		return nil, fmt.Errorf("onnx: inter-op threads: %w", err)
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, loadError(base, err)
	}
	sig := model.Signature{Inputs: infos(ins), Outputs: infos(outs)}
	for _, t := range append(append([]model.TensorInfo{}, sig.Inputs...), sig.Outputs...) {
		if t.Type == model.Unknown {
			return nil, fmt.Errorf("%w: %s: tensor %q has an element type rnnrun does not support", model.ErrBadModel, base, t.Name)
		}
	}
	s := &Session{path: path, sig: sig, outIdx: map[string]int{}}
	for _, t := range sig.Inputs {
		s.inNames = append(s.inNames, t.Name)
	}
	outNames := make([]string, len(sig.Outputs))
	for i, t := range sig.Outputs {
		outNames[i] = t.Name
		s.outIdx[t.Name] = i
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(data, s.inNames, outNames, so)
	if err != nil {
		return nil, loadError(base, err)
	}
	s.sess = sess
	md, err := sess.GetModelMetadata()
	if err != nil {
		sess.Destroy()
		return nil, fmt.Errorf("%w: %s: reading metadata: %v", model.ErrBadModel, base, err)
	}
	defer md.Destroy()
	keys, err := md.GetCustomMetadataMapKeys()
	if err != nil {
		sess.Destroy()
		return nil, fmt.Errorf("%w: %s: reading metadata keys: %v", model.ErrBadModel, base, err)
	}
	s.meta = make(map[string]string, len(keys))
	for _, k := range keys {
		v, _, err := md.LookupCustomMetadataMap(k)
		if err != nil {
			sess.Destroy()
			return nil, fmt.Errorf("%w: %s: metadata key %q: %v", model.ErrBadModel, base, k, err)
		}
		s.meta[k] = v
	}
	return s, nil
}

// loadError explains why ONNX Runtime refused a model file.
func loadError(base string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "layout == 1") || strings.Contains(msg, "Batchwise recurrent"):
		return fmt.Errorf("%w: %s uses batch-major recurrent ops (layout=1), which ONNX Runtime's CPU provider does not support; export with layout=0 (time-major): %v", model.ErrBadModel, base, err)
	case strings.Contains(msg, "Protobuf parsing failed") || strings.Contains(msg, "protobuf") || strings.Contains(msg, "INVALID_PROTOBUF"):
		return fmt.Errorf("%w: %s is not an ONNX model (or is truncated): %v", model.ErrBadModel, base, err)
	}
	return fmt.Errorf("%w: %s cannot be loaded by ONNX Runtime: %v", model.ErrBadModel, base, err)
}

func infos(list []ort.InputOutputInfo) []model.TensorInfo {
	out := make([]model.TensorInfo, len(list))
	for i, io := range list {
		t := model.TensorInfo{Name: io.Name, Type: dtype(io.DataType)}
		if io.OrtValueType != ort.ONNXTypeTensor {
			t.Type = model.Unknown
		}
		t.Shape = append(model.Shape{}, io.Dimensions...)
		out[i] = t
	}
	return out
}

func dtype(t ort.TensorElementDataType) model.DType { return model.DTypeFromONNX(int32(t)) }

// Signature lists the inputs and outputs.
func (s *Session) Signature() model.Signature { return s.sig }

// Metadata returns the ONNX metadata_props.
func (s *Session) Metadata() map[string]string { return s.meta }

// value wraps a tensor's Go memory in an ORT value (no copy).
func value(t *model.Tensor) (ort.Value, error) {
	if len(t.Shape) == 0 {
		return scalar(t)
	}
	shape := ort.NewShape(t.Shape...)
	switch d := t.Data.(type) {
	case []float32:
		return ort.NewTensor(shape, d)
	case []float64:
		return ort.NewTensor(shape, d)
	case []int32:
		return ort.NewTensor(shape, d)
	case []int64:
		return ort.NewTensor(shape, d)
	case []uint8:
		return ort.NewTensor(shape, d)
	case []int8:
		return ort.NewTensor(shape, d)
	case []bool:
		return ort.NewTensor(shape, d)
	}
	return nil, fmt.Errorf("%w: unsupported tensor data %T", model.ErrBadInput, t.Data)
}

// scalar wraps a rank-0 tensor, which onnxruntime_go holds as a Scalar (a copy).
func scalar(t *model.Tensor) (ort.Value, error) {
	if t.Len() != 1 {
		return nil, fmt.Errorf("%w: a rank-0 tensor needs exactly 1 element, has %d", model.ErrBadInput, t.Len())
	}
	switch d := t.Data.(type) {
	case []float32:
		return ort.NewScalar(d[0])
	case []float64:
		return ort.NewScalar(d[0])
	case []int32:
		return ort.NewScalar(d[0])
	case []int64:
		return ort.NewScalar(d[0])
	case []uint8:
		return ort.NewScalar(d[0])
	case []int8:
		return ort.NewScalar(d[0])
	case []bool:
		return ort.NewScalar(d[0])
	}
	return nil, fmt.Errorf("%w: unsupported tensor data %T", model.ErrBadInput, t.Data)
}

// tensor turns an ORT output value into a model.Tensor sharing its Go memory.
func tensor(v ort.Value) (*model.Tensor, error) {
	shape := model.Shape(append([]int64{}, v.GetShape()...))
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		return &model.Tensor{Shape: shape, Data: t.GetData()}, nil
	case *ort.Tensor[float64]:
		return &model.Tensor{Shape: shape, Data: t.GetData()}, nil
	case *ort.Tensor[int32]:
		return &model.Tensor{Shape: shape, Data: t.GetData()}, nil
	case *ort.Tensor[int64]:
		return &model.Tensor{Shape: shape, Data: t.GetData()}, nil
	case *ort.Tensor[uint8]:
		return &model.Tensor{Shape: shape, Data: t.GetData()}, nil
	case *ort.Tensor[int8]:
		return &model.Tensor{Shape: shape, Data: t.GetData()}, nil
	case *ort.Tensor[bool]:
		return &model.Tensor{Shape: shape, Data: t.GetData()}, nil
	}
	return nil, fmt.Errorf("onnx: unsupported output value %T", v)
}

func destroyAll(vs []ort.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}

// Run feeds every input by name and returns every output by name. Cancelling
// ctx terminates a running call.
func (s *Session) Run(ctx context.Context, inputs map[string]*model.Tensor) (map[string]*model.Tensor, error) {
	ins := make([]ort.Value, len(s.inNames))
	defer destroyAll(ins)
	for i, name := range s.inNames {
		t, ok := inputs[name]
		if !ok {
			return nil, fmt.Errorf("%w: missing input %q", model.ErrBadInput, name)
		}
		v, err := value(t)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", name, err)
		}
		ins[i] = v
	}
	outs := make([]ort.Value, len(s.sig.Outputs))
	defer destroyAll(outs)
	opts, err := ort.NewRunOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx: run options: %w", err)
	}
	defer opts.Destroy()
	stop := context.AfterFunc(ctx, func() { opts.Terminate() })
	err = s.sess.RunWithOptions(ins, outs, opts)
	stop()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, fmt.Errorf("%s: %w", filepath.Base(s.path), err)
	}
	result := make(map[string]*model.Tensor, len(outs))
	for i, v := range outs {
		t, err := tensor(v)
		if err != nil {
			return nil, err
		}
		result[s.sig.Outputs[i].Name] = t
	}
	return result, nil
}

// Bind prepares an ORT IoBinding over the tensors' memory: each Run reads the
// inputs and writes the outputs in place with no Go allocation.
func (s *Session) Bind(inputs, outputs map[string]*model.Tensor) (model.Binding, error) {
	io, err := s.sess.CreateIoBinding()
	if err != nil {
		return nil, fmt.Errorf("onnx: io binding: %w", err)
	}
	b := &binding{s: s, io: io}
	bindAll := func(tensors map[string]*model.Tensor, bind func(string, ort.Value) error) error {
		for name, t := range tensors {
			v, err := value(t)
			if err != nil {
				return fmt.Errorf("%q: %w", name, err)
			}
			b.values = append(b.values, v)
			if err := bind(name, v); err != nil {
				return fmt.Errorf("binding %q: %w", name, err)
			}
		}
		return nil
	}
	if err := bindAll(inputs, io.BindInput); err != nil {
		b.Close()
		return nil, err
	}
	if err := bindAll(outputs, io.BindOutput); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

type binding struct {
	s      *Session
	io     *ort.IoBinding
	values []ort.Value
}

func (b *binding) Run(ctx context.Context) error {
	if err := b.s.sess.RunWithBinding(b.io); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(b.s.path), err)
	}
	return nil
}

func (b *binding) Close() error {
	var errs []error
	if b.io != nil {
		errs = append(errs, b.io.Destroy())
		b.io = nil
	}
	for _, v := range b.values {
		errs = append(errs, v.Destroy())
	}
	b.values = nil
	return errors.Join(errs...)
}

// Close destroys the ORT session; the process-wide environment stays.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.sess.Destroy()
	})
	return s.closeErr
}
