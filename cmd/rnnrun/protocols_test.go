package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// serveProtocols serves the stateful char model and mnist.
func serveProtocols(t *testing.T, env ...string) *served {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "rnnrun.yaml")
	text := fmt.Sprintf("server:\n  watch: false\nmodels:\n  - name: char\n    path: %q\n  - name: mnist\n    path: %q\n",
		serveModel(t, "char.onnx"), serveModel(t, "mnist.onnx"))
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, env, "--config", cfg, "--playground=false")
	s.waitReady()
	return s
}

// native is the text of the native generate route.
func (s *served) native(prompt string, maxLength int, temp float64, seed int) string {
	s.t.Helper()
	code, body := s.post("/api/v1/models/char/generate", "application/json",
		fmt.Appendf(nil, `{"prompt": %q, "max_length": %d, "temperature": %g, "seed": %d}`, prompt, maxLength, temp, seed))
	var resp struct{ Text string }
	if err := json.Unmarshal([]byte(body), &resp); code != 200 || err != nil {
		s.t.Fatalf("native generate: %d %s", code, body)
	}
	return resp.Text
}

// venvPython is the project's venv's python (make setup-python makes it).
func venvPython(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bash", "-c", `source "$1/scripts/env.sh" && echo "$VENV"`, "env", repoRoot()).Output()
	if err != nil {
		t.Fatal(err)
	}
	venv := strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(venv, ".complete")); err != nil {
		t.Fatalf("the project's Python venv is missing (make setup-python makes it): %v", err)
	}
	return filepath.Join(venv, "bin", "python")
}

// runPython runs a client script of testdata/ and decodes its JSON output into v.
func runPython(t *testing.T, v any, script string, args ...string) {
	t.Helper()
	cmd := exec.Command(venvPython(t), append([]string{filepath.Join("testdata", script)}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, stderr.String())
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("%s printed %q: %v", script, out, err)
	}
}

// The official Go SDK against a real rnnrun serve: a completion and a
// streamed one equal the native route's text for the same seed.
func TestOpenAIGoSDK(t *testing.T) {
	s := serveProtocols(t)
	want := s.native("HERMIA.", 40, 0.8, 42)
	client := openai.NewClient(option.WithBaseURL(s.base+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	ctx := context.Background()
	params := openai.CompletionNewParams{
		Model:       "char",
		Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String("HERMIA.")},
		MaxTokens:   openai.Int(40),
		Temperature: openai.Float(0.8),
		Seed:        openai.Int(42),
	}
	c, err := client.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Choices) != 1 || c.Choices[0].Text != want || c.Choices[0].FinishReason != "length" {
		t.Fatalf("completion %+v, native %q", c.Choices, want)
	}
	if c.Usage.PromptTokens != 7 || c.Usage.CompletionTokens != 40 || c.Usage.TotalTokens != 47 {
		t.Fatalf("usage %+v", c.Usage)
	}

	stream := client.Completions.NewStreaming(ctx, params, option.WithJSONSet("top_k", 0))
	var text strings.Builder
	var reasons []string
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			text.WriteString(ch.Text)
			if ch.FinishReason != "" {
				reasons = append(reasons, string(ch.FinishReason))
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != want || len(reasons) != 1 || reasons[0] != "length" {
		t.Fatalf("streamed %q (finish %v), native %q", text.String(), reasons, want)
	}

	// Errors come back as the SDK's *openai.Error with OpenAI's status.
	params.Model = "no-such-model"
	_, err = client.Completions.New(ctx, params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Param != "model" {
		t.Fatalf("unknown model: %v", err)
	}
	params.Model, params.TopP = "char", openai.Float(0)
	_, err = client.Completions.New(ctx, params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "top_p" {
		t.Fatalf("top_p 0: %v", err)
	}
}

// The Python openai package from the project's venv against a real rnnrun serve.
func TestOpenAIPythonClient(t *testing.T) {
	s := serveProtocols(t)
	want := s.native("HERMIA.", 40, 0.8, 42)
	var got struct {
		Text         string   `json:"text"`
		Usage        []int    `json:"usage"`
		StreamText   string   `json:"stream_text"`
		StreamFinish []string `json:"stream_finish"`
		Models       []string `json:"models"`
		NotFound     []any    `json:"not_found"`
		BadRequest   []any    `json:"bad_request"`
	}
	runPython(t, &got, "openai_client.py", s.base, "char")
	if got.Text != want || got.StreamText != want || fmt.Sprint(got.StreamFinish) != "[length]" {
		t.Fatalf("python: text %q, stream %q %v; native %q", got.Text, got.StreamText, got.StreamFinish, want)
	}
	if fmt.Sprint(got.Usage) != "[7 40 47]" || fmt.Sprint(got.Models) != "[char]" {
		t.Fatalf("usage %v, models %v", got.Usage, got.Models)
	}
	if fmt.Sprint(got.NotFound) != "[404 model_not_found]" || fmt.Sprint(got.BadRequest) != "[400 temperature]" {
		t.Fatalf("errors: not found %v, bad request %v", got.NotFound, got.BadRequest)
	}
}

// tritonclient[http] from the project's venv against a real rnnrun serve:
// mnist's golden case with JSON and with binary tensors, and the errors.
func TestKServeTritonClient(t *testing.T) {
	s := serveProtocols(t)
	golden := filepath.Join(filepath.Dir(serveModel(t, "mnist.onnx")), "testdata", "mnist.json")
	var got struct {
		Live, Ready bool
		ModelReady  bool       `json:"model_ready"`
		Inputs      [][]string `json:"inputs"`
		JSONDiff    float64    `json:"json_diff"`
		BinaryDiff  float64    `json:"binary_diff"`
		Version     string     `json:"version"`
		BadDtype    []any      `json:"bad_dtype"`
		NotFound    []any      `json:"not_found"`
	}
	runPython(t, &got, "triton_client.py", strings.TrimPrefix(s.base, "http://"), "mnist", golden)
	t.Logf("largest difference from the golden outputs: JSON %g, binary %g", got.JSONDiff, got.BinaryDiff)
	if !got.Live || !got.Ready || !got.ModelReady || fmt.Sprint(got.Inputs) != "[[x FP32]]" || len(got.Version) != 12 {
		t.Fatalf("health and metadata: %+v", got)
	}
	if got.JSONDiff > 1e-5 || got.BinaryDiff > 1e-5 {
		t.Fatalf("outputs differ from the golden case: JSON %g, binary %g", got.JSONDiff, got.BinaryDiff)
	}
	if len(got.BadDtype) != 2 || got.BadDtype[0] != "400" || !strings.Contains(fmt.Sprint(got.BadDtype[1]), `input "x"`) {
		t.Fatalf("wrong datatype: %v", got.BadDtype)
	}
	if len(got.NotFound) != 2 || got.NotFound[0] != "404" {
		t.Fatalf("unknown model: %v", got.NotFound)
	}
}

// A 3-call stateful sequence over v2 (tritonclient) equals one 3-character
// generation of the native route with the same seed.
func TestKServeTritonSequence(t *testing.T) {
	s := serveProtocols(t)
	want := s.native("HERMIA.", 3, 0.8, 42)
	var got struct {
		Pieces   []string `json:"pieces"`
		AfterEnd []any    `json:"after_end"`
	}
	runPython(t, &got, "triton_sequence.py", strings.TrimPrefix(s.base, "http://"), "char", "HERMIA.", "42")
	t.Logf("3 calls: %q; one generation: %q", got.Pieces, want)
	if strings.Join(got.Pieces, "") != want || len(got.Pieces) != 3 {
		t.Fatalf("sequence generated %q, one native generation %q", got.Pieces, want)
	}
	if len(got.AfterEnd) != 2 || got.AfterEnd[0] != "400" || !strings.Contains(fmt.Sprint(got.AfterEnd[1]), "no live sequence") {
		t.Fatalf("a call after sequence_end: %v", got.AfterEnd)
	}
}

// server.max-sequences bounds the live sequences (here from the environment).
func TestKServeSequenceLimit(t *testing.T) {
	s := serveProtocols(t, "RNNRUN_SERVER_MAX_SEQUENCES=1")
	start := func(id int) (int, string) {
		return s.post("/v2/models/char/infer", "application/json", fmt.Appendf(nil,
			`{"parameters": {"sequence_id": %d, "sequence_start": true}, "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["HERMIA."]}]}`, id))
	}
	if code, body := start(1); code != 200 || !strings.Contains(body, `"name":"text"`) {
		t.Fatalf("first sequence: %d %s", code, body)
	}
	if code, body := start(2); code != 429 || !strings.Contains(body, "max-sequences") {
		t.Fatalf("second sequence with max-sequences 1: %d %s", code, body)
	}
	end := `{"parameters": {"sequence_id": 1, "sequence_end": true}, "inputs": []}`
	if code, body := s.post("/v2/models/char/infer", "application/json", []byte(end)); code != 200 {
		t.Fatalf("ending the first: %d %s", code, body)
	}
	if code, body := start(2); code != 200 {
		t.Fatalf("second sequence after the first ended: %d %s", code, body)
	}
	// A windowed or image model has no sequences.
	if code, body := s.post("/v2/models/mnist/infer", "application/json", []byte(`{"parameters": {"sequence_id": 3, "sequence_start": true}, "inputs": []}`)); code != 422 {
		t.Fatalf("a sequence on mnist: %d %s", code, body)
	}
}

// mnistPNGs are shipped MNIST test images, by name.
func mnistPNGs(t *testing.T, names ...string) [][]byte {
	t.Helper()
	var files [][]byte
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(repoRoot(), "runtime", "vision", "testdata", "mnist", n))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	return files
}

// nativeClassify is the classify route's labels and probabilities for files (multipart).
func (s *served) nativeClassify(files [][]byte) ([]string, [][]float32) {
	s.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i, f := range files {
		w, err := mw.CreateFormFile("image", fmt.Sprintf("%d.png", i))
		if err != nil {
			s.t.Fatal(err)
		}
		_, _ = w.Write(f)
	}
	_ = mw.Close()
	code, out := s.post("/api/v1/models/mnist/classify", mw.FormDataContentType(), body.Bytes())
	var resp struct {
		Predictions []struct {
			Label string
			Probs []float32
		}
	}
	if err := json.Unmarshal([]byte(out), &resp); code != 200 || err != nil || len(resp.Predictions) != len(files) {
		s.t.Fatalf("native classify: %d %s", code, out)
	}
	var labels []string
	var probs [][]float32
	for _, p := range resp.Predictions {
		labels, probs = append(labels, p.Label), append(probs, p.Probs)
	}
	return labels, probs
}

// v2Binary posts a binary-extension request: the JSON header, then data.
func (s *served) v2Binary(path string, head []byte, data []byte) (int, http.Header, []byte) {
	s.t.Helper()
	req, err := http.NewRequest("POST", s.base+path, bytes.NewReader(append(head, data...)))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(head)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// lengthPrefixed is the v2 binary BYTES layout of elems.
func lengthPrefixed(elems [][]byte) []byte {
	var out []byte
	for _, e := range elems {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(e)))
		out = append(out, e...)
	}
	return out
}

// Encoded images as a v2 BYTES input, JSON (base64) and binary, give the
// classify route's labels and probabilities for the same files.
func TestKServeImageBytes(t *testing.T) {
	s := serveProtocols(t, "RNNRUN_SERVER_MAX_IMAGES=3")
	files := mnistPNGs(t, "t10k-00000.png", "t10k-00001.png", "t10k-00002.png")
	labels, probs := s.nativeClassify(files)
	t.Logf("classify route: labels %v", labels)
	var b64 []string
	for _, f := range files {
		b64 = append(b64, base64.StdEncoding.EncodeToString(f))
	}
	jsonReq, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "image", "shape": []int{3}, "datatype": "BYTES", "data": b64}}})
	code, out := s.post("/v2/models/mnist/infer", "application/json", jsonReq)
	var resp struct {
		Outputs []struct {
			Name, Datatype string
			Shape          []int64
			Data           json.RawMessage
			Parameters     map[string]int
		}
	}
	if err := json.Unmarshal([]byte(out), &resp); code != 200 || err != nil || len(resp.Outputs) != 2 {
		t.Fatalf("JSON infer: %d %s", code, out)
	}
	var gotProbs []float32
	var gotLabels []string
	_ = json.Unmarshal(resp.Outputs[0].Data, &gotProbs)
	_ = json.Unmarshal(resp.Outputs[1].Data, &gotLabels)
	if resp.Outputs[0].Name != "probs" || fmt.Sprint(resp.Outputs[0].Shape) != "[3 10]" || resp.Outputs[1].Datatype != "BYTES" {
		t.Fatalf("JSON outputs: %s", out)
	}
	if fmt.Sprint(gotLabels) != fmt.Sprint(labels) || fmt.Sprint(gotProbs) != fmt.Sprint(flat(probs)) {
		t.Fatalf("JSON infer: labels %v probs %v; classify route: %v %v", gotLabels, gotProbs, labels, probs)
	}

	// Binary in and out.
	data := lengthPrefixed(files)
	head := fmt.Appendf(nil, `{"parameters": {"binary_data_output": true}, "inputs": [{"name": "image", "shape": [3, 1], "datatype": "BYTES", "parameters": {"binary_data_size": %d}}]}`, len(data))
	code, hdr, body := s.v2Binary("/v2/models/mnist/infer", head, data)
	hlen, _ := strconv.Atoi(hdr.Get("Inference-Header-Content-Length"))
	if code != 200 || hlen <= 0 || hlen > len(body) {
		t.Fatalf("binary infer: %d %q", code, body)
	}
	if err := json.Unmarshal(body[:hlen], &resp); err != nil || len(resp.Outputs) != 2 {
		t.Fatalf("binary infer header: %q %v", body[:hlen], err)
	}
	rest := body[hlen:]
	n := resp.Outputs[0].Parameters["binary_data_size"]
	gotProbs = make([]float32, n/4)
	if err := binary.Read(bytes.NewReader(rest[:n]), binary.LittleEndian, gotProbs); err != nil {
		t.Fatal(err)
	}
	gotLabels = nil
	for rest = rest[n:]; len(rest) >= 4; {
		l := binary.LittleEndian.Uint32(rest)
		gotLabels, rest = append(gotLabels, string(rest[4:4+l])), rest[4+l:]
	}
	if fmt.Sprint(gotLabels) != fmt.Sprint(labels) || fmt.Sprint(gotProbs) != fmt.Sprint(flat(probs)) {
		t.Fatalf("binary infer: labels %v probs %v; classify route: %v %v", gotLabels, gotProbs, labels, probs)
	}

	// Bad bytes are 400 naming the element; the classify route's limits apply.
	bad := func(data []string, shape int) (int, string) {
		req, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "image", "shape": []int{shape}, "datatype": "BYTES", "data": data}}})
		return s.post("/v2/models/mnist/infer", "application/json", req)
	}
	garbage := base64.StdEncoding.EncodeToString([]byte("not an image"))
	for _, tc := range []struct {
		data  []string
		shape int
		code  int
		want  string
	}{
		{[]string{b64[0], garbage}, 2, 400, `image \"image[1]\": not a PNG`},
		{[]string{b64[0], "%%%"}, 2, 400, `input \"image\": element 1: illegal base64`},
		{[]string{b64[0]}, 2, 400, "needs 2 elements"},
		{[]string{b64[0], b64[1], b64[2], b64[0]}, 4, 413, "at most 3"},
	} {
		if code, body := bad(tc.data, tc.shape); code != tc.code || !strings.Contains(body, tc.want) || !strings.HasPrefix(body, `{"error":`) {
			t.Errorf("%d elements: %d %s, want %d %q", len(tc.data), code, body, tc.code, tc.want)
		}
	}
	short := lengthPrefixed(files[:1])
	head = fmt.Appendf(nil, `{"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": %d}}]}`, len(short)+3)
	if code, _, body := s.v2Binary("/v2/models/mnist/infer", head, append(short, 9, 0, 0)); code != 400 || !strings.Contains(string(body), "element 1") {
		t.Errorf("truncated binary BYTES: %d %s", code, body)
	}
	// A text model takes no images.
	if code, body := s.post("/v2/models/char/infer", "application/json", jsonReq); code != 422 {
		t.Errorf("images to char: %d %s", code, body)
	}
}

func flat(rows [][]float32) []float32 {
	var out []float32
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// tritonclient[http] sends an np.object_ array of PNG bytes (binary, and
// base64 as JSON): the classify route's labels and probabilities.
func TestKServeTritonImages(t *testing.T) {
	s := serveProtocols(t)
	names := []string{"t10k-00003.png", "t10k-00004.png"}
	labels, probs := s.nativeClassify(mnistPNGs(t, names...))
	var paths []string
	for _, n := range names {
		paths = append(paths, filepath.Join(repoRoot(), "runtime", "vision", "testdata", "mnist", n))
	}
	var got map[string]struct {
		Labels []string    `json:"labels"`
		Probs  [][]float32 `json:"probs"`
	}
	runPython(t, &got, "triton_images.py", append([]string{strings.TrimPrefix(s.base, "http://"), "mnist"}, paths...)...)
	for _, enc := range []string{"binary", "json"} {
		t.Logf("%s: labels %v (classify route %v)", enc, got[enc].Labels, labels)
		if fmt.Sprint(got[enc].Labels) != fmt.Sprint(labels) || fmt.Sprint(got[enc].Probs) != fmt.Sprint(probs) {
			t.Fatalf("tritonclient %s: %v %v; classify route %v %v", enc, got[enc].Labels, got[enc].Probs, labels, probs)
		}
	}
}
