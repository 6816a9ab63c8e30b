package infer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/internal/mnistdata"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/model/infer"
	_ "github.com/rnnrun/rnnrun/runtime/native"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

// strip copies a shipped model without its metadata_props (through onnxpb).
func strip(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	if err := infer.Write(filepath.Join(golden.ExportDir(), name), out, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	return out
}

func open(t *testing.T, path string, layers ...infer.Values) *model.Model {
	t.Helper()
	m, err := infer.Open(context.Background(), path, model.Options{Backend: "native"}, layers...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// predictions classifies the whole MNIST test set.
func predictions(t *testing.T, m *model.Model) (right []bool, correct int) {
	t.Helper()
	ctx := context.Background()
	dir, err := mnistdata.Dir(ctx)
	if err != nil {
		t.Skip("no MNIST data:", err)
	}
	images, labels, err := vision.LoadMNISTTest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if raceEnabled { // the first 1,000 images; the binary tests count all 10,000
		images, labels = images[:1000], labels[:1000]
	}
	c, err := vision.NewClassifier(m, vision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	preds, err := c.Classify(ctx, images)
	if err != nil {
		t.Fatal(err)
	}
	right = make([]bool, len(preds))
	for i, p := range preds {
		right[i] = p.Index == int(labels[i])
		if right[i] {
			correct++
		}
	}
	return right, correct
}

// A stripped MNIST model is inferred as the tutorial's: the same images right as with its metadata.
func TestStrippedMNISTClassifiesAsTheOriginal(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		want       int
	}{{"mnist.onnx", model.OutputProbabilities, 9917}, {"mnist_tf.onnx", model.OutputLogits, 9938}} {
		t.Run(tc.name, func(t *testing.T) {
			m := open(t, strip(t, tc.name))
			md := m.Metadata()
			if md.Task != model.TaskImageClassification || md.OutputKind != tc.kind || md.InputStd != 255 || md.InputMean != 0 ||
				md.ImageHeight != 28 || md.ImageWidth != 28 || len(md.Labels) != 10 || md.Labels[9] != "9" || md.Ink != "light-on-dark" {
				t.Fatalf("inferred %+v", md)
			}
			if src := md.Sources["task"]; !strings.Contains(src, "inferred from input x float32[?,28,28] and output") {
				t.Fatalf("task source %q", src)
			}
			if len(md.File) != 0 {
				t.Fatalf("file metadata %v, want none", md.File)
			}
			got, n := predictions(t, m)
			want, k := predictions(t, open(t, filepath.Join(golden.ExportDir(), tc.name)))
			if (n != tc.want || k != tc.want) && !raceEnabled {
				t.Fatalf("stripped %d, original %d correct, want %d", n, k, tc.want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("image %d: stripped right=%v, original right=%v", i, got[i], want[i])
				}
			}
		})
	}
}

func writeSidecar(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(infer.SidecarPath(path), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Flag over config over sidecar over metadata over inference, each value naming its source.
func TestPrecedence(t *testing.T) {
	path := strip(t, "mnist.onnx")
	writeSidecar(t, path, `{"labels": ["a","b","c","d","e","f","g","h","i","j"], "input_std": 127.5, "ink": "dark-on-light"}`)
	src := func(s string) func(string) string { return func(string) string { return s } }
	config, err := infer.Overrides{Ink: "light-on-dark", InputScale: "1/100"}.Values(src("config"))
	if err != nil {
		t.Fatal(err)
	}
	flags, err := infer.Overrides{InputScale: "1/255"}.Values(src("flag --input-scale"))
	if err != nil {
		t.Fatal(err)
	}
	md := open(t, path, config, flags).Metadata()
	if md.Labels[0] != "a" || md.Sources["labels"] != "sidecar mnist.onnx.rnnrun.json" {
		t.Fatalf("labels %v from %q", md.Labels, md.Sources["labels"])
	}
	if md.Ink != "light-on-dark" || md.Sources["ink"] != "config" {
		t.Fatalf("ink %q from %q", md.Ink, md.Sources["ink"])
	}
	if md.InputStd != 255 || md.Sources["input_std"] != "flag --input-scale" {
		t.Fatalf("input_std %v from %q", md.InputStd, md.Sources["input_std"])
	}
	// The file's own metadata beats inference and loses to the sidecar.
	orig := filepath.Join(golden.ExportDir(), "mnist.onnx")
	md = open(t, orig).Metadata()
	if md.Sources["labels"] != infer.SourceMetadata || md.Sources["task"] != infer.SourceMetadata {
		t.Fatalf("shipped model's sources %v", md.Sources)
	}
}

// A sidecar or an override that contradicts the graph is an error naming both values.
func TestContradictions(t *testing.T) {
	mnist := strip(t, "mnist.onnx")
	char := strip(t, "char_window.onnx")
	for _, tc := range []struct {
		path, sidecar string
		want          []string
	}{
		{mnist, `{"labels": ["a","b"]}`, []string{"sidecar mnist.onnx.rnnrun.json", "2 labels", "output probs float32[?,10] has 10 classes"}},
		{mnist, `{"image_height": 32}`, []string{"image_height 32", "input x float32[?,28,28] is 28 high"}},
		{mnist, `{"input": "pixels"}`, []string{`input "pixels" is not an input of the model (inputs: x float32[?,28,28])`}},
		{mnist, `{"output": "y"}`, []string{`output "y" is not an output`}},
		{mnist, `{"task": "poetry"}`, []string{`task "poetry"`}},
		{mnist, `{"labels": "0,1"}`, []string{`metadata key "labels"`, "sidecar"}},
		{mnist, `[1, 2]`, []string{"want one JSON object"}},
		{char, `{"vocab": ["a","b","c"]}`, []string{"the vocabulary has 3 entries", "input x float32[?,100,70] is 70 wide (V = 70)"}},
		{char, `{"window_length": 50}`, []string{"window_length 50", "takes exactly 100 steps"}},
	} {
		writeSidecar(t, tc.path, tc.sidecar)
		_, err := infer.Open(context.Background(), tc.path, model.Options{Backend: "native"})
		if err == nil || !errors.Is(err, model.ErrBadModel) {
			t.Fatalf("sidecar %s: err %v, want ErrBadModel", tc.sidecar, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("sidecar %s: %q does not say %q", tc.sidecar, err, w)
			}
		}
	}
}

func sig(in []model.TensorInfo, out ...model.TensorInfo) model.Signature {
	return model.Signature{Inputs: in, Outputs: out}
}

func ti(name string, dt model.DType, dims ...int64) model.TensorInfo {
	return model.TensorInfo{Name: name, Type: dt, Shape: dims}
}

// The task and its parameters from signatures alone (no file: no graph, no sidecar).
func TestInferFromSignature(t *testing.T) {
	nowhere := filepath.Join(t.TempDir(), "none.onnx")
	for _, tc := range []struct {
		name string
		sig  model.Signature
		want map[string]string
	}{
		{"NHW", sig([]model.TensorInfo{ti("img", model.Float32, -1, 28, 28)}, ti("p", model.Float32, -1, 10)),
			map[string]string{"task": "image-classification", "image_height": "28", "input_std": "255", "output_kind": "probabilities"}},
		{"NHWC", sig([]model.TensorInfo{ti("img", model.Float32, -1, 32, 24, 1)}, ti("p", model.Float32, -1, 3)),
			map[string]string{"task": "image-classification", "image_height": "32", "image_width": "24", "labels": `["0","1","2"]`}},
		{"NCHW", sig([]model.TensorInfo{ti("img", model.Float32, -1, 1, 32, 24)}, ti("p", model.Float32, -1, 3)),
			map[string]string{"task": "image-classification", "image_height": "32", "image_width": "24"}},
		{"one-hot", sig([]model.TensorInfo{ti("x", model.Float32, -1, -1, 65)}, ti("y", model.Float32, -1, 65)),
			map[string]string{"task": "text-generation", "input_encoding": "one_hot", "input": "x", "output": "y"}},
		{"one-hot window that also fits an image", sig([]model.TensorInfo{ti("x", model.Float32, -1, 100, 70)}, ti("y", model.Float32, -1, 70)),
			map[string]string{"task": "text-generation", "window_length": "100"}},
		{"int64 ids, every step", sig([]model.TensorInfo{ti("ids", model.Int64, -1, -1)}, ti("logits", model.Float32, -1, -1, 66)),
			map[string]string{"task": "text-generation", "input_encoding": "token_ids"}},
		{"float32 ids of a bare Keras export", sig([]model.TensorInfo{ti("keras_tensor", model.Float32, -1, 100)}, ti("out", model.Float32, -1, 100, 66)),
			map[string]string{"task": "text-generation", "input_encoding": "token_ids", "window_length": "100"}},
		{"state pairs", sig([]model.TensorInfo{ti("x", model.Float32, -1, -1, 70), ti("h", model.Float32, -1, 128), ti("c", model.Float32, -1, 128)},
			ti("probs", model.Float32, -1, 70), ti("h_out", model.Float32, -1, 128), ti("c_out", model.Float32, -1, 128)),
			map[string]string{"task": "text-generation", "input": "x", "output": "probs", "state_inputs": `["h","c"]`, "state_size": "128"}},
	} {
		md, err := infer.Resolve(nowhere, tc.sig, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for k, v := range tc.want {
			if md.Raw[k] != v {
				t.Errorf("%s: %s = %q (%s), want %q", tc.name, k, md.Raw[k], md.Sources[k], v)
			}
		}
	}
}

// Where the signature does not say, the task is left out with the reason, naming what to pass.
func TestAmbiguousSignatures(t *testing.T) {
	nowhere := filepath.Join(t.TempDir(), "none.onnx")
	for _, tc := range []struct {
		name string
		sig  model.Signature
		want string
	}{
		{"two inputs", sig([]model.TensorInfo{ti("a", model.Float32, -1, 28, 28), ti("b", model.Float32, -1, 28, 28)}, ti("p", model.Float32, -1, 10)),
			"model has 2 inputs that are not state (a float32[?,28,28], b float32[?,28,28]); name the main one (\"input\" in a sidecar) and pass --task"},
		{"two outputs", sig([]model.TensorInfo{ti("a", model.Float32, -1, 28, 28)}, ti("p", model.Float32, -1, 10), ti("q", model.Float32, -1, 10)),
			"model has 2 outputs that are not state"},
		{"unknown shapes", sig([]model.TensorInfo{ti("a", model.Float32, -1, 3, 28, 28)}, ti("p", model.Float32, -1, 10)),
			"fit no task rnnrun knows"},
	} {
		md, err := infer.Resolve(nowhere, tc.sig, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if md.Task != "" || !strings.Contains(md.Sources["task"], tc.want) || !strings.Contains(md.Sources["task"], "pass --task") {
			t.Errorf("%s: task %q, reason %q, want %q", tc.name, md.Task, md.Sources["task"], tc.want)
		}
	}
	// --task settles it when the main tensors are clear.
	task, err := infer.Overrides{Task: "text"}.Values(func(string) string { return "flag --task" })
	if err != nil {
		t.Fatal(err)
	}
	s := sig([]model.TensorInfo{ti("x", model.Float32, -1, 28, 28)}, ti("p", model.Float32, -1, 28))
	if md, err := infer.Resolve(nowhere, s, nil, task); err != nil || md.Task != model.TaskTextGeneration || md.Sources["task"] != "flag --task" {
		t.Fatalf("--task text: %v %+v", err, md)
	}
}

func TestOverrideValues(t *testing.T) {
	src := func(opt string) string { return "flag --" + opt }
	std := 2.0
	for _, tc := range []struct {
		o    infer.Overrides
		want string
	}{
		{infer.Overrides{InputScale: "1/255", InputStd: &std}, "flag --input-scale and input-mean/input-std: give the scale or the mean and std, not both"},
		{infer.Overrides{InputScale: "-1"}, `flag --input-scale: input scale "-1": want a number > 0 or a fraction such as 1/255`},
		{infer.Overrides{Task: "poetry"}, `flag --task: task "poetry": want image-classification or text-generation`},
		{infer.Overrides{Ink: "blue"}, `flag --ink: ink "blue": want one of`},
		{infer.Overrides{Vocab: "/nonexistent/v.json"}, "flag --vocab: vocab file: open /nonexistent/v.json"},
	} {
		if _, err := tc.o.Values(src); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
	vs, err := infer.Overrides{InputScale: "0.5"}.Values(src)
	if err != nil || vs["input_std"].Text != "2" || vs["input_mean"].Text != "0" {
		t.Fatalf("scale 0.5: %v %v", vs, err)
	}
}

// A SavedModel folder is copied with the metadata as assets/rnnrun.json; the input is untouched.
func TestWriteSavedModel(t *testing.T) {
	in := filepath.Join(t.TempDir(), "sm")
	os.MkdirAll(filepath.Join(in, "variables"), 0o755)
	os.WriteFile(filepath.Join(in, "saved_model.pb"), []byte("pb"), 0o644)
	os.WriteFile(filepath.Join(in, "variables", "variables.index"), []byte("idx"), 0o644)
	out := filepath.Join(t.TempDir(), "annotated")
	if err := infer.Write(in, out, map[string]string{"task": "image-classification", "labels": `["a","b"]`}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "assets", "rnnrun.json"))
	if err != nil || !strings.Contains(string(b), `"labels": "[\"a\",\"b\"]"`) {
		t.Fatalf("asset %q %v", b, err)
	}
	if idx, err := os.ReadFile(filepath.Join(out, "variables", "variables.index")); err != nil || string(idx) != "idx" {
		t.Fatalf("variables not copied: %v", err)
	}
	if _, err := os.Stat(filepath.Join(in, "assets")); err == nil {
		t.Fatal("the input folder was changed")
	}
	if err := infer.Write(filepath.Join(t.TempDir()), out+"2", nil); err == nil || !strings.Contains(err.Error(), "without saved_model.pb") {
		t.Fatalf("a folder that is no SavedModel: %v", err)
	}
}

// A token model's V is its output's width: a vocabulary of another size is refused.
func TestTokenModelVocabSize(t *testing.T) {
	dir := t.TempDir()
	vocab := filepath.Join(dir, "v.json")
	os.WriteFile(vocab, []byte(`["[UNK]","a","b"]`), 0o644)
	vs, err := infer.Overrides{Vocab: vocab}.Values(func(string) string { return "flag --vocab" })
	if err != nil {
		t.Fatal(err)
	}
	s := sig([]model.TensorInfo{ti("ids", model.Int64, -1, -1)}, ti("logits", model.Float32, -1, -1, 66))
	_, err = infer.Resolve(filepath.Join(dir, "none.onnx"), s, nil, vs)
	if want := "flag --vocab: the vocabulary has 3 entries, but output logits float32[?,?,66] has 66 classes (V = 66)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	s.Outputs[0].Shape[2] = 3
	if md, err := infer.Resolve(filepath.Join(dir, "none.onnx"), s, nil, vs); err != nil || md.InputEncoding != model.EncodingTokenIDs || len(md.Vocab) != 3 {
		t.Fatalf("V = 3: %v %+v", err, md)
	}
}
