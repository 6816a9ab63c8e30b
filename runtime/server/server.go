// Package server is rnnrun's HTTP API over a model registry: listing models,
// every registered task's routes (generate, classify, score, ...: see package
// task), health, readiness and Prometheus metrics. New returns an
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
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rnnrun/rnnrun/internal/conf"
	"github.com/rnnrun/rnnrun/runtime/playground"
	"github.com/rnnrun/rnnrun/runtime/protocol"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
)

// Prefix is where rnnrun's own API lives: every model route is
// Prefix + "/models/{name}/" + the task's route.
const Prefix = "/api/v1"

// Options configure the handler. Zero limits take the server's Defaults.
type Options struct {
	// Logger receives one structured line per request (default slog.Default()).
	Logger *slog.Logger
	// Metrics is the Prometheus registry the handler registers its metrics
	// (and the model registry's and the tasks') on and serves at /metrics.
	// Nil creates a private one that also holds the Go and process collectors.
	Metrics *prometheus.Registry
	// Limits bound one request; a zero field takes Defaults' (RequestTimeout 0: none).
	Limits task.Limits
	// NoPlayground turns off the browser page served at / (runtime/playground).
	NoPlayground bool
	// Guard: the decode budget and the body and write deadlines (guard.go);
	// zero fields take Defaults'.
	Guard Guard
	// Auth: optional bearer tokens (auth.go); none means every route is open.
	Auth Auth
	// AbsolutePaths shows file paths in the models status as they are;
	// by default they are relative to the config file's folder (paths.go).
	AbsolutePaths bool
	// Sequences bound KServe v2's stateful sequences; zero fields take Defaults'.
	Sequences protocol.SequenceLimits
}

// OptionsFromConfig takes the limits from a server config section.
func OptionsFromConfig(c Config) Options {
	return Options{Limits: c.Limits, Guard: c.Guard, Auth: c.Auth, AbsolutePaths: c.AbsolutePaths, Sequences: c.SequenceLimits}
}

func (o *Options) fill() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	conf.Fill(&o.Limits, Defaults.Limits)
	conf.Fill(&o.Guard, Defaults.Guard)
	conf.Fill(&o.Sequences, Defaults.SequenceLimits)
}

// Server is the HTTP handler. It is safe for concurrent use.
type Server struct {
	reg     *registry.Registry
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	gather  prometheus.Gatherer
	budget  *task.Budget
	handler http.Handler // mux behind the guard
}

// New returns the API handler over reg.
func New(reg *registry.Registry, opts Options) *Server {
	opts.fill()
	promReg := opts.Metrics
	if promReg == nil {
		promReg = prometheus.NewRegistry()
		promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{reg: reg, opts: opts, log: opts.Logger, mux: http.NewServeMux(), metrics: newMetrics(), gather: promReg,
		budget: task.NewBudget(opts.Guard.MaxDecodeBytes)}
	s.handler = s.authorize(s.guard(s.mux))
	cs := append(s.metrics.collectors(), reg.Collectors()...)
	s.routes()
	cs = append(cs, s.protocols()...)
	for _, t := range reg.Tasks() {
		if h, ok := t.(task.HTTP); ok {
			cs = append(cs, s.taskRoutes(t.Name(), h.NewHTTP())...)
		}
	}
	s.mux.Handle("/", s.instrument("other", func(w http.ResponseWriter, r *http.Request) {
		task.WriteError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	}))
	for _, c := range cs {
		if err := promReg.Register(c); err != nil {
			if _, dup := err.(prometheus.AlreadyRegisteredError); !dup {
				s.log.Warn("registering metrics", "err", err)
			}
		}
	}
	return s
}

// handle serves method on path, and a JSON 405 for every other method.
func (s *Server) handle(method, path, route string, h http.HandlerFunc) {
	s.mux.Handle(method+" "+path, s.instrument(route, h))
	s.mux.Handle(path, s.instrument(route, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", method)
		task.WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use "+method)
	}))
}

// routes are the server's own: models, health, readiness, metrics.
func (s *Server) routes() {
	s.handle("GET", Prefix+"/models", "models", s.listModels)
	s.handle("GET", Prefix+"/models/{name}", "model", s.getModel)
	s.handle("GET", "/healthz", "healthz", s.healthz)
	s.handle("GET", "/readyz", "readyz", s.readyz)
	s.handle("GET", "/metrics", "metrics", promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{}).ServeHTTP)
	if !s.opts.NoPlayground {
		page := s.instrument("playground", playground.Handler().ServeHTTP)
		s.mux.Handle("GET /{$}", page)
		s.mux.Handle("GET "+playground.AssetPrefix, page)
	}
}

// taskRoutes mounts one task's routes under Prefix/models/{name}/ and returns its collectors.
func (s *Server) taskRoutes(name string, h task.Handlers) []prometheus.Collector {
	for _, rt := range h.Routes {
		label := rt.Label
		if label == "" {
			label = rt.Path
		}
		handle := rt.Handle
		s.handle(rt.Method, Prefix+"/models/{name}/"+rt.Path, label, func(w http.ResponseWriter, r *http.Request) {
			call := task.NewCall(w, r, s.reg, name, s.opts.Limits, h.MapError)
			call.Decode = s.budget
			handle(call)
		})
	}
	return h.Collectors
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

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

// instrument counts, times and logs every request of a route.
func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inflight := s.metrics.inFlight.WithLabelValues(route)
		inflight.Inc()
		defer inflight.Dec()
		rec := &recorder{ResponseWriter: w}
		r, out := task.Track(r)
		h(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if out.Status != 0 {
			status = out.Status
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
		attrs = append(attrs, out.Attrs...)
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
	task.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	models := map[string]string{}
	for _, st := range s.reg.Status() {
		models[st.Name] = st.Status
	}
	if s.reg.Ready() {
		task.WriteJSON(w, http.StatusOK, map[string]any{"status": "ready", "models": models})
		return
	}
	task.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "models": models})
}

// ModelList is the body of GET /api/v1/models.
type ModelList struct {
	Models []registry.ModelStatus `json:"models"`
	Config registry.ConfigStatus  `json:"config"`
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	models, cfg := s.relPaths(s.reg.Status(), s.reg.ConfigStatus())
	task.WriteJSON(w, http.StatusOK, ModelList{Models: models, Config: cfg})
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	st, ok := s.reg.ModelStatus(r.PathValue("name"))
	if !ok {
		task.WriteError(w, http.StatusNotFound, "model_not_found", "no model named "+strconv.Quote(r.PathValue("name")))
		return
	}
	list, _ := s.relPaths([]registry.ModelStatus{st}, s.reg.ConfigStatus())
	task.WriteJSON(w, http.StatusOK, list[0])
}
