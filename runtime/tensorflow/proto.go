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

	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/tensorflow/internal/tfproto"
)

// This file holds the pure-Go half of the backend: decoding the signatures of
// a MetaGraphDef, encoding ConfigProto and RunOptions (through the generated
// types of internal/tfproto), and reading the metadata asset. It needs no
// TensorFlow, so it builds and is tested without the tensorflow tag.

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
	Float  = DataType(tfproto.DataType_DT_FLOAT)
	Double = DataType(tfproto.DataType_DT_DOUBLE)
	Int32  = DataType(tfproto.DataType_DT_INT32)
	Uint8  = DataType(tfproto.DataType_DT_UINT8)
	Int8   = DataType(tfproto.DataType_DT_INT8)
	String = DataType(tfproto.DataType_DT_STRING) // not supported by rnnrun
	Int64  = DataType(tfproto.DataType_DT_INT64)
	Bool   = DataType(tfproto.DataType_DT_BOOL)
)

// String is TensorFlow's name for d (DT_FLOAT...), or DataType(n) for a value
// this TensorFlow release does not define.
func (d DataType) String() string {
	if n, ok := tfproto.DataType_name[int32(d)]; ok {
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
	var mg tfproto.MetaGraphDef
	if err := proto.Unmarshal(b, &mg); err != nil {
		return nil, fmt.Errorf("decoding MetaGraphDef: %w", err)
	}
	sigs := make(map[string]SignatureDef, len(mg.GetSignatureDef()))
	for key, sd := range mg.GetSignatureDef() {
		sigs[key] = SignatureDef{
			Key:        key,
			MethodName: sd.GetMethodName(),
			Inputs:     tensorInfos(sd.GetInputs()),
			Outputs:    tensorInfos(sd.GetOutputs()),
		}
	}
	return sigs, nil
}

func tensorInfos(m map[string]*tfproto.TensorInfo) map[string]TensorInfo {
	out := make(map[string]TensorInfo, len(m))
	for key, ti := range m {
		out[key] = tensorInfoOf(ti)
	}
	return out
}

func tensorInfoOf(ti *tfproto.TensorInfo) TensorInfo {
	info := TensorInfo{Name: ti.GetName(), DType: DataType(ti.GetDtype())}
	switch ti.GetEncoding().(type) {
	case *tfproto.TensorInfo_CooSparse_, *tfproto.TensorInfo_CompositeTensor_:
		info.Sparse = true
	}
	switch shape := ti.GetTensorShape(); {
	case shape == nil: // no shape recorded: Shape stays nil
	case shape.GetUnknownRank():
		info.UnknownRank = true
	default:
		info.Shape = model.Shape{}
		for _, d := range shape.GetDim() {
			info.Shape = append(info.Shape, max(d.GetSize(), -1)) // -1: unknown
		}
	}
	return info
}

// configProto encodes a ConfigProto setting the thread counts (0 leaves
// TensorFlow's default). When either is set, the session gets its own thread
// pools: otherwise TensorFlow keeps the pools of the first session in the
// process and ignores later sessions' counts.
func configProto(intra, inter int) []byte {
	cfg := &tfproto.ConfigProto{
		IntraOpParallelismThreads: int32(max(intra, 0)),
		InterOpParallelismThreads: int32(max(inter, 0)),
		UsePerSessionThreads:      intra > 0 || inter > 0,
	}
	return marshal(cfg)
}

// runOptions encodes a RunOptions with timeout_in_ms set (nothing when ms <= 0).
func runOptions(timeoutMs int64) []byte {
	if timeoutMs <= 0 {
		return nil
	}
	return marshal(&tfproto.RunOptions{TimeoutInMs: timeoutMs})
}

// marshal encodes a message built here; it cannot fail for these types.
func marshal(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("tensorflow: encoding %T: %v", m, err))
	}
	return b
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
