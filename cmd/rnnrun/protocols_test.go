package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
