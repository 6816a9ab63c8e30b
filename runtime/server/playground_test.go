package server_test

import (
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/server"
)

// The playground page is served at / (its assets under /playground/) unless
// NoPlayground turns it off; other paths stay JSON 404s.
func TestPlaygroundRoute(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	if code, body := e.do("GET", "/", "", nil); code != 200 || !strings.Contains(string(body), "rnnrun playground") {
		t.Fatalf("GET /: %d %.100s", code, body)
	}
	if code, _ := e.do("GET", "/playground/app.js", "", nil); code != 200 {
		t.Fatalf("GET /playground/app.js: %d", code)
	}
	if code, body := e.do("GET", "/nothing", "", nil); code != 404 || !strings.Contains(string(body), `"not_found"`) {
		t.Fatalf("GET /nothing: %d %s", code, body)
	}
	if !strings.Contains(e.metrics(), `rnnrun_http_requests_total{model="",route="playground",status="200"} 2`) {
		t.Fatalf("page requests not counted:\n%s", grep(e.metrics(), "route=\"playground\""))
	}
	off := fakeEnv(t, envOptions{server: server.Options{NoPlayground: true}})
	if code, body := off.do("GET", "/", "", nil); code != 404 || !strings.Contains(string(body), `"not_found"`) {
		t.Fatalf("GET / with NoPlayground: %d %s", code, body)
	}
}
