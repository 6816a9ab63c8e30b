package onnxgraph_test

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
	pb "github.com/rnnrun/rnnrun/runtime/native/onnxpb"
	"github.com/rnnrun/rnnrun/runtime/onnxgraph"
)

// lstmGraph is x [1, 5, 3] -> LSTM(hidden 2) -> Y_h, with initial_h as given.
func lstmGraph(initialH string, extra ...*pb.NodeProto) *pb.GraphProto {
	g := &pb.GraphProto{
		Name:  proto.String("g"),
		Input: []*pb.ValueInfoProto{onnxtest.ValueInfo("x", pb.TensorProto_FLOAT, 1, 5, 3)},
		Initializer: []*pb.TensorProto{
			onnxtest.Floats("W", []int64{1, 8, 3}, make([]float32, 24)),
			onnxtest.Floats("R", []int64{1, 8, 2}, make([]float32, 16)),
		},
		Node: append([]*pb.NodeProto{
			onnxtest.Node("Transpose", "tm", []string{"x"}, []string{"xt"}, &pb.AttributeProto{Name: proto.String("perm"), Type: pb.AttributeProto_INTS.Enum(), Ints: []int64{1, 0, 2}}),
			onnxtest.Node("LSTM", "the_lstm", []string{"xt", "W", "R", "", "", initialH}, []string{"", "Y_h"}, onnxtest.AttrInt("hidden_size", 2)),
		}, extra...),
		Output: []*pb.ValueInfoProto{onnxtest.ValueInfo("Y_h", pb.TensorProto_FLOAT, 1, 1, 2)},
	}
	return g
}

func exposeFile(t *testing.T, g *pb.GraphProto) error {
	t.Helper()
	data, err := os.ReadFile(onnxtest.WriteModel(t, "m.onnx", g, 17))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = onnxgraph.ExposeState(data)
	return err
}

// Graphs ExposeState cannot rewrite: each error names the node and why.
func TestExposeErrors(t *testing.T) {
	h := lstmGraph("h")
	h.Input = append(h.Input, onnxtest.ValueInfo("h", pb.TensorProto_FLOAT, 1, 1, 2))
	noRNN := &pb.GraphProto{
		Name:   proto.String("g"),
		Input:  []*pb.ValueInfoProto{onnxtest.ValueInfo("x", pb.TensorProto_FLOAT, 1, 5, 3)},
		Node:   []*pb.NodeProto{onnxtest.Node("Identity", "id", []string{"x"}, []string{"y"})},
		Output: []*pb.ValueInfoProto{onnxtest.ValueInfo("y", pb.TensorProto_FLOAT, 1, 5, 3)},
	}
	reshape := lstmGraph("", onnxtest.Node("Reshape", "bakes_window", []string{"x", "shape"}, []string{"flat"}))
	reshape.Initializer = append(reshape.Initializer, onnxtest.Int64s("shape", []int64{2}, []int64{5, 3}))
	reshape.Output = append(reshape.Output, onnxtest.ValueInfo("flat", pb.TensorProto_FLOAT, 5, 3))
	reverse := lstmGraph("")
	reverse.Node[1].Attribute = append(reverse.Node[1].Attribute, onnxtest.AttrString("direction", "reverse"))
	for _, c := range []struct {
		name string
		g    *pb.GraphProto
		want []string
	}{
		{"state from an input", h, []string{`LSTM node "the_lstm"`, `state "h"`, "not a constant zero"}},
		{"no recurrent node", noRNN, []string{"no LSTM, GRU, RNN or Loop node"}},
		{"window baked in", reshape, []string{`Reshape node "bakes_window"`, "window 5"}},
		{"reverse", reverse, []string{`LSTM node "the_lstm"`, "runs reverse"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := exposeFile(t, c.g)
			if !errors.Is(err, onnxgraph.ErrCannotExpose) {
				t.Fatalf("err = %v, want ErrCannotExpose", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if err := exposeFile(t, lstmGraph("")); err != nil {
		t.Errorf("an LSTM from no initial state: %v", err)
	}
}

// fakeBackend stands for a SavedModel opened by the tf backend.
type fakeBackend struct{}

func (fakeBackend) Signature() model.Signature  { return model.Signature{} }
func (fakeBackend) Metadata() map[string]string { return nil }
func (fakeBackend) Close() error                { return nil }
func (fakeBackend) Run(context.Context, map[string]*model.Tensor) (map[string]*model.Tensor, error) {
	return nil, nil
}

// A SavedModel is refused with the way out: its ONNX export.
func TestSavedModelRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "char_savedmodel")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := model.New(dir, "tf", fakeBackend{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = model.OpenStateful(context.Background(), m)
	if !errors.Is(err, model.ErrCannotExpose) || !strings.Contains(err.Error(), "SavedModel") || !strings.Contains(err.Error(), "export it to ONNX") || !strings.Contains(err.Error(), "--mode windowed") {
		t.Fatalf("err = %v", err)
	}
}
