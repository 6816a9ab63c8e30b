package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/internal/mnistdata"
	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// "Bring your own model": models exported the way a user would, with no rnnrun
// metadata (scripts/plain-models.sh: Keras 3 model.export, SavedModel + tf2onnx,
// torch.onnx.export), run through the binary and compared with what the
// exporting framework itself computed.

// plainTextModels are the text exports of scripts/plain-models.py, by file stem.
var plainTextModels = []string{
	"keras_tutorial_char", "tf2onnx_tutorial_char",
	"keras_gru_char", "torch_gru_char",
	"keras_lstm2", "torch_lstm2",
	"keras_embed_gru", "tf2onnx_embed_gru",
}

// plainDir is where scripts/plain-models.sh exported the models
// (onnxtest.ExportsDir "plain", keyed by whether the play is there to train on).
// Missing, it fails under CI=true or when the scripts could run here, and skips
// only when their prerequisites are missing on a developer's machine.
func plainDir(t *testing.T) string {
	t.Helper()
	data := "fallback"
	if _, err := os.Stat(filepath.Join(repoRoot(), "..", "shared", "data", "pg1514.txt")); err == nil {
		data = "play"
	}
	dir, err := onnxtest.ExportsDir("plain", data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	msg := fmt.Sprintf("the plain exports are missing (%s): run bash scripts/plain-models.sh (make test does)", dir)
	if os.Getenv("CI") == "" && exec.Command("/usr/bin/python3", "-c", "import torch").Run() != nil {
		t.Skip(msg + "; it needs Debian's python3-torch (scripts/setup-testdata.sh)")
	}
	t.Fatal(msg)
	return ""
}

// textRefs is a text model's refs JSON: what the exporting framework computed.
type textRefs struct {
	Vocab         []string  `json:"vocab"`
	Prompt        string    `json:"prompt"`
	Text          string    `json:"text"`
	Mode          string    `json:"mode"`
	Last          []float64 `json:"last"`
	OutputKind    string    `json:"output_kind"`
	InputEncoding string    `json:"input_encoding"`
	Window        int       `json:"window"`
}

type mnistRefs struct {
	Predictions []int   `json:"predictions"`
	Labels      []int   `json:"labels"`
	Accuracy    float64 `json:"accuracy"`
}

func readRefs(t *testing.T, dir, name string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".refs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("%s.refs.json: %v", name, err)
	}
}

// writeJSON writes v as JSON into dir/name and returns the path.
func writeJSON(t *testing.T, dir, name string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// greedy runs the binary's greedy generation and returns the text (without the
// final newline), failing on any error.
func greedy(t *testing.T, args ...string) string {
	t.Helper()
	r := runBinary(t, nil, append([]string{"--temp", "0"}, args...)...)
	if r.code != 0 || !strings.HasSuffix(r.stdout, "\n") {
		t.Fatalf("rnnrun %q: exit %d, stdout %q\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return strings.TrimSuffix(r.stdout, "\n")
}

func firstDiff(a, b string) string {
	ra, rb := []rune(a), []rune(b)
	for i := range min(len(ra), len(rb)) {
		if ra[i] != rb[i] {
			return fmt.Sprintf("first difference at character %d: %q vs %q", i, string(ra[i]), string(rb[i]))
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(ra), len(rb))
}

// eachTextModel runs check as a subtest on each plain text export, given its
// path, its refs and its vocabulary written as a --vocab file.
func eachTextModel(t *testing.T, check func(t *testing.T, path string, ref textRefs, vocab string)) {
	dir := plainDir(t)
	for _, name := range plainTextModels {
		t.Run(name, func(t *testing.T) {
			var ref textRefs
			readRefs(t, dir, name, &ref)
			check(t, filepath.Join(dir, name+".onnx"), ref, writeJSON(t, t.TempDir(), "vocab.json", ref.Vocab))
		})
	}
}

// Greedy text equal to the exporting framework's own greedy loop, 200 characters,
// in the mode auto picks (the reference's: windowed for the tutorial's fixed window,
// stateful for a dynamic time dimension), with only --vocab given.
func TestPlainGreedyMatchesFramework(t *testing.T) {
	eachTextModel(t, func(t *testing.T, path string, ref textRefs, vocab string) {
		if n := len([]rune(ref.Text)); n != 200 {
			t.Fatalf("the reference has %d characters, want 200", n)
		}
		got := greedy(t, "--model", path, "--vocab", vocab, "--length", "200", "--prompt", ref.Prompt)
		if got != ref.Text {
			t.Errorf("greedy text differs from the framework's %s loop (%s):\n got %q\nwant %q", ref.Mode, firstDiff(got, ref.Text), got, ref.Text)
		}
	})
}

// Stateful stepping of each stateless export equals windowed while the prompt and
// the output fit in the window (30 + 60 characters of a 100-character window).
func TestPlainStatefulEqualsWindowedInWindow(t *testing.T) {
	eachTextModel(t, func(t *testing.T, path string, ref textRefs, vocab string) {
		p := []rune(ref.Prompt)
		prompt := string(p[len(p)-min(len(p), 30):])
		args := []string{"--model", path, "--vocab", vocab, "--length", "60", "--prompt", prompt, "--window", "100"}
		stateful := greedy(t, append(args, "--mode", "stateful")...)
		windowed := greedy(t, append(args, "--mode", "windowed")...)
		if stateful != windowed {
			t.Errorf("stateful and windowed differ inside the window (%s):\nstateful %q\nwindowed %q", firstDiff(stateful, windowed), stateful, windowed)
		}
	})
}

// `rnnrun eval` on the plain MNIST exports with no flags: Keras' predictions image
// for image (classify over the idx file), and eval's count and confusion matrix.
func TestPlainMNISTMatchesKeras(t *testing.T) {
	dir := plainDir(t)
	data, err := mnistdata.Dir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	images := filepath.Join(data, "t10k-images-idx3-ubyte.gz")
	for _, name := range []string{"keras_tutorial_mnist", "tf2onnx_tutorial_mnist"} {
		t.Run(name, func(t *testing.T) {
			var ref mnistRefs
			readRefs(t, dir, name, &ref)
			path := filepath.Join(dir, name+".onnx")
			checkClassifyPredictions(t, path, images, ref.Predictions)
			checkEvalConfusion(t, path, ref)
		})
	}
}

func checkClassifyPredictions(t *testing.T, path, images string, want []int) {
	t.Helper()
	r := runBinary(t, nil, "classify", "--model", path, images)
	if r.code != 0 {
		t.Fatalf("classify: exit %d\nstderr: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("classify printed %d lines, want %d", len(lines), len(want))
	}
	wrong := 0
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != fmt.Sprintf("%s[%d]", images, i) {
			t.Fatalf("line %d: %q, want %s[%d] LABEL PROB", i, line, images, i)
		}
		if got, _ := strconv.Atoi(f[1]); got != want[i] || f[1] != strconv.Itoa(got) {
			if wrong++; wrong <= 5 {
				t.Errorf("image %d: rnnrun says %s, Keras %d", i, f[1], want[i])
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d images differ from Keras' predictions", wrong, len(want))
	}
}

func checkEvalConfusion(t *testing.T, path string, ref mnistRefs) {
	t.Helper()
	r := runBinary(t, nil, "eval", "--model", path, "--json")
	if r.code != 0 {
		t.Fatalf("eval: exit %d\nstderr: %s", r.code, r.stderr)
	}
	var got struct {
		Correct   int     `json:"correct"`
		Total     int     `json:"total"`
		Confusion [][]int `json:"confusion"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\nstdout: %s", err, r.stdout)
	}
	want := make([][]int, 10)
	for i := range want {
		want[i] = make([]int, 10)
	}
	correct := 0
	for i, p := range ref.Predictions {
		want[ref.Labels[i]][p]++
		if p == ref.Labels[i] {
			correct++
		}
	}
	if got.Correct != correct || got.Total != len(ref.Predictions) || fmt.Sprint(got.Confusion) != fmt.Sprint(want) {
		t.Errorf("eval: %d of %d correct, confusion %v; Keras: %d of %d, confusion %v", got.Correct, got.Total, got.Confusion, correct, len(ref.Predictions), want)
	}
}

// copyWithSidecar copies the export name into a temporary folder with the sidecar
// <file>.rnnrun.json holding meta, and returns the copy's path.
func copyWithSidecar(t *testing.T, dir, name string, meta map[string]any) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	path := filepath.Join(tmp, name+".onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, tmp, name+".onnx.rnnrun.json", meta)
	return path
}

// The rate ratio on the tutorial's plain export: stepping it statefully must beat
// re-running the window (the figure is logged, never timed against a bound).
func TestPlainBenchStatefulBeatsWindowed(t *testing.T) {
	dir := plainDir(t)
	var ref textRefs
	readRefs(t, dir, "keras_tutorial_char", &ref)
	path := copyWithSidecar(t, dir, "keras_tutorial_char", map[string]any{"vocab": ref.Vocab})
	bench := func(mode string) map[string]any {
		return benchJSON(t, "--model", path, "--mode", mode, "--only", mode, "--length", "100", "--prompt", ref.Prompt)
	}
	stateful := positive(t, bench("stateful"), "stateful_chars_per_second")
	windowed := positive(t, bench("windowed"), "windowed_chars_per_second")
	if stateful <= windowed {
		t.Errorf("stateful %.0f chars/s is not above windowed %.0f chars/s", stateful, windowed)
	}
	t.Logf("plain keras_tutorial_char: stateful %.0f chars/s, windowed %.0f chars/s: %.1fx", stateful, windowed, stateful/windowed)
}

// failing runs the binary, wants exit status 1 and returns stderr.
func failing(t *testing.T, args ...string) string {
	t.Helper()
	r := runBinary(t, nil, args...)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "rnnrun: ") {
		t.Fatalf("rnnrun %q: exit %d (want 1), stderr %q, stdout %q", args, r.code, r.stderr, r.stdout)
	}
	return r.stderr
}

func wantAll(t *testing.T, msg string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not name %q", msg, p)
		}
	}
}

// rewriteONNX loads dir/name.onnx, applies edit and writes the result into a
// temporary folder, returning its path.
func rewriteONNX(t *testing.T, dir, name string, edit func(*onnxpb.ModelProto)) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(&m)
	if b, err = proto.Marshal(&m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlainBadInput(t *testing.T) {
	dir := plainDir(t)
	var ref textRefs
	readRefs(t, dir, "keras_tutorial_char", &ref)
	tmp := t.TempDir()
	t.Run("ambiguous signature", func(t *testing.T) {
		// The MNIST export with a second, unused float input: which one is the image?
		var image string
		path := rewriteONNX(t, dir, "keras_tutorial_mnist", func(m *onnxpb.ModelProto) {
			image = m.Graph.Input[0].GetName()
			extra := proto.Clone(m.Graph.Input[0]).(*onnxpb.ValueInfoProto)
			extra.Name = proto.String("extra")
			m.Graph.Input = append(m.Graph.Input, extra)
		})
		msg := failing(t, "eval", "--model", path, "--limit", "10")
		wantAll(t, msg, path, "extra", image, "--task")
	})
	t.Run("sidecar contradicts the graph", func(t *testing.T) {
		path := copyWithSidecar(t, dir, "keras_tutorial_mnist", map[string]any{"image_height": 27})
		msg := failing(t, "eval", "--model", path, "--limit", "10")
		wantAll(t, msg, "keras_tutorial_mnist.onnx.rnnrun.json", "image_height 27", "28")
	})
	t.Run("vocabulary size differs from V", func(t *testing.T) {
		vocab := writeJSON(t, tmp, "short.json", ref.Vocab[:len(ref.Vocab)-1])
		msg := failing(t, "--model", filepath.Join(dir, "keras_tutorial_char.onnx"), "--vocab", vocab, "--temp", "0", "--length", "5", "--prompt", "a")
		wantAll(t, msg, fmt.Sprintf("%d entries", len(ref.Vocab)-1), strconv.Itoa(len(ref.Vocab)))
	})
	t.Run("token id out of range", func(t *testing.T) {
		var tok textRefs
		readRefs(t, dir, "keras_embed_gru", &tok)
		// The embedding table cut to 10 rows: the vocabulary's ids 10.. have no row.
		path := rewriteONNX(t, dir, "keras_embed_gru", func(m *onnxpb.ModelProto) { cutEmbedding(t, m, len(tok.Vocab), 10) })
		vocab := writeJSON(t, tmp, "tokens.json", tok.Vocab)
		msg := failing(t, "--model", path, "--vocab", vocab, "--temp", "0", "--length", "5", "--prompt", tok.Prompt)
		wantAll(t, msg, path, strconv.Itoa(len(tok.Vocab)), "token id")
	})
}

// cutEmbedding keeps the first rows rows of the float initializer whose first
// dimension is the vocabulary's size and which has two dimensions (the Embedding
// table).
func cutEmbedding(t *testing.T, m *onnxpb.ModelProto, v, rows int) {
	t.Helper()
	for _, init := range m.Graph.Initializer {
		d := init.GetDims()
		if len(d) != 2 || d[0] != int64(v) || init.GetDataType() != int32(onnxpb.TensorProto_FLOAT) {
			continue
		}
		width := int(d[1])
		init.Dims = []int64{int64(rows), d[1]}
		if raw := init.GetRawData(); len(raw) > 0 {
			init.RawData = raw[:rows*width*4]
		} else {
			init.FloatData = init.FloatData[:rows*width]
		}
		return
	}
	t.Fatalf("no [%d, width] float initializer (the Embedding table) in the model", v)
}
