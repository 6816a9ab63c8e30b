package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"time"

	"github.com/rnnrun/rnnrun/runtime/task"
)

// Guard holds the server's protections beyond one request's limits: the
// decode budget, the time a client may take to send a body, the time a
// response may take to be written, and how many connections are open at once.
type Guard struct {
	// MaxDecodeBytes is the server-wide budget of decoded images and pixel
	// arrays in flight; a request beyond it gets 503 with Retry-After.
	MaxDecodeBytes int64 `mapstructure:"max-decode-bytes" json:"max_decode_bytes"`
	// BodyTimeout bounds reading one request body, from its headers on
	// (408 past it; the connection is closed).
	BodyTimeout time.Duration `mapstructure:"body-timeout" json:"body_timeout"`
	// WriteTimeout bounds writing a non-streaming response once the request
	// timeout has passed: the write deadline is request-timeout + write-timeout
	// from the start. A stream instead has stream-idle-timeout per event.
	WriteTimeout time.Duration `mapstructure:"write-timeout" json:"write_timeout"`
	// MaxConnections caps the open connections (rnnrun serve's listener);
	// more wait in the kernel's backlog.
	MaxConnections int `mapstructure:"max-connections" json:"max_connections"`
}

// DefaultGuard is the guard's row of Defaults.
var DefaultGuard = Guard{
	MaxDecodeBytes: task.DefaultDecodeBudget,
	BodyTimeout:    30 * time.Second,
	WriteTimeout:   30 * time.Second,
	MaxConnections: 1024,
}

// guard refuses a declared body over the limit before reading it, and sets
// the body's read deadline and the response's write deadline.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.EscapedPath(); p != cleanPath(p) {
			// The mux would answer a text/html redirect to the cleaned path.
			task.WriteError(w, http.StatusBadRequest, "bad_path", fmt.Sprintf("the path %q is not in canonical form (no '.', '..' or empty segments)", p))
			return
		}
		if max := s.opts.Limits.MaxBodyBytes; r.ContentLength > max {
			w.Header().Set("Connection", "close")
			task.WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("Content-Length %d is over the limit of %d bytes", r.ContentLength, max))
			return
		}
		rc := http.NewResponseController(w)
		start := time.Now()
		if g := s.opts.Guard; g.WriteTimeout > 0 {
			_ = rc.SetWriteDeadline(start.Add(s.opts.Limits.RequestTimeout + g.WriteTimeout)) // not every writer can
		}
		if bt := s.opts.Guard.BodyTimeout; bt > 0 && r.Body != nil && r.Body != http.NoBody {
			if rc.SetReadDeadline(start.Add(bt)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, limit: bt}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath is the canonical form of p, as http.ServeMux makes it: rooted,
// without '.', '..' or empty segments, keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// deadlineBody turns the read deadline's error into task.ErrBodyTimeout and
// lifts the deadline once the body is read, so it cannot cut what follows.
type deadlineBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	limit time.Duration
	done  bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w: the body did not arrive within %v", task.ErrBodyTimeout, b.limit)
	case !b.done:
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
