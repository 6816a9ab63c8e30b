package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/server"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/task/classify"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

func TestGenerate(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	code, body := e.postJSON("/api/v1/models/text/generate", map[string]any{"prompt": "a", "max_length": 6, "seed": 7})
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	resp := decode[generate.Response](t, body)
	if resp.Text != "bcdefg" || resp.Model != "text" || resp.Seed != 7 || resp.Stats.Generated != 6 || resp.Stats.StopReason != "length" {
		t.Fatalf("response %+v", resp)
	}
	if resp.Version.SHA256 != e.status("text").Version.SHA256 {
		t.Fatal("response version differs from the listed one")
	}
	// Defaults from the config (max_length 5, greedy), a stop string, a random seed.
	code, body = e.postJSON("/api/v1/models/text/generate", map[string]any{"prompt": "a"})
	if resp := decode[generate.Response](t, body); code != 200 || resp.Text != "bcdef" {
		t.Fatalf("defaults: %d %s", code, body)
	}
	code, body = e.postJSON("/api/v1/models/text/generate", map[string]any{"prompt": "a", "stop": []string{"de"}, "temperature": 0, "top_k": 1, "top_p": 0.9})
	if resp := decode[generate.Response](t, body); code != 200 || resp.Text != "bc" || resp.Stats.StopReason != "stop" {
		t.Fatalf("stop: %d %s", code, body)
	}
	// A JSON body without a Content-Type is accepted.
	if code, body := e.do("POST", "/api/v1/models/text/generate", "", []byte(`{"prompt":"b"}`)); code != 200 {
		t.Fatalf("no content type: %d %s", code, body)
	}
}

func TestGenerateStream(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	resp, err := e.client.Post(e.url("/api/v1/models/text/generate"), "application/json",
		strings.NewReader(`{"prompt": "a", "max_length": 10, "temperature": 0, "stream": true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var text strings.Builder
	var chunks int
	var done *generate.DoneEvent
	err = readEvents(resp.Body, func(ev sseEvent) bool {
		switch ev.name {
		case "chunk":
			if done != nil {
				t.Errorf("chunk after done")
			}
			chunks++
			text.WriteString(decode[generate.ChunkEvent](t, []byte(ev.data)).Text)
		case "done":
			d := decode[generate.DoneEvent](t, []byte(ev.data))
			done = &d
		default:
			t.Errorf("unexpected event %q: %s", ev.name, ev.data)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if text.String() != "bcdefghabc" || chunks != 10 {
		t.Fatalf("streamed %q in %d chunks", text.String(), chunks)
	}
	if done == nil || done.Stats.Generated != 10 || done.Model != "text" || len(done.Version.SHA256) != 64 {
		t.Fatalf("done event %+v", done)
	}
	// An error before the first chunk is a plain JSON error with its status.
	code, body := e.postJSON("/api/v1/models/text/generate", map[string]any{"prompt": "xyz", "stream": true})
	if code != 422 || !strings.Contains(string(body), "unknown_character") {
		t.Fatalf("stream with a bad prompt: %d %s", code, body)
	}
}

// A client that disconnects mid-stream stops its generation.
func TestStreamDisconnectStopsGeneration(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.url("/api/v1/models/slow/generate"),
		strings.NewReader(`{"prompt": "a", "max_length": 1000, "stream": true}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	readEvents(resp.Body, func(ev sseEvent) bool { got++; return got < 3 })
	start := time.Now()
	cancel()
	resp.Body.Close()
	// 1000 steps of 20ms would take 20s; the lease must come back at once.
	waitFor(t, "the generation to stop", 3*time.Second, func() bool { return e.status("slow").InFlight == 0 })
	t.Logf("generation stopped %v after the disconnect", time.Since(start))
	var m string
	waitFor(t, "the request to be counted as 499", 3*time.Second, func() bool {
		m = e.metrics()
		return strings.Contains(m, `rnnrun_http_requests_total{model="slow",route="generate",status="499"} 1`)
	})
	for _, line := range strings.Split(m, "\n") {
		var n float64
		if _, err := fmt.Sscanf(line, `rnnrun_generated_characters_total{model="slow"} %g`, &n); err == nil && n >= 500 {
			t.Fatalf("the generation went on after the disconnect: %s", line)
		}
	}
}

func grep(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func pngDigit(t *testing.T, w, h int, darkOnLight bool) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	bg, ink := uint8(0), uint8(255)
	if darkOnLight {
		bg, ink = 255, 0
	}
	for y := range h {
		for x := range w {
			v := bg
			if x > w/3 && x < 2*w/3 && y > h/5 && y < 4*h/5 { // a thick "1"
				v = ink
			}
			img.SetGray(x, y, color.Gray{Y: v})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestClassify(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	check := func(what string, code int, body []byte, n int) classify.Response {
		t.Helper()
		if code != 200 {
			t.Fatalf("%s: status %d: %s", what, code, body)
		}
		resp := decode[classify.Response](t, body)
		if len(resp.Predictions) != n || resp.Model != "image" || len(resp.Version.SHA256) != 64 {
			t.Fatalf("%s: %s", what, body)
		}
		for _, p := range resp.Predictions {
			if p.Index != 3 || p.Label != "3" || p.Prob != 1 || len(p.Probs) != 10 || len(p.TopK) == 0 {
				t.Fatalf("%s: prediction %+v", what, p)
			}
		}
		return resp
	}
	// One PNG of the model's size, as MNIST stores digits: fed as is.
	code, body := e.do("POST", "/api/v1/models/image/classify", "image/png", pngDigit(t, 28, 28, false))
	if r := check("png", code, body, 1); r.Predictions[0].Preprocessed {
		t.Fatal("an MNIST-like 28x28 image was preprocessed")
	}
	// A larger dark-on-light drawing is preprocessed.
	code, body = e.do("POST", "/api/v1/models/image/classify", "image/png", pngDigit(t, 100, 80, true))
	if r := check("drawing", code, body, 1); !r.Predictions[0].Preprocessed {
		t.Fatal("a 100x80 drawing was not preprocessed")
	}
	// Multipart with several images.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("note", "form fields are ignored")
	for i := range 3 {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="image"; filename="d%d.png"`, i))
		h.Set("Content-Type", "image/png")
		p, _ := mw.CreatePart(h)
		p.Write(pngDigit(t, 28+10*i, 28+10*i, i == 2))
	}
	mw.Close()
	code, body = e.do("POST", "/api/v1/models/image/classify", mw.FormDataContentType(), buf.Bytes())
	if r := check("multipart", code, body, 3); r.Predictions[2].Name != "d2.png" {
		t.Fatalf("names not kept: %s", body)
	}
	// JSON pixel arrays: one image as rows, then a batch of flat images.
	rows := make([][]int, 28)
	for i := range rows {
		rows[i] = make([]int, 28)
	}
	code, body = e.postJSON("/api/v1/models/image/classify", map[string]any{"pixels": rows})
	check("json rows", code, body, 1)
	flat := make([][]int, 4)
	for i := range flat {
		flat[i] = make([]int, 28*28)
		flat[i][400] = 200
	}
	code, body = e.postJSON("/api/v1/models/image/classify", map[string]any{"pixels": flat})
	check("json batch", code, body, 4)
	// Many small files of large images: the request's pixel budget is 4 full-size images.
	buf.Reset()
	mw = multipart.NewWriter(&buf)
	big := blankSized(t, 2048, 2048)
	for i := range 5 {
		w, _ := mw.CreateFormFile("image", fmt.Sprintf("big%d.png", i))
		w.Write(big)
	}
	mw.Close()
	if code, body := e.do("POST", "/api/v1/models/image/classify", mw.FormDataContentType(), buf.Bytes()); code != 413 || !strings.Contains(string(body), "image_too_large") {
		t.Fatalf("5 images of 2048x2048: %d %s", code, body)
	}
	if !strings.Contains(e.metrics(), `rnnrun_images_classified_total{model="image"} 10`) {
		t.Fatalf("images not counted:\n%s", grep(e.metrics(), "images_classified"))
	}
}

type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// failing is a Generator that always fails, to check the 500 path and the plug-in point.
type failing struct{}

func (failing) Generate(context.Context, textgen.Request, func(string) error) (textgen.Stats, error) {
	return textgen.Stats{}, errors.New("engine exploded")
}

func TestErrorStatuses(t *testing.T) {
	e := fakeEnv(t, envOptions{server: server.Options{Limits: task.Limits{MaxBodyBytes: 64 << 10, MaxLength: 100, MaxImages: 2, MaxPromptChars: 50}}})
	big := bytes.Repeat([]byte("a"), 100<<10)
	var many bytes.Buffer
	mw := multipart.NewWriter(&many)
	for i := range 3 {
		w, _ := mw.CreateFormFile("image", fmt.Sprintf("%d.png", i))
		w.Write(pngDigit(t, 28, 28, false))
	}
	mw.Close()
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		code                            string
	}{
		{"bad json", "POST", "/api/v1/models/text/generate", "application/json", `{"prompt": `, 400, "bad_json"},
		{"unknown field", "POST", "/api/v1/models/text/generate", "application/json", `{"promt": "a"}`, 400, "bad_json"},
		{"wrong type", "POST", "/api/v1/models/text/generate", "application/json", `{"max_length": "ten"}`, 400, "bad_json"},
		{"negative temperature", "POST", "/api/v1/models/text/generate", "application/json", `{"prompt": "a", "temperature": -1}`, 400, "invalid_params"},
		{"top_p above 1", "POST", "/api/v1/models/text/generate", "application/json", `{"prompt": "a", "top_p": 1.5}`, 400, "invalid_params"},
		{"top_p 0", "POST", "/api/v1/models/text/generate", "application/json", `{"prompt": "a", "top_p": 0}`, 400, "invalid_params"},
		{"null body", "POST", "/api/v1/models/text/generate", "application/json", ` null `, 400, "bad_json"},
		{"null score body", "POST", "/api/v1/models/text/score", "application/json", `null`, 400, "bad_json"},
		{"null classify body", "POST", "/api/v1/models/image/classify", "application/json", `null`, 400, "bad_json"},
		{"raw traversal", "GET", "/api/v1/models/../models", "", ``, 400, "bad_path"},
		{"raw traversal to a task", "POST", "/api/v1/models/text/../text/generate", "application/json", `{}`, 400, "bad_path"},
		{"double slash", "GET", "//api/v1/models", "", ``, 400, "bad_path"},
		{"max_length cap", "POST", "/api/v1/models/text/generate", "application/json", `{"prompt": "a", "max_length": 101}`, 400, "invalid_params"},
		{"zero max_length", "POST", "/api/v1/models/text/generate", "application/json", `{"prompt": "a", "max_length": 0}`, 400, "invalid_params"},
		{"prompt too long", "POST", "/api/v1/models/text/generate", "application/json", `{"prompt": "` + strings.Repeat("ab", 26) + `"}`, 400, "invalid_params"},
		{"empty stop", "POST", "/api/v1/models/text/generate", "application/json", `{"prompt": "a", "stop": [""]}`, 400, "invalid_params"},
		{"bad preprocess", "POST", "/api/v1/models/image/classify?preprocess=maybe", "image/png", "x", 400, "invalid_params"},
		{"bad return_input", "POST", "/api/v1/models/image/classify?return_input=maybe", "image/png", "x", 400, "invalid_params"},
		{"no pixels", "POST", "/api/v1/models/image/classify", "application/json", `{}`, 400, "bad_json"},
		{"unknown model", "POST", "/api/v1/models/nope/generate", "application/json", `{"prompt": "a"}`, 404, "model_not_found"},
		{"unknown model classify", "POST", "/api/v1/models/nope/classify", "image/png", "x", 404, "model_not_found"},
		{"unknown model info", "GET", "/api/v1/models/nope", "", "", 404, "model_not_found"},
		{"path as a name", "POST", "/api/v1/models/..%2F..%2Fetc%2Fpasswd/generate", "application/json", `{}`, 404, "model_not_found"},
		{"dot dot", "POST", "/api/v1/models/../generate", "application/json", `{}`, 400, "bad_path"},
		{"unknown endpoint", "GET", "/v2/whatever", "", "", 404, "not_found"},
		{"wrong method", "GET", "/api/v1/models/text/generate", "", "", 405, "method_not_allowed"},
		{"body too large", "POST", "/api/v1/models/text/generate", "application/json", `{"prompt": "` + string(big) + `"}`, 413, "body_too_large"},
		{"image too large", "POST", "/api/v1/models/image/classify", "image/png", string(big), 413, "body_too_large"},
		{"pixels above the limit", "POST", "/api/v1/models/image/classify", "image/png", string(blankSized(t, 2049, 2048)), 413, "image_too_large"},
		{"too many images", "POST", "/api/v1/models/image/classify", mw.FormDataContentType(), many.String(), 413, "too_many_images"},
		{"generate as text/plain", "POST", "/api/v1/models/text/generate", "text/plain", `{"prompt": "a"}`, 415, "unsupported_media_type"},
		{"generate as a form", "POST", "/api/v1/models/text/generate", "application/x-www-form-urlencoded", `prompt=a`, 415, "unsupported_media_type"},
		{"classify as text/plain", "POST", "/api/v1/models/image/classify", "text/plain", `hello`, 415, "unsupported_media_type"},
		{"unknown character", "POST", "/api/v1/models/text/generate", "application/json", `{"prompt": "abz"}`, 422, "unknown_character"},
		{"empty prompt", "POST", "/api/v1/models/text/generate", "application/json", `{"prompt": ""}`, 422, "empty_prompt"},
		{"generate on an image model", "POST", "/api/v1/models/image/generate", "application/json", `{"prompt": "a"}`, 422, "wrong_task"},
		{"classify on a text model", "POST", "/api/v1/models/text/classify", "image/png", string(pngDigit(t, 28, 28, false)), 422, "wrong_task"},
		{"not an image", "POST", "/api/v1/models/image/classify", "image/png", "this is not a png", 422, "bad_image"},
		{"truncated png", "POST", "/api/v1/models/image/classify", "image/jpeg", string(pngDigit(t, 28, 28, false)[:60]), 422, "bad_image"},
		{"blank image", "POST", "/api/v1/models/image/classify?preprocess=true", "image/png", string(blank(t)), 422, "bad_image"},
		{"bad pixels", "POST", "/api/v1/models/image/classify", "application/json", `{"pixels": [[1, 2], [3]]}`, 422, "bad_image"},
		{"pixel out of range", "POST", "/api/v1/models/image/classify", "application/json", `{"pixels": [300]}`, 422, "bad_image"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(tc.method, tc.path, tc.ctype, []byte(tc.body))
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			if tc.code == "" {
				return
			}
			ae := decode[apiErr](t, body)
			if ae.Error.Code != tc.code || ae.Error.Message == "" {
				t.Fatalf("error %+v, want code %q", ae.Error, tc.code)
			}
		})
	}
}

func blankSized(t *testing.T, w, h int) []byte {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h)))
	return buf.Bytes()
}

func blank(t *testing.T) []byte {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 40, 40)))
	return buf.Bytes()
}

// The concurrency limit answers 429 while the slots are taken.
func TestConcurrencyLimit429(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.url("/api/v1/models/slow/generate"),
		strings.NewReader(`{"prompt": "a", "max_length": 500, "stream": true}`))
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	readEvents(resp.Body, func(sseEvent) bool { return false }) // the first chunk: the slot is taken
	code, body := e.postJSON("/api/v1/models/slow/generate", map[string]any{"prompt": "a"})
	if code != 429 || decode[apiErr](t, body).Error.Code != "model_busy" {
		t.Fatalf("second request: %d %s", code, body)
	}
	// Other models are not limited by it.
	if code, body := e.postJSON("/api/v1/models/text/generate", map[string]any{"prompt": "a"}); code != 200 {
		t.Fatalf("another model: %d %s", code, body)
	}
	cancel()
	waitFor(t, "the slot to free", 3*time.Second, func() bool { return e.status("slow").InFlight == 0 })
	if code, body := e.postJSON("/api/v1/models/slow/generate", map[string]any{"prompt": "a", "max_length": 2}); code != 200 {
		t.Fatalf("after the first finished: %d %s", code, body)
	}
}

func TestTimeoutAndInternalError(t *testing.T) {
	e := fakeEnv(t, envOptions{server: server.Options{Limits: task.Limits{RequestTimeout: 100 * time.Millisecond}}})
	code, body := e.postJSON("/api/v1/models/slow/generate", map[string]any{"prompt": "a", "max_length": 100})
	if code != 504 || decode[apiErr](t, body).Error.Code != "timeout" {
		t.Fatalf("slow request: %d %s", code, body)
	}
	// A timeout mid-stream ends the stream with an error event.
	resp, err := e.client.Post(e.url("/api/v1/models/slow/generate"), "application/json", strings.NewReader(`{"prompt": "a", "max_length": 100, "stream": true}`))
	if err != nil {
		t.Fatal(err)
	}
	var last sseEvent
	readEvents(resp.Body, func(ev sseEvent) bool { last = ev; return true })
	resp.Body.Close()
	if last.name != "error" || !strings.Contains(last.data, `"timeout"`) {
		t.Fatalf("last event %+v", last)
	}

	f := fakeEnv(t, envOptions{registry: []registry.Option{registry.WithTask(generate.New(generate.Options{
		Engine: func(string, *textgen.Generator) (generate.Engine, error) { return failing{}, nil },
	}))}})
	code, body = f.postJSON("/api/v1/models/text/generate", map[string]any{"prompt": "a"})
	if code != 500 || decode[apiErr](t, body).Error.Code != "internal" || !strings.Contains(string(body), "engine exploded") {
		t.Fatalf("failing engine: %d %s", code, body)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	e := fakeEnv(t, envOptions{noStart: true})
	if code, _ := e.do("GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("healthz before loading: %d", code)
	}
	code, body := e.do("GET", "/readyz", "", nil)
	if code != 503 || !strings.Contains(string(body), `"loading"`) {
		t.Fatalf("readyz before loading: %d %s", code, body)
	}
	code, body = e.postJSON("/api/v1/models/text/generate", map[string]any{"prompt": "a"})
	if code != 503 || decode[apiErr](t, body).Error.Code != "model_unavailable" {
		t.Fatalf("generate before loading: %d %s", code, body)
	}
	if err := e.reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	code, body = e.do("GET", "/readyz", "", nil)
	if code != 200 || !strings.Contains(string(body), `"ready"`) {
		t.Fatalf("readyz after loading: %d %s", code, body)
	}
	if code, _ := e.do("GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("healthz after loading: %d", code)
	}
}

func TestModelsEndpoint(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	list := e.models()
	if len(list.Models) != 3 {
		t.Fatalf("models %+v", list)
	}
	m := list.Models[0]
	if m.Name != "text" || m.Status != "ready" || m.Task != "text-generation" || m.Backend != "fake" ||
		m.Version == nil || len(m.Version.SHA256) != 64 || m.Version.LoadedAt.IsZero() || m.Signature == nil ||
		len(m.Signature.Inputs) != 1 || m.Concurrency != 8 || m.LastError != "" {
		t.Fatalf("text model %+v", m)
	}
	code, body := e.do("GET", "/api/v1/models/image", "", nil)
	if st := decode[registry.ModelStatus](t, body); code != 200 || st.Name != "image" || len(st.Details["labels"].([]any)) != 10 {
		t.Fatalf("GET /api/v1/models/image: %d %s", code, body)
	}
	// The raw JSON has the documented keys.
	_, body = e.do("GET", "/api/v1/models", "", nil)
	var raw map[string][]map[string]any
	json.Unmarshal(body, &raw)
	for _, k := range []string{"name", "version", "task", "backend", "signature", "status"} {
		if _, ok := raw["models"][0][k]; !ok {
			t.Errorf("key %q missing from %s", k, body)
		}
	}
}

func TestMetrics(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	e.postJSON("/api/v1/models/text/generate", map[string]any{"prompt": "a", "max_length": 7})
	e.postJSON("/api/v1/models/nope/generate", map[string]any{"prompt": "a"})
	e.do("POST", "/api/v1/models/image/classify", "image/png", pngDigit(t, 28, 28, false))
	wants := []string{
		`rnnrun_http_requests_total{model="text",route="generate",status="200"} 1`,
		`rnnrun_http_requests_total{model="",route="generate",status="404"} 1`,
		`rnnrun_http_requests_total{model="image",route="classify",status="200"} 1`,
		`rnnrun_http_request_duration_seconds_bucket{model="text",route="generate",le="+Inf"} 1`,
		`rnnrun_http_request_duration_seconds_count{model="image",route="classify"} 1`,
		`rnnrun_generated_characters_total{model="text"} 7`,
		`rnnrun_images_classified_total{model="image"} 1`,
		`rnnrun_model_loads_total{model="text",result="ok"} 1`,
		`rnnrun_model_ready{model="slow"} 1`,
		`rnnrun_http_requests_in_flight{route="metrics"} 1`,
		`rnnrun_model_info{model="image",sha256="`,
		`# TYPE rnnrun_model_reload_failures_total counter`,
		`# TYPE rnnrun_config_reload_failures_total counter`,
	}
	// A request is counted just after its response is written: poll briefly.
	var m string
	deadline := time.Now().Add(3 * time.Second)
	for {
		m = e.metrics()
		missing := 0
		for _, want := range wants {
			if !strings.Contains(m, want) {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range wants {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grep(m, "rnnrun_"))
	}
}

// Two servers with their own Prometheus registries can live in one process.
func TestTwoServers(t *testing.T) {
	a := fakeEnv(t, envOptions{})
	b := fakeEnv(t, envOptions{})
	a.postJSON("/api/v1/models/text/generate", map[string]any{"prompt": "a"})
	if strings.Contains(b.metrics(), `model="text",route="generate"`) {
		t.Fatal("metrics leak between servers")
	}
	// And a server without a Prometheus registry makes its own.
	reg := registry.New(registry.Config{}, registry.WithLogger(quiet()))
	defer reg.Close()
	srv := server.New(reg, server.Options{Logger: quiet()})
	rec := newRecorder()
	srv.ServeHTTP(rec, mustRequest(t, "GET", "/metrics"))
	if rec.code != 200 || !strings.Contains(rec.body.String(), "go_goroutines") {
		t.Fatalf("own registry: %d", rec.code)
	}
}

type respRecorder struct {
	code   int
	header http.Header
	body   bytes.Buffer
	mu     sync.Mutex
}

func newRecorder() *respRecorder            { return &respRecorder{code: 200, header: http.Header{}} }
func (r *respRecorder) Header() http.Header { return r.header }
func (r *respRecorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.Write(b)
}
func (r *respRecorder) WriteHeader(code int) { r.code = code }
func mustRequest(t *testing.T, method, path string) *http.Request {
	req, err := http.NewRequest(method, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
