package native_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native"
	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// oneNode is a graph x[2,3] -> node -> y with the node's extra initializers.
func oneNode(node *onnxpb.NodeProto, inits ...*onnxpb.TensorProto) *onnxpb.GraphProto {
	return &onnxpb.GraphProto{
		Name:        proto.String("g"),
		Node:        []*onnxpb.NodeProto{node},
		Initializer: inits,
		Input:       []*onnxpb.ValueInfoProto{onnxtest.ValueInfo("x", onnxpb.TensorProto_FLOAT, -1, -1)},
		Output:      []*onnxpb.ValueInfoProto{onnxtest.ValueInfo("y", onnxpb.TensorProto_FLOAT, -1, -1)},
	}
}

func lstmNode(attrs ...*onnxpb.AttributeProto) (*onnxpb.NodeProto, []*onnxpb.TensorProto) {
	return onnxtest.Node("LSTM", "lstm", []string{"x", "W", "R"}, []string{"", "y"}, append(attrs, onnxtest.AttrInt("hidden_size", 2))...),
		[]*onnxpb.TensorProto{onnxtest.Floats("W", []int64{1, 8, 3}, make([]float32, 24)), onnxtest.Floats("R", []int64{1, 8, 2}, make([]float32, 16))}
}

// Models the native backend does not support are refused at load with an
// *UnsupportedError naming the file, node, op and attribute, suggesting --backend onnx.
func TestRefusedAtLoad(t *testing.T) {
	lstmClip, lstmInits := lstmNode(onnxtest.AttrFloat("clip", 3))
	external := onnxtest.Floats("B", []int64{3}, nil)
	external.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	external.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("weights.bin")}}
	custom := onnxtest.Node("Gelu", "act", []string{"x"}, []string{"y"})
	custom.Domain = proto.String("com.microsoft")
	cases := []struct {
		name       string
		g          *onnxpb.GraphProto
		opset      int64
		node, op   string
		attr, want string
	}{
		{"unknown op", oneNode(onnxtest.Node("Erf", "erf_1", []string{"x"}, []string{"y"})), 17, "erf_1", "Erf", "", "not implemented"},
		{"unknown attribute", oneNode(onnxtest.Node("Add", "add_1", []string{"x", "x"}, []string{"y"}, onnxtest.AttrInt("fused", 1))), 17, "add_1", "Add", "fused", "not implemented"},
		{"LSTM clip", oneNode(lstmClip, lstmInits...), 17, "lstm", "LSTM", "clip", "clip"},
		{"LSTM activations", oneNode(lstmWithActs(), lstmInits...), 17, "lstm", "LSTM", "activations", "Relu"},
		{"external data", oneNode(onnxtest.Node("Add", "add_b", []string{"x", "B"}, []string{"y"}), external), 17, "", "", "", `tensor "B" keeps its data in an external file`},
		{"other domain", oneNode(custom), 17, "act", "Gelu", "", `domain "com.microsoft"`},
		{"opset too old", oneNode(onnxtest.Node("Relu", "r", []string{"x"}, []string{"y"})), 6, "", "", "", "opset 6"},
		{"opset too new", oneNode(onnxtest.Node("Relu", "r", []string{"x"}, []string{"y"})), 99, "", "", "", "opset 99"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := onnxtest.WriteModel(t, "bad.onnx", c.g, c.opset)
			_, err := model.Open(context.Background(), path, model.Options{Backend: "native"})
			var ue *native.UnsupportedError
			if !errors.As(err, &ue) || !errors.Is(err, native.ErrUnsupported) || !errors.Is(err, model.ErrBadModel) {
				t.Fatalf("want an UnsupportedError, got %v", err)
			}
			if ue.File != "bad.onnx" || ue.Node != c.node || ue.Op != c.op || ue.Attr != c.attr {
				t.Errorf("error names file %q node %q op %q attribute %q, want bad.onnx %q %q %q", ue.File, ue.Node, ue.Op, ue.Attr, c.node, c.op, c.attr)
			}
			for _, s := range []string{c.want, "bad.onnx", "--backend onnx", c.node, c.attr} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			t.Logf("%v", err)
			if err2 := native.Check(path); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("Check says %v, Open %v", err2, err)
			}
		})
	}
}

func lstmWithActs() *onnxpb.NodeProto {
	n, _ := lstmNode(&onnxpb.AttributeProto{Name: proto.String("activations"), Type: onnxpb.AttributeProto_STRINGS.Enum(),
		Strings: [][]byte{[]byte("Relu"), []byte("Tanh"), []byte("Tanh")}})
	return n
}

// Files that are not ONNX models, or are broken, are bad models (not "unsupported").
func TestMalformedFiles(t *testing.T) {
	dir := t.TempDir()
	char, err := os.ReadFile(filepath.Join(onnxtest.ShippedDir(), "char.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	noProducer := onnxtest.WriteModel(t, "dangling.onnx", oneNode(onnxtest.Node("Add", "add", []string{"x", "nowhere"}, []string{"y"})), 17)
	for name, body := range map[string][]byte{"text.onnx": []byte("hello, not a model"), "truncated.onnx": char[:len(char)/2], "empty.onnx": nil} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
		err := native.Check(path)
		if !errors.Is(err, model.ErrBadModel) || errors.Is(err, native.ErrUnsupported) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	short := onnxtest.Floats("K", []int64{2}, nil)
	short.RawData = []byte{1, 2, 3}
	huge := onnxtest.Floats("K", []int64{1 << 40}, nil)
	for name, init := range map[string]*onnxpb.TensorProto{"short raw_data": short, "no data for 2^40 values": huge} {
		path := onnxtest.WriteModel(t, "weights.onnx", oneNode(onnxtest.Node("Add", "add", []string{"x", "K"}, []string{"y"}), init), 17)
		err := native.Check(path)
		if !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), `tensor "K"`) || !strings.Contains(err.Error(), "weights.onnx") {
			t.Errorf("%s: %v", name, err)
		}
	}
	err = native.Check(noProducer)
	if !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), `"nowhere"`) || !strings.Contains(err.Error(), `node "add"`) {
		t.Errorf("dangling input: %v", err)
	}
}

// Wrong inputs at Run (and through a Binding) are refused with errors naming
// the tensor, or the node whose shapes do not fit.
func TestBadInputsAtRun(t *testing.T) {
	m := openShipped(t, "char.onnx")
	ctx := context.Background()
	state := func() *model.Tensor { return model.NewFloat32(model.Shape{1, 128}, nil) }
	for name, c := range map[string]struct {
		in   map[string]*model.Tensor
		want string
	}{
		"wrong width":  {map[string]*model.Tensor{"x": model.NewFloat32(model.Shape{1, 1, 71}, nil), "h": state(), "c": state()}, `input "x"`},
		"wrong type":   {map[string]*model.Tensor{"x": {Shape: model.Shape{1, 1, 70}, Data: make([]int64, 70)}, "h": state(), "c": state()}, "int64"},
		"missing c":    {map[string]*model.Tensor{"x": model.NewFloat32(model.Shape{1, 1, 70}, nil), "h": state()}, `"c"`},
		"short data":   {map[string]*model.Tensor{"x": {Shape: model.Shape{1, 1, 70}, Data: make([]float32, 7)}, "h": state(), "c": state()}, "70 elements"},
		"batch differ": {map[string]*model.Tensor{"x": model.NewFloat32(model.Shape{2, 1, 70}, nil), "h": state(), "c": state()}, `node "lstm" (LSTM): initial_h`},
	} {
		_, err := m.Run(ctx, c.in)
		if !errors.Is(err, model.ErrBadInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (want ErrBadInput naming %s)", name, err, c.want)
		}
	}
	x, h := model.NewFloat32(model.Shape{1, 1, 70}, nil), state()
	bd, err := m.Bind(map[string]*model.Tensor{"x": x, "h": h, "c": state()}, map[string]*model.Tensor{"probs": model.NewFloat32(model.Shape{1, 70}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer bd.Close()
	x.Shape, x.Data = model.Shape{1, 2, 70}, make([]float32, 140) // a longer call: still fine
	if err := bd.Run(ctx); err != nil {
		t.Fatal(err)
	}
	h.Shape = model.Shape{1, 64}
	if err := bd.Run(ctx); !errors.Is(err, model.ErrBadInput) || !strings.Contains(err.Error(), `input "h"`) {
		t.Errorf("binding with a reshaped h: %v", err)
	}
	h.Shape = model.Shape{1, 128}
	wrongOut, err := m.Bind(map[string]*model.Tensor{"x": x, "h": h, "c": state()}, map[string]*model.Tensor{"probs": model.NewFloat32(model.Shape{2, 35}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer wrongOut.Close()
	if err := wrongOut.Run(ctx); !errors.Is(err, model.ErrBadInput) || !strings.Contains(err.Error(), `output "probs"`) {
		t.Errorf("binding an output of the wrong shape: %v", err)
	}
}

// A node whose shapes do not fit at run time names itself.
func TestShapeErrorNamesNode(t *testing.T) {
	g := oneNode(onnxtest.Node("MatMul", "dense", []string{"x", "K"}, []string{"y"}), onnxtest.Floats("K", []int64{3, 2}, make([]float32, 6)))
	m := onnxtest.Open(t, onnxtest.WriteModel(t, "mm.onnx", g, 17), "native")
	_, err := m.Run(context.Background(), map[string]*model.Tensor{"x": model.NewFloat32(model.Shape{2, 4}, nil)})
	if !errors.Is(err, model.ErrBadInput) || !strings.Contains(err.Error(), `mm.onnx: bad input: node "dense" (MatMul): shapes [2 4] and [3 2] do not multiply`) {
		t.Errorf("got %v", err)
	}
}
