//go:build cgo

package onnxgraph_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
	_ "github.com/rnnrun/rnnrun/runtime/native"
	pb "github.com/rnnrun/rnnrun/runtime/native/onnxpb"
	_ "github.com/rnnrun/rnnrun/runtime/onnx"
	"github.com/rnnrun/rnnrun/runtime/onnxgraph"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

var backends = []string{"native", "onnx"}

const text = "ROMEO.\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun."

// stateful opens m with its state exposed, closed when t ends.
func stateful(t *testing.T, m *model.Model) *model.Model {
	t.Helper()
	s, err := model.OpenStateful(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// stepAll feeds x [N, T, ...] to s one time step per call from the zero
// state, carrying the state, and returns the last call's outputs.
func stepAll(t *testing.T, s *model.Model, input string, x *model.Tensor) map[string]*model.Tensor {
	t.Helper()
	md := s.Metadata()
	n, steps := x.Shape[0], x.Shape[1]
	state := map[string]*model.Tensor{}
	for _, name := range md.StateInputs {
		info, _ := s.Signature().Input(name)
		state[name] = model.NewFloat32(model.Shape{n, info.Shape[1]}, nil)
	}
	var out map[string]*model.Tensor
	for step := range steps {
		in := map[string]*model.Tensor{input: timeStep(x, step)}
		for k, v := range state {
			in[k] = v
		}
		var err error
		if out, err = s.Run(context.Background(), in); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		for i, name := range md.StateInputs {
			state[name] = out[md.StateOutputs[i]]
		}
	}
	return out
}

// timeStep is x[:, step:step+1, ...].
func timeStep(x *model.Tensor, step int64) *model.Tensor {
	n, steps := x.Shape[0], x.Shape[1]
	inner := x.Shape.Size() / (n * steps)
	shape := append(model.Shape{n, 1}, x.Shape[2:]...)
	switch d := x.Data.(type) {
	case []float32:
		out := make([]float32, 0, n*inner)
		for b := range n {
			out = append(out, d[(b*steps+step)*inner:(b*steps+step+1)*inner]...)
		}
		return &model.Tensor{Shape: shape, Data: out}
	case []int64:
		out := make([]int64, 0, n*inner)
		for b := range n {
			out = append(out, d[(b*steps+step)*inner:(b*steps+step+1)*inner]...)
		}
		return &model.Tensor{Shape: shape, Data: out}
	}
	panic("unexpected dtype")
}

// The shipped stateless char_window.onnx, rewritten: one window stepped one
// character at a time gives the window's probabilities, on every backend.
func TestCharWindowSteps(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			m := onnxtest.Open(t, filepath.Join(onnxtest.ShippedDir(), "char_window.onnx"), backend)
			s := stateful(t, m)
			md := s.Metadata()
			if got := strings.Join(md.StateInputs, ","); got != "h0,c0" || strings.Join(md.StateOutputs, ",") != "h0_out,c0_out" || md.StateSize != 128 || md.WindowLength != 100 {
				t.Fatalf("synthesized metadata: state_inputs %v, state_outputs %v, state_size %d, window %d", md.StateInputs, md.StateOutputs, md.StateSize, md.WindowLength)
			}
			if in, _ := s.Signature().Input("x"); in.Shape[1] != -1 {
				t.Fatalf("input after the rewrite: %v, want a dynamic time dimension", in)
			}
			v, err := textgen.VocabFromMetadata(m.Metadata())
			if err != nil {
				t.Fatal(err)
			}
			long := strings.Repeat(text, 2)[:100]
			ids, err := v.Encode(long)
			if err != nil {
				t.Fatal(err)
			}
			x := model.NewFloat32(model.Shape{1, 100, int64(v.Size())}, nil)
			v.OneHot(x.Float32s(), ids)
			want, err := m.Run(context.Background(), map[string]*model.Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			got := stepAll(t, s, "x", x)
			if d, err := golden.MaxAbsDiff(got["probs"].Float32s(), want["probs"].Float32s()); err != nil || d > 1e-5 {
				t.Fatalf("100 single steps vs one window: max abs diff %g (%v)", d, err)
			}
		})
	}
}

// greedy generates n characters at temperature 0.
func greedy(t *testing.T, g *textgen.Generator, prompt string, n int) string {
	t.Helper()
	out, _, err := g.Text(context.Background(), textgen.Request{Prompt: prompt, MaxLength: n, Sampling: textgen.Params{Temperature: 0}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// newGenerator is generate.NewGenerator, its extra model closed when t ends.
func newGenerator(t *testing.T, m *model.Model, opts textgen.Options) *textgen.Generator {
	t.Helper()
	g, closeFn, err := generate.NewGenerator(context.Background(), m, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeFn() })
	return g
}

// Greedy text in stateful mode equals windowed mode inside the window: on
// char_window.onnx and its copy without metadata (given the vocabulary), the
// stateful text equals the windowed text over the same graph's growing
// (unpadded) window; auto keeps the fixed-window export windowed.
func TestCharWindowGreedy(t *testing.T) {
	path := filepath.Join(onnxtest.ShippedDir(), "char_window.onnx")
	stripped := stripMetadata(t, path)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			m := onnxtest.Open(t, path, backend)
			v, err := textgen.VocabFromMetadata(m.Metadata())
			if err != nil {
				t.Fatal(err)
			}
			prompt := text[:30]
			gs := newGenerator(t, m, textgen.Options{Mode: textgen.ModeStateful})
			if gs.Mode() != textgen.ModeStateful {
				t.Fatalf("--mode stateful on char_window.onnx runs %s", gs.Mode())
			}
			if g := newGenerator(t, m, textgen.Options{}); g.Mode() != textgen.ModeWindowed || g.Window() != 100 {
				t.Fatalf("auto on the fixed-window export runs %s (window %d), want windowed 100", g.Mode(), g.Window())
			}
			gw, err := textgen.New(stateful(t, m), textgen.Options{Mode: textgen.ModeWindowed})
			if err != nil {
				t.Fatal(err)
			}
			want := greedy(t, gw, prompt, 70)
			if got := greedy(t, gs, prompt, 70); got != want {
				t.Errorf("stateful %q\nwindowed %q", got, want)
			}
			ms := onnxtest.Open(t, stripped, backend)
			gp := newGenerator(t, ms, textgen.Options{Mode: textgen.ModeStateful, Vocab: v})
			if got := greedy(t, gp, prompt, 70); got != want {
				t.Errorf("stateful without metadata %q\nwindowed %q", got, want)
			}
			t.Logf("%s: %q", backend, want)
		})
	}
}

// stripMetadata writes a copy of the model at path without metadata_props.
func stripMetadata(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m.MetadataProps = nil
	if data, err = proto.Marshal(&m); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "plain.onnx")
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// The exports of other tools (torch.onnx.export, Keras 3 model.export, whose
// GRU is a Loop holding the cell), rewritten, stepped one time step per call
// give the framework's own outputs for the whole sequence, on every backend;
// the bidirectional ones are refused naming the node.
func TestForeignSteps(t *testing.T) {
	dir := onnxtest.ForeignDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			doc := onnxtest.LoadForeign(t, file)
			for _, backend := range backends {
				m := onnxtest.Open(t, filepath.Join(dir, doc.Model), backend)
				if strings.HasSuffix(name, "bilstm") {
					_, err := model.OpenStateful(context.Background(), m)
					if !errors.Is(err, model.ErrCannotExpose) || !strings.Contains(err.Error(), "bidirectional") || !strings.Contains(err.Error(), "LSTM node") || !strings.Contains(err.Error(), "use --mode windowed") {
						t.Fatalf("%s: %v", backend, err)
					}
					continue
				}
				s := stateful(t, m)
				input := m.Signature().Inputs[0].Name
				got := stepAll(t, s, input, doc.Inputs[0].Tensor())
				o := m.Signature().Outputs[0].Name
				d, err := golden.MaxAbsDiff(got[o].Float32s(), doc.Outputs[0].Tensor().Float32s())
				if err != nil || d > 1e-5 {
					t.Errorf("%s: stepped vs the framework: max abs diff %g (%v)", backend, d, err)
				}
				t.Logf("%s %s: state %v, max abs diff %.2g", name, backend, s.Metadata().StateInputs, d)
			}
		})
	}
}

// The GRU char models of torch and Keras (a Loop), as text models: greedy
// stateful text equals the windowed text inside the window.
func TestForeignGreedy(t *testing.T) {
	dir := onnxtest.ForeignDir(t)
	v, err := textgen.NewVocab(strings.Split("\n abcdefghiklmnorstu", ""), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"torch_gru_char", "keras_gru_char"} {
		for _, backend := range backends {
			t.Run(name+"/"+backend, func(t *testing.T) {
				m := onnxtest.Open(t, filepath.Join(dir, name+".onnx"), backend)
				gs := newGenerator(t, m, textgen.Options{Mode: textgen.ModeStateful, Vocab: v})
				gw, err := textgen.New(stateful(t, m), textgen.Options{Mode: textgen.ModeWindowed, Vocab: v, Window: 100})
				if err != nil {
					t.Fatal(err)
				}
				want := greedy(t, gw, "the east", 60)
				if got := greedy(t, gs, "the east", 60); got != want {
					t.Errorf("stateful %q\nwindowed %q", got, want)
				}
			})
		}
	}
}

// The rewritten graphs keep the ONNX rule that a node comes after the nodes
// whose outputs it reads (the new Shape, Gather and Unsqueeze nodes go first,
// the Squeeze and Identity nodes after the recurrent node).
func TestExposedGraphIsSorted(t *testing.T) {
	paths := []string{filepath.Join(golden.ExportDir(), "char_window.onnx")}
	foreign, _ := filepath.Glob(filepath.Join(onnxtest.ForeignDir(t), "*.onnx"))
	paths = append(paths, foreign...)
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := onnxgraph.ExposeState(data)
		if err != nil {
			continue // refused (bidirectional): TestForeignSteps checks the error
		}
		var m pb.ModelProto
		if err := proto.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		g := m.GetGraph()
		seen := map[string]bool{"": true}
		for _, in := range g.GetInput() {
			seen[in.GetName()] = true
		}
		for _, init := range g.GetInitializer() {
			seen[init.GetName()] = true
		}
		for i, n := range g.GetNode() {
			for _, in := range n.GetInput() {
				if !seen[in] {
					t.Errorf("%s: node %d %s %q reads %q before any node makes it", filepath.Base(path), i, n.GetOpType(), n.GetName(), in)
				}
			}
			for _, o := range n.GetOutput() {
				seen[o] = true
			}
		}
	}
}
