//go:build tensorflow && cgo

package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// These tests run the rnnrun binary built with -tags tensorflow (cgo flags from
// scripts/tf-env.sh, as `make test-tf` sets them) on both backends.

// buildTFBinary builds rnnrun with the tag into the test's temporary folder.
func buildTFBinary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rnnrun")
	out, err := exec.Command("go", "build", "-tags", "tensorflow", "-o", path, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building rnnrun -tags tensorflow: %v\n%s", err, out)
	}
	return path
}

// tfNotice matches the two lines libtensorflow prints while it initialises,
// before any Go code runs (see docs/tensorflow.md, "Logging").
var tfNotice = regexp.MustCompile(`(?m)^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR|I\d{4} [0-9:. ]+\d+ port\.cc:\d+\] oneDNN custom operations are on\..*)\n`)

// tfBin is the binary TestTF built for its subtests.
var tfBin string

func runTF(t *testing.T, args ...string) result {
	t.Helper()
	r := execBinary(t, tfBin, "", nil, args...)
	r.stderr = tfNotice.ReplaceAllString(r.stderr, "")
	return r
}

// TestTF runs the CLI built with -tags tensorflow on both backends; the
// subtests share one build.
func TestTF(t *testing.T) {
	tfBin = buildTFBinary(t)
	t.Run("GreedyTextMatchesONNX", testGreedyTextMatchesONNX)
	t.Run("Sampling", testSampling)
	t.Run("EvalMatchesONNXAndKeras", testEvalMatchesONNXAndKeras)
	t.Run("Inspect", testInspect)
	t.Run("BadModel", testBadModel)
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := runTF(t, args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("rnnrun %s: exit %d, stderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// Greedy text is identical on TensorFlow and ONNX Runtime: stateful from an
// empty and from a given prompt, and windowed (the tutorial's re-run window).
func testGreedyTextMatchesONNX(t *testing.T) {
	for _, extra := range [][]string{
		nil,
		{"--prompt", "ROMEO.\n"},
		{"--mode", "windowed", "--length", "60", "--prompt", "HERMIA.\nI would my father looked but with my eyes.\n"},
	} {
		args := append([]string{"--temp", "0", "--length", "200"}, extra...)
		tf := mustRun(t, append([]string{"--backend", "tf", "--model", shipped("char_savedmodel")}, args...)...)
		ort := mustRun(t, append([]string{"--backend", "onnx", "--model", shipped("char.onnx")}, args...)...)
		if tf != ort {
			t.Fatalf("%v: greedy text differs\ntf:   %q\nonnx: %q", extra, tf, ort)
		}
		if strings.TrimSpace(tf) == "" {
			t.Fatalf("%v: no text", extra)
		}
		t.Logf("%v: identical (%d bytes): %q", extra, len(tf), firstLine(tf))
	}
	// The backend is picked from the path: a folder is a SavedModel.
	if got := mustRun(t, "--model", shipped("char_savedmodel"), "--temp", "0", "--length", "200"); got != mustRun(t, "--model", shipped("char.onnx"), "--temp", "0", "--length", "200") {
		t.Fatal("greedy text of the SavedModel picked by path differs from the ONNX model's")
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Sampling at temperature 1.2 with a seed runs on the TensorFlow backend.
func testSampling(t *testing.T) {
	out := mustRun(t, "--backend", "tf", "--model", shipped("char_savedmodel"), "--temp", "1.2", "--length", "100", "--seed", "7")
	if n := len([]rune(strings.TrimSuffix(out, "\n"))); n != 100 {
		t.Fatalf("%d characters, want 100: %q", n, out)
	}
}

// MNIST accuracy on the 10,000 test images is identical on both backends and
// equals the count Keras recorded in the metadata, for both MNIST models.
func testEvalMatchesONNXAndKeras(t *testing.T) {
	for _, name := range []string{"mnist", "mnist_tf"} {
		var got [2]evalJSON
		for i, m := range []struct{ backend, path string }{{"tf", shipped(name + "_savedmodel")}, {"onnx", shipped(name + ".onnx")}} {
			out := mustRun(t, "eval", "--backend", m.backend, "--model", m.path, "--json", "--progress=false")
			if err := json.Unmarshal([]byte(out), &got[i]); err != nil {
				t.Fatalf("%s %s: %v\n%s", name, m.backend, err, out)
			}
		}
		tf, ort := got[0], got[1]
		if tf.Total != 10000 || tf.Correct != ort.Correct || tf.Total != ort.Total {
			t.Fatalf("%s: tf %d/%d, onnx %d/%d", name, tf.Correct, tf.Total, ort.Correct, ort.Total)
		}
		if tf.KerasCorrect == nil || *tf.KerasCorrect != tf.Correct || tf.MatchesKeras == nil || !*tf.MatchesKeras {
			t.Fatalf("%s: tf %d correct, metadata eval_correct %v", name, tf.Correct, tf.KerasCorrect)
		}
		t.Logf("%s: %d/%d correct on both backends (= eval_correct); tf %.0f images/s, onnx %.0f images/s",
			name, tf.Correct, tf.Total, tf.ImagesPerSecond, ort.ImagesPerSecond)
	}
}

// inspect shows the SavedModel's signature by key, in the ONNX order, and its metadata.
func testInspect(t *testing.T) {
	var tf, ort inspection
	if err := json.Unmarshal([]byte(mustRun(t, "inspect", "--backend", "tf", "--model", shipped("char_savedmodel"), "--json")), &tf); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(mustRun(t, "inspect", "--model", shipped("char.onnx"), "--json")), &ort); err != nil {
		t.Fatal(err)
	}
	if tf.Backend != "tf" {
		t.Fatalf("backend %q", tf.Backend)
	}
	a, _ := json.Marshal([]any{tf.Inputs, tf.Outputs})
	b, _ := json.Marshal([]any{ort.Inputs, ort.Outputs})
	// ONNX names the dynamic dimensions; both use -1 for them.
	if string(a) != string(b) {
		t.Fatalf("signatures differ:\ntf:   %s\nonnx: %s", a, b)
	}
	for _, k := range []string{"vocab", "state_inputs", "window_length", "task"} {
		if tf.Metadata[k] != ort.Metadata[k] {
			t.Fatalf("metadata %q: tf %q, onnx %q", k, tf.Metadata[k], ort.Metadata[k])
		}
	}
}

// A bad SavedModel path fails with exit status 1 and a clear message.
func testBadModel(t *testing.T) {
	r := runTF(t, "--backend", "tf", "--model", t.TempDir(), "--temp", "0", "--length", "5")
	if r.code != 1 || !strings.Contains(r.stderr, "not a SavedModel folder") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}
