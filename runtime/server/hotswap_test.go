package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rnnrun/rnnrun/runtime/protocol/openai"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/registry/registrytest"
	"github.com/rnnrun/rnnrun/runtime/task/classify"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
)

// swapCase is one hot-swap scenario: two model files of one task, a request
// that returns the version that served it, and a corrupt file.
type swapCase struct {
	a, b    string // model files, copied into the test's folder
	backend string
	request func(e *env) (sha string, err error)
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// writeServeConfig writes the config serving model "m" from file, in place
// (inPlace) or by renaming a new file over it, as editors do.
func writeServeConfig(t *testing.T, path, file, backend string, inPlace bool) {
	t.Helper()
	text := fmt.Sprintf("server:\n  debounce: 50ms\n  load-timeout: 60s\nmodels:\n  - name: m\n    path: %s\n    backend: %s\n    concurrency: 16\n    defaults:\n      temperature: 0.5\n", file, backend)
	if inPlace {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(path+".new", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// runHotSwap: while clients keep sending requests, the config is rewritten ten
// times to point the model at the other file; every request must succeed and
// the served version must change each time. Then a swap to a corrupt file must
// keep the old version serving, show the error and count it.
func runHotSwap(t *testing.T, sc swapCase) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"+filepath.Ext(sc.a)), filepath.Join(dir, "b"+filepath.Ext(sc.b))
	copyFile(t, sc.a, a)
	copyFile(t, sc.b, b)
	shaA, shaB := fileSHA(t, a), fileSHA(t, b)
	if shaA == shaB {
		t.Fatal("the two model files are identical")
	}
	cfgPath := filepath.Join(dir, "rnnrun.yaml")
	writeServeConfig(t, cfgPath, filepath.Base(a), sc.backend, false)
	cfg, err := registry.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	watching := make(chan struct{})
	e := newEnv(t, cfg, envOptions{cfgPath: cfgPath, registry: []registry.Option{registry.WithWatchStarted(func() { close(watching) })}})
	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); e.reg.Watch(ctx) }()
	defer func() { cancel(); <-watchDone }()
	<-watching // the watcher follows the folders

	const clients, maxRequests = 4, 20000
	var (
		stop     atomic.Bool
		total    atomic.Int64
		failures atomic.Int64
		mu       sync.Mutex
		seen     = map[string]int{}
		firstErr error
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(90 * time.Second)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && total.Load() < maxRequests && time.Now().Before(deadline) {
				sha, err := sc.request(e)
				total.Add(1)
				mu.Lock()
				if err != nil {
					failures.Add(1)
					if firstErr == nil {
						firstErr = err
					}
				} else {
					seen[sha]++
				}
				mu.Unlock()
			}
		}()
	}
	served := func() string {
		st := e.status("m")
		if st.Version == nil {
			return ""
		}
		return st.Version.SHA256
	}
	if got := served(); got != shaA {
		t.Fatalf("serving %s, want a (%s)", got, shaA)
	}
	start := time.Now()
	for i := 1; i <= 10; i++ {
		file, want := b, shaB
		if i%2 == 0 {
			file, want = a, shaA
		}
		before := total.Load()
		writeServeConfig(t, cfgPath, filepath.Base(file), sc.backend, i%3 == 0)
		waitFor(t, fmt.Sprintf("swap %d to %s", i, filepath.Base(file)), 30*time.Second, func() bool { return served() == want })
		// Requests keep flowing across the swap, and the next one gets the new version.
		waitFor(t, "requests after the swap", 10*time.Second, func() bool { return total.Load() > before })
		sha, err := sc.request(e)
		if err != nil || sha != want {
			t.Fatalf("swap %d: a request after the swap got version %s (want %s), err %v", i, sha, want, err)
		}
	}
	swapTime := time.Since(start)

	// A corrupt model file keeps the old version serving.
	corrupt := filepath.Join(dir, "corrupt"+filepath.Ext(sc.a))
	if err := os.WriteFile(corrupt, []byte("this is not a model\x00\x01"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeServeConfig(t, cfgPath, filepath.Base(corrupt), sc.backend, false)
	waitFor(t, "the failed reload", 30*time.Second, func() bool { return e.status("m").LastError != "" })
	st := e.status("m")
	if st.Status != registry.StateReady || st.Version == nil || st.Version.SHA256 != shaA || filepath.Join(filepath.Dir(cfgPath), st.Path) != a { // relative to the config folder
		t.Fatalf("after the corrupt swap: %+v", st)
	}
	t.Logf("corrupt file refused: %s", st.LastError)
	if sha, err := sc.request(e); err != nil || sha != shaA {
		t.Fatalf("after the corrupt swap: version %s, err %v", sha, err)
	}
	if m := e.metrics(); !strings.Contains(m, `rnnrun_model_reload_failures_total{model="m"} 1`) {
		t.Fatalf("failed reload not counted:\n%s", grep(m, "reload_failures"))
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d requests by %d clients, 10 swaps in %v; versions served: a %d, b %d", total.Load(), clients, swapTime.Round(time.Millisecond), seen[shaA], seen[shaB])
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed; first: %v", n, total.Load(), firstErr)
	}
	if seen[shaA] == 0 || seen[shaB] == 0 {
		t.Fatalf("versions served: %v", seen)
	}
	// Old versions were all closed: only the current one holds the model.
	if st := e.status("m"); st.InFlight != 0 || st.Loads != 11 || st.Failures != 1 {
		t.Fatalf("final status %+v", st)
	}
}

func generateVersion(prompt string, length int) func(e *env) (string, error) {
	return func(e *env) (string, error) {
		code, body, err := e.try("POST", "/api/v1/models/m/generate", "application/json",
			fmt.Appendf(nil, `{"prompt": %q, "max_length": %d}`, prompt, length))
		if err != nil {
			return "", err
		}
		if code != 200 {
			return "", fmt.Errorf("status %d: %s", code, body)
		}
		resp, err := decodeErr[generate.Response](body)
		if err != nil {
			return "", err
		}
		if len([]rune(resp.Text)) != length {
			return "", fmt.Errorf("generated %d characters, want %d", len([]rune(resp.Text)), length)
		}
		return resp.Version.SHA256, nil
	}
}

func TestHotSwapFake(t *testing.T) {
	dir := t.TempDir()
	slowish := func(tag string) registrytest.Spec {
		s := registrytest.Text(tag)
		s.Delay = time.Millisecond
		return s
	}
	for name, spec := range map[string]registrytest.Spec{"a.json": slowish("a"), "b.json": slowish("b")} {
		if err := registrytest.Write(filepath.Join(dir, name), spec); err != nil {
			t.Fatal(err)
		}
	}
	runHotSwap(t, swapCase{a: filepath.Join(dir, "a.json"), b: filepath.Join(dir, "b.json"), backend: registrytest.Backend,
		request: generateVersion("abc", 8)})
}

// The shipped stateful and windowed character models, swapped under load.
func TestHotSwapShippedText(t *testing.T) {
	runHotSwap(t, swapCase{a: shipped(t, "char.onnx"), b: shipped(t, "char_window.onnx"), backend: "onnx",
		request: generateVersion("HERMIA.", 20)})
}

// The shipped MNIST models (probabilities and logits), swapped under load.
func TestHotSwapShippedMNIST(t *testing.T) {
	digit := readDigit(t)
	want := map[string]bool{wantLabel(t, "mnist.onnx", digit): true, wantLabel(t, "mnist_tf.onnx", digit): true}
	runHotSwap(t, swapCase{a: shipped(t, "mnist.onnx"), b: shipped(t, "mnist_tf.onnx"), backend: "onnx",
		request: func(e *env) (string, error) {
			code, body, err := e.try("POST", "/api/v1/models/m/classify", "image/png", digit.png)
			if err != nil {
				return "", err
			}
			if code != 200 {
				return "", fmt.Errorf("status %d: %s", code, body)
			}
			resp, err := decodeErr[classify.Response](body)
			if err != nil {
				return "", err
			}
			if len(resp.Predictions) != 1 || !want[resp.Predictions[0].Label] {
				return "", fmt.Errorf("classified t10k image %d as %+v, want one of %v", digit.index, resp.Predictions, want)
			}
			return resp.Version.SHA256, nil
		}})
}

// Completions through the OpenAI protocol, swapped under load: the version
// that served each is its system_fingerprint.
func TestHotSwapOpenAI(t *testing.T) {
	dir := t.TempDir()
	for name, tag := range map[string]string{"a.json": "a", "b.json": "b"} {
		spec := registrytest.Text(tag)
		spec.Delay = time.Millisecond
		if err := registrytest.Write(filepath.Join(dir, name), spec); err != nil {
			t.Fatal(err)
		}
	}
	runHotSwap(t, swapCase{a: filepath.Join(dir, "a.json"), b: filepath.Join(dir, "b.json"), backend: registrytest.Backend,
		request: func(e *env) (string, error) {
			code, body, err := e.try("POST", "/v1/completions", "application/json", []byte(`{"model": "m", "prompt": "abc", "max_tokens": 8}`))
			if err != nil {
				return "", err
			}
			if code != 200 {
				return "", fmt.Errorf("status %d: %s", code, body)
			}
			resp, err := decodeErr[openai.Completion](body)
			if err != nil || len(resp.Choices) != 1 || len(resp.Choices[0].Text) != 8 {
				return "", fmt.Errorf("completion %s: %v", body, err)
			}
			return resp.SystemFingerprint, nil
		}})
}
