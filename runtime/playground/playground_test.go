package playground_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/playground"
)

func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// The page and its assets are served with their types and a policy that
// allows nothing from another origin; other paths are 404s.
func TestHandler(t *testing.T) {
	srv := httptest.NewServer(playground.Handler())
	defer srv.Close()
	for path, ctype := range map[string]string{
		"/":                     "text/html",
		"/playground/app.js":    "text/javascript",
		"/playground/api.js":    "text/javascript",
		"/playground/style.css": "text/css",
	} {
		resp, body := get(t, srv, path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || body == "" {
			t.Errorf("GET %s: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
	for _, path := range []string{"/index.html", "/playground/", "/playground/index.html", "/playground/nope.js",
		"/playground/../playground.go", "/playground/a/b.js", "/other"} {
		if resp, _ := get(t, srv, path); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// assets reads every file of static/.
func assets(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(os.DirFS("static"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(filepath.Join("static", p))
		out[p] = string(data)
		return err
	})
	if err != nil || len(out) == 0 {
		t.Fatalf("reading static/: %v (%d files)", err, len(out))
	}
	return out
}

// Every file the page references is served; nothing points at another
// host; the API's paths live in api.js alone and are relative.
func TestAssetsSelfContained(t *testing.T) {
	files := assets(t)
	srv := httptest.NewServer(playground.Handler())
	defer srv.Close()
	refs := regexp.MustCompile(`(?:href|src)="([^"]+)"|from "\./([^"]+)"`)
	for name, text := range files {
		for _, m := range refs.FindAllStringSubmatch(text, -1) {
			ref := m[1]
			if m[2] != "" {
				ref = "playground/" + m[2]
			}
			if strings.HasPrefix(ref, "data:") {
				continue
			}
			if resp, _ := get(t, srv, "/"+ref); resp.StatusCode != 200 {
				t.Errorf("%s references %s: %d", name, ref, resp.StatusCode)
			}
		}
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(text); m != "" {
			t.Errorf("%s points at another host: %s", name, m)
		}
		if name != "api.js" && strings.Contains(text, "v1/") {
			t.Errorf("%s names an API path; they belong in api.js", name)
		}
		// Relative paths keep the page working when the API is mounted under a prefix.
		if regexp.MustCompile("[\"'`(]/(v1|playground)/").MatchString(text) {
			t.Errorf("%s uses an absolute path; the page must work under a prefix", name)
		}
	}
}
