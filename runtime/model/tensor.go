// Package model holds what every backend shares: tensors, signatures, the
// metadata contract of models/export/README.md, the Backend interface, and
// Open, which loads a model file through a registered backend.
package model

import (
	"fmt"
	"strings"
)

// DType is a tensor's element type.
type DType int

// Element types a Tensor can hold.
const (
	Unknown DType = iota
	Float32
	Float64
	Int32
	Int64
	Uint8
	Int8
	Bool
)

var dtypeNames = [...]string{"unknown", "float32", "float64", "int32", "int64", "uint8", "int8", "bool"}

func (d DType) String() string {
	if d < 0 || int(d) >= len(dtypeNames) {
		return fmt.Sprintf("dtype(%d)", int(d))
	}
	return dtypeNames[d]
}

// Shape is a tensor's dimensions. In a Signature, -1 marks a dynamic dimension.
type Shape []int64

// Size is the number of elements, or -1 when a dimension is dynamic.
func (s Shape) Size() int64 {
	n := int64(1)
	for _, d := range s {
		if d < 0 {
			return -1
		}
		n *= d
	}
	return n
}

func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Tensor is a dense, row-major tensor whose Data is a typed slice:
// []float32, []float64, []int32, []int64, []uint8, []int8 or []bool.
// Backends read inputs from and may write outputs into Data directly.
type Tensor struct {
	Shape Shape
	Data  any
}

// NewFloat32 returns a float32 tensor; data may be nil, in which case it is allocated.
func NewFloat32(shape Shape, data []float32) *Tensor {
	if data == nil {
		data = make([]float32, shape.Size())
	}
	return &Tensor{Shape: shape, Data: data}
}

// DType reports the element type of Data.
func (t *Tensor) DType() DType {
	switch t.Data.(type) {
	case []float32:
		return Float32
	case []float64:
		return Float64
	case []int32:
		return Int32
	case []int64:
		return Int64
	case []uint8:
		return Uint8
	case []int8:
		return Int8
	case []bool:
		return Bool
	}
	return Unknown
}

// Len is the length of Data.
func (t *Tensor) Len() int {
	switch d := t.Data.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []int32:
		return len(d)
	case []int64:
		return len(d)
	case []uint8:
		return len(d)
	case []int8:
		return len(d)
	case []bool:
		return len(d)
	}
	return 0
}

// Float32s returns Data as []float32, or nil if it holds another type.
func (t *Tensor) Float32s() []float32 {
	d, _ := t.Data.([]float32)
	return d
}

// Validate checks that Data has a known type and exactly as many elements as Shape says.
func (t *Tensor) Validate() error {
	if t == nil {
		return fmt.Errorf("nil tensor")
	}
	if t.DType() == Unknown {
		return fmt.Errorf("unsupported tensor data type %T", t.Data)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("shape %v has a negative dimension", t.Shape)
		}
	}
	if n := t.Shape.Size(); int64(t.Len()) != n {
		return fmt.Errorf("shape %v needs %d elements, data has %d", t.Shape, n, t.Len())
	}
	return nil
}

// onnxTypes maps ONNX's TensorProto.DataType codes (which ONNX Runtime's
// element types share) to the DTypes a Tensor can hold.
var onnxTypes = map[int32]DType{1: Float32, 11: Float64, 6: Int32, 7: Int64, 2: Uint8, 3: Int8, 9: Bool}

// DTypeFromONNX maps an ONNX TensorProto.DataType code to a DType, Unknown
// for any type rnnrun's tensors do not hold.
func DTypeFromONNX(code int32) DType { return onnxTypes[code] }
