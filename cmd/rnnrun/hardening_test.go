package main

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// bigPNG is a 2048x2048 16-bit grey PNG of a few KB: a soft ramp with a
// disc of ink, so preprocessing crops nearly all of it.
func bigPNG(t *testing.T, seed int) []byte {
	t.Helper()
	const n = 2048
	img := image.NewGray16(image.Rect(0, 0, n, n))
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			dx, dy := x-n/2, y-n/2
			v := uint16(0)
			if dx*dx+dy*dy < (n/3)*(n/3) {
				v = 60000 - uint16(seed*100)
			}
			img.SetGray16(x, y, color.Gray16{Y: v})
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// vmHWM is the peak resident set of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 { return procStatus(t, pid, "VmHWM") }

// procStatus reads a field in kB of /proc/PID/status, in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/PID/status", field)
	return 0
}

// Eight concurrent requests, each of four 2048x2048 16-bit PNGs (32 MiB of
// pixels each once decoded), keep the server under 400 MB at its peak: the
// pictures are decoded one at a time inside a concurrency slot, under the
// decode budget. Before it, such a burst took the server to 1.8 GB.
func TestServeDecodeBombBounded(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rnnrun.yaml")
	if err := os.WriteFile(cfg, []byte("models:\n  - name: mnist\n    path: "+serveModel(t, "mnist.onnx")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, nil, "--config", cfg, "--playground=false")
	s.waitReady()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i := range 4 {
		w, _ := mw.CreateFormFile("image", fmt.Sprintf("big%d.png", i))
		w.Write(bigPNG(t, i))
	}
	mw.Close()
	before := vmHWM(t, s.cmd.Process.Pid)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(s.base+"/api/v1/models/mnist/classify", mw.FormDataContentType(), bytes.NewReader(body.Bytes()))
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
			if resp.StatusCode != 200 && resp.StatusCode != 503 && resp.StatusCode != 429 {
				t.Errorf("request %d: %d %s", i, resp.StatusCode, b)
			}
			if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
				t.Errorf("request %d: 503 without Retry-After", i)
			}
		}()
	}
	wg.Wait()
	peak := vmHWM(t, s.cmd.Process.Pid)
	t.Logf("body %d bytes; statuses %v; VmHWM %d MB before, %d MB after", body.Len(), codes, before>>20, peak>>20)
	if peak > 400<<20 {
		t.Fatalf("peak RSS %d MB, want under 400 MB", peak>>20)
	}
	// The budget hands the burst's memory back to the OS once it is idle.
	waitUntil(t, 10*time.Second, func() bool { return procStatus(t, s.cmd.Process.Pid, "VmRSS") < before+100<<20 })
	t.Logf("VmRSS %d MB after the burst", procStatus(t, s.cmd.Process.Pid, "VmRSS")>>20)
	ok := 0
	for _, c := range codes {
		if c == 200 {
			ok++
		}
	}
	if ok == 0 {
		t.Fatal("no request succeeded")
	}
}

// waitUntil polls cond until it holds or timeout passes (then fails).
func waitUntil(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
	}
}

// server.max-connections caps the open connections: a third client waits
// until one of two open connections closes.
func TestServeMaxConnections(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rnnrun.yaml")
	os.WriteFile(cfg, []byte("server:\n  max-connections: 2\nmodels:\n  - name: mnist\n    path: "+serveModel(t, "mnist.onnx")+"\n"), 0o600)
	s := startServe(t, nil, "--config", cfg, "--playground=false")
	addr := strings.TrimPrefix(s.base, "http://")
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") // accepted and answered; kept alive
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	quick := &http.Client{Timeout: 500 * time.Millisecond}
	if resp, err := quick.Get(s.base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a third connection was served (%d) with max-connections 2", resp.StatusCode)
	}
	held[0].Close()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(s.base + "/healthz")
	if err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	resp.Body.Close()
}

// A 40 KB command line works: ONNX Runtime's start-up, which reads it
// recursively, runs on a stack sized for it (runtime/onnx/bigstack.go).
// Before, over about 29 KB the process died with SIGSEGV.
func TestLongCommandLine(t *testing.T) {
	png := filepath.Join(repoRoot(), "runtime", "vision", "testdata", "mnist", "t10k-00000.png")
	args := []string{"classify", "--model", serveModel(t, "mnist.onnx")}
	size := 0
	for size < 40<<10 {
		args = append(args, png)
		size += len(png) + 1
	}
	r := runCLI(t, args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("%d files (%d bytes of arguments): exit %d, stderr %.300s", len(args)-3, size, r.code, r.stderr)
	}
	if n := strings.Count(r.stdout, "\n"); n != len(args)-3 {
		t.Fatalf("%d lines for %d files", n, len(args)-3)
	}
	first := strings.SplitN(r.stdout, "\n", 2)[0]
	if !strings.HasPrefix(first, png+" 7 ") {
		t.Fatalf("first line %q, want MNIST test image 0 classified as 7", first)
	}
}

// classify takes its files from a folder, a glob, stdin or a list file.
func TestClassifyFileLists(t *testing.T) {
	dir := filepath.Join("runtime", "vision", "testdata", "mnist")
	pngs, _ := filepath.Glob(filepath.Join(repoRoot(), dir, "*.png"))
	if len(pngs) < 2 {
		t.Fatal("no shipped digits")
	}
	model := serveModel(t, "mnist.onnx")
	var rel []string
	for _, p := range pngs {
		rel = append(rel, filepath.Join(dir, filepath.Base(p)))
	}
	want := runCLI(t, append([]string{"classify", "--model", model}, rel...)...)
	if want.code != 0 || strings.Count(want.stdout, "\n") != len(pngs) {
		t.Fatalf("explicit files: %d %s", want.code, want.stderr)
	}
	list := filepath.Join(t.TempDir(), "list.txt")
	os.WriteFile(list, []byte(strings.Join(rel, "\n")+"\n"), 0o644)
	for name, args := range map[string][]string{
		"folder":     {dir},
		"glob":       {filepath.Join(dir, "*.png")},
		"@list":      {"@" + list},
		"files-from": {"--files-from", list},
	} {
		r := runCLI(t, append([]string{"classify", "--model", model}, args...)...)
		if r.code != 0 || r.stdout != want.stdout {
			t.Errorf("%s: exit %d, stderr %s, stdout\n%s\nwant\n%s", name, r.code, r.stderr, r.stdout, want.stdout)
		}
	}
	cmd := exec.Command(buildBinary(t), "classify", "--model", model, "-")
	cmd.Dir, cmd.Stdin = repoRoot(), strings.NewReader(strings.Join(rel, "\n"))
	out, err := cmd.Output()
	if err != nil || string(out) != want.stdout {
		t.Errorf("stdin: %v\n%s", err, out)
	}
	if r := runCLI(t, "classify", "--model", model, filepath.Join(dir, "*.nope")); r.code != 2 || !strings.Contains(r.stderr, "matches no file") {
		t.Errorf("a glob matching nothing: %d %s", r.code, r.stderr)
	}
}
