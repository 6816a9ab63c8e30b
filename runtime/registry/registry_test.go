package registry_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/registry/registrytest"
	"github.com/rnnrun/rnnrun/runtime/task/classify"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

func init() { registrytest.Register() }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func write(t *testing.T, path string, spec registrytest.Spec) {
	t.Helper()
	if err := registrytest.Write(path, spec); err != nil {
		t.Fatal(err)
	}
}

func fakeModel(name, path string) registry.ModelConfig {
	mc := registry.ModelConfig{Name: name, Path: path, Backend: registrytest.Backend}
	return mc
}

func newRegistry(t *testing.T, models ...registry.ModelConfig) *registry.Registry {
	t.Helper()
	cfg := registry.Config{Models: models}
	for i := range cfg.Models {
		if cfg.Models[i].Concurrency == 0 {
			cfg.Models[i].Concurrency = 4
		}
	}
	r := registry.New(cfg, registry.WithLogger(quiet()))
	t.Cleanup(func() { r.Close() })
	return r
}

// generator is the text-generation instance of a lease.
func generator(t *testing.T, l *registry.Lease) *generate.Instance {
	t.Helper()
	in, err := l.Instance(generate.Name)
	if err != nil {
		t.Fatal(err)
	}
	return in.(*generate.Instance)
}

func gen(t *testing.T, l *registry.Lease, prompt string, n int) string {
	t.Helper()
	text, _, err := generator(t, l).Generator().Text(context.Background(), textgen.Request{Prompt: prompt, MaxLength: n})
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	return text
}

func TestStartStatusReady(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "text.json"), registrytest.Text("t1"))
	write(t, filepath.Join(dir, "image.json"), registrytest.Image("i1", 3))
	r := newRegistry(t, fakeModel("text", filepath.Join(dir, "text.json")), fakeModel("image", filepath.Join(dir, "image.json")))
	if r.Ready() {
		t.Fatal("ready before Start")
	}
	if st := r.Status(); len(st) != 2 || st[0].Status != registry.StateLoading || st[0].Version != nil {
		t.Fatalf("status before Start: %+v", st)
	}
	if _, err := r.Acquire("text"); !errors.Is(err, registry.ErrNotLoaded) {
		t.Fatalf("Acquire before Start: %v, want ErrNotLoaded", err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !r.Ready() {
		t.Fatal("not ready after Start")
	}
	st := r.Status()
	if st[0].Name != "text" || st[0].Status != registry.StateReady || st[0].Task != model.TaskTextGeneration ||
		st[0].Version == nil || len(st[0].Version.SHA256) != 64 || st[0].Signature == nil || st[0].Details["mode"] != "windowed" {
		t.Fatalf("text status: %+v", st[0])
	}
	if labels, _ := st[1].Details["labels"].([]string); st[1].Task != model.TaskImageClassification || len(labels) != 10 {
		t.Fatalf("image status: %+v", st[1])
	}
	l, err := r.Acquire("text")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if got := gen(t, l, "a", 5); got != "bcdef" {
		t.Fatalf("generated %q, want bcdef", got)
	}
	if _, err := l.Instance(classify.Name); !errors.Is(err, registry.ErrWrongTask) || generator(t, l).Engine() == nil || l.Version().SHA256 != st[0].Version.SHA256 {
		t.Fatal("lease accessors disagree with the model")
	}
	li, err := r.Acquire("image")
	if err != nil {
		t.Fatal(err)
	}
	defer li.Release()
	if _, err := li.Instance(generate.Name); !errors.Is(err, registry.ErrWrongTask) || strings.Join(li.Tasks(), ",") != classify.Name {
		t.Fatal("image lease has no classifier")
	}
}

func TestAcquireErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "m.json"), registrytest.Text("x"))
	mc := fakeModel("m", filepath.Join(dir, "m.json"))
	mc.Concurrency = 2
	r := newRegistry(t, mc)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Acquire("nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown model: %v", err)
	}
	if _, err := r.Acquire("../m"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("path-like name: %v", err)
	}
	a, err := r.Acquire("m")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Acquire("m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Acquire("m"); !errors.Is(err, registry.ErrBusy) {
		t.Fatalf("third acquire: %v, want ErrBusy", err)
	}
	if st, _ := r.ModelStatus("m"); st.InFlight != 2 || st.Concurrency != 2 {
		t.Fatalf("in flight %d of %d, want 2 of 2", st.InFlight, st.Concurrency)
	}
	a.Release()
	a.Release() // harmless
	c, err := r.Acquire("m")
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	b.Release()
	c.Release()
	r.Close()
	if _, err := r.Acquire("m"); !errors.Is(err, registry.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// A swap serves new requests from the new version while a lease on the old
// one keeps working; the old version closes only when that lease is released.
func TestSwapDrainsOldVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.json")
	write(t, path, registrytest.Text("v1"))
	r := newRegistry(t, fakeModel("m", path))
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	old, err := r.Acquire("m")
	if err != nil {
		t.Fatal(err)
	}
	v1 := old.Version().SHA256
	closedBefore := registrytest.ClosedCount()
	write(t, path, registrytest.Text("v2"))
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	cur, err := r.Acquire("m")
	if err != nil {
		t.Fatal(err)
	}
	if cur.Version().SHA256 == v1 {
		t.Fatal("version did not change after reload")
	}
	cur.Release()
	if n := registrytest.ClosedCount(); n != closedBefore {
		t.Fatalf("old version closed while leased (%d closes)", n-closedBefore)
	}
	if got := gen(t, old, "a", 3); got != "bcd" {
		t.Fatalf("old version generated %q", got)
	}
	old.Release()
	if n := registrytest.ClosedCount(); n != closedBefore+1 {
		t.Fatalf("old version not closed after its last lease (%d closes)", n-closedBefore)
	}
	// Reload without changes loads nothing.
	st, _ := r.ModelStatus("m")
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st2, _ := r.ModelStatus("m"); st2.Loads != st.Loads || st2.Version.LoadedAt != st.Version.LoadedAt {
		t.Fatal("an unchanged model was reloaded")
	}
}

func gather(t *testing.T, r *registry.Registry) *prometheus.Registry {
	t.Helper()
	pr := prometheus.NewRegistry()
	for _, c := range r.Collectors() {
		pr.MustRegister(c)
	}
	return pr
}

func TestBrokenModelKeepsOldVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.json")
	write(t, path, registrytest.Text("good"))
	r := newRegistry(t, fakeModel("m", path))
	pr := gather(t, r)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	good, _ := r.ModelStatus("m")
	check := func(what string, wantErr string, wantFailures float64) {
		t.Helper()
		err := r.Reload(context.Background())
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("%s: reload error %v, want one containing %q", what, err, wantErr)
		}
		st, _ := r.ModelStatus("m")
		if st.Status != registry.StateReady || st.Version.SHA256 != good.Version.SHA256 || !strings.Contains(st.LastError, wantErr) || st.LastErrorAt == nil {
			t.Fatalf("%s: status %+v", what, st)
		}
		l, err := r.Acquire("m")
		if err != nil {
			t.Fatalf("%s: old version not serving: %v", what, err)
		}
		if got := gen(t, l, "a", 2); got != "bc" {
			t.Fatalf("%s: generated %q", what, got)
		}
		l.Release()
		n, err := testutil.GatherAndCount(pr, "rnnrun_model_reload_failures_total")
		if err != nil || n != 1 {
			t.Fatalf("reload failure series: %d, %v", n, err)
		}
		if got := testutil.ToFloat64(r.Collectors()[1].(*prometheus.CounterVec).WithLabelValues("m")); got != wantFailures {
			t.Fatalf("%s: %v reload failures counted, want %v", what, got, wantFailures)
		}
	}
	if err := os.WriteFile(path, []byte("\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	check("corrupt file", "not a fake model spec", 1)
	// The same broken file is not retried (nor counted) until it changes.
	if err := r.Reload(context.Background()); err != nil {
		t.Fatalf("unchanged broken file retried: %v", err)
	}
	spec := registrytest.Text("fails-smoke")
	spec.FailRun = true
	write(t, path, spec)
	check("failing smoke inference", "smoke", 2)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	check("missing file", "no such file", 3)
	write(t, path, registrytest.Text("fixed"))
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.ModelStatus("m"); st.LastError != "" || st.Version.SHA256 == good.Version.SHA256 || st.Loads != 2 || st.Failures != 0 {
		t.Fatalf("after the fix: %+v", st)
	}
}

// A file restored to the bytes already serving clears the error and the
// failed loads (the Prometheus counters keep the totals).
func TestRestoredFileClearsError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.json")
	write(t, path, registrytest.Text("good"))
	r := newRegistry(t, fakeModel("m", path))
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	for round := range 2 { // twice: the same broken bytes again fail again
		os.WriteFile(path, []byte("\x00garbage"), 0o644)
		if err := r.Reload(context.Background()); err == nil {
			t.Fatalf("round %d: a corrupt file reloaded", round)
		}
		if st, _ := r.ModelStatus("m"); st.LastError == "" || st.Failures != 1 || st.Status != registry.StateReady {
			t.Fatalf("round %d: after the corrupt file: %+v", round, st)
		}
		os.WriteFile(path, good, 0o644)
		if err := r.Reload(context.Background()); err != nil {
			t.Fatalf("round %d: restored file: %v", round, err)
		}
		st, _ := r.ModelStatus("m")
		if st.LastError != "" || st.LastErrorAt != nil || st.Failures != 0 || st.Loads != 1 || st.Status != registry.StateReady {
			t.Fatalf("round %d: after restoring the serving bytes: %+v", round, st)
		}
	}
}

func TestFailedFirstLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.json")
	r := newRegistry(t, fakeModel("m", path)) // the file does not exist yet
	if err := r.Start(context.Background()); err == nil {
		t.Fatal("Start succeeded without the model file")
	}
	if r.Ready() {
		t.Fatal("ready without the model")
	}
	st, _ := r.ModelStatus("m")
	if st.Status != registry.StateFailed || st.LastError == "" {
		t.Fatalf("status %+v", st)
	}
	if _, err := r.Acquire("m"); !errors.Is(err, registry.ErrNotLoaded) {
		t.Fatalf("acquire: %v", err)
	}
	write(t, path, registrytest.Text("late"))
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !r.Ready() {
		t.Fatal("not ready once the file appeared")
	}
}

func TestWrongTaskInConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.json")
	write(t, path, registrytest.Image("i", 1))
	mc := fakeModel("m", path)
	mc.Task = model.TaskTextGeneration
	r := newRegistry(t, mc)
	if err := r.Start(context.Background()); !errors.Is(err, registry.ErrCheck) {
		t.Fatalf("start: %v, want ErrCheck", err)
	}
}

// writeConfig writes a YAML config serving the given name -> file pairs.
func writeConfig(t *testing.T, path string, extra string, models ...[2]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("server:\n  debounce: 50ms\n" + extra + "models:\n")
	for _, m := range models {
		b.WriteString("  - name: " + m[0] + "\n    path: " + m[1] + "\n    backend: fake\n    concurrency: 8\n")
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func configRegistry(t *testing.T, cfgPath string, opts ...registry.Option) *registry.Registry {
	t.Helper()
	cfg, err := registry.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]registry.Option{registry.WithLogger(quiet()), registry.WithConfigFile(cfgPath, func() (registry.Config, error) {
		return registry.LoadConfig(cfgPath)
	})}, opts...)
	r := registry.New(cfg, opts...)
	t.Cleanup(func() { r.Close() })
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConfigReload(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.json"), registrytest.Text("a"))
	write(t, filepath.Join(dir, "b.json"), registrytest.Text("b"))
	cfgPath := filepath.Join(dir, "rnnrun.yaml")
	writeConfig(t, cfgPath, "", [2]string{"one", "a.json"})
	r := configRegistry(t, cfgPath)
	if got := r.Names(); len(got) != 1 || got[0] != "one" {
		t.Fatalf("names %v", got)
	}
	held, err := r.Acquire("one")
	if err != nil {
		t.Fatal(err)
	}
	// Add a model and remove the first.
	writeConfig(t, cfgPath, "", [2]string{"two", "b.json"})
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.Names(); len(got) != 1 || got[0] != "two" || !r.Ready() {
		t.Fatalf("names after reload %v", got)
	}
	if _, err := r.Acquire("one"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("removed model: %v", err)
	}
	if got := gen(t, held, "a", 2); got != "bc" {
		t.Fatalf("removed model's lease generated %q", got)
	}
	held.Release()
	// A broken config keeps everything as it is.
	if err := os.WriteFile(cfgPath, []byte("models: [ {name: '../x', path: ''} ]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(context.Background()); !errors.Is(err, registry.ErrBadConfig) {
		t.Fatalf("broken config: %v", err)
	}
	if cs := r.ConfigStatus(); !strings.Contains(cs.LastError, "bad config") || cs.LastErrorAt == nil {
		t.Fatalf("config status %+v", cs)
	}
	if got := r.Names(); len(got) != 1 || got[0] != "two" || !r.Ready() {
		t.Fatalf("names after a broken config %v", got)
	}
	if err := os.WriteFile(cfgPath, []byte("models: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(context.Background()); err == nil {
		t.Fatal("unparsable config accepted")
	}
	writeConfig(t, cfgPath, "", [2]string{"two", "b.json"})
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cs := r.ConfigStatus(); cs.LastError != "" {
		t.Fatalf("config error not cleared: %+v", cs)
	}
}

// watchedRegistry is configRegistry with Watch running until the test ends;
// it returns once the watcher follows the folders.
func watchedRegistry(t *testing.T, cfgPath string) *registry.Registry {
	t.Helper()
	watching := make(chan struct{})
	r := configRegistry(t, cfgPath, registry.WithWatchStarted(func() { close(watching) }))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.Watch(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-watching
	return r
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	if err := os.Mkdir(models, 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(models, "a.json"), filepath.Join(models, "b.json")
	write(t, a, registrytest.Text("a"))
	write(t, b, registrytest.Text("b"))
	cfgPath := filepath.Join(dir, "rnnrun.yaml")
	writeConfig(t, cfgPath, "", [2]string{"m", "models/a.json"})
	r := watchedRegistry(t, cfgPath)
	sha := func() string {
		st, _ := r.ModelStatus("m")
		if st.Version == nil {
			return ""
		}
		return st.Version.SHA256
	}
	first := sha()
	// The config file changes: a rename over it, as editors do.
	writeConfig(t, cfgPath, "", [2]string{"m", "models/b.json"})
	waitFor(t, "the config change", func() bool { return sha() != first && sha() != "" })
	second := sha()
	// The model file itself changes.
	write(t, b, registrytest.Text("b2"))
	waitFor(t, "the model file change", func() bool { return sha() != second })
	third := sha()
	// A corrupt model file keeps the version serving.
	if err := os.WriteFile(b, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed reload", func() bool { st, _ := r.ModelStatus("m"); return st.LastError != "" })
	if sha() != third {
		t.Fatal("a corrupt file replaced the serving version")
	}
}

// countingEngine wraps a Generator, as a batching engine would.
type countingEngine struct {
	g      *textgen.Generator
	calls  atomic.Int64
	closed atomic.Bool
}

func (c *countingEngine) Generate(ctx context.Context, req textgen.Request, emit func(string) error) (textgen.Stats, error) {
	c.calls.Add(1)
	return c.g.Generate(ctx, req, emit)
}

func (c *countingEngine) Close() error { c.closed.Store(true); return nil }

func TestTextEngine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.json")
	write(t, path, registrytest.Text("e1"))
	var engines []*countingEngine
	r := registry.New(registry.Config{Models: []registry.ModelConfig{{Name: "m", Path: path, Backend: registrytest.Backend, Concurrency: 1}}},
		registry.WithLogger(quiet()),
		registry.WithTask(generate.New(generate.Options{Engine: func(name string, g *textgen.Generator) (generate.Engine, error) {
			e := &countingEngine{g: g}
			engines = append(engines, e)
			return e, nil
		}})))
	defer r.Close()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := r.Acquire("m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := generator(t, l).Engine().Generate(context.Background(), textgen.Request{Prompt: "a", MaxLength: 2}, func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	l.Release()
	write(t, path, registrytest.Text("e2"))
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(engines) != 2 || engines[0].calls.Load() != 1 || !engines[0].closed.Load() || engines[1].closed.Load() {
		t.Fatalf("engines: %d, first called %d times, closed %v", len(engines), engines[0].calls.Load(), engines[0].closed.Load())
	}
}

// A Kubernetes ConfigMap volume swaps a "..data" symlink; the config file is a
// symlink through it and sees no event of its own.
func TestWatchConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.json"), registrytest.Text("a"))
	write(t, filepath.Join(dir, "b.json"), registrytest.Text("b"))
	vol := filepath.Join(dir, "config")
	for _, v := range []string{"..v1", "..v2"} {
		if err := os.MkdirAll(filepath.Join(vol, v), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(t, filepath.Join(vol, "..v1", "rnnrun.yaml"), "", [2]string{"m", "../a.json"})
	writeConfig(t, filepath.Join(vol, "..v2", "rnnrun.yaml"), "", [2]string{"m", "../b.json"})
	if err := os.Symlink("..v1", filepath.Join(vol, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "rnnrun.yaml"), filepath.Join(vol, "rnnrun.yaml")); err != nil {
		t.Fatal(err)
	}
	r := watchedRegistry(t, filepath.Join(vol, "rnnrun.yaml"))
	st, _ := r.ModelStatus("m")
	first := st.Version.SHA256
	if err := os.Symlink("..v2", filepath.Join(vol, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(vol, "..data_tmp"), filepath.Join(vol, "..data")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ConfigMap swap", func() bool {
		st, _ := r.ModelStatus("m")
		return st.Version.SHA256 != first
	})
}
