package kserve

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// The v2 datatypes of the element types the backends support.
var datatypes = map[model.DType]string{
	model.Float32: "FP32", model.Float64: "FP64", model.Int32: "INT32", model.Int64: "INT64",
	model.Uint8: "UINT8", model.Int8: "INT8", model.Bool: "BOOL",
}

func datatypeOf(d model.DType) string {
	if s, ok := datatypes[d]; ok {
		return s
	}
	return "UNKNOWN"
}

func dtypeOf(datatype string) (model.DType, bool) {
	for d, s := range datatypes {
		if s == datatype {
			return d, true
		}
	}
	return model.Unknown, false
}

// elemSize is the bytes of one element in the binary extension.
func elemSize(d model.DType) int {
	switch d {
	case model.Float64, model.Int64:
		return 8
	case model.Float32, model.Int32:
		return 4
	}
	return 1
}

// alloc makes a tensor of n elements.
func alloc(d model.DType, shape model.Shape, n int) *model.Tensor {
	var data any
	switch d {
	case model.Float32:
		data = make([]float32, n)
	case model.Float64:
		data = make([]float64, n)
	case model.Int32:
		data = make([]int32, n)
	case model.Int64:
		data = make([]int64, n)
	case model.Uint8:
		data = make([]uint8, n)
	case model.Int8:
		data = make([]int8, n)
	case model.Bool:
		data = make([]bool, n)
	}
	return &model.Tensor{Shape: shape, Data: data}
}

// fromBinary decodes little-endian raw data.
func fromBinary(d model.DType, shape model.Shape, raw []byte) (*model.Tensor, error) {
	size := elemSize(d)
	if len(raw)%size != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of %d-byte elements", len(raw), size)
	}
	t := alloc(d, shape, len(raw)/size)
	if d == model.Bool {
		for i, b := range raw {
			t.Data.([]bool)[i] = b != 0
		}
		return t, nil
	}
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, t.Data); err != nil {
		return nil, err
	}
	return t, nil
}

// toBinary encodes a tensor's data little-endian.
func toBinary(t *model.Tensor) []byte {
	if b, ok := t.Data.([]bool); ok {
		out := make([]byte, len(b))
		for i, v := range b {
			if v {
				out[i] = 1
			}
		}
		return out
	}
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.LittleEndian, t.Data)
	return buf.Bytes()
}

// fromJSON decodes data, flat or nested row-major, into a tensor of d.
func fromJSON(d model.DType, shape model.Shape, raw json.RawMessage) (*model.Tensor, error) {
	var flat []any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("data: %v", err)
	}
	flatten(v, &flat)
	t := alloc(d, shape, len(flat))
	for i, e := range flat {
		if err := set(t, i, e); err != nil {
			return nil, fmt.Errorf("data[%d]: %v", i, err)
		}
	}
	return t, nil
}

func flatten(v any, out *[]any) {
	if list, ok := v.([]any); ok {
		for _, e := range list {
			flatten(e, out)
		}
		return
	}
	*out = append(*out, v)
}

// set stores element i, refusing a value its type cannot hold.
func set(t *model.Tensor, i int, e any) error {
	if b, ok := e.(bool); ok {
		data, isBool := t.Data.([]bool)
		if !isBool {
			return fmt.Errorf("%v is not a number", e)
		}
		data[i] = b
		return nil
	}
	num, ok := e.(json.Number)
	if !ok {
		return fmt.Errorf("%v is not a %s element", e, datatypeOf(t.DType()))
	}
	f, err := num.Float64()
	if err != nil {
		return err
	}
	integer := func(lo, hi float64) (int64, error) {
		n, err := num.Int64()
		if err != nil || float64(n) < lo || float64(n) > hi {
			return 0, fmt.Errorf("%s is not an integer in [%g, %g]", num, lo, hi)
		}
		return n, nil
	}
	var n int64
	switch data := t.Data.(type) {
	case []float32:
		data[i] = float32(f)
	case []float64:
		data[i] = f
	case []int32:
		n, err = integer(math.MinInt32, math.MaxInt32)
		data[i] = int32(n)
	case []int64:
		n, err = integer(math.MinInt64, math.MaxInt64)
		data[i] = n
	case []uint8:
		n, err = integer(0, math.MaxUint8)
		data[i] = uint8(n)
	case []int8:
		n, err = integer(math.MinInt8, math.MaxInt8)
		data[i] = int8(n)
	case []bool:
		return fmt.Errorf("%s is not a boolean", num)
	}
	return err
}
