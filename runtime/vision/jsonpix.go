package vision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// DecodeJSON reads images given as JSON pixel arrays of integers 0..255:
//
//   - one image as rows, [[p, p, ...], ...]: its size is the arrays' shape;
//   - one image flat, [p, p, ...], of exactly width*height pixels;
//   - a batch of either, [[[...], ...], ...] or [[p, ...], [p, ...]] (a batch
//     of flat images when every inner array has width*height pixels and there
//     are not exactly height of them, each width long).
//
// The pixels are returned as given: in the model's convention they can be
// classified directly; otherwise pass them through Preprocess.
func DecodeJSON(data []byte, width, height int) ([]Gray, error) {
	if shape, vals, ok := decodeTyped(data); ok {
		return fromShape(shape, vals, width, height)
	}
	if len(data) > genericJSONLimit {
		return nil, fmt.Errorf("%w: a body over %d bytes must be a rectangular nest of at most 3 arrays of integers 0..255", ErrBadPixels, genericJSONLimit)
	}
	return decodeGeneric(data, width, height)
}

// decodeGeneric is DecodeJSON through a generic JSON tree, which names what is wrong.
func decodeGeneric(data []byte, width, height int) ([]Gray, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrBadPixels, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: more than one JSON value", ErrBadPixels)
	}
	shape, err := jsonShape(v)
	if err != nil {
		return nil, err
	}
	var vals []uint8
	if err := flattenPixels(v, &vals); err != nil {
		return nil, err
	}
	return fromShape(shape, vals, width, height)
}

// fromShape cuts the flat pixels of arrays of shape into images.
func fromShape(shape []int, vals []uint8, width, height int) ([]Gray, error) {
	want := func() error {
		return fmt.Errorf("%w: arrays of shape %v; want [%d,%d], [%d], [n,%d,%d] or [n,%d]", ErrBadPixels, shape, height, width, width*height, height, width, width*height)
	}
	switch len(shape) {
	case 1:
		if shape[0] != width*height || width*height == 0 {
			return nil, want()
		}
		return []Gray{{Width: width, Height: height, Pix: vals}}, nil
	case 2:
		if shape[0] == 0 || shape[1] == 0 {
			return nil, fmt.Errorf("%w: arrays of shape %v hold no pixels", ErrEmptyImage, shape)
		}
		if shape[1] == width*height && !(shape[0] == height && shape[1] == width) {
			return split(vals, shape[0], width, height), nil
		}
		return []Gray{{Width: shape[1], Height: shape[0], Pix: vals}}, nil
	case 3:
		if shape[1] == 0 || shape[2] == 0 {
			return nil, fmt.Errorf("%w: arrays of shape %v hold no pixels", ErrEmptyImage, shape)
		}
		return split(vals, shape[0], shape[2], shape[1]), nil
	}
	return nil, want()
}

// genericJSONLimit is the largest body DecodeJSON reads as a generic JSON
// tree (for its precise messages): that tree takes about 48 bytes per byte
// of a dense pixel array (an 8 MB body held about 340 MB).
const genericJSONLimit = 1 << 20

// JSONDecodedBytes estimates the memory DecodeJSON holds at its peak for a
// body of n bytes: typed float64 arrays (at most one value per 2 bytes, 8
// bytes each, twice while a slice grows, then one byte each), or the
// generic tree for a small body that is not such arrays.
func JSONDecodedBytes(n int) int64 {
	if n <= genericJSONLimit {
		return int64(n) * 48
	}
	return int64(n) * 10
}

// decodeTyped reads a nest of 1 to 3 arrays of numbers into typed slices,
// without the generic tree; ok is false for anything else (null entries,
// ragged or deeper arrays, values that are not integers 0..255), which the
// generic path then reads to say what is wrong.
func decodeTyped(data []byte) (shape []int, vals []uint8, ok bool) {
	if bytes.Contains(data, []byte("null")) { // null would decode as 0
		return nil, nil, false
	}
	depth := 0
	for _, c := range data {
		if c == '[' {
			depth++
		} else if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			break
		}
	}
	var rows [][]float64
	switch depth {
	case 1:
		var a []float64
		if json.Unmarshal(data, &a) != nil {
			return nil, nil, false
		}
		shape, rows = []int{len(a)}, [][]float64{a}
	case 2:
		if json.Unmarshal(data, &rows) != nil || len(rows) == 0 {
			return nil, nil, false
		}
		shape = []int{len(rows), len(rows[0])}
	case 3:
		var a [][][]float64
		if json.Unmarshal(data, &a) != nil || len(a) == 0 || len(a[0]) == 0 {
			return nil, nil, false
		}
		shape = []int{len(a), len(a[0]), len(a[0][0])}
		for _, img := range a {
			if len(img) != shape[1] {
				return nil, nil, false
			}
			rows = append(rows, img...)
		}
	default:
		return nil, nil, false
	}
	width := shape[len(shape)-1]
	vals = make([]uint8, 0, len(rows)*width)
	for _, r := range rows {
		if len(r) != width {
			return nil, nil, false
		}
		for _, f := range r {
			if f != math.Trunc(f) || f < 0 || f > 255 {
				return nil, nil, false
			}
			vals = append(vals, uint8(f))
		}
	}
	return shape, vals, true
}

func split(vals []uint8, n, w, h int) []Gray {
	imgs := make([]Gray, n)
	for i := range imgs {
		imgs[i] = Gray{Width: w, Height: h, Pix: vals[i*w*h : (i+1)*w*h : (i+1)*w*h]}
	}
	return imgs
}

// jsonShape checks that v is a rectangular nest of arrays of numbers and returns its shape.
func jsonShape(v any) ([]int, error) {
	var shape []int
	cur := v
	for {
		arr, ok := cur.([]any)
		if !ok {
			break
		}
		shape = append(shape, len(arr))
		if len(arr) == 0 {
			break
		}
		cur = arr[0]
	}
	if len(shape) == 0 {
		return nil, fmt.Errorf("%w: want arrays of pixels, got %s", ErrBadPixels, jsonType(v))
	}
	var check func(v any, depth int, path string) error
	check = func(v any, depth int, path string) error {
		if depth == len(shape) {
			if _, ok := v.(json.Number); !ok {
				return fmt.Errorf("%w: %s is %s, want a pixel value 0..255", ErrBadPixels, path, jsonType(v))
			}
			return nil
		}
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%w: %s is %s, want an array (the arrays must be rectangular)", ErrBadPixels, path, jsonType(v))
		}
		if len(arr) != shape[depth] {
			return fmt.Errorf("%w: %s has %d entries, want %d (the arrays must be rectangular)", ErrBadPixels, path, len(arr), shape[depth])
		}
		for i, e := range arr {
			if err := check(e, depth+1, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := check(v, 0, "pixels"); err != nil {
		return nil, err
	}
	return shape, nil
}

// flattenPixels appends the numbers of a checked nest of arrays, in order.
func flattenPixels(v any, out *[]uint8) error {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if err := flattenPixels(e, out); err != nil {
				return err
			}
		}
		return nil
	case json.Number:
		f, err := t.Float64()
		if err != nil || f != math.Trunc(f) || f < 0 || f > 255 {
			return fmt.Errorf("%w: pixel %d is %s, want an integer 0..255", ErrBadPixels, len(*out), t)
		}
		*out = append(*out, uint8(f))
		return nil
	}
	return fmt.Errorf("%w: unexpected %s", ErrBadPixels, jsonType(v))
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
