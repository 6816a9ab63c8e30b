package registry_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/registry/registrytest"
)

// A model's config entry sets metadata over the file's and its sidecar's,
// and a value that contradicts the model fails the load naming the entry.
func TestConfigEntryOverridesMetadata(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.json")
	write(t, path, registrytest.Image("i", 3))
	os.WriteFile(path+".rnnrun.json", []byte(`{"ink": "dark-on-light", "labels": ["s0","s1","s2","s3","s4","s5","s6","s7","s8","s9"]}`), 0o644)
	cfgPath := filepath.Join(dir, "rnnrun.yaml")
	os.WriteFile(cfgPath, []byte("models:\n  - name: m\n    path: m.json\n    backend: fake\n    labels: [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9]\n    input-scale: 1/255\n"), 0o644)
	cfg, err := registry.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	r := registry.New(cfg, registry.WithLogger(quiet()))
	defer r.Close()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := r.Acquire("m")
	if err != nil {
		t.Fatal(err)
	}
	md := l.Model().Metadata()
	l.Release()
	if md.Labels[3] != "c3" || md.Sources["labels"] != `config entry "m" (labels)` {
		t.Fatalf("labels %v from %q", md.Labels, md.Sources["labels"])
	}
	if md.Ink != "dark-on-light" || md.Sources["ink"] != "sidecar m.json.rnnrun.json" || md.InputStd != 255 {
		t.Fatalf("ink %q from %q, std %v", md.Ink, md.Sources["ink"], md.InputStd)
	}

	os.WriteFile(cfgPath, []byte("models:\n  - name: m\n    path: m.json\n    backend: fake\n    labels: [a, b]\n"), 0o644)
	if cfg, err = registry.LoadConfig(cfgPath); err != nil {
		t.Fatal(err)
	}
	r2 := registry.New(cfg, registry.WithLogger(quiet()))
	defer r2.Close()
	err = r2.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), `config entry "m" (labels): 2 labels, but output probs float32[?,10] has 10 classes`) {
		t.Fatalf("contradicting labels: %v", err)
	}
}

// RNNRUN_MODELS_<NAME>_<KEY> sets the override keys too.
func TestOverridesFromEnvironment(t *testing.T) {
	t.Setenv("RNNRUN_MODELS_M_LABELS", "e0,e1,e2,e3,e4,e5,e6,e7,e8,e9")
	t.Setenv("RNNRUN_MODELS_M_INPUT_STD", "127.5")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "rnnrun.yaml")
	os.WriteFile(cfgPath, []byte("models:\n  - name: m\n    path: m.json\n    backend: fake\n"), 0o644)
	cfg, err := registry.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Models[0].Overrides
	if len(o.Labels) != 10 || o.Labels[9] != "e9" || o.InputStd == nil || *o.InputStd != 127.5 {
		t.Fatalf("overrides %+v", o)
	}
	t.Setenv("RNNRUN_MODELS_M_INPUT_MEAN", "x")
	if _, err := registry.LoadConfig(cfgPath); err == nil || !strings.Contains(err.Error(), `RNNRUN_MODELS_M_INPUT_MEAN="x" is not a number`) {
		t.Fatalf("bad number: %v", err)
	}
}

// Editing a model's sidecar (MODEL.rnnrun.json) reloads it as editing the
// model file does: Watch follows the sidecar, and Reload sees a changed
// sidecar even when the model's bytes are the same. A sidecar that
// contradicts the model keeps the serving version and says why.
func TestWatchSidecar(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.json")
	write(t, path, registrytest.Image("i", 3))
	sidecar := path + ".rnnrun.json"
	labels := func(prefix string) string {
		var l []string
		for i := range 10 {
			l = append(l, `"`+prefix+string(rune('0'+i))+`"`)
		}
		return `{"labels": [` + strings.Join(l, ",") + `]}`
	}
	writeFile := func(p, s string) { // a rename over the file, as editors do
		t.Helper()
		if err := os.WriteFile(p+".tmp", []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(sidecar, labels("a"))
	cfgPath := filepath.Join(dir, "rnnrun.yaml")
	writeConfig(t, cfgPath, "", [2]string{"m", "m.json"})
	r := watchedRegistry(t, cfgPath)
	label := func() string {
		l, err := r.Acquire("m")
		if err != nil {
			return err.Error()
		}
		defer l.Release()
		return l.Model().Metadata().Labels[3]
	}
	if got := label(); got != "a3" {
		t.Fatalf("label 3 is %q, want the sidecar's a3", got)
	}
	st, _ := r.ModelStatus("m")
	sha := st.Version.SHA256
	writeFile(sidecar, labels("b"))
	waitFor(t, "the sidecar change", func() bool { return label() == "b3" })
	if st, _ := r.ModelStatus("m"); st.Version.SHA256 != sha {
		t.Fatalf("the model's bytes did not change, its version did: %s, was %s", st.Version.SHA256, sha)
	}
	writeFile(sidecar, `{"labels": ["x", "y"]}`)
	waitFor(t, "the failed reload", func() bool { st, _ := r.ModelStatus("m"); return st.LastError != "" })
	if st, _ := r.ModelStatus("m"); !strings.Contains(st.LastError, "2 labels") || label() != "b3" {
		t.Fatalf("a contradicting sidecar: last error %q, serving label %q (want b3 still serving)", st.LastError, label())
	}
	if err := os.Remove(sidecar); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sidecar's removal", func() bool { return label() == "3" })
}

// A config task may use an alias ("text" for text-generation): a file that
// declares the same task loads; one that declares another is refused.
func TestConfigTaskAlias(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	write(t, path, registrytest.Text("t"))
	for _, c := range []struct{ task, err string }{
		{"text", ""},
		{"text-generation", ""},
		{"image", `declares task "text-generation", the config expects "image"`},
	} {
		r := registry.New(registry.Config{Models: []registry.ModelConfig{{Name: "m", Path: path, Backend: registrytest.Backend, Task: c.task}}},
			registry.WithLogger(quiet()))
		err := r.Start(context.Background())
		r.Close()
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("config task %q: %v, want %q", c.task, err, c.err)
		}
	}
}
