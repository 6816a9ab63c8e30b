package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task/classify"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// shippedEnv serves the four shipped models.
func shippedEnv(t *testing.T) *env {
	t.Helper()
	cfg := registry.Config{Models: []registry.ModelConfig{
		{Name: "char", Path: shipped(t, "char.onnx"), Concurrency: 4},
		{Name: "char-window", Path: shipped(t, "char_window.onnx"), Concurrency: 4},
		{Name: "mnist", Path: shipped(t, "mnist.onnx"), Concurrency: 4},
		{Name: "mnist-tf", Path: shipped(t, "mnist_tf.onnx"), Concurrency: 4},
	}}
	for i := range cfg.Models {
		cfg.Models[i].Settings = generate.Settings{Defaults: generate.Defaults{MaxLength: 50}}.Map()
	}
	return newEnv(t, cfg, envOptions{})
}

// Greedy text over HTTP, whole or streamed, is what the library generates in process.
func TestShippedGenerate(t *testing.T) {
	e := shippedEnv(t)
	for _, name := range []string{"char", "char-window"} {
		st := e.status(name)
		if vocab, _ := st.Details["vocab"].([]any); st.Task != model.TaskTextGeneration || len(vocab) == 0 {
			t.Fatalf("%s: %+v", name, st)
		}
		// The fixed-window model runs a short prompt unpadded (relaxed).
		if h, want := st.Details["short_history"], map[string]any{"char-window": "relaxed"}[name]; h != want {
			t.Fatalf("%s: short_history %v, want %v", name, h, want)
		}
		m, err := model.Open(context.Background(), st.Path, model.Options{})
		if err != nil {
			t.Fatal(err)
		}
		g, closeFn, err := generate.NewGenerator(context.Background(), m, textgen.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := g.Text(context.Background(), textgen.Request{Prompt: "HERMIA.", MaxLength: 60})
		closeFn()
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		code, body := e.postJSON("/api/v1/models/"+name+"/generate", map[string]any{"prompt": "HERMIA.", "max_length": 60, "temperature": 0})
		if code != 200 {
			t.Fatalf("%s: %d %s", name, code, body)
		}
		if got := decode[generate.Response](t, body).Text; got != want {
			t.Fatalf("%s over HTTP: %q, in process: %q", name, got, want)
		}
		resp, err := e.client.Post(e.url("/api/v1/models/"+name+"/generate"), "application/json",
			strings.NewReader(`{"prompt": "HERMIA.", "max_length": 60, "temperature": 0, "stream": true}`))
		if err != nil {
			t.Fatal(err)
		}
		var streamed strings.Builder
		var done bool
		readEvents(resp.Body, func(ev sseEvent) bool {
			switch ev.name {
			case "chunk":
				streamed.WriteString(decode[generate.ChunkEvent](t, []byte(ev.data)).Text)
			case "done":
				done = true
			}
			return true
		})
		resp.Body.Close()
		if streamed.String() != want || !done {
			t.Fatalf("%s streamed %q (done %v), want %q", name, streamed.String(), done, want)
		}
		t.Logf("%s: %q", name, want)
	}
}

// With the batching engine, concurrent requests over HTTP are stepped together
// and each still gets exactly the text the library gives it alone.
func TestShippedGenerateBatched(t *testing.T) {
	batch := registry.WithTask(generate.New(generate.Options{Engine: generate.Batching(textgen.BatcherOptions{MaxBatch: 16})}))
	cfg := registry.Config{Models: []registry.ModelConfig{{Name: "char", Path: shipped(t, "char.onnx"), Concurrency: 32}}}
	e := newEnv(t, cfg, envOptions{registry: []registry.Option{batch}})
	m, err := model.Open(context.Background(), shipped(t, "char.onnx"), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g, err := textgen.New(m, textgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 24
	want := make([]string, n)
	for i := range n {
		req := textgen.Request{Prompt: "HERMIA.\n", MaxLength: 30 + 5*i, Sampling: textgen.Params{Temperature: 0.8, Seed: uint64(i)}}
		if want[i], _, err = g.Text(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			code, body, err := e.try("POST", "/api/v1/models/char/generate", "application/json",
				[]byte(fmt.Sprintf(`{"prompt": "HERMIA.\n", "max_length": %d, "temperature": 0.8, "seed": %d}`, 30+5*i, i)))
			if err == nil && code != 200 {
				err = fmt.Errorf("status %d: %s", code, body)
			}
			var resp generate.Response
			if err == nil {
				err = json.Unmarshal(body, &resp)
			}
			got[i] = resp.Text
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if got[i] != want[i] {
			t.Errorf("request %d: batched over HTTP %q, alone %q", i, got[i], want[i])
		}
	}
}

// The shipped MNIST digits, sent together as multipart, are classified right by both models.
func TestShippedClassify(t *testing.T) {
	e := shippedEnv(t)
	digits := readDigits(t)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i, d := range digits {
		w, _ := mw.CreateFormFile("image", fmt.Sprintf("%d.png", i))
		w.Write(d.png)
	}
	mw.Close()
	for name, file := range map[string]string{"mnist": "mnist.onnx", "mnist-tf": "mnist_tf.onnx"} {
		code, body := e.do("POST", "/api/v1/models/"+name+"/classify", mw.FormDataContentType(), buf.Bytes())
		if code != 200 {
			t.Fatalf("%s: %d %s", name, code, body)
		}
		resp := decode[classify.Response](t, body)
		if len(resp.Predictions) != len(digits) {
			t.Fatalf("%s: %d predictions for %d images", name, len(resp.Predictions), len(digits))
		}
		for i, p := range resp.Predictions {
			if p.Preprocessed {
				t.Errorf("%s: MNIST digit %d was preprocessed", name, i)
			}
			if want := wantLabel(t, file, digits[i]); p.Label != want {
				t.Errorf("%s: digit %d classified %s (%.3f), want %s", name, i, p.Label, p.Prob, want)
			}
		}
	}
	// A text model refuses images, an image model prompts.
	if code, _ := e.do("POST", "/api/v1/models/char/classify", "image/png", digits[0].png); code != 422 {
		t.Fatalf("classify on char: %d", code)
	}
	if code, _ := e.postJSON("/api/v1/models/mnist/generate", map[string]any{"prompt": "a"}); code != 422 {
		t.Fatalf("generate on mnist: %d", code)
	}
}
