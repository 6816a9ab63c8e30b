package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rnnrun/rnnrun/internal/golden"
)

// serveModel returns the absolute path of a shipped model ($RNNRUN_EXPORT_DIR
// overrides the folder); a missing model fails the test, as it fails every
// other test of the shipped models.
func serveModel(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(repoRoot(), "models", "export")
	if d := os.Getenv("RNNRUN_EXPORT_DIR"); d != "" {
		dir = d
	}
	p, _ := filepath.Abs(filepath.Join(dir, name))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shipped model missing (make export makes it): %v", err)
	}
	return p
}

// served is a running `rnnrun serve`.
type served struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// startServe runs the binary with args and waits for its address.
func startServe(t *testing.T, env []string, args ...string) *served {
	t.Helper()
	return startServeBin(t, buildBinary(t), env, args...)
}

// startServeBin is startServe with the binary bin.
func startServeBin(t *testing.T, bin string, env []string, args ...string) *served {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &served{t: t, cmd: cmd, stderr: newSyncBuffer(), done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("serve stderr:\n%s", s.stderr.String())
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "rnnrun: serving on "); ok {
				addr <- a
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case s.base = <-addr:
	case err := <-s.done:
		t.Fatalf("serve exited before listening: %v\n%s", err, s.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start\n%s", s.stderr.String())
	}
	return s
}

func (s *served) get(path string) (int, string) {
	s.t.Helper()
	resp, err := http.Get(s.base + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *served) post(path, ctype string, body []byte) (int, string) {
	s.t.Helper()
	resp, err := http.Post(s.base+path, ctype, bytes.NewReader(body))
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *served) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := s.get("/readyz")
		if code == 200 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("not ready: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait waits for the process to exit and returns its exit status.
func (s *served) wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case err := <-s.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			s.t.Fatal(err)
		}
		return 0
	case <-time.After(timeout):
		s.t.Fatalf("serve did not exit within %v", timeout)
	}
	return -1
}

func TestServeUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve"}, 2, "--config is required"},
		{[]string{"serve", "--bogus"}, 2, "unknown flag"},
		{[]string{"serve", "extra"}, 2, "unknown command"},
		{[]string{"serve", "--config", "/nonexistent/rnnrun.yaml"}, 1, "/nonexistent/rnnrun.yaml"},
		{[]string{"serve", "--config", filepath.Join(repoRoot(), "configs", "rnnrun.yaml"), "--log-format", "xml"}, 2, "--log-format"},
	} {
		r := runBinary(t, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("rnnrun %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
	// A config that fails validation names the problem.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("models:\n  - name: ../../etc\n    path: x.onnx\n"), 0o644)
	if r := runBinary(t, nil, "serve", "--config", bad); r.code != 1 || !strings.Contains(r.stderr, "a name is") {
		t.Errorf("bad config: exit %d, %s", r.code, r.stderr)
	}
}

// The shipped example config serves every shipped model.
func TestServeShippedConfig(t *testing.T) {
	for _, m := range []string{"char.onnx", "char_window.onnx", "mnist.onnx", "mnist_tf.onnx"} {
		serveModel(t, m)
	}
	var env []string
	if d := os.Getenv("RNNRUN_EXPORT_DIR"); d != "" { // point the example at the other folder
		for name, file := range map[string]string{"CHAR": "char.onnx", "CHAR_WINDOW": "char_window.onnx", "MNIST": "mnist.onnx", "MNIST_TF": "mnist_tf.onnx"} {
			env = append(env, "RNNRUN_MODELS_"+name+"_PATH="+serveModel(t, file))
		}
	}
	s := startServe(t, env, "--config", filepath.Join(repoRoot(), "configs", "rnnrun.yaml"))
	s.waitReady()
	_, body := s.get("/api/v1/models")
	var list struct {
		Models []struct {
			Name, Status, Task string
		} `json:"models"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list.Models {
		if m.Status != "ready" {
			t.Errorf("model %s is %s", m.Name, m.Status)
		}
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "char,char-window,mnist,mnist-tf" {
		t.Fatalf("served %v", names)
	}
	for _, m := range []string{"char", "char-window"} {
		code, body := s.post("/api/v1/models/"+m+"/generate", "application/json", []byte(`{"prompt": "HERMIA.", "max_length": 20, "seed": 1}`))
		if code != 200 || !strings.Contains(body, `"generated_chars":20`) {
			t.Errorf("%s generate: %d %s", m, code, body)
		}
	}
	png, err := os.ReadFile(filepath.Join(repoRoot(), "runtime", "vision", "testdata", "mnist", "t10k-00000.png"))
	if err != nil {
		t.Fatal(err)
	}
	for m, file := range map[string]string{"mnist": "mnist.onnx", "mnist-tf": "mnist_tf.onnx"} {
		// t10k-00000.png is MNIST test image 0: the label the export's golden file records for it.
		pred, err := golden.TestImagePredictions(filepath.Dir(serveModel(t, file)), file)
		if err != nil {
			t.Fatal(err)
		}
		code, body := s.post("/api/v1/models/"+m+"/classify", "image/png", png)
		if want := fmt.Sprintf(`"label":"%d"`, pred[0]); code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s classify: %d %s, want %s", m, code, body, want)
		}
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
}

// SIGHUP reloads; SIGTERM lets a running stream finish, then exits 0.
func TestServeReloadAndGracefulShutdown(t *testing.T) {
	char, window, mnist := serveModel(t, "char.onnx"), serveModel(t, "char_window.onnx"), serveModel(t, "mnist.onnx")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rnnrun.toml")
	write := func(concurrency int) {
		text := fmt.Sprintf("[server]\nwatch = false\nshutdown-timeout = \"20s\"\n\n[[models]]\nname = \"char\"\npath = %q\nconcurrency = %d\n\n[[models]]\nname = \"mnist\"\npath = %q\n\n[[models]]\nname = \"slow\"\npath = %q\n", char, concurrency, mnist, window)
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(2)
	s := startServe(t, []string{"RNNRUN_MODELS_MNIST_CONCURRENCY=3"}, "--config", cfg, "--log-format", "json")
	s.waitReady()
	concurrency := func(name string) int {
		_, body := s.get("/api/v1/models/" + name)
		var st struct {
			Concurrency int `json:"concurrency"`
			Loads       int `json:"loads"`
		}
		json.Unmarshal([]byte(body), &st)
		return st.Concurrency*100 + st.Loads
	}
	if got := concurrency("char"); got != 201 {
		t.Fatalf("char: concurrency*100+loads = %d, want 201", got)
	}
	if got := concurrency("mnist"); got != 301 {
		t.Fatalf("mnist (concurrency from the environment): %d, want 301", got)
	}
	// The file watcher is off: only SIGHUP reloads.
	write(5)
	time.Sleep(300 * time.Millisecond)
	if got := concurrency("char"); got != 201 {
		t.Fatalf("reloaded without SIGHUP: %d", got)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for concurrency("char") != 502 {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload: %d", concurrency("char"))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A stream in flight when SIGTERM arrives runs to its end (the windowed
	// model runs the whole 100-character window for every character).
	resp, err := http.Post(s.base+"/api/v1/models/slow/generate", "application/json",
		strings.NewReader(`{"prompt": "HERMIA.", "max_length": 1000, "seed": 5, "stream": true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "event: chunk\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("stream cut by the shutdown: %v", err)
	}
	if !strings.Contains(string(rest), "event: done") || !strings.Contains(string(rest), `"generated_chars":1000`) {
		t.Fatalf("stream did not finish: ...%s", rest[max(0, len(rest)-300):])
	}
	if code := s.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
	logs := s.stderr.String()
	for _, want := range []string{`"msg":"signal received; shutting down"`, `"msg":"model version closed"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	if _, err := http.Get(s.base + "/healthz"); err == nil {
		t.Fatal("still accepting connections after exit")
	}
}
