package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rnnrun/rnnrun/runtime/server"
)

// rawRequest writes head (and body) on a new connection and returns it.
func rawRequest(t *testing.T, e *env, head string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	return conn
}

// readResponse reads one response from conn within timeout.
func readResponse(t *testing.T, conn net.Conn, timeout time.Duration) (*http.Response, string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(timeout))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response within %v: %v", timeout, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// A declared body over max-body-bytes is refused before a byte of it is read.
func TestContentLengthOverLimitRefusedAtOnce(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	conn := rawRequest(t, e, "POST /api/v1/models/text/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{\"prompt\":")
	resp, body := readResponse(t, conn, 5*time.Second)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"code":"body_too_large"`) || !strings.Contains(body, "100000000") {
		t.Fatalf("%d %s, want 413 body_too_large naming the Content-Length", resp.StatusCode, body)
	}
}

// A client that sends its headers and part of the body, then stalls, is
// cut at the body timeout with a 408.
func TestStalledBodyIsCut(t *testing.T) {
	const limit = 300 * time.Millisecond
	for _, c := range []struct{ path, ctype string }{
		{"/api/v1/models/text/generate", "application/json"},
		{"/api/v1/models/image/classify", "image/png"},
	} {
		e := fakeEnv(t, envOptions{server: server.Options{Guard: server.Guard{BodyTimeout: limit}}})
		start := time.Now()
		conn := rawRequest(t, e, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\n{", c.path, c.ctype))
		resp, body := readResponse(t, conn, 10*time.Second)
		took := time.Since(start)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, `"code":"body_timeout"`) {
			t.Errorf("%s: %d %s, want 408 body_timeout", c.path, resp.StatusCode, body)
		}
		if took < limit || took > limit+3*time.Second {
			t.Errorf("%s: answered after %v, want about %v", c.path, took, limit)
		}
	}
}

// The body deadline ends with the body: a request whose work outlasts it
// (a slow model, after a quick body) still answers 200 on the same
// connection, and the next request on it too.
func TestBodyDeadlineLiftedAfterBody(t *testing.T) {
	e := fakeEnv(t, envOptions{server: server.Options{Guard: server.Guard{BodyTimeout: 50 * time.Millisecond}}})
	body := `{"prompt": "ab", "max_length": 10}` // 10 steps of 20 ms
	req := fmt.Sprintf("POST /api/v1/models/slow/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	conn := rawRequest(t, e, req)
	br := bufio.NewReader(conn)
	for i := range 2 {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
		if i == 0 {
			time.Sleep(100 * time.Millisecond) // idle past the body timeout between requests
			io.WriteString(conn, req)
		}
	}
}
