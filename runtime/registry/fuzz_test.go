package registry_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/registry"
)

// FuzzLoadConfig: any config file loads or fails with an error, never
// panics; a loaded config validates.
func FuzzLoadConfig(f *testing.F) {
	f.Add("models:\n  - name: m\n    path: m.onnx\n    concurrency: 2\n")
	f.Add("server:\n  watch: false\nmodels: []\n")
	f.Add("models:\n  - name: ../x\n    path: ''\n")
	f.Add("models: {a: 1}\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(dir, "rnnrun.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := registry.LoadConfig(path)
		if err == nil {
			if err := cfg.Validate(); err != nil {
				t.Fatalf("loaded, then invalid: %v", err)
			}
		}
	})
}
