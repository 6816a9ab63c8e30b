//go:build tensorflow && cgo

package tensorflow_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/tensorflow"
	"github.com/rnnrun/rnnrun/runtime/tensorflow/internal/tfproto"
)

// rewriteSignatures copies the char SavedModel and lets edit change the
// signatures of its MetaGraphDefs in saved_model.pb: edit receives each
// signature's key and definition and returns the ones to keep. Everything else
// in the file survives decoding as unknown fields and is written back.
func rewriteSignatures(t *testing.T, edit func(key string, sig *tfproto.SignatureDef) (string, *tfproto.SignatureDef)) string {
	t.Helper()
	dir := copyDir(t, savedModel("char"))
	pb := filepath.Join(dir, "saved_model.pb")
	b, err := os.ReadFile(pb)
	if err != nil {
		t.Fatal(err)
	}
	var sm tfproto.SavedModel
	if err := proto.Unmarshal(b, &sm); err != nil {
		t.Fatal(err)
	}
	for _, mg := range sm.GetMetaGraphs() {
		sigs := map[string]*tfproto.SignatureDef{}
		for key, sig := range mg.GetSignatureDef() {
			key, sig = edit(key, sig)
			sigs[key] = sig
		}
		mg.SignatureDef = sigs
	}
	if b, err = proto.Marshal(&sm); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pb, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestNotASavedModel(t *testing.T) {
	ctx := context.Background()
	_, err := tensorflow.Open(ctx, filepath.Join(t.TempDir(), "missing"), model.Options{})
	errContains(t, err, model.ErrBadModel, "no such file")

	empty := t.TempDir()
	_, err = tensorflow.Open(ctx, empty, model.Options{})
	errContains(t, err, model.ErrBadModel, "not a SavedModel folder", "no saved_model.pb")

	_, err = model.Open(ctx, onnxFile("char"), model.Options{Backend: "tf"})
	errContains(t, err, model.ErrBadModel, "is a file, not a SavedModel folder", "--backend onnx")

	garbage := t.TempDir()
	os.WriteFile(filepath.Join(garbage, "saved_model.pb"), []byte("this is not a protobuf"), 0o644)
	_, err = tensorflow.Open(ctx, garbage, model.Options{})
	errContains(t, err, model.ErrBadModel, garbage, "loading SavedModel")

	_, err = tensorflow.LoadModel(savedModel("char"), []string{"train"}, nil)
	errContains(t, err, model.ErrBadModel, "tags train")

	if leaked := liveTotal(); leaked != 0 {
		t.Fatalf("failed loads left TensorFlow objects alive: %v", tensorflow.LiveObjects())
	}
}

func TestMissingSignature(t *testing.T) {
	dir := rewriteSignatures(t, func(key string, sig *tfproto.SignatureDef) (string, *tfproto.SignatureDef) {
		if key == tensorflow.DefaultSignature {
			key = "predict"
		}
		return key, sig
	})
	_, err := tensorflow.Open(context.Background(), dir, model.Options{})
	errContains(t, err, model.ErrBadModel, `no "serving_default" signature`, "signatures found:", "predict")
	if leaked := liveTotal(); leaked != 0 {
		t.Fatalf("failed load left TensorFlow objects alive: %v", tensorflow.LiveObjects())
	}
}

// A signature naming a tensor the graph lacks is a bad model, named precisely.
func TestSignatureNamesMissingTensor(t *testing.T) {
	dir := rewriteSignatures(t, func(key string, sig *tfproto.SignatureDef) (string, *tfproto.SignatureDef) {
		if h := sig.GetInputs()["h"]; key == tensorflow.DefaultSignature && h.GetName() == "serving_default_h:0" {
			h.Encoding = &tfproto.TensorInfo_Name{Name: "no_such_op:0"}
		}
		return key, sig
	})
	_, err := tensorflow.Open(context.Background(), dir, model.Options{})
	errContains(t, err, model.ErrBadModel, `input "h"`, `"no_such_op:0"`, "no operation")
}

func TestBadInputs(t *testing.T) {
	m := loadTF(t, savedModel("char"))
	sig := m.Signature()
	xi, _ := sig.Input("x")
	hi, _ := sig.Input("h")
	V, H := xi.Shape[2], hi.Shape[1]
	good := func() map[string]*model.Tensor {
		return map[string]*model.Tensor{
			"x": model.NewFloat32(model.Shape{1, 1, V}, nil),
			"h": model.NewFloat32(model.Shape{1, H}, nil),
			"c": model.NewFloat32(model.Shape{1, H}, nil),
		}
	}
	ctx := context.Background()
	if _, err := m.Run(ctx, good()); err != nil {
		t.Fatal(err)
	}

	in := good()
	in["input_1"] = in["x"]
	delete(in, "x")
	_, err := m.Run(ctx, in)
	errContains(t, err, model.ErrBadInput, `"x"`, "x, h, c")

	in = good()
	in["state"] = in["h"]
	_, err = m.Run(ctx, in)
	errContains(t, err, model.ErrBadInput, `unknown input "state"`, "x, h, c")

	in = good()
	in["x"] = &model.Tensor{Shape: model.Shape{1, 1, V}, Data: make([]int32, V)}
	_, err = m.Run(ctx, in)
	errContains(t, err, model.ErrBadInput, `"x"`, "int32", "float32")

	in = good()
	in["x"] = model.NewFloat32(model.Shape{1, 1, V + 1}, nil)
	_, err = m.Run(ctx, in)
	errContains(t, err, model.ErrBadInput, `"x"`, "dimension 2")

	in = good()
	in["h"] = model.NewFloat32(model.Shape{1, 1, H}, nil)
	_, err = m.Run(ctx, in)
	errContains(t, err, model.ErrBadInput, `"h"`, "rank")

	// Shapes the signature allows but the graph rejects: TensorFlow's message comes through.
	in = good()
	in["x"] = model.NewFloat32(model.Shape{2, 1, V}, nil)
	in["h"] = model.NewFloat32(model.Shape{3, H}, nil)
	_, err = m.Run(ctx, in)
	errContains(t, err, nil, "tensorflow INVALID_ARGUMENT")

	// tfgo-style Exec with an operation the graph lacks.
	_, err = m.Exec([]tensorflow.Output{m.Op("no_such_op", 0)}, nil)
	errContains(t, err, model.ErrBadInput, "no_such_op:0")

	// Binding outputs must be signature outputs of the right type.
	_, err = m.Bind(good(), map[string]*model.Tensor{"logits": model.NewFloat32(model.Shape{1, V}, nil)})
	errContains(t, err, model.ErrBadInput, `unknown output "logits"`, "probs, h_out, c_out")

	m.Close()
	_, err = m.Run(ctx, good())
	errContains(t, err, model.ErrClosed)
	// The tfgo surface shares the lifecycle: no graph after Close, and Exec says so.
	if op := m.Op("serving_default_x", 0); op.String() != "serving_default_x:0" {
		t.Fatalf("Op after Close: %v", op)
	}
	_, err = m.Exec([]tensorflow.Output{m.Op("serving_default_x", 0)}, nil)
	errContains(t, err, model.ErrClosed)
}

func TestContext(t *testing.T) {
	m := loadTF(t, savedModel("char"))
	g := loadGolden(t, "char.json")
	in := g.Cases[0].ModelInputs()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Run(ctx, in); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := m.Run(ctx, in); err != nil {
		t.Fatalf("deadline a minute away: %v", err)
	}
	ctx, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := m.Run(ctx, in); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past deadline: %v", err)
	}
}

func TestOpenThroughRegistry(t *testing.T) {
	for _, name := range []string{"tf", "tensorflow", ""} {
		m, err := model.Open(context.Background(), savedModel("char"), model.Options{Backend: name, Threads: 1, InterOpThreads: 1})
		if err != nil {
			t.Fatalf("backend %q: %v", name, err)
		}
		md := m.Metadata()
		if md.Task != model.TaskTextGeneration || len(md.Vocab) == 0 || strings.Join(md.StateInputs, ",") != "h,c" {
			t.Fatalf("backend %q: metadata %+v", name, md)
		}
		var ins, outs []string
		for _, t := range m.Signature().Inputs {
			ins = append(ins, t.Name)
		}
		for _, t := range m.Signature().Outputs {
			outs = append(outs, t.Name)
		}
		if strings.Join(ins, ",") != "x,h,c" || strings.Join(outs, ",") != "probs,h_out,c_out" {
			t.Fatalf("signature order %v / %v", ins, outs)
		}
		m.Close()
	}
}
