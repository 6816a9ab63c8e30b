package server_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/server"
)

func (e *env) withToken(method, path, token string) (int, http.Header, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url(path), strings.NewReader(`{"prompt": "ab"}`))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// With tokens, the API needs one; health stays open; /metrics follows public-metrics.
func TestBearerTokens(t *testing.T) {
	for _, public := range []bool{false, true} {
		e := fakeEnv(t, envOptions{server: server.Options{Auth: server.Auth{Tokens: []string{"s3cret", "other"}, PublicMetrics: public}}})
		for _, c := range []struct {
			method, path, token string
			want                int
		}{
			{"GET", "/api/v1/models", "", 401},
			{"GET", "/api/v1/models", "wrong", 401},
			{"GET", "/api/v1/models", "s3cre", 401},
			{"GET", "/api/v1/models", "s3cret", 200},
			{"GET", "/api/v1/models", "other", 200},
			{"POST", "/api/v1/models/text/generate", "", 401},
			{"POST", "/api/v1/models/text/generate", "s3cret", 200},
			{"GET", "/api/api/v1/nope/../models", "", 401},
			{"GET", "/healthz", "", 200},
			{"GET", "/readyz", "", 200},
			{"GET", "/metrics", "s3cret", 200},
			{"GET", "/metrics", "", map[bool]int{false: 401, true: 200}[public]},
		} {
			code, h, body := e.withToken(c.method, c.path, c.token)
			if code != c.want {
				t.Errorf("public-metrics %v: %s %s with %q: %d %s, want %d", public, c.method, c.path, c.token, code, body, c.want)
			}
			if code == 401 && (h.Get("WWW-Authenticate") != `Bearer realm="rnnrun"` || !strings.Contains(body, `"code":"unauthorized"`)) {
				t.Errorf("%s: 401 without WWW-Authenticate or JSON error: %v %s", c.path, h, body)
			}
		}
	}
}

// Tokens come from the config file, a token file and the environment.
func TestAuthTokenSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	os.WriteFile(file, []byte("# ops\nfrom-file\n\n"), 0o600)
	cfg := filepath.Join(dir, "rnnrun.yaml")
	os.WriteFile(cfg, []byte("server:\n  auth-tokens: [from-config]\n  auth-token-file: "+file+"\n"), 0o600)
	t.Setenv("RNNRUN_SERVER_PUBLIC_METRICS", "true")
	sc, err := server.LoadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sc.Tokens, ","); got != "from-config,from-file" || !sc.PublicMetrics {
		t.Fatalf("tokens %q public-metrics %v", got, sc.PublicMetrics)
	}
	t.Setenv("RNNRUN_SERVER_AUTH_TOKENS", "env1,env2")
	os.WriteFile(cfg, []byte("server: {}\n"), 0o600)
	if sc, err = server.LoadConfig(cfg); err != nil || strings.Join(sc.Tokens, ",") != "env1,env2" {
		t.Fatalf("from the environment: %q %v", sc.Tokens, err)
	}
	os.WriteFile(cfg, []byte("server:\n  auth-token-file: "+filepath.Join(dir, "missing")+"\n"), 0o600)
	if _, err := server.LoadConfig(cfg); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("a missing token file: %v", err)
	}
}
