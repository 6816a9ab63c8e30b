package kserve

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Every element type goes through JSON and binary and comes back equal.
func TestTensorCodecs(t *testing.T) {
	for _, tc := range []struct {
		datatype string
		json     string
		want     any
	}{
		{"FP32", `[[1.5, -2], [0, 3]]`, []float32{1.5, -2, 0, 3}},
		{"FP64", `[1e-300, -2, 0, 3]`, []float64{1e-300, -2, 0, 3}},
		{"INT32", `[2147483647, -2147483648, 0, 3]`, []int32{2147483647, -2147483648, 0, 3}},
		{"INT64", `[9007199254740993, -2, 0, 3]`, []int64{9007199254740993, -2, 0, 3}},
		{"UINT8", `[255, 0, 1, 3]`, []uint8{255, 0, 1, 3}},
		{"INT8", `[-128, 127, 0, 3]`, []int8{-128, 127, 0, 3}},
		{"BOOL", `[true, false, false, true]`, []bool{true, false, false, true}},
	} {
		d, ok := dtypeOf(tc.datatype)
		if !ok || datatypeOf(d) != tc.datatype {
			t.Fatalf("%s: no dtype", tc.datatype)
		}
		in := InputTensor{Name: "x", Shape: []int64{2, 2}, Datatype: tc.datatype, Data: json.RawMessage(tc.json)}
		got, n, err := input(in, nil)
		if err != nil || n != 0 || !reflect.DeepEqual(got.Data, tc.want) {
			t.Fatalf("%s from JSON: %v %v", tc.datatype, got, err)
		}
		raw := toBinary(got)
		if len(raw) != 4*elemSize(d) {
			t.Fatalf("%s: %d bytes", tc.datatype, len(raw))
		}
		in = InputTensor{Name: "x", Shape: []int64{2, 2}, Datatype: tc.datatype, Parameters: Parameters{"binary_data_size": float64(len(raw))}}
		back, n, err := input(in, append(raw, 9))
		if err != nil || n != len(raw) || !reflect.DeepEqual(back.Data, tc.want) {
			t.Fatalf("%s from binary: %v %d %v", tc.datatype, back, n, err)
		}
	}
}

func TestTensorErrors(t *testing.T) {
	for _, tc := range []struct {
		in   InputTensor
		rest []byte
		want string
	}{
		{InputTensor{Shape: []int64{2}, Datatype: "FP16", Data: json.RawMessage(`[1, 2]`)}, nil, `datatype "FP16"`},
		{InputTensor{Shape: []int64{3}, Datatype: "FP32", Data: json.RawMessage(`[1, 2]`)}, nil, "needs 3 elements"},
		{InputTensor{Shape: []int64{1}, Datatype: "UINT8", Data: json.RawMessage(`[256]`)}, nil, "not an integer in [0, 255]"},
		{InputTensor{Shape: []int64{1}, Datatype: "INT32", Data: json.RawMessage(`[1.5]`)}, nil, "not an integer"},
		{InputTensor{Shape: []int64{1}, Datatype: "BOOL", Data: json.RawMessage(`[1]`)}, nil, "not a boolean"},
		{InputTensor{Shape: []int64{1}, Datatype: "FP32", Data: json.RawMessage(`["a"]`)}, nil, "not a FP32 element"},
		{InputTensor{Shape: []int64{-1}, Datatype: "FP32", Data: json.RawMessage(`[1]`)}, nil, "negative dimension"},
		{InputTensor{Shape: []int64{1}, Datatype: "FP32"}, nil, "neither data nor"},
		{InputTensor{Shape: []int64{1}, Datatype: "FP32", Parameters: Parameters{"binary_data_size": 8.0}}, make([]byte, 4), "within the 4 bytes"},
		{InputTensor{Shape: []int64{1}, Datatype: "FP32", Parameters: Parameters{"binary_data_size": 3.0}}, make([]byte, 4), "whole number of 4-byte"},
	} {
		if _, _, err := input(tc.in, tc.rest); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.in, err, tc.want)
		}
	}
	if d, ok := dtypeOf("BYTES"); ok || d != model.Unknown {
		t.Fatal("BYTES is not a tensor element type of the backends")
	}
}
