package native

import (
	"testing"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// model.DTypeFromONNX's codes agree with the generated onnx.proto enum.
func TestModelDTypeMatchesProto(t *testing.T) {
	for dt, want := range map[onnxpb.TensorProto_DataType]model.DType{
		onnxpb.TensorProto_FLOAT: model.Float32, onnxpb.TensorProto_DOUBLE: model.Float64,
		onnxpb.TensorProto_INT32: model.Int32, onnxpb.TensorProto_INT64: model.Int64,
		onnxpb.TensorProto_UINT8: model.Uint8, onnxpb.TensorProto_INT8: model.Int8,
		onnxpb.TensorProto_BOOL: model.Bool, onnxpb.TensorProto_FLOAT16: model.Unknown,
		onnxpb.TensorProto_STRING: model.Unknown,
	} {
		if got := modelDType(int32(dt)); got != want {
			t.Errorf("%v: got %v, want %v", dt, got, want)
		}
	}
}
