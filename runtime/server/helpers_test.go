package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
	_ "github.com/rnnrun/rnnrun/runtime/onnx" // the shipped models' backend
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/registry/registrytest"
	"github.com/rnnrun/rnnrun/runtime/server"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	_ "github.com/rnnrun/rnnrun/runtime/task/tasks" // every task's routes
	"github.com/rnnrun/rnnrun/runtime/vision"
)

func init() { registrytest.Register() }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// env is a registry, its HTTP server on loopback and a client.
type env struct {
	t      testing.TB
	dir    string
	cfg    string // config file, when the registry reloads from one
	reg    *registry.Registry
	srv    *httptest.Server
	prom   *prometheus.Registry
	client *http.Client
}

type envOptions struct {
	server   server.Options
	noStart  bool
	cfgPath  string // reload from this config file
	startCtx context.Context
	registry []registry.Option // extra registry options, e.g. a batching engine
}

// newEnv serves cfg's models over HTTP on 127.0.0.1.
func newEnv(t testing.TB, cfg registry.Config, o envOptions) *env {
	t.Helper()
	var opts []registry.Option
	opts = append(opts, registry.WithLogger(quiet()))
	if o.cfgPath != "" {
		path := o.cfgPath
		opts = append(opts, registry.WithConfigFile(path, func() (registry.Config, error) { return registry.LoadConfig(path) }))
	}
	opts = append(opts, o.registry...)
	reg := registry.New(cfg, opts...)
	e := &env{t: t, cfg: o.cfgPath, reg: reg, prom: prometheus.NewRegistry(), client: &http.Client{Timeout: 60 * time.Second}}
	so := o.server
	so.Logger = quiet()
	so.Metrics = e.prom
	e.srv = httptest.NewServer(server.New(reg, so))
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.srv.Close()
		reg.Close()
	})
	if !o.noStart {
		if err := reg.Start(context.Background()); err != nil {
			t.Fatalf("start: %v", err)
		}
	}
	return e
}

// fakeEnv serves fake models: "text" (vocab a-h), "image" (always class 3)
// and "slow" (a text model taking 20ms per step, concurrency 1).
func fakeEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	dir := t.TempDir()
	slow := registrytest.Text("slow")
	slow.Delay = 20 * time.Millisecond
	for name, spec := range map[string]registrytest.Spec{"text": registrytest.Text("t"), "image": registrytest.Image("i", 3), "slow": slow} {
		if err := registrytest.Write(filepath.Join(dir, name+".json"), spec); err != nil {
			t.Fatal(err)
		}
	}
	temp0 := 0.0
	cfg := registry.Config{Models: []registry.ModelConfig{
		{Name: "text", Path: filepath.Join(dir, "text.json"), Backend: registrytest.Backend, Concurrency: 8,
			Settings: generate.Settings{Defaults: generate.Defaults{MaxLength: 5, Temperature: &temp0}}.Map()},
		{Name: "image", Path: filepath.Join(dir, "image.json"), Backend: registrytest.Backend, Concurrency: 8},
		{Name: "slow", Path: filepath.Join(dir, "slow.json"), Backend: registrytest.Backend, Concurrency: 1,
			Settings: generate.Settings{Defaults: generate.Defaults{MaxLength: 5, Temperature: &temp0}}.Map()},
	}}
	e := newEnv(t, cfg, o)
	e.dir = dir
	return e
}

func (e *env) url(path string) string { return e.srv.URL + path }

// do sends a request and returns the status and body.
func (e *env) do(method, path, contentType string, body []byte) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url(path), bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return resp.StatusCode, data
}

func (e *env) postJSON(path string, v any) (int, []byte) {
	e.t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do("POST", path, "application/json", data)
}

func decode[T any](t testing.TB, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return v
}

func (e *env) models() server.ModelList {
	e.t.Helper()
	code, body := e.do("GET", "/api/v1/models", "", nil)
	if code != 200 {
		e.t.Fatalf("GET /api/v1/models: %d %s", code, body)
	}
	return decode[server.ModelList](e.t, body)
}

func (e *env) status(name string) registry.ModelStatus {
	e.t.Helper()
	for _, m := range e.models().Models {
		if m.Name == name {
			return m
		}
	}
	e.t.Fatalf("model %q not listed", name)
	return registry.ModelStatus{}
}

func (e *env) metrics() string {
	e.t.Helper()
	code, body := e.do("GET", "/metrics", "", nil)
	if code != 200 {
		e.t.Fatalf("GET /metrics: %d", code)
	}
	return string(body)
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	name string
	data string
}

// readEvents parses an event stream until EOF, calling each for every event
// (stop early by returning false).
func readEvents(r io.Reader, each func(sseEvent) bool) error {
	sc := bufio.NewScanner(r)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" {
				if !each(ev) {
					return nil
				}
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data += strings.TrimPrefix(line, "data: ")
		}
	}
	return sc.Err()
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// modelsDir holds the shipped models; RNNRUN_EXPORT_DIR points elsewhere
// (models with the same names and contract, e.g. while the real ones are re-exported).
func modelsDir() (string, bool) {
	if d := os.Getenv("RNNRUN_EXPORT_DIR"); d != "" {
		return d, false
	}
	return filepath.Join("..", "..", "models", "export"), true
}

// shipped returns the path of a shipped model; a missing one fails the test
// (models/export is committed).
func shipped(t *testing.T, name string) string {
	t.Helper()
	dir, _ := modelsDir()
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("shipped model missing: %v", err)
	}
	abs, _ := filepath.Abs(path)
	return abs
}

// wantLabel is the label the image model modelFile of the export under test
// gives digit d (the shipped models and a fresh export in RNNRUN_EXPORT_DIR
// alike): the one that export's golden file records for the first 32 MNIST
// test images, else what the library answers in-process for the same pixels.
func wantLabel(t *testing.T, modelFile string, d digitFile) string {
	t.Helper()
	dir, _ := modelsDir()
	pred, err := golden.TestImagePredictions(dir, modelFile)
	if err != nil {
		t.Fatalf("%s: golden predictions: %v", modelFile, err)
	}
	if d.index < len(pred) {
		return strconv.Itoa(pred[d.index])
	}
	m, err := model.Open(context.Background(), shipped(t, modelFile), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := vision.NewClassifier(m, vision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := vision.DecodeBytes(d.png, vision.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.ClassifyOne(context.Background(), vision.ToGray(img))
	if err != nil {
		t.Fatalf("%s: t10k image %d in-process: %v", modelFile, d.index, err)
	}
	return p.Label
}

// copyFile copies src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// try sends a request without failing the test (for client goroutines).
func (e *env) try(method, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, e.url(path), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

func decodeErr[T any](data []byte) (T, error) {
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}

// digitFile is a shipped MNIST test digit: t10k-NNNNN.png, image index NNNNN.
type digitFile struct {
	png   []byte
	label string
	index int
}

var digitsOnce struct {
	sync.Once
	list []digitFile
	err  error
}

// readDigits reads the MNIST test digits the vision package ships.
func readDigits(t *testing.T) []digitFile {
	t.Helper()
	d := &digitsOnce
	d.Do(func() {
		dir := filepath.Join("..", "vision", "testdata", "mnist")
		var labels []byte
		if labels, d.err = os.ReadFile(filepath.Join(dir, "labels.txt")); d.err != nil {
			return
		}
		for _, line := range strings.Split(strings.TrimSpace(string(labels)), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, f[0]))
			if err != nil {
				d.err = err
				return
			}
			var index int
			if _, err := fmt.Sscanf(f[0], "t10k-%05d.png", &index); err != nil {
				d.err = fmt.Errorf("%s: not named t10k-NNNNN.png: %v", f[0], err)
				return
			}
			d.list = append(d.list, digitFile{png: data, label: f[1], index: index})
		}
	})
	if d.err != nil || len(d.list) == 0 {
		t.Fatalf("shipped MNIST digits: %v (%d found)", d.err, len(d.list))
	}
	return d.list
}

func readDigit(t *testing.T) digitFile { return readDigits(t)[0] }
