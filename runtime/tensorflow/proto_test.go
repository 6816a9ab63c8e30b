package tensorflow

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/tensorflow/internal/tfproto"
)

// These tests need no TensorFlow: they cover the protobuf decoding and
// encoding and the metadata asset, with messages built from the generated types.

func tensorInfoMsg(name string, dtype DataType, dims ...int64) *tfproto.TensorInfo {
	shape := &tfproto.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &tfproto.TensorShapeProto_Dim{Size: d})
	}
	return &tfproto.TensorInfo{Encoding: &tfproto.TensorInfo_Name{Name: name}, Dtype: tfproto.DataType(dtype), TensorShape: shape}
}

func charMetaGraph(t *testing.T) []byte {
	t.Helper()
	sig := &tfproto.SignatureDef{
		Inputs: map[string]*tfproto.TensorInfo{
			"x": tensorInfoMsg("serving_default_x:0", Float, -1, -1, 65),
			"h": tensorInfoMsg("serving_default_h:0", Float, -1, 128),
		},
		Outputs:    map[string]*tfproto.TensorInfo{"probs": tensorInfoMsg("StatefulPartitionedCall:2", Float, -1, 65)},
		MethodName: "tensorflow/serving/predict",
	}
	unknownRank := &tfproto.TensorInfo{Encoding: &tfproto.TensorInfo_Name{Name: "in:0"}, Dtype: tfproto.DataType_DT_INT64,
		TensorShape: &tfproto.TensorShapeProto{UnknownRank: true}}
	noShape := &tfproto.TensorInfo{Encoding: &tfproto.TensorInfo_Name{Name: "in2:0"}, Dtype: tfproto.DataType_DT_FLOAT}
	b, err := proto.Marshal(&tfproto.MetaGraphDef{SignatureDef: map[string]*tfproto.SignatureDef{
		"serving_default": sig,
		"other":           {Inputs: map[string]*tfproto.TensorInfo{"in": unknownRank, "in2": noShape}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Fields rnnrun does not decode (graph_def = 2, an unknown 99) are skipped.
	b = protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), []byte("graph_def, skipped"))
	return protowire.AppendVarint(protowire.AppendTag(b, 99, protowire.VarintType), 7)
}

func TestParseSignatures(t *testing.T) {
	sigs, err := parseSignatures(charMetaGraph(t))
	if err != nil {
		t.Fatal(err)
	}
	sd, ok := sigs["serving_default"]
	if !ok || len(sigs) != 2 {
		t.Fatalf("signatures %v", sigs)
	}
	if sd.Key != "serving_default" || sd.MethodName != "tensorflow/serving/predict" {
		t.Fatalf("key %q method %q", sd.Key, sd.MethodName)
	}
	want := map[string]TensorInfo{
		"x": {Name: "serving_default_x:0", DType: Float, Shape: model.Shape{-1, -1, 65}},
		"h": {Name: "serving_default_h:0", DType: Float, Shape: model.Shape{-1, 128}},
	}
	if !reflect.DeepEqual(sd.Inputs, want) {
		t.Fatalf("inputs %+v, want %+v", sd.Inputs, want)
	}
	if got := sd.Outputs["probs"]; got.Name != "StatefulPartitionedCall:2" || !reflect.DeepEqual(got.Shape, model.Shape{-1, 65}) {
		t.Fatalf("probs %+v", got)
	}
	in := sigs["other"].Inputs["in"]
	if !in.UnknownRank || in.Shape != nil || in.DType != Int64 || in.DType.DType() != model.Int64 {
		t.Fatalf("unknown-rank input %+v", in)
	}
	if in2 := sigs["other"].Inputs["in2"]; in2.UnknownRank || in2.Shape != nil {
		t.Fatalf("input without a shape %+v", in2)
	}
	if got := signatureNames(sigs); got != "other, serving_default" {
		t.Fatalf("names %q", got)
	}
}

func TestParseSignaturesMalformed(t *testing.T) {
	good := charMetaGraph(t)
	for _, b := range [][]byte{
		good[:len(good)/2],       // truncated inside the signature map
		{0x2a, 0x05, 0x0a},       // field 5 claims 5 bytes, has 1
		{0x2a, 0x02, 0x0a, 0xff}, // entry whose key overruns
	} {
		if _, err := parseSignatures(b); err == nil || !strings.Contains(err.Error(), "MetaGraphDef") {
			t.Fatalf("%x: %v, want an error naming the MetaGraphDef", b, err)
		}
	}
	sigs, err := parseSignatures(nil)
	if err != nil || len(sigs) != 0 || signatureNames(sigs) != "none" {
		t.Fatalf("empty: %v %v", sigs, err)
	}
}

func TestSparseTensorInfo(t *testing.T) {
	for _, enc := range []*tfproto.TensorInfo{
		{Encoding: &tfproto.TensorInfo_CooSparse_{CooSparse: &tfproto.TensorInfo_CooSparse{}}, Dtype: tfproto.DataType_DT_FLOAT},
		{Encoding: &tfproto.TensorInfo_CompositeTensor_{CompositeTensor: &tfproto.TensorInfo_CompositeTensor{}}},
	} {
		if ti := tensorInfoOf(enc); !ti.Sparse {
			t.Fatalf("%v: %+v not sparse", enc, ti)
		}
	}
	if ti := tensorInfoOf(tensorInfoMsg("x:0", Float, 1)); ti.Sparse {
		t.Fatalf("dense tensor %+v reported sparse", ti)
	}
}

func TestSplitTensorName(t *testing.T) {
	for _, c := range []struct {
		in   string
		op   string
		idx  int
		fail bool
	}{
		{"serving_default_x:0", "serving_default_x", 0, false},
		{"StatefulPartitionedCall:2", "StatefulPartitionedCall", 2, false},
		{"NoOp", "NoOp", 0, false},
		{"scope/op:x", "", 0, true},
		{":1", "", 0, true},
		{"op:-1", "", 0, true},
	} {
		op, idx, err := splitTensorName(c.in)
		if (err != nil) != c.fail || op != c.op || idx != c.idx {
			t.Fatalf("%q: %q %d %v", c.in, op, idx, err)
		}
	}
}

func TestConfigProto(t *testing.T) {
	if b := configProto(0, 0); len(b) != 0 {
		t.Fatalf("defaults encode %x", b)
	}
	// intra_op_parallelism_threads = 2 (field 2), inter_op = 1 (field 5),
	// use_per_session_threads = true (field 9).
	if got, want := fmt.Sprintf("%x", configProto(2, 1)), "1002280148 01"; got != strings.ReplaceAll(want, " ", "") {
		t.Fatalf("configProto(2, 1) = %s, want %s", got, want)
	}
	if got := fmt.Sprintf("%x", configProto(0, 3)); got != "28034801" {
		t.Fatalf("configProto(0, 3) = %s", got)
	}
	// timeout_in_ms = 1500 (field 2).
	if got := fmt.Sprintf("%x", runOptions(1500)); got != "10dc0b" {
		t.Fatalf("runOptions(1500) = %s", got)
	}
	if runOptions(0) != nil {
		t.Fatal("no timeout should encode nothing")
	}
}

func TestReadMetadata(t *testing.T) {
	dir := t.TempDir()
	meta, err := readMetadata(dir)
	if err != nil || len(meta) != 0 {
		t.Fatalf("no asset: %v %v", meta, err)
	}
	os.MkdirAll(filepath.Join(dir, "assets"), 0o755)
	asset := filepath.Join(dir, "assets", "rnnrun.json")
	os.WriteFile(asset, []byte(`{"name": "char", "window_length": 100, "vocab": ["a", "\n"], "ok": true, "none": null}`), 0o644)
	meta, err = readMetadata(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"name": "char", "window_length": "100", "vocab": `["a", "\n"]`, "ok": "true"}
	if !reflect.DeepEqual(meta, want) {
		t.Fatalf("metadata %q, want %q", meta, want)
	}
	os.WriteFile(asset, []byte(`["not", "an", "object"]`), 0o644)
	if _, err := readMetadata(dir); !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), "assets/rnnrun.json") {
		t.Fatalf("array asset: %v", err)
	}
}

func TestOrderKeys(t *testing.T) {
	m := map[string]TensorInfo{"c": {}, "h": {}, "x": {}, "extra": {}}
	if got := orderKeys(m, "x", []string{"h", "c", "missing"}); !reflect.DeepEqual(got, []string{"x", "h", "c", "extra"}) {
		t.Fatalf("order %v", got)
	}
	if got := orderKeys(m, "", nil); !reflect.DeepEqual(got, []string{"c", "extra", "h", "x"}) {
		t.Fatalf("sorted %v", got)
	}
	in, sin, out, sout := metadataOrder(map[string]string{"input": "x", "output": "probs", "state_inputs": `["h","c"]`, "state_outputs": "bad json"})
	if in != "x" || out != "probs" || !reflect.DeepEqual(sin, []string{"h", "c"}) || sout != nil {
		t.Fatalf("%q %q %q %q", in, sin, out, sout)
	}
}

func TestDataTypes(t *testing.T) {
	for _, d := range []model.DType{model.Float32, model.Float64, model.Int32, model.Int64, model.Uint8, model.Int8, model.Bool} {
		if dataTypeOf(d).DType() != d {
			t.Fatalf("%s does not round-trip (%s)", d, dataTypeOf(d))
		}
	}
	if String.DType() != model.Unknown || DataType(19).String() != "DT_HALF" || DataType(77).String() != "DataType(77)" {
		t.Fatal("unsupported types")
	}
}
