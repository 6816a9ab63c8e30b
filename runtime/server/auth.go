package server

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/playground"
	"github.com/rnnrun/rnnrun/runtime/task"
)

// Auth is the optional bearer-token check (the server: section's auth-*
// keys). With no token every route is open; with tokens every route but
// /healthz, /readyz, the playground page (which holds no data) and, with
// PublicMetrics, /metrics needs "Authorization: Bearer <token>".
type Auth struct {
	// Tokens are accepted bearer tokens (also $RNNRUN_SERVER_AUTH_TOKENS,
	// comma-separated).
	Tokens []string `mapstructure:"auth-tokens" json:"-"`
	// TokenFile holds more tokens, one a line ('#' starts a comment).
	TokenFile string `mapstructure:"auth-token-file" json:"auth_token_file,omitempty"`
	// PublicMetrics leaves /metrics open when tokens are set.
	PublicMetrics bool `mapstructure:"public-metrics" json:"public_metrics"`
}

// load adds the token file's tokens to the configured ones.
func (a Auth) load() (Auth, error) {
	var tokens []string
	for _, t := range a.Tokens {
		if t = strings.TrimSpace(t); t != "" {
			tokens = append(tokens, t)
		}
	}
	if a.TokenFile != "" {
		f, err := os.Open(a.TokenFile)
		if err != nil {
			return a, fmt.Errorf("server.auth-token-file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if t := strings.TrimSpace(sc.Text()); t != "" && !strings.HasPrefix(t, "#") {
				tokens = append(tokens, t)
			}
		}
		if err := sc.Err(); err != nil {
			return a, fmt.Errorf("server.auth-token-file %s: %w", a.TokenFile, err)
		}
		if len(tokens) == 0 {
			return a, fmt.Errorf("server.auth-token-file %s holds no token", a.TokenFile)
		}
	}
	a.Tokens = tokens
	return a, nil
}

// authorize lets a request through when it needs no token or carries one
// of the configured tokens; else 401 with WWW-Authenticate.
func (s *Server) authorize(next http.Handler) http.Handler {
	if len(s.opts.Auth.Tokens) == 0 {
		return next
	}
	sums := make([][32]byte, len(s.opts.Auth.Tokens))
	for i, t := range s.opts.Auth.Tokens {
		sums[i] = sha256.Sum256([]byte(t))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.open(r.URL.Path) || validToken(r, sums) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="rnnrun"`)
		task.WriteError(w, http.StatusUnauthorized, "unauthorized", "this server needs an Authorization: Bearer token")
	})
}

// open reports whether path is served without a token.
func (s *Server) open(path string) bool {
	switch {
	case path == "/healthz", path == "/readyz":
		return true
	case path == "/metrics":
		return s.opts.Auth.PublicMetrics
	case path == "/", strings.HasPrefix(path, playground.AssetPrefix):
		return !s.opts.NoPlayground
	}
	return false
}

// validToken compares the request's bearer token with every configured one
// in constant time (the sha256 sums make their lengths equal).
func validToken(r *http.Request, sums [][32]byte) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := 0
	for i := range sums {
		match |= subtle.ConstantTimeCompare(got[:], sums[i][:])
	}
	return match == 1
}
