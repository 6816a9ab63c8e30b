package tensorflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// This file holds the pure-Go half of the backend: decoding the signatures of
// a MetaGraphDef, encoding ConfigProto and RunOptions, and reading the
// metadata asset. It needs no TensorFlow, so it builds and is tested without
// the tensorflow tag. Field numbers come from the .pb.h headers the wheel ships
// (include/tensorflow/core/protobuf/meta_graph.pb.h, config.pb.h,
// core/framework/tensor_shape.pb.h, types.pb.h); see docs/tensorflow.md.

// Protobuf field numbers used here.
const (
	// tensorflow.MetaGraphDef
	fieldMetaGraphSignatureDef = 5 // map<string, SignatureDef> signature_def
	// map entries
	fieldMapKey   = 1
	fieldMapValue = 2
	// tensorflow.SignatureDef
	fieldSignatureInputs     = 1 // map<string, TensorInfo> inputs
	fieldSignatureOutputs    = 2 // map<string, TensorInfo> outputs
	fieldSignatureMethodName = 3 // string method_name
	// tensorflow.TensorInfo
	fieldTensorInfoName            = 1 // string name (oneof encoding)
	fieldTensorInfoDType           = 2 // DataType dtype
	fieldTensorInfoShape           = 3 // TensorShapeProto tensor_shape
	fieldTensorInfoCooSparse       = 4 // CooSparse coo_sparse (oneof encoding)
	fieldTensorInfoCompositeTensor = 5 // CompositeTensor composite_tensor (oneof encoding)
	// tensorflow.TensorShapeProto
	fieldShapeDim         = 2 // repeated Dim dim
	fieldShapeUnknownRank = 3 // bool unknown_rank
	// tensorflow.TensorShapeProto.Dim
	fieldDimSize = 1 // int64 size (-1: unknown)
	// tensorflow.ConfigProto
	fieldConfigIntraOpThreads       = 2 // int32 intra_op_parallelism_threads
	fieldConfigInterOpThreads       = 5 // int32 inter_op_parallelism_threads
	fieldConfigUsePerSessionThreads = 9 // bool use_per_session_threads
	// tensorflow.RunOptions
	fieldRunOptionsTimeoutInMs = 2 // int64 timeout_in_ms
)

// DefaultSignature is the signature key Keras and tf.saved_model write for serving.
const DefaultSignature = "serving_default"

// DefaultTag is the MetaGraphDef tag of a serving SavedModel.
const DefaultTag = "serve"

// MetadataAsset is where a SavedModel keeps rnnrun's metadata (see models/export/README.md).
const MetadataAsset = "assets/rnnrun.json"

// DataType is TensorFlow's element type enum (tensorflow.DataType, TF_DataType).
type DataType int32

// The TensorFlow element types rnnrun maps to model.DType.
const (
	Float  DataType = 1  // DT_FLOAT
	Double DataType = 2  // DT_DOUBLE
	Int32  DataType = 3  // DT_INT32
	Uint8  DataType = 4  // DT_UINT8
	Int8   DataType = 6  // DT_INT8
	String DataType = 7  // DT_STRING (not supported by rnnrun)
	Int64  DataType = 9  // DT_INT64
	Bool   DataType = 10 // DT_BOOL
)

var dataTypeNames = map[DataType]string{
	Float: "DT_FLOAT", Double: "DT_DOUBLE", Int32: "DT_INT32", Uint8: "DT_UINT8",
	Int8: "DT_INT8", String: "DT_STRING", Int64: "DT_INT64", Bool: "DT_BOOL",
	0: "DT_INVALID", 19: "DT_HALF", 14: "DT_BFLOAT16", 20: "DT_RESOURCE", 21: "DT_VARIANT",
}

func (d DataType) String() string {
	if n, ok := dataTypeNames[d]; ok {
		return n
	}
	return fmt.Sprintf("DataType(%d)", int32(d))
}

// DType is the model.DType for d, or model.Unknown when rnnrun has none.
func (d DataType) DType() model.DType {
	switch d {
	case Float:
		return model.Float32
	case Double:
		return model.Float64
	case Int32:
		return model.Int32
	case Int64:
		return model.Int64
	case Uint8:
		return model.Uint8
	case Int8:
		return model.Int8
	case Bool:
		return model.Bool
	}
	return model.Unknown
}

// dataTypeOf is the TensorFlow type for a model.DType (0 when none).
func dataTypeOf(d model.DType) DataType {
	switch d {
	case model.Float32:
		return Float
	case model.Float64:
		return Double
	case model.Int32:
		return Int32
	case model.Int64:
		return Int64
	case model.Uint8:
		return Uint8
	case model.Int8:
		return Int8
	case model.Bool:
		return Bool
	}
	return 0
}

// TensorInfo is one input or output of a SignatureDef.
type TensorInfo struct {
	// Name is the graph tensor, "operation:index" (e.g. "serving_default_x:0").
	Name  string
	DType DataType
	// Shape has -1 for dynamic dimensions; it is nil when UnknownRank is set.
	Shape       model.Shape
	UnknownRank bool
	// Sparse is set for sparse or composite tensors, which rnnrun cannot feed.
	Sparse bool
}

// SignatureDef is one signature of a MetaGraphDef: tensors by signature key.
type SignatureDef struct {
	Key        string
	MethodName string
	Inputs     map[string]TensorInfo
	Outputs    map[string]TensorInfo
}

// splitTensorName splits "op:index" into the operation name and output index.
// A name without ":index" is output 0 of the operation.
func splitTensorName(name string) (string, int, error) {
	i := strings.LastIndexByte(name, ':')
	if i < 0 {
		return name, 0, nil
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n < 0 || i == 0 {
		return "", 0, fmt.Errorf("tensor name %q is not of the form operation:index", name)
	}
	return name[:i], n, nil
}

// parseSignatures decodes the signature_def map of a serialized MetaGraphDef.
func parseSignatures(b []byte) (map[string]SignatureDef, error) {
	sigs := map[string]SignatureDef{}
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != fieldMetaGraphSignatureDef || typ != protowire.BytesType {
			return nil
		}
		key, val, err := mapEntry(v)
		if err != nil {
			return fmt.Errorf("signature_def entry: %w", err)
		}
		sd, err := parseSignatureDef(val)
		if err != nil {
			return fmt.Errorf("signature %q: %w", key, err)
		}
		sd.Key = key
		sigs[key] = sd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decoding MetaGraphDef: %w", err)
	}
	return sigs, nil
}

func parseSignatureDef(b []byte) (SignatureDef, error) {
	sd := SignatureDef{Inputs: map[string]TensorInfo{}, Outputs: map[string]TensorInfo{}}
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case fieldSignatureInputs, fieldSignatureOutputs:
			key, val, err := mapEntry(v)
			if err != nil {
				return err
			}
			ti, err := parseTensorInfo(val)
			if err != nil {
				return fmt.Errorf("tensor %q: %w", key, err)
			}
			if num == fieldSignatureInputs {
				sd.Inputs[key] = ti
			} else {
				sd.Outputs[key] = ti
			}
		case fieldSignatureMethodName:
			sd.MethodName = string(v)
		}
		return nil
	})
	return sd, err
}

func parseTensorInfo(b []byte) (TensorInfo, error) {
	var ti TensorInfo
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == fieldTensorInfoName && typ == protowire.BytesType:
			ti.Name = string(v)
		case num == fieldTensorInfoDType && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return protowire.ParseError(n)
			}
			ti.DType = DataType(int32(x))
		case num == fieldTensorInfoShape && typ == protowire.BytesType:
			shape, unknown, err := parseShape(v)
			if err != nil {
				return fmt.Errorf("tensor_shape: %w", err)
			}
			ti.Shape, ti.UnknownRank = shape, unknown
		case num == fieldTensorInfoCooSparse || num == fieldTensorInfoCompositeTensor:
			ti.Sparse = true
		}
		return nil
	})
	return ti, err
}

func parseShape(b []byte) (model.Shape, bool, error) {
	shape := model.Shape{}
	unknown := false
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == fieldShapeDim && typ == protowire.BytesType:
			size := int64(0)
			err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num == fieldDimSize && typ == protowire.VarintType {
					x, n := protowire.ConsumeVarint(v)
					if n < 0 {
						return protowire.ParseError(n)
					}
					size = int64(x)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if size < 0 {
				size = -1
			}
			shape = append(shape, size)
		case num == fieldShapeUnknownRank && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return protowire.ParseError(n)
			}
			unknown = x != 0
		}
		return nil
	})
	if unknown {
		shape = nil
	}
	return shape, unknown, err
}

// mapEntry decodes a map<string, message> entry into its key and value bytes.
func mapEntry(b []byte) (string, []byte, error) {
	var key string
	var val []byte
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case fieldMapKey:
			key = string(v)
		case fieldMapValue:
			val = v
		}
		return nil
	})
	return key, val, err
}

// walk calls fn for every field of the message b. For varint fields v holds the
// varint's bytes; for length-delimited fields, the payload. Other wire types
// are skipped.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			payload, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			v, n = payload, m
		case protowire.VarintType:
			_, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			v, n = b[:m], m
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			b = b[m:]
			continue
		}
		b = b[n:]
		if err := fn(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// configProto encodes a ConfigProto setting the thread counts (0 leaves
// TensorFlow's default). When either is set, the session gets its own thread
// pools: otherwise TensorFlow keeps the pools of the first session in the
// process and ignores later sessions' counts.
func configProto(intra, inter int) []byte {
	var b []byte
	if intra > 0 {
		b = protowire.AppendTag(b, fieldConfigIntraOpThreads, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(intra))
	}
	if inter > 0 {
		b = protowire.AppendTag(b, fieldConfigInterOpThreads, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(inter))
	}
	if intra > 0 || inter > 0 {
		b = protowire.AppendTag(b, fieldConfigUsePerSessionThreads, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	return b
}

// runOptions encodes a RunOptions with timeout_in_ms set (nothing when ms <= 0).
func runOptions(timeoutMs int64) []byte {
	if timeoutMs <= 0 {
		return nil
	}
	b := protowire.AppendTag(nil, fieldRunOptionsTimeoutInMs, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(timeoutMs))
}

// readMetadata reads the metadata asset of the SavedModel in dir. A missing
// asset gives an empty map; a malformed one is an error. Values should be
// strings (the contract); numbers, booleans, arrays and objects are kept as
// their JSON text, so a hand-written asset with "window_length": 100 works.
func readMetadata(dir string) (map[string]string, error) {
	path := filepath.Join(dir, filepath.FromSlash(MetadataAsset))
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading metadata: %v", model.ErrBadModel, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %s is not a JSON object: %v", model.ErrBadModel, MetadataAsset, err)
	}
	meta := make(map[string]string, len(raw))
	for k, v := range raw {
		if string(v) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			meta[k] = s
			continue
		}
		meta[k] = string(v)
	}
	return meta, nil
}

// orderKeys lists the keys of m: first (when present), then each of then that
// is present, then the rest sorted. Signature maps have no order of their own;
// this puts the metadata's main tensor and its state tensors first, so a
// SavedModel lists x, h, c / probs, h_out, c_out like the ONNX file does.
func orderKeys(m map[string]TensorInfo, first string, then []string) []string {
	keys := make([]string, 0, len(m))
	seen := map[string]bool{}
	add := func(k string) {
		if _, ok := m[k]; ok && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	add(first)
	for _, k := range then {
		add(k)
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(keys, rest...)
}

// metadataOrder extracts the ordering hints (main tensor, state tensors) from
// raw metadata, ignoring malformed values (model.ParseMetadata reports those).
func metadataOrder(meta map[string]string) (input string, stateIn []string, output string, stateOut []string) {
	_ = json.Unmarshal([]byte(meta["state_inputs"]), &stateIn)
	_ = json.Unmarshal([]byte(meta["state_outputs"]), &stateOut)
	return meta["input"], stateIn, meta["output"], stateOut
}

// signatureNames lists signature keys sorted, for error messages.
func signatureNames(sigs map[string]SignatureDef) string {
	if len(sigs) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(sigs))
	for k := range sigs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}
