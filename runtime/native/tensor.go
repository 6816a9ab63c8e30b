package native

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// maxRank bounds the rank of every tensor the engine handles, so index
// arithmetic runs on fixed arrays and allocates nothing.
const maxRank = 8

// elem is the element type of a value inside the engine: float32 for
// compute, int64 for shapes and indices (int32 tensors are widened), bool for
// masks and loop conditions.
type elem uint8

const (
	noElem elem = iota
	f32
	i64
	boolean
)

func (e elem) String() string {
	switch e {
	case f32:
		return "float32"
	case i64:
		return "int64"
	case boolean:
		return "bool"
	}
	return "none"
}

// value is one tensor of a running graph. f, i and b are views: an op either
// writes into the value's own buffers (fbuf, ibuf, bbuf, reused from call to
// call) or points a view at an input's data (Reshape, Squeeze, ...).
type value struct {
	et    elem
	shape []int
	f     []float32
	i     []int64
	b     []bool

	fbuf  []float32
	ibuf  []int64
	bbuf  []bool
	shbuf [maxRank]int
}

func (v *value) size() int {
	n := 1
	for _, d := range v.shape {
		n *= d
	}
	return n
}

func (v *value) rank() int { return len(v.shape) }

// setShape copies dims into the value's own shape storage.
func (v *value) setShape(dims []int) {
	v.shape = append(v.shbuf[:0], dims...)
}

// floats makes v a float32 tensor of the given shape in its own buffer.
func (v *value) floats(dims []int) []float32 {
	v.setShape(dims)
	v.et, v.f, v.i, v.b = f32, grow(&v.fbuf, v.size()), nil, nil
	return v.f
}

// ints makes v an int64 tensor of the given shape in its own buffer.
func (v *value) ints(dims []int) []int64 {
	v.setShape(dims)
	v.et, v.f, v.i, v.b = i64, nil, grow(&v.ibuf, v.size()), nil
	return v.i
}

// bools makes v a bool tensor of the given shape in its own buffer.
func (v *value) bools(dims []int) []bool {
	v.setShape(dims)
	v.et, v.f, v.i, v.b = boolean, nil, nil, grow(&v.bbuf, v.size())
	return v.b
}

// like gives v src's element type and the given shape, in v's own buffers.
func (v *value) like(src *value, dims []int) {
	switch src.et {
	case f32:
		v.floats(dims)
	case i64:
		v.ints(dims)
	case boolean:
		v.bools(dims)
	}
}

// alias points v at src's data with another shape (same element count).
func (v *value) alias(src *value, dims []int) {
	v.setShape(dims)
	v.et, v.f, v.i, v.b = src.et, src.f, src.i, src.b
}

// copyElems copies n elements from src[so:] to dst[do:] (same element type).
func copyElems(dst *value, do int, src *value, so, n int) {
	switch src.et {
	case f32:
		copy(dst.f[do:do+n], src.f[so:so+n])
	case i64:
		copy(dst.i[do:do+n], src.i[so:so+n])
	case boolean:
		copy(dst.b[do:do+n], src.b[so:so+n])
	}
}

// intList reads a 0-d or 1-d int64 tensor (shape inputs: Reshape, axes, ...).
func (v *value) intList() ([]int64, error) {
	if v.et != i64 {
		return nil, fmt.Errorf("needs an int64 tensor, has %s", v.et)
	}
	if v.rank() > 1 {
		return nil, fmt.Errorf("needs a 1-D tensor, has shape %v", v.shape)
	}
	return v.i, nil
}

// scalarInt reads a one-element int64 or bool tensor.
func (v *value) scalarInt() (int64, error) {
	if v.size() != 1 {
		return 0, fmt.Errorf("needs one element, has shape %v", v.shape)
	}
	switch v.et {
	case i64:
		return v.i[0], nil
	case boolean:
		if v.b[0] {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("needs an int64 or bool tensor, has %s", v.et)
}

// elemOf maps an ONNX TensorProto data type to the engine's element type.
func elemOf(dt int32) (elem, bool) {
	switch onnxpb.TensorProto_DataType(dt) {
	case onnxpb.TensorProto_FLOAT:
		return f32, true
	case onnxpb.TensorProto_INT64, onnxpb.TensorProto_INT32:
		return i64, true
	case onnxpb.TensorProto_BOOL:
		return boolean, true
	}
	return noElem, false
}

// modelDType maps an ONNX data type to model's DType (Unknown if not handled).
func modelDType(dt int32) model.DType { return model.DTypeFromONNX(dt) }

func dataTypeName(dt int32) string {
	return onnxpb.TensorProto_DataType(dt).String()
}

// TensorFromProto decodes an ONNX TensorProto (typed fields or little-endian
// raw_data) into a model.Tensor: float, double, int32, int64, uint8, int8 and
// bool. Tensors whose data lives in external files are refused, and so is a
// tensor whose data does not fill its shape (checked before allocating).
func TensorFromProto(tp *onnxpb.TensorProto) (*model.Tensor, error) {
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(tp.GetExternalData()) > 0 {
		return nil, fmt.Errorf("tensor %q keeps its data in an external file, which the native backend does not read (save the model with its weights inside)", tp.GetName())
	}
	if tp.GetSegment() != nil {
		return nil, fmt.Errorf("tensor %q is segmented, which the native backend does not read", tp.GetName())
	}
	shape := model.Shape(append([]int64{}, tp.GetDims()...))
	n := shape.Size()
	if n < 0 {
		return nil, fmt.Errorf("tensor %q has a negative dimension %v", tp.GetName(), shape)
	}
	raw, dt := tp.GetRawData(), onnxpb.TensorProto_DataType(tp.GetDataType())
	var typed int // values in the typed field
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		typed = len(tp.GetFloatData())
	case onnxpb.TensorProto_DOUBLE:
		typed = len(tp.GetDoubleData())
	case onnxpb.TensorProto_INT64:
		typed = len(tp.GetInt64Data())
	case onnxpb.TensorProto_INT32, onnxpb.TensorProto_UINT8, onnxpb.TensorProto_INT8, onnxpb.TensorProto_BOOL:
		return smallInts(tp, shape, n)
	default:
		return nil, fmt.Errorf("tensor %q has element type %s, which the native backend does not support", tp.GetName(), dataTypeName(int32(dt)))
	}
	width := int64(4)
	if dt != onnxpb.TensorProto_FLOAT {
		width = 8
	}
	if raw != nil && int64(len(raw)) != n*width {
		return nil, fmt.Errorf("tensor %q: raw_data has %d bytes, shape %v needs %d", tp.GetName(), len(raw), shape, n*width)
	}
	if raw == nil && int64(typed) != n {
		return nil, countError(tp, typed, n)
	}
	var data any
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		d := append([]float32(nil), tp.GetFloatData()...)
		if raw != nil {
			d = make([]float32, n)
			for k := range d {
				d[k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
			}
		}
		data = d
	case onnxpb.TensorProto_DOUBLE:
		d := append([]float64(nil), tp.GetDoubleData()...)
		if raw != nil {
			d = make([]float64, n)
			for k := range d {
				d[k] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*k:]))
			}
		}
		data = d
	default:
		d := append([]int64(nil), tp.GetInt64Data()...)
		if raw != nil {
			d = make([]int64, n)
			for k := range d {
				d[k] = int64(binary.LittleEndian.Uint64(raw[8*k:]))
			}
		}
		data = d
	}
	if n == 0 && data == nil {
		data = emptyOf(dt)
	}
	return &model.Tensor{Shape: shape, Data: data}, nil
}

func emptyOf(dt onnxpb.TensorProto_DataType) any {
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		return []float32{}
	case onnxpb.TensorProto_DOUBLE:
		return []float64{}
	}
	return []int64{}
}

// smallInts decodes the types ONNX stores in int32_data: int32, uint8, int8, bool.
func smallInts(tp *onnxpb.TensorProto, shape model.Shape, n int64) (*model.Tensor, error) {
	dt := onnxpb.TensorProto_DataType(tp.GetDataType())
	width := int64(1)
	if dt == onnxpb.TensorProto_INT32 {
		width = 4
	}
	raw := tp.GetRawData()
	switch {
	case raw != nil && int64(len(raw)) != n*width:
		return nil, fmt.Errorf("tensor %q: raw_data has %d bytes, shape %v needs %d", tp.GetName(), len(raw), shape, n*width)
	case raw == nil && int64(len(tp.GetInt32Data())) != n:
		return nil, countError(tp, len(tp.GetInt32Data()), n)
	}
	vals := make([]int32, n)
	switch {
	case raw != nil:
		for k := range vals {
			if width == 4 {
				vals[k] = int32(binary.LittleEndian.Uint32(raw[4*k:]))
			} else if dt == onnxpb.TensorProto_INT8 {
				vals[k] = int32(int8(raw[k]))
			} else {
				vals[k] = int32(raw[k])
			}
		}
	default:
		copy(vals, tp.GetInt32Data())
	}
	var data any
	switch dt {
	case onnxpb.TensorProto_INT32:
		data = vals
	case onnxpb.TensorProto_UINT8:
		d := make([]uint8, n)
		for k, x := range vals {
			d[k] = uint8(x)
		}
		data = d
	case onnxpb.TensorProto_INT8:
		d := make([]int8, n)
		for k, x := range vals {
			d[k] = int8(x)
		}
		data = d
	default:
		d := make([]bool, n)
		for k, x := range vals {
			d[k] = x != 0
		}
		data = d
	}
	return &model.Tensor{Shape: shape, Data: data}, nil
}

func countError(tp *onnxpb.TensorProto, got int, want int64) error {
	return fmt.Errorf("tensor %q has %d values, shape %v needs %d", tp.GetName(), got, tp.GetDims(), want)
}

// constValue turns a decoded tensor into an engine value (int32 widened).
func constValue(t *model.Tensor) (*value, error) {
	v := &value{}
	dims := make([]int, len(t.Shape))
	for k, d := range t.Shape {
		dims[k] = int(d)
	}
	if len(dims) > maxRank {
		return nil, fmt.Errorf("rank %d is above the native backend's limit of %d", len(dims), maxRank)
	}
	switch d := t.Data.(type) {
	case []float32:
		v.alias(&value{et: f32, f: d}, dims)
	case []int64:
		v.alias(&value{et: i64, i: d}, dims)
	case []int32:
		w := make([]int64, len(d))
		for k, x := range d {
			w[k] = int64(x)
		}
		v.alias(&value{et: i64, i: w}, dims)
	case []bool:
		v.alias(&value{et: boolean, b: d}, dims)
	default:
		return nil, fmt.Errorf("element type %s is not supported by the native backend", t.DType())
	}
	return v, nil
}
