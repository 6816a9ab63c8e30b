package main

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// noLibrary is the environment of a machine without ONNX Runtime: the
// variable points nowhere and the library path is empty.
var noLibrary = []string{"RNNRUN_ORT_LIB=/nonexistent/libonnxruntime.so.1", "LD_LIBRARY_PATH="}

// buildNoCgo builds rnnrun with CGO_ENABLED=0 and checks that the binary is
// static: no interpreter, no shared library needed.
func buildNoCgo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rnnrun")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("cgo-free binary has an ELF interpreter: it is not static")
		}
	}
	if len(libs) != 0 {
		t.Fatalf("cgo-free binary needs shared libraries %v", libs)
	}
	return bin
}

// A cgo-free binary runs the README's main command, classify, eval and serve
// on the shipped models with no ONNX Runtime on the machine, giving what the
// cgo build gives on ONNX Runtime; and a 40 KB command line works.
func TestNoCgoBinary(t *testing.T) {
	bin := buildNoCgo(t)
	run := func(args ...string) result {
		t.Helper()
		r := execBinary(t, bin, repoRoot(), noLibrary, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		return r
	}
	v := run("version")
	if !strings.Contains(v.stdout, "onnxruntime not compiled in") || !strings.Contains(v.stdout, "backends native (kernels ") {
		t.Errorf("version:\n%s", v.stdout)
	}
	if r := execBinary(t, bin, repoRoot(), noLibrary, "--model", shipped("char.onnx"), "--backend", "onnx", "--length", "5"); r.code == 0 || !strings.Contains(r.stderr, "CGO_ENABLED=1") {
		t.Errorf("--backend onnx in a cgo-free build: exit %d, stderr %q", r.code, r.stderr)
	}

	t.Run("generate", func(t *testing.T) {
		args := []string{"--model", shipped("char.onnx"), "--temp", "0", "--length", "500"}
		got := run(args...)
		want := runBinary(t, nil, append(args, "--backend", "onnx")...)
		if got.stdout != want.stdout || len(got.stdout) < 500 {
			t.Fatalf("greedy text differs from ONNX Runtime's:\n%q\n%q", got.stdout, want.stdout)
		}
		run("--model", shipped("char.onnx"), "--temp", "0.2,0.6,1.2", "--length", "100", "--seed", "1")
	})

	t.Run("classify", func(t *testing.T) {
		files, labels := shippedDigits(t)
		r := run(append([]string{"classify", "--model", imageModel(t, "mnist.onnx")}, files...)...)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != len(files) {
			t.Fatalf("%d lines for %d files:\n%s", len(lines), len(files), r.stdout)
		}
		for _, line := range lines {
			if f := strings.Fields(line); len(f) != 3 || f[1] != labels[f[0]] {
				t.Errorf("%q: want label %s", line, labels[f[0]])
			}
		}
	})

	// The command line that crashed the cgo build inside libonnxruntime.
	t.Run("long command line", func(t *testing.T) {
		files, labels := shippedDigits(t)
		var args []string
		size := 0
		for size < 40<<10 {
			args = append(args, files[0])
			size += len(files[0]) + 1
		}
		r := run(append([]string{"classify", "--model", imageModel(t, "mnist.onnx")}, args...)...)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != len(args) || !strings.HasPrefix(lines[len(lines)-1], files[0]+" "+labels[files[0]]+" ") {
			t.Fatalf("%d files (%d bytes of arguments): %d lines, last %q", len(args), size, len(lines), lines[len(lines)-1])
		}
		stop := strings.Repeat("zq", 20<<10) // 40 KB that never occurs
		g := run("--model", shipped("char.onnx"), "--temp", "0", "--length", "50", "--stop", stop)
		if n := len([]rune(strings.TrimSuffix(g.stdout, "\n"))); n != 50 {
			t.Fatalf("40 KB --stop: printed %d characters, want 50", n)
		}
	})

	t.Run("eval", func(t *testing.T) {
		mp := imageModel(t, "mnist.onnx")
		r := run("eval", "--model", mp, "--json")
		var out evalOutput
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		if out.Backend != "native" || out.Total != 10000 || out.MatchesKeras == nil || !*out.MatchesKeras {
			t.Fatalf("eval: backend %s, %d/%d correct, matches Keras %v", out.Backend, out.Correct, out.Total, out.MatchesKeras)
		}
		t.Logf("cgo-free eval: %d/%d, %.0f images/s", out.Correct, out.Total, out.ImagesPerSecond)
	})

	t.Run("serve", func(t *testing.T) {
		s := startServeBin(t, bin, noLibrary, "--config", filepath.Join(repoRoot(), "configs", "rnnrun.yaml"))
		s.waitReady()
		_, body := s.get("/api/v1/models")
		if strings.Count(body, `"status":"ready"`) != 4 {
			t.Errorf("models: %s", body)
		}
		code, body := s.post("/api/v1/models/char/generate", "application/json", []byte(`{"prompt": "HERMIA.", "max_length": 20, "seed": 1}`))
		if code != 200 || !strings.Contains(body, `"generated_chars":20`) {
			t.Errorf("generate: %d %s", code, body)
		}
		png, err := os.ReadFile(filepath.Join(repoRoot(), digitsDir, "t10k-00000.png"))
		if err != nil {
			t.Fatal(err)
		}
		if code, body := s.post("/api/v1/models/mnist/classify", "image/png", png); code != 200 || !strings.Contains(body, `"label":"7"`) {
			t.Errorf("classify: %d %s", code, body)
		}
		s.cmd.Process.Signal(syscall.SIGTERM)
		if code := s.wait(30 * time.Second); code != 0 {
			t.Fatalf("exit status %d after SIGTERM", code)
		}
	})
}
