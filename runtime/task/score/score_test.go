package score_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
	_ "github.com/rnnrun/rnnrun/runtime/onnx"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/registry/registrytest"
	"github.com/rnnrun/rnnrun/runtime/server"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/task/score"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

func init() { registrytest.Register() }

func open(t *testing.T, path string) *model.Model {
	t.Helper()
	m, err := model.Open(context.Background(), path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func scorer(t *testing.T, m *model.Model) *score.Scorer {
	t.Helper()
	s, err := score.NewScorer(m, textgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// trainingText is the play as pyexport/data.py load_text makes it from
// ../shared/data/pg1514.txt (beside the repo): UTF-8 without a byte-order
// mark, CRLF and CR as LF, the Gutenberg header and footer cut off, lower
// case if the model's case policy says so. Its sha256 must be the one the
// model's metadata records, or the test would compare different texts.
func trainingText(t *testing.T, md model.Metadata) []rune {
	t.Helper()
	path := filepath.Join(golden.ExportDir(), "..", "..", "..", "shared", "data", "pg1514.txt")
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is not present (the exporter's training text, never committed)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimPrefix(string(raw), "\ufeff")
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	lines := strings.SplitAfter(s, "\n")
	start, end := 0, len(lines)
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), "*** START OF THE PROJECT GUTENBERG EBOOK") {
			start = i + 1
			break
		}
	}
	for i := start; i < len(lines); i++ {
		if strings.HasPrefix(strings.TrimLeft(lines[i], " \t"), "*** END OF THE PROJECT GUTENBERG EBOOK") {
			end = i
			break
		}
	}
	s = strings.Join(lines[start:end], "")
	if md.CasePolicy == "lower" {
		s = strings.ToLower(s)
	}
	sum := sha256.Sum256([]byte(s))
	if got, want := hex.EncodeToString(sum[:]), md.Raw["training_data_sha256"]; got != want {
		t.Fatalf("%s prepared as the exporter does has sha256 %s; the model was trained on %s", path, got, want)
	}
	return []rune(s)
}

// Windowed scoring of the exporter's held-out split (the last 10% of the
// text, each character predicted from the 100 before it, reaching back into
// the training part for the first ones: pyexport/train.py heldout_loss) gives
// the held-out loss the exporter recorded in the model's metadata.
func TestHeldoutLossMatchesExporter(t *testing.T) {
	for _, tc := range []struct {
		file string
		mode textgen.Mode
	}{{"char.onnx", textgen.ModeWindowed}, {"char_window.onnx", textgen.ModeAuto}} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			m := open(t, filepath.Join(golden.ExportDir(), tc.file))
			md := m.Metadata()
			want, err := strconv.ParseFloat(md.Raw["heldout_loss_nats"], 64)
			if err != nil {
				t.Fatalf("metadata heldout_loss_nats %q: %v", md.Raw["heldout_loss_nats"], err)
			}
			text := trainingText(t, md)
			split := int(float64(len(text)) * (1 - 0.1)) // data.py heldout_split
			W := md.WindowLength
			res, err := scorer(t, m).Score(context.Background(), score.Request{Text: string(text[split-W:]), Mode: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := strconv.Atoi(md.Raw["heldout_chars"]); res.Chars != n || res.Chars != len(text)-split || res.Window != W {
				t.Fatalf("scored %d characters with window %d; the exporter held out %s with window %d", res.Chars, res.Window, md.Raw["heldout_chars"], W)
			}
			// The metadata rounds to 4 decimals: 5e-5 of rounding, the rest float32 kernels.
			if d := math.Abs(res.NatsPerChar - want); d > 1e-4 {
				t.Fatalf("held-out loss %.6f nats/char, the exporter recorded %.4f (diff %.2g)", res.NatsPerChar, want, d)
			}
			if math.Abs(res.BitsPerChar-res.NatsPerChar/math.Ln2) > 1e-12 || math.Abs(res.Perplexity-math.Exp(res.NatsPerChar)) > 1e-9 {
				t.Fatalf("bits %v and perplexity %v do not follow from %v nats", res.BitsPerChar, res.Perplexity, res.NatsPerChar)
			}
			t.Logf("%s: %.5f nats/char over %d characters (exporter: %.4f)", tc.file, res.NatsPerChar, res.Chars, want)
		})
	}
}

// Carrying the state from the first character and re-running the window
// compute the same loss for a character whose whole past fits in the window.
func TestStatefulAndWindowedAgreeWithinWindow(t *testing.T) {
	m := open(t, filepath.Join(golden.ExportDir(), "char.onnx"))
	s := scorer(t, m)
	text := strings.Repeat("Lord, what fools these mortals be!\n", 3)[:101]
	ctx := context.Background()
	full, err := s.Score(ctx, score.Request{Text: text, Mode: textgen.ModeStateful})
	if err != nil {
		t.Fatal(err)
	}
	prefix, err := s.Score(ctx, score.Request{Text: text[:100], Mode: textgen.ModeStateful})
	if err != nil {
		t.Fatal(err)
	}
	win, err := s.Score(ctx, score.Request{Text: text, Mode: textgen.ModeWindowed})
	if err != nil {
		t.Fatal(err)
	}
	if full.Chars != 100 || win.Chars != 1 || full.Mode != "stateful" || win.Mode != "windowed" {
		t.Fatalf("stateful %+v, windowed %+v", full, win)
	}
	if d := math.Abs((full.TotalNats - prefix.TotalNats) - win.TotalNats); d > 1e-4 || win.TotalNats <= 0 {
		t.Fatalf("last character: stateful %.6f nats, windowed %.6f", full.TotalNats-prefix.TotalNats, win.TotalNats)
	}
}

// fake is a registrytest text model over "abcdefgh" with a window of 4: it
// predicts the next letter with probability 1, so a cyclic text costs 0
// nats and any other character the floor, log(1e-300).
func fake(t *testing.T) string { return fakeSpec(t, registrytest.Text("score")) }

func fakeSpec(t *testing.T, spec registrytest.Spec) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "letters.json")
	if err := registrytest.Write(path, spec); err != nil {
		t.Fatal(err)
	}
	return path
}

func openFake(t *testing.T) *model.Model { return openSpec(t, registrytest.Text("score")) }

func openSpec(t *testing.T, spec registrytest.Spec) *model.Model {
	t.Helper()
	m, err := model.Open(context.Background(), fakeSpec(t, spec), model.Options{Backend: registrytest.Backend})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestScoreOnFake(t *testing.T) {
	s := scorer(t, openFake(t))
	ctx := context.Background()
	var progress [][2]int
	res, err := s.Score(ctx, score.Request{Text: "abcdefghab", Progress: func(n, total int) { progress = append(progress, [2]int{n, total}) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != "windowed" || res.Window != 4 || res.Chars != 6 || res.ContextChars != 4 || res.TotalNats != 0 || res.Perplexity != 1 {
		t.Fatalf("cyclic text: %+v", res)
	}
	if len(progress) != 1 || progress[0] != [2]int{6, 6} {
		t.Fatalf("progress %v", progress)
	}
	// "abcdh": the model expects "e" after "d"; "h" gets the 1e-300 floor.
	res, err = s.Score(ctx, score.Request{Text: "abcdh"})
	if err != nil || res.Chars != 1 || math.Abs(res.TotalNats+math.Log(1e-300)) > 1e-9 {
		t.Fatalf("wrong character: %+v, %v", res, err)
	}
	for _, tc := range []struct {
		name, text string
		mode       textgen.Mode
		want       error
		msg        string
	}{
		{"empty", "", textgen.ModeAuto, score.ErrEmptyText, "nothing to score"},
		{"shorter than the window", "abcd", textgen.ModeAuto, score.ErrTooShort, "4 characters; windowed scoring needs more than the window of 4"},
		{"outside the vocabulary", "abcdxyz", textgen.ModeAuto, textgen.ErrUnknownChar, `character 'x' at position 4`},
		{"no state to carry", "abcdefgh", textgen.ModeStateful, score.ErrModeUnavailable, "stateful scoring"},
	} {
		_, err := s.Score(ctx, score.Request{Text: tc.text, Mode: tc.mode})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %v mentioning %q", tc.name, err, tc.want, tc.msg)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Score(cancelled, score.Request{Text: "abcdefgh"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// A token-id model giving logits for every step scores both ways: the
// cyclic text costs (about) 0, a wrong token the logit gap of 100 nats.
func TestScoreTokenIDLogitsPerStep(t *testing.T) {
	spec := registrytest.StatefulText("score-ids")
	spec.IDs, spec.Logits, spec.PerStep = "int64", true, true
	s := scorer(t, openSpec(t, spec))
	for _, mode := range []textgen.Mode{textgen.ModeStateful, textgen.ModeWindowed} {
		res, err := s.Score(context.Background(), score.Request{Text: "abcdefghab", Mode: mode})
		if err != nil || res.TotalNats > 1e-30 {
			t.Fatalf("%s, cyclic text: %+v, %v", mode, res, err)
		}
		res, err = s.Score(context.Background(), score.Request{Text: "abcdefah", Mode: mode})
		if err != nil || math.Abs(res.TotalNats-200) > 1e-6 {
			t.Fatalf("%s, two wrong tokens: %+v, %v (want 200 nats)", mode, res, err)
		}
	}
}

// serve runs the registered tasks over a registry of one fake model.
func serve(t *testing.T) string {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := registry.New(registry.Config{Models: []registry.ModelConfig{{Name: "letters", Path: fake(t), Backend: registrytest.Backend}}},
		registry.WithLogger(quiet))
	t.Cleanup(func() { reg.Close() })
	if err := reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(reg, server.Options{Logger: quiet}))
	t.Cleanup(srv.Close)
	return srv.URL + server.Prefix + "/models/letters/score"
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func TestScoreHTTP(t *testing.T) {
	url := serve(t)
	code, body := post(t, url, `{"text": "abcdefghab"}`)
	var resp score.Response
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 200 || resp.Model != "letters" || resp.Chars != 6 ||
		resp.NatsPerChar != 0 || len(resp.Version.SHA256) != 64 || !strings.Contains(body, `"bits_per_char":0`) {
		t.Fatalf("%d %s", code, body)
	}
	code, body = post(t, url, `{"text": "abcdefghab", "stream": true}`)
	if code != 200 || !strings.Contains(body, "event: progress\ndata: {\"scored\":6,\"total\":6}\n\n") ||
		!strings.HasSuffix(body, "\n\n") || !strings.Contains(body, "event: done\ndata: {\"model\":\"letters\"") {
		t.Fatalf("stream: %d %q", code, body)
	}
	for _, tc := range []struct {
		body, code string
		status     int
	}{
		{`{"text": ""}`, "empty_text", 422},
		{`{"text": "abc"}`, "text_too_short", 422},
		{`{"text": "abcdefgz"}`, "unknown_character", 422},
		{`{"text": "abcdefgh", "mode": "stateful"}`, "mode_unavailable", 422},
		{`{"text": "abcdefgh", "mode": "sideways"}`, "invalid_params", 400},
		{`{"txt": "abcdefgh"}`, "bad_json", 400},
	} {
		code, body := post(t, url, tc.body)
		if code != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", tc.body, code, body, tc.status, tc.code)
		}
	}
}

// cli is the task.CLI of rnnrun, reduced to what a test needs.
type cli struct{ out, errs bytes.Buffer }

func (c *cli) Stdout() io.Writer { return &c.out }
func (c *cli) Stderr() io.Writer { return &c.errs }
func (c *cli) Config(cmd *cobra.Command) (*viper.Viper, error) {
	v := viper.New()
	return v, v.BindPFlags(cmd.Flags())
}
func (c *cli) AddModelFlags(fs *pflag.FlagSet) { fs.String("model", "", "model") }
func (c *cli) OpenModel(ctx context.Context, v *viper.Viper) (*model.Model, error) {
	return model.Open(ctx, v.GetString("model"), model.Options{Backend: registrytest.Backend})
}

func runCLI(t *testing.T, stdin string, args ...string) (*cli, error) {
	t.Helper()
	c := &cli{}
	cmd := score.Task{}.Commands(c)[0]
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return c, cmd.ExecuteContext(context.Background())
}

func TestScoreCommand(t *testing.T) {
	m := fake(t)
	c, err := runCLI(t, "abcdefghab", "--model", m, "--json", "-")
	var out map[string]any
	if err != nil || json.Unmarshal(c.out.Bytes(), &out) != nil {
		t.Fatalf("%v: %q", err, c.out.String())
	}
	for _, k := range []string{"file", "mode", "window", "chars", "context_chars", "total_nats", "nats_per_char", "bits_per_char", "perplexity", "seconds", "chars_per_second"} {
		if _, ok := out[k]; !ok {
			t.Errorf("--json output has no %q: %s", k, c.out.String())
		}
	}
	if out["chars"] != 6.0 || out["nats_per_char"] != 0.0 || out["file"] != "-" {
		t.Fatalf("--json output %s", c.out.String())
	}
	file := filepath.Join(t.TempDir(), "text.txt")
	os.WriteFile(file, []byte("\ufeffabcdefgha"), 0o644)
	c, err = runCLI(t, "", "--model", m, file)
	if want := file + ": 0.0000 nats/char, 0.0000 bits/char, perplexity 1.000 over 5 characters (windowed, window 4)\n"; err != nil || c.out.String() != want || c.errs.Len() != 0 {
		t.Fatalf("%v: %q, want %q (stderr %q)", err, c.out.String(), want, c.errs.String())
	}
	long := strings.Repeat("abcdefgh", score.ProgressMinChars/8+1)
	c, err = runCLI(t, long, "--model", m, "-")
	if err != nil || !strings.Contains(c.errs.String(), "rnnrun: score: 4096/") || !strings.HasSuffix(c.errs.String(), "(100%)\n") {
		t.Fatalf("progress: %v, stderr %q", err, c.errs.String())
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		msg   string
		usage bool
	}{
		{"", []string{"--model", m, "-"}, "-: empty text", false},
		{"\xff\xfe", []string{"--model", m, "-"}, "- is not UTF-8 text (byte 0)", false},
		{"ab", []string{"--model", m, "-"}, "text too short", false},
		{"abcdefgh", []string{"--model", m, "--mode", "fast", "-"}, `mode "fast"`, true},
		{"", []string{"--model", m, filepath.Join(t.TempDir(), "none.txt")}, "none.txt: no such file", false},
	} {
		_, err := runCLI(t, tc.stdin, tc.args...)
		var ue task.UsageError
		if err == nil || !strings.Contains(err.Error(), tc.msg) || errors.As(err, &ue) != tc.usage {
			t.Errorf("%v: %v, want %q (usage error: %v)", tc.args, err, tc.msg, tc.usage)
		}
	}
}
