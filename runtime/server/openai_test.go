package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rnnrun/rnnrun/runtime/protocol/openai"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
)

func TestOpenAIModels(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	code, body := e.do("GET", "/v1/models", "", nil)
	list := decode[openai.ModelList](t, body)
	if code != 200 || list.Object != "list" || len(list.Data) != 2 {
		t.Fatalf("GET /v1/models: %d %s", code, body)
	}
	for _, m := range list.Data {
		if (m.ID != "text" && m.ID != "slow") || m.Object != "model" || m.Created == 0 {
			t.Fatalf("model %+v (the image model is not a completions model)", m)
		}
	}
}

// A completion equals the native route's text for the same seed, and choice
// k of n takes seed+k.
func TestOpenAICompletionsEqualNative(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	for _, temp := range []float64{0, 1.5} {
		code, body := e.postJSON("/v1/completions", map[string]any{"model": "text", "prompt": []string{"a", "c"},
			"max_tokens": 6, "temperature": temp, "seed": 11, "n": 2})
		got := decode[openai.Completion](t, body)
		if code != 200 || got.Object != "text_completion" || len(got.Choices) != 4 {
			t.Fatalf("completions: %d %s", code, body)
		}
		for i, ch := range got.Choices {
			prompt, seed := []string{"a", "c"}[i/2], 11+i%2
			_, nb := e.postJSON("/api/v1/models/text/generate", map[string]any{"prompt": prompt, "max_length": 6, "temperature": temp, "seed": seed})
			native := decode[generate.Response](t, nb)
			if ch.Index != i || ch.Text != native.Text || *ch.FinishReason != "length" {
				t.Fatalf("temperature %g, choice %d: %+v, native %q", temp, i, ch, native.Text)
			}
		}
		if u := got.Usage; u == nil || u.PromptTokens != 4 || u.CompletionTokens != 24 || u.TotalTokens != 28 {
			t.Fatalf("usage %+v", got.Usage)
		}
	}
	// A stop string (a string, not a list) ends with finish_reason "stop".
	code, body := e.postJSON("/v1/completions", map[string]any{"model": "text", "prompt": "a", "stop": "de", "temperature": 0})
	got := decode[openai.Completion](t, body)
	if code != 200 || got.Choices[0].Text != "bc" || *got.Choices[0].FinishReason != "stop" {
		t.Fatalf("stop: %d %s", code, body)
	}
}

func TestOpenAIStream(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	resp, err := e.client.Post(e.url("/v1/completions"), "application/json", strings.NewReader(
		`{"model": "text", "prompt": "a", "max_tokens": 4, "temperature": 0, "n": 2, "stream": true, "stream_options": {"include_usage": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var texts [2]strings.Builder
	var finished [2]int
	var events []sseEvent
	if err := readEvents(resp.Body, func(ev sseEvent) bool { events = append(events, ev); return true }); err != nil {
		t.Fatal(err)
	}
	if last := events[len(events)-1]; last.data != "[DONE]" || last.name != "" {
		t.Fatalf("last event %+v", last)
	}
	usage := decode[openai.Completion](t, []byte(events[len(events)-2].data)).Usage
	for _, ev := range events[:len(events)-2] {
		ch := decode[openai.Completion](t, []byte(ev.data))
		if ev.name != "" || ch.Object != "text_completion" || len(ch.Choices) != 1 {
			t.Fatalf("event %+v", ev)
		}
		c := ch.Choices[0]
		if finished[c.Index] > 0 {
			t.Fatalf("choice %d goes on after its finish_reason", c.Index)
		}
		texts[c.Index].WriteString(c.Text)
		if c.FinishReason != nil {
			finished[c.Index]++
			if *c.FinishReason != "length" {
				t.Fatalf("finish_reason %q", *c.FinishReason)
			}
		}
	}
	if texts[0].String() != "bcde" || texts[1].String() != "bcde" || finished != [2]int{1, 1} {
		t.Fatalf("streamed %q %q, finished %v", texts[0].String(), texts[1].String(), finished)
	}
	if usage == nil || usage.CompletionTokens != 8 || usage.PromptTokens != 2 {
		t.Fatalf("usage %+v", usage)
	}
}

func TestOpenAIErrors(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	for _, c := range []struct {
		body  string
		code  int
		param string
	}{
		{`{"model": "nope", "prompt": "a"}`, 404, "model"},
		{`{"model": "text", "prompt": "a", "temperature": -1}`, 400, "temperature"},
		{`{"model": "text", "prompt": "a", "top_p": 0}`, 400, "top_p"},
		{`{"model": "text", "prompt": "a", "max_tokens": 0}`, 400, "max_tokens"},
		{`{"model": "text", "prompt": "a", "max_tokens": 100000}`, 400, "max_tokens"},
		{`{"model": "text", "prompt": "a", "n": 0}`, 400, "n"},
		{`{"model": "text", "prompt": [1, 2]}`, 400, "prompt"},
		{`{"model": "text", "prompt": "a", "stop": 3}`, 400, "stop"},
		{`{"model": "text", "prompt": "a", "echo": true}`, 400, "echo"},
		{`{"model": "text", "prompt": "a", "seed": -2}`, 400, "seed"},
		{`{"prompt": "a"}`, 400, "model"},
		{`{"model": "text", "prompt": "a", "frobnicate": 1}`, 400, ""},
		{`{"model": "text", "prompt": "xyz"}`, 422, ""},
		{`{"model": "image", "prompt": "a"}`, 422, ""},
	} {
		code, body := e.do("POST", "/v1/completions", "application/json", []byte(c.body))
		got := decode[openai.ErrorBody](t, body)
		param := ""
		if got.Error.Param != nil {
			param = *got.Error.Param
		}
		if code != c.code || got.Error.Message == "" || got.Error.Type == "" || got.Error.Code == "" || param != c.param {
			t.Errorf("%s: %d %s, want %d with param %q", c.body, code, body, c.code, c.param)
		}
	}
}

// A client that disconnects from a streaming completion stops its generation.
func TestOpenAIStreamDisconnect(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	resp, cancel := slowCompletion(t, e)
	defer cancel()
	got := 0
	readEvents(resp.Body, func(ev sseEvent) bool { got++; return got < 3 })
	cancel()
	resp.Body.Close()
	waitFor(t, "the generation to stop", 3*time.Second, func() bool { return e.status("slow").InFlight == 0 })
	waitFor(t, "the request to be counted as 499", 3*time.Second, func() bool {
		return strings.Contains(e.metrics(), `rnnrun_http_requests_total{model="slow",route="openai_completions",status="499"} 1`)
	})
	if m := grep(e.metrics(), `rnnrun_openai_completion_tokens_total{model="slow"}`); m == "" || strings.Contains(m, "} 1000") {
		t.Fatalf("tokens after the disconnect: %q", m)
	}
}

// The model's concurrency limit holds across the native route and both
// protocols: with the one slot of "slow" taken by a completion, each gets 429
// in its own error shape.
func TestProtocolsShareTheConcurrencyLimit(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	resp, cancel := slowCompletion(t, e)
	defer cancel()
	defer resp.Body.Close()
	readEvents(resp.Body, func(sseEvent) bool { return false }) // the stream holds the slot
	code, body := e.postJSON("/v1/completions", map[string]any{"model": "slow", "prompt": "a"})
	if got := decode[openai.ErrorBody](t, body); code != 429 || got.Error.Type != "rate_limit_error" || got.Error.Code != "model_busy" {
		t.Fatalf("second completion: %d %s", code, body)
	}
	code, body = e.do("POST", "/v2/models/slow/infer", "application/json",
		[]byte(`{"inputs": [{"name": "x", "shape": [1, 1, 8], "datatype": "FP32", "data": [1, 0, 0, 0, 0, 0, 0, 0]}]}`))
	if code != 429 || !strings.Contains(string(body), `"error":`) {
		t.Fatalf("infer while busy: %d %s", code, body)
	}
	if code, body := e.postJSON("/api/v1/models/slow/generate", map[string]any{"prompt": "a"}); code != 429 {
		t.Fatalf("native while busy: %d %s", code, body)
	}
}

// slowCompletion starts a long streaming completion on "slow"; cancel disconnects it.
func slowCompletion(t *testing.T, e *env) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.url("/v1/completions"),
		strings.NewReader(`{"model": "slow", "prompt": "a", "max_tokens": 1000, "stream": true}`))
	resp, err := e.client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return resp, cancel
}
