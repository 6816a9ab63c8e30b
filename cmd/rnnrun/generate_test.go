package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

func runBinary(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return execBinary(t, buildBinary(t), "", env, args...)
}

func shipped(name string) string { return filepath.Join(golden.ExportDir(), name) }

func TestGenerateGreedyIsDeterministic(t *testing.T) {
	args := []string{"--model", shipped("char.onnx"), "--temp", "0", "--length", "200"}
	a, b := runBinary(t, nil, args...), runBinary(t, nil, args...)
	if a.code != 0 || a.stderr != "" {
		t.Fatalf("exit %d, stderr %q", a.code, a.stderr)
	}
	if a.stdout != b.stdout {
		t.Fatalf("greedy output differs between runs:\n%q\n%q", a.stdout, b.stdout)
	}
	if n := len([]rune(strings.TrimSuffix(a.stdout, "\n"))); n != 200 || !strings.HasSuffix(a.stdout, "\n") {
		t.Fatalf("printed %d characters (want 200) and a final newline: %q", n, a.stdout)
	}
}

// With no prompt, a windowed model starts from a newline as a stateful one
// does: char.onnx run windowed gives its stateful text.
func TestGenerateEmptyPromptWindowed(t *testing.T) {
	args := []string{"--temp", "0", "--length", "60"}
	stateful := runBinary(t, nil, append(args, "--model", shipped("char.onnx"))...)
	windowed := runBinary(t, nil, append(args, "--model", shipped("char.onnx"), "--mode", "windowed")...)
	if stateful.code != 0 || windowed.code != 0 || windowed.stdout != stateful.stdout {
		t.Fatalf("exit %d and %d (%s): windowed %q, stateful %q", stateful.code, windowed.code, windowed.stderr, windowed.stdout, stateful.stdout)
	}
	tutorial := runBinary(t, nil, append(args, "--model", shipped("char_window.onnx"))...)
	if n := len([]rune(strings.TrimSuffix(tutorial.stdout, "\n"))); tutorial.code != 0 || n != 60 {
		t.Fatalf("char_window.onnx with no prompt: exit %d, %d characters, stderr %q", tutorial.code, n, tutorial.stderr)
	}
	// Inside its window the fixed-window model runs the newline unpadded, as
	// its stateful stepping does.
	if st := runBinary(t, nil, append(args, "--model", shipped("char_window.onnx"), "--mode", "stateful")...); st.stdout != tutorial.stdout {
		t.Fatalf("char_window.onnx with no prompt: windowed %q, stateful %q (%s)", tutorial.stdout, st.stdout, st.stderr)
	}
}

// Windowed mode on the fixed-window char_window.onnx runs a prompt shorter
// than the window unpadded from the zero state: inside the window its text is
// the stateful one, on both backends, with nothing on stderr. A fixed-window
// graph that cannot be relaxed (a reverse LSTM) still runs windowed,
// zero-padding the short prompt, and a warning says so and why.
func TestGenerateWindowedShortPrompt(t *testing.T) {
	args := []string{"--model", shipped("char_window.onnx"), "--temp", "0", "--length", "60", "--prompt", "HERMIA."}
	for _, backend := range []string{"native", "onnx"} {
		w := runBinary(t, nil, append(args, "--backend", backend, "--mode", "windowed")...)
		s := runBinary(t, nil, append(args, "--backend", backend, "--mode", "stateful")...)
		if w.code != 0 || w.stderr != "" || w.stdout != s.stdout || len(w.stdout) != 61 {
			t.Fatalf("%s: exit %d, stderr %q: windowed %q, stateful %q", backend, w.code, w.stderr, w.stdout, s.stdout)
		}
	}
	r := runBinary(t, nil, "--model", reversedLSTM(t), "--mode", "windowed", "--temp", "0", "--length", "20", "--prompt", "HERMIA.")
	if r.code != 0 || len(r.stdout) != 21 || !strings.Contains(r.stderr, "windowed mode zero-pads histories shorter than the window") || !strings.Contains(r.stderr, `LSTM node \"lstm\" runs reverse`) {
		t.Fatalf("reverse LSTM windowed: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestGenerateSeedAndTemperatureList(t *testing.T) {
	args := []string{"--model", shipped("char.onnx"), "--temp", "0.2,0.6,1.2", "--length", "60", "--seed", "5", "--prompt", "HERMIA.\n"}
	a, b := runBinary(t, nil, args...), runBinary(t, nil, args...)
	if a.code != 0 || a.stdout != b.stdout {
		t.Fatalf("same seed: exit %d, outputs differ:\n%q\n%q", a.code, a.stdout, b.stdout)
	}
	lines := strings.Split(a.stdout, "\n")
	var headers []string
	for _, l := range lines {
		if strings.HasPrefix(l, "----- ") {
			headers = append(headers, l)
		}
	}
	want := []string{"----- temperature 0.2 -----", "----- temperature 0.6 -----", "----- temperature 1.2 -----"}
	if fmt.Sprint(headers) != fmt.Sprint(want) || lines[0] != want[0] {
		t.Fatalf("headers %q, want %q", headers, want)
	}
	samples := strings.Split(a.stdout, "----- temperature ")
	for _, s := range samples[1:] {
		body := strings.TrimSuffix(s[strings.Index(s, "-----\n")+6:], "\n")
		if n := len([]rune(body)); n != 60 {
			t.Fatalf("sample of %d characters, want 60: %q", n, body)
		}
	}
	c := runBinary(t, nil, "--model", shipped("char.onnx"), "--temp", "1.2", "--length", "60", "--seed", "6")
	d := runBinary(t, nil, "--model", shipped("char.onnx"), "--temp", "1.2", "--length", "60", "--seed", "7")
	if c.stdout == d.stdout {
		t.Fatal("seeds 6 and 7 gave the same text")
	}
}

// Flags, RNNRUN_* variables and the config file set the same values.
func TestGenerateEnvAndConfig(t *testing.T) {
	flags := runBinary(t, nil, "--model", shipped("char.onnx"), "--temp", "0", "--length", "40", "--prompt", "PUCK.\n")
	env := runBinary(t, []string{"RNNRUN_MODEL=" + shipped("char.onnx"), "RNNRUN_TEMP=0", "RNNRUN_LENGTH=40", "RNNRUN_PROMPT=PUCK.\n"})
	cfg := filepath.Join(t.TempDir(), "rnnrun.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("model: %s\ntemp: 0\nlength: 40\nprompt: \"PUCK.\\n\"\n", shipped("char.onnx"))), 0o644)
	conf := runBinary(t, nil, "--config", cfg)
	// A flag beats the config file.
	over := runBinary(t, nil, "--config", cfg, "--length", "10")
	if flags.code != 0 || env.code != 0 || conf.code != 0 {
		t.Fatalf("exit codes %d %d %d: %s %s %s", flags.code, env.code, conf.code, flags.stderr, env.stderr, conf.stderr)
	}
	if flags.stdout != env.stdout || flags.stdout != conf.stdout {
		t.Fatalf("flags %q\nenv %q\nconfig %q", flags.stdout, env.stdout, conf.stdout)
	}
	if over.stdout != flags.stdout[:10]+"\n" {
		t.Fatalf("--length 10 over the config: %q", over.stdout)
	}
}

// writeWithoutMetadata copies an ONNX file without its metadata_props (ModelProto field 14).
func writeWithoutMetadata(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if n < 0 || m < 0 {
			t.Fatal("cannot parse", src)
		}
		if num != 14 {
			out = append(out, b[:n+m]...)
		}
		b = b[n+m:]
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateWithVocabFile(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "bare.onnx")
	writeWithoutMetadata(t, shipped("char.onnx"), bare)
	var meta struct {
		Metadata map[string]string `json:"metadata"`
	}
	insp := runBinary(t, nil, "inspect", "--json", "--model", shipped("char.onnx"))
	if err := json.Unmarshal([]byte(insp.stdout), &meta); err != nil {
		t.Fatalf("inspect --json: %v: %q", err, insp.stdout)
	}
	vocab := filepath.Join(dir, "vocab.json")
	os.WriteFile(vocab, []byte(meta.Metadata["vocab"]), 0o644)
	args := []string{"--temp", "0", "--length", "50", "--prompt", "THESEUS.\n", "--window", "100"}
	with := runBinary(t, nil, append(args, "--model", shipped("char.onnx"))...)
	bareRun := runBinary(t, nil, append(args, "--model", bare)...)
	if bareRun.code != 1 || !strings.Contains(bareRun.stderr, "no vocab") || !strings.Contains(bareRun.stderr, "--vocab") {
		t.Fatalf("model without metadata: exit %d, stderr %q", bareRun.code, bareRun.stderr)
	}
	// Without metadata the state pairs come from the names (h -> h_out, c -> c_out).
	withVocab := runBinary(t, nil, append(args, "--model", bare, "--vocab", vocab)...)
	if withVocab.code != 0 || withVocab.stdout != with.stdout {
		t.Fatalf("--vocab: exit %d %s\n got %q\nwant %q", withVocab.code, withVocab.stderr, withVocab.stdout, with.stdout)
	}
	short := filepath.Join(dir, "short.json")
	os.WriteFile(short, []byte(`["a","b","c"]`), 0o644)
	bad := runBinary(t, nil, append(args, "--model", bare, "--vocab", short)...)
	if bad.code != 1 || !strings.Contains(bad.stderr, "flag --vocab: the vocabulary has 3 entries, but input x float32[?,?,70] is 70 wide (V = 70)") {
		t.Fatalf("mismatched vocab: exit %d, stderr %q", bad.code, bad.stderr)
	}
}

// reversedLSTM writes a copy of char_window.onnx whose LSTM runs in reverse
// (a stateless graph whose state cannot be exposed).
func reversedLSTM(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(shipped("char_window.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "LSTM" {
			n.Attribute = append(n.Attribute, &onnxpb.AttributeProto{Name: proto.String("direction"), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte("reverse")})
		}
	}
	if data, err = proto.Marshal(&m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "reversed.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGenerateErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.onnx")
	os.WriteFile(empty, nil, 0o644)
	text := filepath.Join(dir, "notes.onnx")
	os.WriteFile(text, []byte("this is not a model\n"), 0o644)
	full, _ := os.ReadFile(shipped("char.onnx"))
	truncated := filepath.Join(dir, "truncated.onnx")
	os.WriteFile(truncated, full[:len(full)/2], 0o644)
	char := shipped("char.onnx")
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no model", []string{"--temp", "1"}, 2, "--model is required"},
		{"unknown flag", []string{"--model", char, "--bogus"}, 2, "unknown flag: --bogus"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"negative temperature", []string{"--model", char, "--temp", "-1"}, 2, `--temp "-1"`},
		{"NaN temperature", []string{"--model", char, "--temp", "NaN"}, 2, `--temp "NaN"`},
		{"top-p zero", []string{"--model", char, "--top-p", "0"}, 2, "--top-p 0: must be in (0, 1]"},
		{"top-p above one", []string{"--model", char, "--top-p", "1.5"}, 2, "--top-p 1.5"},
		{"negative top-k", []string{"--model", char, "--top-k", "-3"}, 2, "--top-k -3"},
		{"zero length", []string{"--model", char, "--length", "0"}, 2, "--length 0"},
		{"empty stop", []string{"--model", char, "--stop="}, 2, `--stop "": must not be empty`},
		{"empty stop after another", []string{"--model", char, "--stop", "a", "--stop", ""}, 2, `--stop "": must not be empty`},
		{"negative threads", []string{"--model", char, "--threads", "-1"}, 2, "--threads -1: must be >= 0"},
		{"empty folder", []string{"--model", dir}, 1, dir + " is a folder without saved_model.pb"},
		{"bad mode", []string{"--model", char, "--mode", "sideways"}, 2, `mode "sideways"`},
		{"stateful on a stateless model it cannot rewrite", []string{"--model", reversedLSTM(t), "--mode", "stateful", "--prompt", "a"}, 2, `LSTM node "lstm" runs reverse: its state cannot be carried forward step by step; use --mode windowed`},
		{"missing file", []string{"--model", filepath.Join(dir, "nope.onnx")}, 1, "nope.onnx: no such file"},
		{"empty file", []string{"--model", empty}, 1, "empty.onnx is empty"},
		{"not ONNX", []string{"--model", text}, 1, "notes.onnx is not an ONNX model"},
		{"truncated", []string{"--model", truncated}, 1, "truncated.onnx is not an ONNX model (or is truncated)"},
		{"image model", []string{"--model", shipped("mnist.onnx")}, 1, `not a text-generation model: ` + shipped("mnist.onnx") + ` declares task "image-classification"`},
		{"unknown character", []string{"--model", char, "--prompt", "ab\x01"}, 1, `character '\x01' at position 2 is not in the model's vocabulary`},
		{"missing library", []string{"--model", char, "--backend", "onnx", "--ort-lib", filepath.Join(dir, "libnone.so")}, 1, "libnone.so given as an option does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runBinary(t, nil, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) || !strings.HasPrefix(r.stderr, "rnnrun: ") {
				t.Fatalf("exit %d (want %d), stderr %q (want it to contain %q)", r.code, c.code, r.stderr, c.msg)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Fatalf("panic: %s", r.stderr)
			}
			if r.stdout != "" {
				t.Fatalf("stdout not empty on error: %q", r.stdout)
			}
		})
	}
	// Unknown characters can be skipped or replaced instead.
	for _, policy := range []string{"skip", "replace"} {
		if r := runBinary(t, nil, "--model", char, "--prompt", "ab\x01", "--unknown", policy, "--length", "5"); r.code != 0 {
			t.Fatalf("--unknown %s: exit %d %s", policy, r.code, r.stderr)
		}
	}
}

func TestInspectAndVersion(t *testing.T) {
	r := runBinary(t, nil, "inspect", "--json", "--model", shipped("char.onnx"))
	var got struct {
		Backend string `json:"backend"`
		Auto    bool   `json:"auto"`
		Inputs  []struct {
			Name  string  `json:"name"`
			Type  string  `json:"type"`
			Shape []int64 `json:"shape"`
		} `json:"inputs"`
		Outputs  []struct{ Name string } `json:"outputs"`
		Metadata map[string]string       `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("inspect --json: exit %d, %v: %q", r.code, err, r.stdout)
	}
	if got.Backend != "native" || !got.Auto || len(got.Inputs) != 3 || got.Inputs[0].Name != "x" || got.Inputs[0].Type != "float32" ||
		fmt.Sprint(got.Inputs[0].Shape[:2]) != "[-1 -1]" || got.Metadata["task"] != "text-generation" || len(got.Outputs) != 3 {
		t.Fatalf("inspect: %+v", got)
	}
	text := runBinary(t, nil, "inspect", "--model", shipped("char.onnx"))
	for _, want := range []string{"inputs\n  x        float32  [?,?,", "  h        float32  [?,128]", "outputs\n  probs", "task                   text-generation"} {
		if !strings.Contains(text.stdout, want) {
			t.Fatalf("inspect output lacks %q:\n%s", want, text.stdout)
		}
	}
	v := runBinary(t, nil, "version")
	if v.code != 0 || !strings.HasPrefix(v.stdout, "rnnrun ") || !strings.Contains(v.stdout, "onnxruntime 1.30.0") ||
		!strings.Contains(v.stdout, "backends native (kernels ") {
		t.Fatalf("version: %q", v.stdout)
	}
}

// --stop takes each value as is (newlines and commas included) and ends the
// text just before the first stop string.
func TestGenerateStop(t *testing.T) {
	// A seeded sample (the same text every run) long enough to hold a blank line.
	base := []string{"--model", shipped("char.onnx"), "--temp", "0.6", "--seed", "1", "--length", "400", "--prompt", "HERMIA.\n"}
	full := strings.TrimSuffix(runBinary(t, nil, base...).stdout, "\n")
	// Two words of the text's last line with two words: a stop with a space in it.
	var words string
	for _, line := range strings.Split(full, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.Contains(line, f[0]+" "+f[1]) {
			words = f[0] + " " + f[1]
		}
	}
	// "so,never" never occurs: split at its comma, "so" would stop the text early.
	for _, stop := range []string{"\n\n", words, "the"} {
		i := strings.Index(full, stop)
		if i < 0 {
			t.Fatalf("greedy text lacks %q: %q", stop, full)
		}
		r := runBinary(t, nil, append(base, "--stop", stop, "--stop", "so,never")...)
		if r.code != 0 || r.stdout != full[:i]+"\n" {
			t.Fatalf("--stop %q: exit %d %s, got %q, want %q", stop, r.code, r.stderr, r.stdout, full[:i]+"\n")
		}
	}
}

// rnnrun score settles the mode as serve and generate do: --mode stateful on
// the stateless char_window.onnx runs it with its state exposed (it used to
// fail with "has no state inputs and outputs; use windowed mode").
func TestScoreStatefulOnStatelessExport(t *testing.T) {
	const speech = "HERMIA.\nBelike for want of rain, which I could well\nBeteem them."
	text := filepath.Join(t.TempDir(), "speech.txt")
	if err := os.WriteFile(text, []byte(speech), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runBinary(t, nil, "score", "--model", shipped("char_window.onnx"), "--mode", "stateful", "--json", text)
	var got map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil {
		t.Fatalf("score --mode stateful: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if nats, _ := got["nats_per_char"].(float64); got["mode"] != "stateful" || got["chars"] != float64(len(speech)-1) || !(nats > 0 && nats < 10) {
		t.Fatalf("score --mode stateful: %s", r.stdout)
	}
}
