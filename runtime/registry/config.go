package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/internal/conf"
	"github.com/rnnrun/rnnrun/runtime/model/infer"
)

// Config is what a Registry serves: the models and how they load. It is
// decoded by viper (mapstructure tags), so a YAML, TOML or JSON file and
// RNNRUN_* environment variables all work. The file's server: section also
// holds the HTTP server's settings, which package server reads (server.LoadConfig).
type Config struct {
	// OrtLib is the path of libonnxruntime.so (top-level key "ort-lib", as in the CLI).
	OrtLib string `mapstructure:"ort-lib" json:"ort_lib,omitempty"`
	// Loading holds how models load and reload; its keys sit in the file's
	// server: section (server.watch, server.debounce, server.load-timeout).
	Loading Loading `mapstructure:"server" json:"loading"`
	// Models lists the models to serve (key "models").
	Models []ModelConfig `mapstructure:"models" json:"models"`
}

// Loading holds how the registry loads and reloads models.
type Loading struct {
	// Watch reloads models when the config file or a model file changes.
	Watch bool `mapstructure:"watch" json:"watch"`
	// Debounce is how long the watcher waits for file events to settle.
	Debounce time.Duration `mapstructure:"debounce" json:"debounce"`
	// LoadTimeout bounds loading and checking one model version.
	LoadTimeout time.Duration `mapstructure:"load-timeout" json:"load_timeout"`
}

// DefaultLoading is the one table of the loading defaults.
var DefaultLoading = Loading{Watch: true, Debounce: 150 * time.Millisecond, LoadTimeout: 60 * time.Second}

// ModelConfig describes one served model.
type ModelConfig struct {
	// Name identifies the model in URLs (/api/v1/models/{name}/...): letters,
	// digits, '.', '_' and '-'.
	Name string `mapstructure:"name" json:"name"`
	// Path is the model file (.onnx) or SavedModel folder; a relative path is
	// relative to the config file's folder.
	Path string `mapstructure:"path" json:"path"`
	// Backend is "auto" (also when empty), "native", "onnx" or "tf"; auto
	// picks tf for a folder, native for an ONNX file it supports whole, else onnx.
	Backend string `mapstructure:"backend" json:"backend,omitempty"`
	// Threads is the backend's intra-op thread count (0: its default).
	Threads int `mapstructure:"threads" json:"threads,omitempty"`
	// Concurrency is how many requests may run on the model at once; more get 429.
	// 0 means DefaultConcurrency.
	Concurrency int `mapstructure:"concurrency" json:"concurrency"`
	// Task, when set, must match the task the model file's own metadata
	// declares; for a file that declares none it sets the task (over its
	// sidecar and what the signature implies).
	Task string `mapstructure:"task" json:"task,omitempty"`
	// Overrides set the model's metadata over its file's and sidecar's keys
	// (labels, vocab, case, input-scale, input-mean, input-std, ink); a
	// relative vocab path is relative to the config file's folder.
	Overrides infer.Overrides `mapstructure:",squash" json:"overrides"`
	// Settings are every other key of the model's entry: the tasks' own
	// (mode, window and defaults for a text model). Each task reads the keys
	// it lists in Task.Settings, with DecodeSettings; a key no registered
	// task reads is a config error.
	Settings map[string]any `mapstructure:",remain" json:"settings,omitempty"`
}

// DefaultConcurrency is a model's concurrency when its config leaves it out.
const DefaultConcurrency = 4

// SetDefaults registers the registry's defaults in v (ort-lib and the
// loading keys of the server: section), which also lets RNNRUN_SERVER_*
// environment variables override keys the file leaves out.
func SetDefaults(v *viper.Viper) {
	v.SetDefault("ort-lib", "")
	conf.SetDefaults(v, "server.", DefaultLoading)
}

// NewViper returns a viper set up as rnnrun's CLI sets one up: RNNRUN_ prefix,
// '-' and '.' as '_' in variable names, the defaults of SetDefaults, and the
// config file at path (YAML, TOML or JSON by its extension) when path is not empty.
func NewViper(path string) (*viper.Viper, error) {
	v := viper.New()
	v.SetEnvPrefix("RNNRUN")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	v.AutomaticEnv()
	SetDefaults(v)
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	return v, nil
}

// LoadConfig reads the config file at path with NewViper and decodes it with Decode.
func LoadConfig(path string) (Config, error) {
	v, err := NewViper(path)
	if err != nil {
		return Config{}, err
	}
	return Decode(v)
}

// Decode turns a viper's settings into a Config: it applies the defaults (for
// keys v has none for), the per-model environment overrides
// RNNRUN_MODELS_<NAME>_<KEY> (name upper-cased, '-' and '.' as '_'), resolves
// relative model paths against the config file's folder and validates the result.
func Decode(v *viper.Viper) (Config, error) {
	var cfg Config
	if err := v.Unmarshal(&cfg, viper.DecodeHook(DecodeHook())); err != nil {
		return cfg, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	base := ""
	if f := v.ConfigFileUsed(); f != "" {
		base = filepath.Dir(f)
	}
	for i := range cfg.Models {
		if err := applyModelEnv(&cfg.Models[i]); err != nil {
			return cfg, err
		}
	}
	cfg.fill(base)
	return cfg, cfg.Validate()
}

// DecodeHook reads durations ("5s") and comma-separated lists as the config file's values.
func DecodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)
}

// ErrBadConfig is wrapped by every configuration error.
var ErrBadConfig = errors.New("bad config")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// EnvName is the environment variable prefix of a model's overrides, e.g.
// RNNRUN_MODELS_CHAR_WINDOW_ for the model "char-window".
func EnvName(model string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return "RNNRUN_MODELS_" + strings.ToUpper(r.Replace(model)) + "_"
}

// applyModelEnv overrides a model's keys from RNNRUN_MODELS_<NAME>_<KEY>:
// its own keys and the settings keys of every registered task
// (RNNRUN_MODELS_CHAR_DEFAULTS_TEMPERATURE for defaults.temperature).
func applyModelEnv(m *ModelConfig) error {
	if m.Name == "" {
		return nil
	}
	prefix := EnvName(m.Name)
	get := func(key string) (string, string, bool) {
		name := prefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(key))
		v, ok := os.LookupEnv(name)
		return name, v, ok
	}
	var errs []error
	str := func(key string, dst *string) {
		if _, s, ok := get(key); ok {
			*dst = s
		}
	}
	num := func(key string, dst *int) {
		if name, s, ok := get(key); ok {
			n, err := strconv.Atoi(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %s=%q is not an integer", ErrBadConfig, name, s))
				return
			}
			*dst = n
		}
	}
	str("path", &m.Path)
	str("backend", &m.Backend)
	str("task", &m.Task)
	num("threads", &m.Threads)
	num("concurrency", &m.Concurrency)
	o := &m.Overrides
	str("vocab", &o.Vocab)
	str("case", &o.Case)
	str("input-scale", &o.InputScale)
	str("ink", &o.Ink)
	if _, s, ok := get("labels"); ok {
		o.Labels = strings.Split(s, ",")
	}
	for key, dst := range map[string]**float64{"input-mean": &o.InputMean, "input-std": &o.InputStd} {
		if name, s, ok := get(key); ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %s=%q is not a number", ErrBadConfig, name, s))
				continue
			}
			*dst = &f
		}
	}
	for _, key := range settingsKeys(RegisteredTasks()) {
		if _, s, ok := get(key); ok {
			m.Settings = setPath(m.Settings, strings.Split(key, "."), s) // typed by the task's decoding
		}
	}
	return errors.Join(errs...)
}

// settingsKeys lists every settings key the tasks read, without repeats.
func settingsKeys(ts []Task) []string {
	var keys []string
	for _, t := range ts {
		for _, k := range t.Settings() {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// setPath sets m[path[0]][path[1]]... = v, making the maps it needs.
func setPath(m map[string]any, path []string, v any) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	if len(path) == 1 {
		m[path[0]] = v
		return m
	}
	sub, _ := m[path[0]].(map[string]any)
	m[path[0]] = setPath(sub, path[1:], v)
	return m
}

// leafKeys lists the dotted paths of a settings map's values.
func leafKeys(m map[string]any, prefix string) []string {
	var keys []string
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			keys = append(keys, leafKeys(sub, prefix+k+".")...)
			continue
		}
		keys = append(keys, prefix+k)
	}
	slices.Sort(keys)
	return keys
}

// DecodeSettings decodes a model's settings into dst (a pointer to the
// task's settings struct, with mapstructure tags), reading numbers and
// lists given as strings (the environment's) as the config file's.
func DecodeSettings(mc ModelConfig, dst any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: DecodeHook(), WeaklyTypedInput: true, Result: dst,
	})
	if err == nil {
		err = dec.Decode(mc.Settings)
	}
	if err != nil {
		return fmt.Errorf("%w: model %q: %v", ErrBadConfig, mc.Name, err)
	}
	return nil
}

// fill applies the defaults Decode's viper may not have had and resolves paths.
func (c *Config) fill(base string) {
	conf.Fill(&c.Loading, DefaultLoading)
	for i := range c.Models {
		m := &c.Models[i]
		if m.Path != "" && base != "" && !filepath.IsAbs(m.Path) {
			m.Path = filepath.Join(base, m.Path)
		}
		if v := m.Overrides.Vocab; v != "" && base != "" && !filepath.IsAbs(v) {
			m.Overrides.Vocab = filepath.Join(base, v)
		}
		m.fill()
	}
}

func (m *ModelConfig) fill() {
	if m.Concurrency == 0 {
		m.Concurrency = DefaultConcurrency
	}
}

// Validate checks names, paths and values.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"debounce", c.Loading.Debounce}, {"load-timeout", c.Loading.LoadTimeout}} {
		if d.v < 0 {
			bad("server.%s %v is negative", d.key, d.v)
		}
	}
	seen := map[string]bool{}
	for i, m := range c.Models {
		where := fmt.Sprintf("models[%d]", i)
		if m.Name != "" {
			where = fmt.Sprintf("model %q", m.Name)
		}
		switch {
		case m.Name == "":
			bad("%s has no name", where)
		case !nameRE.MatchString(m.Name):
			bad("%s: a name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", where)
		case seen[m.Name]:
			bad("%s is configured twice", where)
		}
		seen[m.Name] = true
		if m.Path == "" {
			bad("%s has no path", where)
		}
		if m.Threads < 0 || m.Concurrency < 0 {
			bad("%s: threads and concurrency must not be negative", where)
		}
	}
	if len(errs) == 0 {
		errs = append(errs, checkTasks(RegisteredTasks(), c)) // each task checks its own settings
	}
	return errors.Join(errs...)
}

// Model returns the configuration of the model named name.
func (c Config) Model(name string) (ModelConfig, bool) {
	for _, m := range c.Models {
		if m.Name == name {
			return m, true
		}
	}
	return ModelConfig{}, false
}
