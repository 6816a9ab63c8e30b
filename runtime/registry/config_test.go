package registry_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	_ "github.com/rnnrun/rnnrun/runtime/task/tasks" // the tasks check their settings
)

// settings are a model's generation settings, defaults filled in.
func settings(t *testing.T, mc registry.ModelConfig) generate.Settings {
	t.Helper()
	s, err := generate.SettingsOf(mc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const yamlConfig = `
ort-lib: /opt/ort/libonnxruntime.so
server:
  listen: 127.0.0.1:9999
  max-length: 1000
  request-timeout: 5s
models:
  - name: char
    path: models/char.onnx
    threads: 2
    concurrency: 3
    mode: stateful
    defaults:
      temperature: 0
      top-k: 5
      max-length: 300
      stop: ["\n\n"]
  - name: mnist
    path: /abs/mnist.onnx
    task: image-classification
`

const tomlConfig = `
[server]
listen = "127.0.0.1:9999"
max-length = 1000
request-timeout = "5s"

[[models]]
name = "char"
path = "models/char.onnx"
threads = 2
concurrency = 3
mode = "stateful"
[models.defaults]
temperature = 0.0
top-k = 5
max-length = 300
stop = ["\n\n"]

[[models]]
name = "mnist"
path = "/abs/mnist.onnx"
task = "image-classification"
`

const jsonConfig = `{
  "server": {"listen": "127.0.0.1:9999", "max-length": 1000, "request-timeout": "5s"},
  "models": [
    {"name": "char", "path": "models/char.onnx", "threads": 2, "concurrency": 3, "mode": "stateful",
     "defaults": {"temperature": 0, "top-k": 5, "max-length": 300, "stop": ["\n\n"]}},
    {"name": "mnist", "path": "/abs/mnist.onnx", "task": "image-classification"}
  ]
}`

func TestLoadConfigFormats(t *testing.T) {
	for ext, text := range map[string]string{"yaml": yamlConfig, "toml": tomlConfig, "json": jsonConfig} {
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "rnnrun."+ext)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := registry.LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Loading != registry.DefaultLoading {
				t.Fatalf("loading %+v, want the defaults %+v", cfg.Loading, registry.DefaultLoading)
			}
			if len(cfg.Models) != 2 {
				t.Fatalf("models %+v", cfg.Models)
			}
			c := cfg.Models[0]
			if c.Name != "char" || c.Path != filepath.Join(dir, "models/char.onnx") || c.Threads != 2 || c.Concurrency != 3 || settings(t, c).Mode != "stateful" {
				t.Fatalf("char %+v", c)
			}
			d := settings(t, c).Defaults
			if d.Temperature == nil || *d.Temperature != 0 || d.TopK != 5 || d.MaxLength != 300 || *d.TopP != generate.DefaultTopP || len(d.Stop) != 1 || d.Stop[0] != "\n\n" {
				t.Fatalf("char defaults %+v", d)
			}
			m := cfg.Models[1]
			if m.Path != "/abs/mnist.onnx" || m.Concurrency != registry.DefaultConcurrency || *settings(t, m).Defaults.Temperature != generate.DefaultTemperature {
				t.Fatalf("mnist %+v", m)
			}
		})
	}
}

func TestConfigEnvOverrides(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rnnrun.yaml")
	if err := os.WriteFile(path, []byte(yamlConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RNNRUN_SERVER_LOAD_TIMEOUT", "7s")
	t.Setenv("RNNRUN_ORT_LIB", "/other/lib.so")
	t.Setenv("RNNRUN_MODELS_CHAR_PATH", "/elsewhere/char.onnx")
	t.Setenv("RNNRUN_MODELS_CHAR_CONCURRENCY", "9")
	t.Setenv("RNNRUN_MODELS_CHAR_DEFAULTS_TEMPERATURE", "0.7")
	t.Setenv("RNNRUN_MODELS_MNIST_THREADS", "4")
	cfg, err := registry.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Loading.LoadTimeout != 7*time.Second || cfg.OrtLib != "/other/lib.so" {
		t.Fatalf("loading %+v, ort-lib %q", cfg.Loading, cfg.OrtLib)
	}
	c := cfg.Models[0]
	if c.Path != "/elsewhere/char.onnx" || c.Concurrency != 9 || *settings(t, c).Defaults.Temperature != 0.7 || cfg.Models[1].Threads != 4 {
		t.Fatalf("models %+v", cfg.Models)
	}
	t.Setenv("RNNRUN_MODELS_CHAR_THREADS", "many")
	if _, err := registry.LoadConfig(path); !errors.Is(err, registry.ErrBadConfig) || !strings.Contains(err.Error(), "RNNRUN_MODELS_CHAR_THREADS") {
		t.Fatalf("bad env value: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"no name", "models: [{path: a.onnx}]", "has no name"},
		{"path as name", "models: [{name: ../etc, path: a.onnx}]", "a name is"},
		{"duplicate", "models: [{name: a, path: a.onnx}, {name: a, path: b.onnx}]", "configured twice"},
		{"no path", "models: [{name: a}]", "has no path"},
		{"task", "models: [{name: a, path: a.onnx, task: speech}]", "task"},
		{"mode", "models: [{name: a, path: a.onnx, mode: fast}]", "mode"},
		{"top-p", "models: [{name: a, path: a.onnx, defaults: {top-p: 2}}]", "top-p"},
		{"top-p zero", "models: [{name: a, path: a.onnx, defaults: {top-p: 0}}]", "top-p 0: must be in (0, 1]"},
		{"window", "models: [{name: a, path: a.onnx, window: -1}]", "window -1"},
		{"unknown key", "models: [{name: a, path: a.onnx, defaults: {temprature: 2}}]", `unknown key "defaults.temprature"`},
		{"env value", "models: [{name: envbad, path: a.onnx}]", "defaults.top-k"},
		{"empty stop", "models: [{name: a, path: a.onnx, defaults: {stop: [\"\"]}}]", "stop"},
		{"duration", "server: {load-timeout: soon}", "load-timeout"},
		{"negative", "server: {debounce: -1s}", "debounce"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RNNRUN_MODELS_ENVBAD_DEFAULTS_TOP_K", "many")
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := registry.LoadConfig(path)
			if !errors.Is(err, registry.ErrBadConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrBadConfig mentioning %q", err, tc.want)
			}
		})
	}
}
