package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/model/infer"
)

// stripped copies a shipped model without its metadata_props (through onnxpb).
func stripped(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	if err := infer.Write(shipped(name), out, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	return out
}

type evalOut struct {
	Correct      int     `json:"correct"`
	Total        int     `json:"total"`
	MatchesKeras *bool   `json:"matches_keras"`
	Confusion    [][]int `json:"confusion"`
}

func evalJSONOf(t *testing.T, args ...string) evalOut {
	t.Helper()
	r := runBinary(t, nil, append([]string{"eval", "--json", "--progress=false"}, args...)...)
	if r.code != 0 {
		t.Fatalf("eval %v: exit %d: %s", args, r.code, r.stderr)
	}
	var e evalOut
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
		t.Fatalf("eval --json: %v: %q", err, r.stdout)
	}
	return e
}

// eval on a stripped MNIST export with no flags: the Keras count, and the same
// confusion matrix as the original (mnist_tf's logits get a softmax).
func TestEvalStrippedModelNoFlags(t *testing.T) {
	for name, want := range map[string]int{"mnist.onnx": 9917, "mnist_tf.onnx": 9938} {
		bare := evalJSONOf(t, "--model", stripped(t, name))
		orig := evalJSONOf(t, "--model", shipped(name))
		if bare.Correct != want || bare.Total != 10000 || orig.Correct != want {
			t.Fatalf("%s: stripped %d/%d, original %d, want %d", name, bare.Correct, bare.Total, orig.Correct, want)
		}
		if !reflect.DeepEqual(bare.Confusion, orig.Confusion) || bare.MatchesKeras != nil {
			t.Fatalf("%s: confusion differs, or a Keras figure without metadata (%v)", name, bare.MatchesKeras)
		}
	}
}

func vocabFile(t *testing.T) string {
	t.Helper()
	var insp struct {
		Metadata map[string]string `json:"metadata"`
	}
	r := runBinary(t, nil, "inspect", "--json", "--model", shipped("char_window.onnx"))
	if err := json.Unmarshal([]byte(r.stdout), &insp); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vocab.json")
	if err := os.WriteFile(path, []byte(insp.Metadata["vocab"]), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGenerateStrippedWindowModel(t *testing.T) {
	bare, vocab := stripped(t, "char_window.onnx"), vocabFile(t)
	args := []string{"--temp", "0", "--length", "200", "--prompt", "HERMIA.\n"}
	want := runBinary(t, nil, append(args, "--model", shipped("char_window.onnx"))...)
	got := runBinary(t, nil, append(args, "--model", bare, "--vocab", vocab)...)
	if got.code != 0 || got.stdout != want.stdout || len(want.stdout) < 200 {
		t.Fatalf("exit %d %s\n got %q\nwant %q", got.code, got.stderr, got.stdout, want.stdout)
	}
}

func TestInspectSaysWhatWasInferred(t *testing.T) {
	bare := stripped(t, "mnist.onnx")
	r := runBinary(t, nil, "inspect", "--model", bare)
	for _, want := range []string{
		"backend  native (chosen by --backend auto)\n",
		"  task                   image-classification <- inferred from input x float32[?,28,28] and output probs float32[?,10]\n",
		"  output_kind            probabilities <- inferred from output probs: made by Softmax node",
		"  input_std              255 <- default: pixel / 255, as the tutorial\n",
		"  labels                 [\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"] <- default: \"0\"..\"9\" for the 10 classes of output probs float32[?,10]\n",
	} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("exit %d %s: inspect does not print %q:\n%s", r.code, r.stderr, want, r.stdout)
		}
	}
	var insp inspection
	r = runBinary(t, nil, "inspect", "--json", "--model", bare, "--labels", "a,b,c,d,e,f,g,h,i,j")
	if err := json.Unmarshal([]byte(r.stdout), &insp); err != nil {
		t.Fatal(err)
	}
	if insp.Sources["labels"] != "flag --labels" || insp.Metadata["labels"] != `["a","b","c","d","e","f","g","h","i","j"]` ||
		insp.Sources["ink"] != "default: light ink on dark, as MNIST" || len(insp.FileMetadata) != 0 {
		t.Fatalf("inspect --json: %+v", insp)
	}
}

// Overrides from flags, the environment and the config file, and their errors.
func TestOverrides(t *testing.T) {
	bare := stripped(t, "mnist.onnx")
	digit := filepath.Join(repoRoot(), "runtime/vision/testdata/mnist/t10k-00000.png")
	letters := "--labels=A,B,C,D,E,F,G,H,I,J"
	if r := runBinary(t, nil, "classify", "--model", bare, letters, digit); r.code != 0 || !strings.HasPrefix(r.stdout, digit+" H 1.000") {
		t.Fatalf("--labels: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	cfg := filepath.Join(t.TempDir(), "rnnrun.yaml")
	os.WriteFile(cfg, []byte("labels: [z0, z1, z2, z3, z4, z5, z6, z7, z8, z9]\n"), 0o644)
	if r := runBinary(t, nil, "classify", "--config", cfg, "--model", bare, digit); r.code != 0 || !strings.HasPrefix(r.stdout, digit+" z7 ") {
		t.Fatalf("config labels: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := runBinary(t, []string{"RNNRUN_INK=dark-on-light"}, "inspect", "--model", bare); !strings.Contains(r.stdout, "ink                    dark-on-light <- environment RNNRUN_INK\n") {
		t.Fatalf("RNNRUN_INK: %s %s", r.stdout, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--labels", "a,b"}, 1, "bad model: flag --labels: 2 labels, but output probs float32[?,10] has 10 classes\n"},
		{[]string{"--input-scale", "abc"}, 2, "rnnrun: flag --input-scale: input scale \"abc\": want a number > 0 or a fraction such as 1/255\n"},
		{[]string{"--input-scale", "1/255", "--input-std", "255"}, 2, "rnnrun: flag --input-scale and input-mean/input-std: give the scale or the mean and std, not both\n"},
		{[]string{"--task", "poetry"}, 2, "rnnrun: flag --task: task \"poetry\": want image-classification or text-generation\n"},
		{[]string{"--task", "text"}, 1, "not an image-classification model: its metadata task is \"text-generation\", want \"image-classification\"\n"},
	} {
		r := runBinary(t, nil, append([]string{"classify", "--model", bare, digit}, tc.args...)...)
		if r.code != tc.code || !strings.HasSuffix(r.stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d, ending %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
		}
	}
	os.WriteFile(infer.SidecarPath(bare), []byte(`{"labels": ["0","1","2","3","4","5","6","7","8"]}`), 0o644)
	r := runBinary(t, nil, "eval", "--model", bare)
	if want := "rnnrun: " + bare + ": bad model: sidecar mnist.onnx.rnnrun.json: 9 labels, but output probs float32[?,10] has 10 classes\n"; r.code != 1 || r.stderr != want {
		t.Fatalf("contradicting sidecar: exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
}

func TestAnnotate(t *testing.T) {
	dir := t.TempDir()
	// An image model: annotated, it runs with no flags and gives the original's results.
	out := filepath.Join(dir, "mnist_tf.onnx")
	r := runBinary(t, nil, "annotate", "--model", stripped(t, "mnist_tf.onnx"), "-o", out)
	if r.code != 0 || !strings.Contains(r.stdout, "checked: "+out+" opens with no flags as image-classification; smoke check passed (classify)\n") {
		t.Fatalf("annotate: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	var insp inspection
	json.Unmarshal([]byte(runBinary(t, nil, "inspect", "--json", "--model", out).stdout), &insp)
	if insp.FileMetadata["output_kind"] != "logits" || insp.FileMetadata["input_std"] != "255" || insp.Sources["task"] != "metadata" {
		t.Fatalf("annotated metadata %v, sources %v", insp.FileMetadata, insp.Sources)
	}
	if got, want := evalJSONOf(t, "--model", out), evalJSONOf(t, "--model", shipped("mnist_tf.onnx")); got.Correct != 9938 || !reflect.DeepEqual(got.Confusion, want.Confusion) {
		t.Fatalf("annotated mnist_tf: %d correct", got.Correct)
	}
	// A text model with --vocab: the original's greedy text with no flags.
	bare, text := stripped(t, "char_window.onnx"), filepath.Join(dir, "text.onnx")
	if r := runBinary(t, nil, "annotate", "--model", bare, "--vocab", vocabFile(t), "-o", text); r.code != 0 {
		t.Fatalf("annotate text: exit %d %s", r.code, r.stderr)
	}
	args := []string{"--temp", "0", "--length", "200", "--prompt", "PUCK.\n"}
	if got, want := runBinary(t, nil, append(args, "--model", text)...), runBinary(t, nil, append(args, "--model", shipped("char_window.onnx"))...); got.code != 0 || got.stdout != want.stdout {
		t.Fatalf("annotated text model: exit %d %s\n got %q\nwant %q", got.code, got.stderr, got.stdout, want.stdout)
	}
	// In place, asked for explicitly.
	if r := runBinary(t, nil, "annotate", "--model", text, "-o", text, "--labels", "x"); r.code != 0 {
		t.Fatalf("in place: exit %d %s", r.code, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--model", bare}, 2, "rnnrun: -o OUT is required: where to write the annotated model\n"},
		{[]string{"-o", filepath.Join(dir, "x.onnx")}, 2, "rnnrun: --model is required (or RNNRUN_MODEL, or model: in the config file)\n"},
		{[]string{"--model", bare, "-o", out}, 1, "rnnrun: " + out + " exists: pass --force to replace it (or -o " + bare + " to annotate the input in place)\n"},
		{[]string{"--model", bare, "-o", filepath.Join(dir, "novocab.onnx")}, 1, "rnnrun: " + bare + ": a text model needs its vocabulary: pass --vocab FILE (a JSON array of strings)\n"},
		{[]string{"--model", filepath.Join(dir, "missing.onnx"), "-o", filepath.Join(dir, "y.onnx")}, 1, "no such file or directory\n"},
	} {
		r := runBinary(t, nil, append([]string{"annotate"}, tc.args...)...)
		if r.code != tc.code || !strings.HasSuffix(r.stderr, tc.msg) {
			t.Errorf("annotate %v: exit %d, stderr %q; want %d, ending %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "novocab.onnx")); err == nil {
		t.Fatal("a failed annotate wrote its output")
	}
}
