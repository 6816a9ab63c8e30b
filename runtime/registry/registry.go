// Package registry keeps a set of loaded models that a server (or any Go
// program) runs requests on, and swaps new versions in without dropping any.
//
// A Registry loads every model its Config lists, hands out counted references
// (a Lease) to the current version of a model, and reloads when asked (Reload,
// or Watch, which follows the config file and every model file with fsnotify).
// A reload loads the new version in the background, checks it (signature,
// metadata, one smoke inference) and publishes it atomically; requests already
// running finish on the old version, which is closed when its last Lease is
// released. A broken config or model keeps the old version serving; the error
// shows in Status and in the metrics.
//
// The registry knows no task by name: each registered Task (RegisterTask)
// that serves a model's kind prepares an Instance for every version it loads,
// smoke check included, and a Lease hands out those instances by task name.
//
// In the style of ollama's scheduler: the registry holds one reference on each
// current version; each Lease holds another; the version is closed when the
// count reaches zero.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Errors returned by Acquire, testable with errors.Is.
var (
	// ErrNotFound: no model of that name is configured.
	ErrNotFound = errors.New("model not found")
	// ErrNotLoaded: the model is configured but no version of it has loaded (yet).
	ErrNotLoaded = errors.New("model not loaded")
	// ErrBusy: the model already runs as many requests as its concurrency limit allows.
	ErrBusy = errors.New("model busy")
	// ErrClosed: the registry is closed.
	ErrClosed = errors.New("registry closed")
	// ErrCheck: a loaded model failed the registry's checks (task, smoke inference).
	ErrCheck = errors.New("model check failed")
	// ErrWrongTask: the model does not serve the task asked of it.
	ErrWrongTask = errors.New("wrong task")
)

// Model states reported by Status.
const (
	StateLoading = "loading" // no version yet; the first load is running or pending
	StateReady   = "ready"   // a version is serving (a later reload may have failed: see LastError)
	StateFailed  = "failed"  // no version could be loaded
)

// Version identifies one loaded version of a model.
type Version struct {
	// SHA256 is the hex sha256 of the model file (of every file, for a folder).
	SHA256 string `json:"sha256"`
	// LoadedAt is when this version was loaded.
	LoadedAt time.Time `json:"loaded_at"`
	// Path is the file it was loaded from.
	Path string `json:"path"`
	// Size is the file's size in bytes (the sum, for a folder).
	Size int64 `json:"size"`
}

// ModelStatus describes one configured model.
type ModelStatus struct {
	Name        string           `json:"name"`
	Path        string           `json:"path"`
	Backend     string           `json:"backend,omitempty"`
	Task        string           `json:"task,omitempty"`  // the model's kind, as its metadata declares
	Tasks       []string         `json:"tasks,omitempty"` // the tasks that serve it: "generate", "score", ...
	Status      string           `json:"status"`
	Version     *Version         `json:"version,omitempty"`
	Signature   *model.Signature `json:"signature,omitempty"`
	Concurrency int              `json:"concurrency"`
	InFlight    int              `json:"in_flight"`
	Loads       int              `json:"loads"`
	Failures    int              `json:"failed_loads"`
	LastError   string           `json:"last_error,omitempty"`
	LastErrorAt *time.Time       `json:"last_error_at,omitempty"`
	// Details are the fields each task's Instance.Status adds ("mode",
	// "vocab", "labels", ...); in JSON they sit beside the others.
	Details map[string]any `json:"-"`
}

// modelStatusJSON has ModelStatus's fields without its methods.
type modelStatusJSON ModelStatus

// MarshalJSON writes Details beside the other fields.
func (s ModelStatus) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(modelStatusJSON(s))
	if err != nil || len(s.Details) == 0 {
		return base, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(base, &all); err != nil {
		return nil, err
	}
	for k, v := range s.Details {
		if _, taken := all[k]; taken {
			continue // a task cannot hide a registry field
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("status field %q: %w", k, err)
		}
		all[k] = raw
	}
	return json.Marshal(all)
}

// UnmarshalJSON reads the fields it knows and keeps the others in Details.
func (s *ModelStatus) UnmarshalJSON(data []byte) error {
	var base modelStatusJSON
	if err := json.Unmarshal(data, &base); err != nil {
		return err
	}
	var all map[string]any
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	known := map[string]any{}
	t := reflect.TypeOf(base)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		known[name] = nil
	}
	for k, v := range all {
		if _, ok := known[k]; !ok {
			if base.Details == nil {
				base.Details = map[string]any{}
			}
			base.Details[k] = v
		}
	}
	*s = ModelStatus(base)
	return nil
}

// ConfigStatus describes the config file the registry reloads from.
type ConfigStatus struct {
	Path        string     `json:"path,omitempty"`
	LoadedAt    time.Time  `json:"loaded_at"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

// Option configures a Registry.
type Option func(*Registry)

// WithLogger sets the structured logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(r *Registry) { r.log = l } }

// WithConfigFile makes Reload and Watch re-read the configuration with load,
// and Watch follow the file at path.
func WithConfigFile(path string, load func() (Config, error)) Option {
	return func(r *Registry) { r.cfgPath, r.loader = path, load }
}

// WithWatchStarted calls f once Watch follows its folders (a test hook: file
// changes from then on are seen).
func WithWatchStarted(f func()) Option { return func(r *Registry) { r.watchStarted = f } }

// WithSmokeTimeout bounds the smoke inference of each new version (default 30s).
func WithSmokeTimeout(d time.Duration) Option { return func(r *Registry) { r.smokeTimeout = d } }

// Registry holds the loaded models. It is safe for concurrent use.
type Registry struct {
	log          *slog.Logger
	cfgPath      string
	loader       func() (Config, error)
	tasks        []Task
	watchStarted func()
	smokeTimeout time.Duration
	metrics      *metrics

	reloadMu sync.Mutex // one Start or Reload at a time

	mu        sync.RWMutex // guards everything below
	cfg       Config
	cfgStatus ConfigStatus
	slots     map[string]*slot
	order     []string
	closed    bool

	open sync.WaitGroup // versions not yet closed
}

// slot is one configured name and its current version.
type slot struct {
	cfg         ModelConfig
	cur         *entry
	state       string
	loads       int
	failures    int
	lastErr     string
	lastErrAt   time.Time
	failedKey   string // config and sha256 of the last failed load, not retried until either changes
	lastAttempt string
}

// New makes a registry for cfg. It loads nothing until Start.
func New(cfg Config, opts ...Option) *Registry {
	r := &Registry{
		log:          slog.Default(),
		smokeTimeout: 30 * time.Second,
		cfg:          cfg,
		slots:        map[string]*slot{},
		tasks:        RegisteredTasks(),
	}
	for _, o := range opts {
		o(r)
	}
	r.metrics = newMetrics()
	r.cfgStatus = ConfigStatus{Path: r.cfgPath, LoadedAt: time.Now()}
	for _, mc := range cfg.Models {
		r.slots[mc.Name] = &slot{cfg: mc, state: StateLoading}
		r.order = append(r.order, mc.Name)
		r.metrics.ready.WithLabelValues(mc.Name).Set(0)
		r.metrics.reloadFailures.WithLabelValues(mc.Name)
	}
	return r
}

// Collectors returns the registry's Prometheus metrics, for registering on
// the caller's prometheus.Registry (server.New does it).
func (r *Registry) Collectors() []prometheus.Collector { return r.metrics.collectors() }

// Config returns the configuration in force.
func (r *Registry) Config() Config {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cfg
}

// Start loads every configured model. A model that fails to load is reported
// in the returned error and in Status; the others serve.
func (r *Registry) Start(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	return r.apply(ctx, r.Config(), false)
}

// Reload re-reads the configuration (when the registry has a config file) and
// loads every model whose configuration or file content changed. A config that
// fails to read or validate changes nothing and is returned; failed models
// keep their old version serving.
func (r *Registry) Reload(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	cfg := r.Config()
	if r.loader != nil {
		next, err := r.loader()
		if err != nil {
			now := time.Now()
			r.mu.Lock()
			r.cfgStatus.LastError, r.cfgStatus.LastErrorAt = err.Error(), &now
			r.mu.Unlock()
			r.metrics.configFailures.Inc()
			r.log.Error("config reload failed; keeping the current models", "config", r.cfgPath, "err", err)
			return err
		}
		cfg = next
		r.mu.Lock()
		r.cfgStatus.LastError, r.cfgStatus.LastErrorAt, r.cfgStatus.LoadedAt = "", nil, time.Now()
		r.mu.Unlock()
	}
	return r.apply(ctx, cfg, true)
}

// apply makes the registry serve cfg: loads new and changed models, drops removed ones.
func (r *Registry) apply(ctx context.Context, cfg Config, reload bool) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	old := r.cfg
	r.cfg = cfg
	var removed []*entry
	for _, name := range r.order {
		if _, ok := cfg.Model(name); !ok {
			if s := r.slots[name]; s.cur != nil {
				removed = append(removed, s.cur)
			}
			delete(r.slots, name)
			r.metrics.forget(name)
			r.log.Info("model removed from the config", "model", name)
		}
	}
	r.order = r.order[:0]
	for _, mc := range cfg.Models {
		r.order = append(r.order, mc.Name)
		if _, ok := r.slots[mc.Name]; !ok {
			r.slots[mc.Name] = &slot{cfg: mc, state: StateLoading}
			r.metrics.ready.WithLabelValues(mc.Name).Set(0)
			r.metrics.reloadFailures.WithLabelValues(mc.Name)
		}
	}
	r.mu.Unlock()
	for _, e := range removed {
		e.decRef()
	}
	if reload && old.OrtLib != cfg.OrtLib {
		r.log.Warn("ort-lib changed; a process loads ONNX Runtime once, so the new library is used after a restart", "was", old.OrtLib, "now", cfg.OrtLib)
	}
	var errs []error
	loaded := 0
	for _, mc := range cfg.Models {
		if err := ctx.Err(); err != nil {
			return err
		}
		changed, err := r.update(ctx, mc, cfg, reload)
		if err != nil {
			errs = append(errs, err)
		} else if changed {
			loaded++
		}
	}
	if reload {
		r.log.Info("reload finished", "models", len(cfg.Models), "loaded", loaded, "failed", len(errs), "removed", len(removed))
	}
	return errors.Join(errs...)
}

// update loads mc if it is new or changed, and swaps it in when it passes the
// checks. It reports whether a new version was swapped in.
func (r *Registry) update(ctx context.Context, mc ModelConfig, cfg Config, reload bool) (bool, error) {
	r.mu.RLock()
	s, ok := r.slots[mc.Name]
	var cur *entry
	var failedKey string
	if ok {
		cur, failedKey = s.cur, s.failedKey
	}
	r.mu.RUnlock()
	if !ok {
		return false, nil
	}
	sum, size, hashErr := hashPath(mc.Path)
	side := sidecarSum(mc.Path)
	key := attemptKey(mc, sum+"|"+side)
	if hashErr == nil && cur != nil && reflect.DeepEqual(cur.cfg, mc) && cur.version.SHA256 == sum && cur.sidecar == side {
		r.mu.Lock()
		s.cfg = mc // e.g. the same values in a rewritten file
		if s.lastErr != "" {
			// The file (and config) are back to what is serving: the failed
			// attempts are moot, and the status says so.
			s.lastErr, s.lastErrAt, s.failedKey, s.failures = "", time.Time{}, "", 0
			r.log.Info("model file restored to the serving version; its last error is cleared", "model", mc.Name, "sha256", sum[:12])
		}
		r.mu.Unlock()
		return false, nil // unchanged
	}
	if key == failedKey {
		return false, nil // this exact attempt failed already; wait for a change
	}
	log := r.log.With("model", mc.Name, "path", mc.Path)
	start := time.Now()
	var e *entry
	err := hashErr
	if err == nil {
		e, err = r.load(ctx, mc, cfg, sum, size)
	}
	if e != nil {
		e.sidecar = side
	}
	now := time.Now()
	r.mu.Lock()
	if r.closed || r.slots[mc.Name] != s {
		r.mu.Unlock() // closed or removed while loading
		if e != nil {
			e.decRef()
		}
		return false, nil
	}
	if err != nil {
		s.failures++
		s.lastErr, s.lastErrAt, s.failedKey = err.Error(), now, key
		if s.cur == nil {
			s.state = StateFailed
		}
		s.cfg = mc
		serving := s.cur != nil
		// Counted before the lock is released, so whoever sees the error sees it counted.
		r.metrics.loads.WithLabelValues(mc.Name, "failed").Inc()
		if reload || serving {
			r.metrics.reloadFailures.WithLabelValues(mc.Name).Inc()
		}
		r.mu.Unlock()
		if serving {
			log.Error("model reload failed; the old version keeps serving", "err", err, "serving", cur.version.SHA256[:12])
		} else {
			log.Error("model load failed", "err", err)
		}
		return false, fmt.Errorf("model %q: %w", mc.Name, err)
	}
	prev := s.cur
	s.cur, s.cfg, s.state = e, mc, StateReady
	s.loads++
	s.lastErr, s.lastErrAt, s.failedKey, s.failures = "", time.Time{}, "", 0
	r.metrics.loads.WithLabelValues(mc.Name, "ok").Inc()
	r.metrics.ready.WithLabelValues(mc.Name).Set(1)
	r.metrics.setVersion(mc.Name, e.version.SHA256, e.kind)
	r.mu.Unlock()
	attrs := []any{"sha256", e.version.SHA256[:12], "task", e.kind, "tasks", e.tasks, "seconds", time.Since(start).Seconds()}
	if prev != nil {
		attrs = append(attrs, "replaces", prev.version.SHA256[:12])
		log.Info("model version swapped in", attrs...)
		prev.decRef() // closed once its requests drain
	} else {
		log.Info("model loaded", attrs...)
	}
	return true, nil
}

func attemptKey(mc ModelConfig, sum string) string {
	cfg, _ := json.Marshal(mc) // values, not pointers
	return fmt.Sprintf("%s|%s", cfg, sum)
}

// Acquire returns a counted reference to the current version of the model
// named name and takes one of its concurrency slots. Release it when done.
// Errors: ErrNotFound, ErrNotLoaded, ErrBusy, ErrClosed.
func (r *Registry) Acquire(name string) (*Lease, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return nil, ErrClosed
	}
	s, ok := r.slots[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	e := s.cur
	if e == nil {
		if s.lastErr != "" {
			return nil, fmt.Errorf("%w: %q: %s", ErrNotLoaded, name, s.lastErr)
		}
		return nil, fmt.Errorf("%w: %q is still loading", ErrNotLoaded, name)
	}
	select {
	case e.sem <- struct{}{}:
	default:
		return nil, fmt.Errorf("%w: %q already runs %d requests (its concurrency limit)", ErrBusy, name, cap(e.sem))
	}
	// The registry's own reference cannot drop while we hold r.mu shared:
	// swaps and removals take it exclusively before releasing it.
	e.refs.Add(1)
	return &Lease{e: e}, nil
}

// Has reports whether a model named name is configured.
func (r *Registry) Has(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.slots[name]
	return ok
}

// Names lists the configured models in config order.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.order)
}

// Ready reports whether every configured model has a version serving.
func (r *Registry) Ready() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return false
	}
	for _, s := range r.slots {
		if s.cur == nil {
			return false
		}
	}
	return true
}

// Status describes every configured model, in config order.
func (r *Registry) Status() []ModelStatus {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]ModelStatus, 0, len(r.order))
	for _, name := range r.order {
		s := r.slots[name]
		st := ModelStatus{
			Name: name, Path: s.cfg.Path, Backend: model.BackendName(s.cfg.Backend), Task: s.cfg.Task, Status: s.state,
			Concurrency: s.cfg.Concurrency, Loads: s.loads, Failures: s.failures,
			LastError: s.lastErr,
		}
		if !s.lastErrAt.IsZero() {
			t := s.lastErrAt
			st.LastErrorAt = &t
		}
		if e := s.cur; e != nil {
			v, sig := e.version, e.m.Signature()
			st.Version, st.Signature = &v, &sig
			st.Backend, st.Task = e.m.BackendName(), e.kind
			st.Path = e.version.Path
			st.Concurrency, st.InFlight = cap(e.sem), len(e.sem)
			st.Tasks, st.Details = e.status()
		}
		out = append(out, st)
	}
	return out
}

// ModelStatus returns the status of one model.
func (r *Registry) ModelStatus(name string) (ModelStatus, bool) {
	for _, st := range r.Status() {
		if st.Name == name {
			return st, true
		}
	}
	return ModelStatus{}, false
}

// ConfigStatus describes the config file and its last reload error.
func (r *Registry) ConfigStatus() ConfigStatus {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cfgStatus
}

// Close stops serving: Acquire fails from now on, and every version is closed
// once its leases are released. Close waits for a running load to end and for
// every version to close.
func (r *Registry) Close() error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.open.Wait()
		return nil
	}
	r.closed = true
	var list []*entry
	for _, s := range r.slots {
		if s.cur != nil {
			list = append(list, s.cur)
			s.cur = nil
		}
	}
	r.mu.Unlock()
	for _, e := range list {
		e.decRef()
	}
	r.open.Wait()
	return nil
}

// entry is one loaded version of a model.
type entry struct {
	r         *Registry
	name      string
	cfg       ModelConfig
	m         *model.Model
	kind      string     // the task the model declares
	tasks     []string   // the tasks serving it, in registration order
	instances []Instance // likewise
	version   Version
	sidecar   string // sha256 of the sidecar metadata file loaded with it ("" without one)
	sem       chan struct{}
	refs      atomic.Int64
}

func (e *entry) decRef() {
	if n := e.refs.Add(-1); n == 0 {
		e.close()
	} else if n < 0 {
		panic("registry: reference count below zero")
	}
}

func (e *entry) status() ([]string, map[string]any) {
	details := map[string]any{}
	for _, in := range e.instances {
		for k, v := range in.Status() {
			details[k] = v
		}
	}
	return slices.Clone(e.tasks), details
}

func (e *entry) close() {
	defer e.r.open.Done()
	for i, in := range e.instances {
		if err := in.Close(); err != nil {
			e.r.log.Warn("closing task", "model", e.name, "task", e.tasks[i], "err", err)
		}
	}
	if err := e.m.Close(); err != nil {
		e.r.log.Warn("closing model", "model", e.name, "sha256", e.version.SHA256[:12], "err", err)
		return
	}
	e.r.log.Info("model version closed", "model", e.name, "sha256", e.version.SHA256[:12])
}

// Lease is a counted reference to one version of a model, holding one of its
// concurrency slots. The version stays open until every lease is released.
type Lease struct {
	e    *entry
	once sync.Once
}

// Release gives the reference and the concurrency slot back. Calling it again does nothing.
func (l *Lease) Release() {
	l.once.Do(func() {
		<-l.e.sem
		l.e.decRef()
	})
}

// Name is the model's configured name.
func (l *Lease) Name() string { return l.e.name }

// Model is the loaded model.
func (l *Lease) Model() *model.Model { return l.e.m }

// Kind is the task the model declares (its metadata's task, else the config's).
func (l *Lease) Kind() string { return l.e.kind }

// Tasks lists the tasks that serve the leased version.
func (l *Lease) Tasks() []string { return slices.Clone(l.e.tasks) }

// Version identifies the leased version.
func (l *Lease) Version() Version { return l.e.version }

// Config is the configuration the version was loaded with (defaults included).
func (l *Lease) Config() ModelConfig { return l.e.cfg }

// Instance is what the task named task prepared for this version, or
// ErrWrongTask (naming the tasks the model does serve).
func (l *Lease) Instance(task string) (Instance, error) {
	if i := slices.Index(l.e.tasks, task); i >= 0 {
		return l.e.instances[i], nil
	}
	return nil, fmt.Errorf("%w: model %q (%s) does not serve %s; it serves %v", ErrWrongTask, l.e.name, l.e.kind, task, l.e.tasks)
}
