// Package server is rnnrun's HTTP API over a model registry: listing models,
// generating text (whole or streamed as Server-Sent Events), classifying
// images, health, readiness and Prometheus metrics. New returns an
// http.Handler that a Go backend can mount on its own mux:
//
//	reg := registry.New(cfg)
//	if err := reg.Start(ctx); err != nil { log.Print(err) }
//	defer reg.Close()
//	go reg.Watch(ctx)
//	mux.Handle("/", server.New(reg, server.Options{}))
//
// The API is described in docs/api.md.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rnnrun/rnnrun/runtime/playground"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// Generator generates text for one request. The registry's text engine (a
// *textgen.Generator unless registry.WithTextEngine plugged in another) is one.
type Generator interface {
	Generate(ctx context.Context, req textgen.Request, emit func(string) error) (textgen.Stats, error)
}

// Options configure the handler. Zero values take the defaults of the registry package.
type Options struct {
	// Logger receives one structured line per request (default slog.Default()).
	Logger *slog.Logger
	// Metrics is the Prometheus registry the handler registers its metrics
	// (and the model registry's) on and serves at /metrics. Nil creates a
	// private one that also holds the Go and process collectors.
	Metrics *prometheus.Registry
	// MaxBodyBytes caps request bodies (413 above it).
	MaxBodyBytes int64
	// MaxLength caps a generate request's max_length (400 above it).
	MaxLength int
	// MaxPromptChars caps a generate request's prompt in characters (400 above it).
	MaxPromptChars int
	// MaxImages caps the images of one classify request (413 above it).
	MaxImages int
	// MaxPixels caps the pixels of one decoded image (413 above it); the
	// images of one request may hold 4 times as many together. Default 2048x2048.
	MaxPixels int
	// RequestTimeout bounds the work of one generate or classify request; 0: none.
	RequestTimeout time.Duration
	// Generator picks what generates text for a lease; nil uses lease.TextEngine().
	Generator func(*registry.Lease) Generator
	// NoPlayground turns off the browser page served at / (runtime/playground).
	NoPlayground bool
}

// OptionsFromConfig takes the limits from a server config section.
func OptionsFromConfig(c registry.ServerConfig) Options {
	return Options{MaxBodyBytes: c.MaxBodyBytes, MaxLength: c.MaxLength, MaxPromptChars: c.MaxPromptChars,
		MaxImages: c.MaxImages, RequestTimeout: c.RequestTimeout}
}

func (o *Options) fill() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = registry.DefaultMaxBodyBytes
	}
	if o.MaxLength <= 0 {
		o.MaxLength = registry.DefaultMaxLength
	}
	if o.MaxPromptChars <= 0 {
		o.MaxPromptChars = registry.DefaultMaxPromptChars
	}
	if o.MaxImages <= 0 {
		o.MaxImages = registry.DefaultMaxImages
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.Generator == nil {
		o.Generator = func(l *registry.Lease) Generator { return l.TextEngine() }
	}
}

// DefaultMaxPixels is the largest image the server decodes: 2048x2048 pixels
// (up to 32 MiB once decoded).
const DefaultMaxPixels = 2048 * 2048

// Server is the HTTP handler. It is safe for concurrent use.
type Server struct {
	reg     *registry.Registry
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	gather  prometheus.Gatherer
}

// New returns the API handler over reg.
func New(reg *registry.Registry, opts Options) *Server {
	opts.fill()
	promReg := opts.Metrics
	if promReg == nil {
		promReg = prometheus.NewRegistry()
		promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{reg: reg, opts: opts, log: opts.Logger, mux: http.NewServeMux(), metrics: newMetrics(), gather: promReg}
	for _, c := range append(s.metrics.collectors(), reg.Collectors()...) {
		if err := promReg.Register(c); err != nil {
			if _, dup := err.(prometheus.AlreadyRegisteredError); !dup {
				s.log.Warn("registering metrics", "err", err)
			}
		}
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	handle := func(method, path, route string, h http.HandlerFunc) {
		s.mux.Handle(method+" "+path, s.instrument(route, h))
		// Every other method gets a JSON 405 instead of the mux's text one.
		s.mux.Handle(path, s.instrument(route, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use "+method)
		}))
	}
	handle("GET", "/v1/models", "models", s.listModels)
	handle("GET", "/v1/models/{name}", "model", s.getModel)
	handle("POST", "/v1/models/{name}/generate", "generate", s.generate)
	handle("POST", "/v1/models/{name}/classify", "classify", s.classify)
	handle("GET", "/healthz", "healthz", s.healthz)
	handle("GET", "/readyz", "readyz", s.readyz)
	handle("GET", "/metrics", "metrics", promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{}).ServeHTTP)
	if !s.opts.NoPlayground {
		page := s.instrument("playground", playground.Handler().ServeHTTP)
		s.mux.Handle("GET /{$}", page)
		s.mux.Handle("GET "+playground.AssetPrefix, page)
	}
	s.mux.Handle("/", s.instrument("other", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	}))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// statusClientClosed is recorded (never sent) when the client went away first, as nginx does.
const statusClientClosed = 499

// outcome lets a handler override the recorded status (e.g. a client that
// disconnected mid-stream) and note extra log attributes.
type outcome struct {
	status int
	attrs  []any
}

type outcomeKey struct{}

func note(r *http.Request, attrs ...any) {
	if o, ok := r.Context().Value(outcomeKey{}).(*outcome); ok {
		o.attrs = append(o.attrs, attrs...)
	}
}

func setStatus(r *http.Request, status int) {
	if o, ok := r.Context().Value(outcomeKey{}).(*outcome); ok {
		o.status = status
	}
}

// instrument counts, times and logs every request of a route.
func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inflight := s.metrics.inFlight.WithLabelValues(route)
		inflight.Inc()
		defer inflight.Dec()
		rec := &recorder{ResponseWriter: w}
		out := &outcome{}
		r = r.WithContext(context.WithValue(r.Context(), outcomeKey{}, out))
		h(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if out.status != 0 {
			status = out.status
		}
		name := r.PathValue("name")
		label := name
		if name != "" && !s.reg.Has(name) {
			label = "" // unknown names are not labels: they would grow without bound
		}
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(label, route, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(label, route).Observe(elapsed.Seconds())
		attrs := []any{"method", r.Method, "path", r.URL.Path, "route", route, "status", status,
			"ms", float64(elapsed.Microseconds()) / 1000, "bytes", rec.bytes, "remote", r.RemoteAddr}
		if name != "" {
			attrs = append(attrs, "model", name)
		}
		attrs = append(attrs, out.attrs...)
		level := slog.LevelInfo
		switch {
		case status >= 500 && status != 503:
			level = slog.LevelError
		case route == "metrics" || route == "healthz" || route == "readyz":
			level = slog.LevelDebug
		}
		s.log.Log(r.Context(), level, "request", attrs...)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	models := map[string]string{}
	for _, st := range s.reg.Status() {
		models[st.Name] = st.Status
	}
	if s.reg.Ready() {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "models": models})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "models": models})
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Models []registry.ModelStatus `json:"models"`
	Config registry.ConfigStatus  `json:"config"`
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, ModelList{Models: s.reg.Status(), Config: s.reg.ConfigStatus()})
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	st, ok := s.reg.ModelStatus(r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, "model_not_found", "no model named "+strconv.Quote(r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, st)
}
