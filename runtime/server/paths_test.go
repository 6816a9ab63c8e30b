package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/registry/registrytest"
	"github.com/rnnrun/rnnrun/runtime/server"
)

// File paths in the models status are relative to the config file's folder,
// unless absolute-paths is set.
func TestModelPathsRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	model := filepath.Join(dir, "models", "m.json")
	if err := registrytest.Write(model, registrytest.Text("m")); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "rnnrun.yaml")
	os.WriteFile(cfgPath, []byte("models:\n  - name: m\n    backend: "+string(registrytest.Backend)+"\n    path: models/m.json\n"), 0o644)
	cfg, err := registry.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, abs := range []bool{false, true} {
		e := newEnv(t, cfg, envOptions{cfgPath: cfgPath, server: server.Options{AbsolutePaths: abs}})
		list := e.models()
		want := filepath.Join("models", "m.json")
		if abs {
			want = model
		}
		st := list.Models[0]
		if st.Path != want || st.Version == nil || st.Version.Path != want {
			t.Errorf("absolute-paths %v: path %q, version path %v, want %q", abs, st.Path, st.Version, want)
		}
		if one := e.status("m"); one.Path != want {
			t.Errorf("absolute-paths %v: GET /v1/models/m path %q, want %q", abs, one.Path, want)
		}
		if _, body := e.do("GET", "/api/v1/models", "", nil); !abs && strings.Contains(string(body), dir) {
			t.Errorf("the models status shows the absolute folder: %s", body)
		}
	}
}
