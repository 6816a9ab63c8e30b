package registry

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// Config is the whole configuration of a model server: the HTTP server's
// settings and the models to serve. It is decoded by viper (mapstructure tags),
// so a YAML, TOML or JSON file and RNNRUN_* environment variables all work.
type Config struct {
	// OrtLib is the path of libonnxruntime.so (top-level key "ort-lib", as in the CLI).
	OrtLib string `mapstructure:"ort-lib" json:"ort_lib,omitempty"`
	// Server holds the HTTP server's settings (key "server").
	Server ServerConfig `mapstructure:"server" json:"server"`
	// Models lists the models to serve (key "models").
	Models []ModelConfig `mapstructure:"models" json:"models"`
}

// ServerConfig holds the HTTP server's address, limits and timeouts.
type ServerConfig struct {
	// Listen is the TCP address to listen on, e.g. "127.0.0.1:8080".
	Listen string `mapstructure:"listen" json:"listen"`
	// MaxBodyBytes caps a request body; larger bodies get 413.
	MaxBodyBytes int64 `mapstructure:"max-body-bytes" json:"max_body_bytes"`
	// MaxLength caps the max_length of a generate request (400 above it).
	MaxLength int `mapstructure:"max-length" json:"max_length"`
	// MaxPromptChars caps a generate request's prompt, in characters (400
	// above it): a stateful model primes on the whole prompt in one call.
	MaxPromptChars int `mapstructure:"max-prompt-chars" json:"max_prompt_chars"`
	// MaxImages caps the images of one classify request (413 above it).
	MaxImages int `mapstructure:"max-images" json:"max_images"`
	// RequestTimeout bounds one request's work (generate or classify); 0 means none.
	RequestTimeout time.Duration `mapstructure:"request-timeout" json:"request_timeout"`
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration `mapstructure:"read-header-timeout" json:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout time.Duration `mapstructure:"idle-timeout" json:"idle_timeout"`
	// ShutdownTimeout is how long in-flight requests may run after SIGTERM/SIGINT.
	ShutdownTimeout time.Duration `mapstructure:"shutdown-timeout" json:"shutdown_timeout"`
	// Watch reloads models when the config file or a model file changes.
	Watch bool `mapstructure:"watch" json:"watch"`
	// Debounce is how long the watcher waits for file events to settle.
	Debounce time.Duration `mapstructure:"debounce" json:"debounce"`
	// LoadTimeout bounds loading and checking one model version.
	LoadTimeout time.Duration `mapstructure:"load-timeout" json:"load_timeout"`
}

// ModelConfig describes one served model.
type ModelConfig struct {
	// Name identifies the model in URLs (/v1/models/{name}/...): letters,
	// digits, '.', '_' and '-'.
	Name string `mapstructure:"name" json:"name"`
	// Path is the model file (.onnx) or SavedModel folder; a relative path is
	// relative to the config file's folder.
	Path string `mapstructure:"path" json:"path"`
	// Backend is "onnx" or "tf"; empty picks by path.
	Backend string `mapstructure:"backend" json:"backend,omitempty"`
	// Threads is the backend's intra-op thread count (0: its default).
	Threads int `mapstructure:"threads" json:"threads,omitempty"`
	// Concurrency is how many requests may run on the model at once; more get 429.
	// 0 means DefaultConcurrency.
	Concurrency int `mapstructure:"concurrency" json:"concurrency"`
	// Task, when set, must match the task the model's metadata declares.
	Task string `mapstructure:"task" json:"task,omitempty"`
	// Mode is the text generation mode: auto, stateful or windowed.
	Mode string `mapstructure:"mode" json:"mode,omitempty"`
	// Window overrides the window length of windowed generation.
	Window int `mapstructure:"window" json:"window,omitempty"`
	// Defaults are the sampling values used when a request leaves them out.
	Defaults Defaults `mapstructure:"defaults" json:"defaults"`
}

// Defaults are a model's default generation values.
type Defaults struct {
	MaxLength int `mapstructure:"max-length" json:"max_length"`
	// Temperature is a pointer so that an explicit 0 (greedy) differs from
	// unset (DefaultTemperature).
	Temperature *float64 `mapstructure:"temperature" json:"temperature"`
	TopK        int      `mapstructure:"top-k" json:"top_k"`
	TopP        float64  `mapstructure:"top-p" json:"top_p"`
	Stop        []string `mapstructure:"stop" json:"stop,omitempty"`
}

// Default values.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultMaxBodyBytes      = 8 << 20
	DefaultMaxLength         = 2000
	DefaultMaxPromptChars    = 10000
	DefaultMaxImages         = 64
	DefaultRequestTimeout    = 60 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultDebounce          = 150 * time.Millisecond
	DefaultLoadTimeout       = 60 * time.Second
	DefaultConcurrency       = 4
	DefaultTemperature       = 1.0
	DefaultGenerateLength    = 200
)

// SetDefaults registers every server key's default in v, which also lets
// RNNRUN_SERVER_* environment variables override keys the file leaves out.
func SetDefaults(v *viper.Viper) {
	v.SetDefault("ort-lib", "")
	v.SetDefault("server.listen", DefaultListen)
	v.SetDefault("server.max-body-bytes", DefaultMaxBodyBytes)
	v.SetDefault("server.max-length", DefaultMaxLength)
	v.SetDefault("server.max-prompt-chars", DefaultMaxPromptChars)
	v.SetDefault("server.max-images", DefaultMaxImages)
	v.SetDefault("server.request-timeout", DefaultRequestTimeout)
	v.SetDefault("server.read-header-timeout", DefaultReadHeaderTimeout)
	v.SetDefault("server.idle-timeout", DefaultIdleTimeout)
	v.SetDefault("server.shutdown-timeout", DefaultShutdownTimeout)
	v.SetDefault("server.watch", true)
	v.SetDefault("server.debounce", DefaultDebounce)
	v.SetDefault("server.load-timeout", DefaultLoadTimeout)
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
	hook := mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)
	if err := v.Unmarshal(&cfg, viper.DecodeHook(hook)); err != nil {
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

// ErrBadConfig is wrapped by every configuration error.
var ErrBadConfig = errors.New("bad config")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// EnvName is the environment variable prefix of a model's overrides, e.g.
// RNNRUN_MODELS_CHAR_WINDOW_ for the model "char-window".
func EnvName(model string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return "RNNRUN_MODELS_" + strings.ToUpper(r.Replace(model)) + "_"
}

// applyModelEnv overrides a model's keys from RNNRUN_MODELS_<NAME>_<KEY>.
func applyModelEnv(m *ModelConfig) error {
	if m.Name == "" {
		return nil
	}
	prefix := EnvName(m.Name)
	get := func(key string) (string, bool) {
		return os.LookupEnv(prefix + strings.ToUpper(strings.NewReplacer("-", "_").Replace(key)))
	}
	var errs []error
	str := func(key string, dst *string) {
		if s, ok := get(key); ok {
			*dst = s
		}
	}
	num := func(key string, dst *int) {
		if s, ok := get(key); ok {
			n, err := strconv.Atoi(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %s%s=%q is not an integer", ErrBadConfig, prefix, strings.ToUpper(strings.ReplaceAll(key, "-", "_")), s))
				return
			}
			*dst = n
		}
	}
	flt := func(key string, dst *float64) {
		if s, ok := get(key); ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %s%s=%q is not a number", ErrBadConfig, prefix, strings.ToUpper(strings.ReplaceAll(key, "-", "_")), s))
				return
			}
			*dst = f
		}
	}
	str("path", &m.Path)
	str("backend", &m.Backend)
	str("task", &m.Task)
	str("mode", &m.Mode)
	num("threads", &m.Threads)
	num("concurrency", &m.Concurrency)
	num("window", &m.Window)
	num("defaults-max-length", &m.Defaults.MaxLength)
	if s, ok := get("defaults-temperature"); ok {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %sDEFAULTS_TEMPERATURE=%q is not a number", ErrBadConfig, prefix, s))
		} else {
			m.Defaults.Temperature = &f
		}
	}
	num("defaults-top-k", &m.Defaults.TopK)
	flt("defaults-top-p", &m.Defaults.TopP)
	if s, ok := get("defaults-stop"); ok {
		m.Defaults.Stop = strings.Split(s, ",")
	}
	return errors.Join(errs...)
}

// fill applies the defaults Decode's viper may not have had and resolves paths.
func (c *Config) fill(base string) {
	s := &c.Server
	s.Listen = cmp.Or(s.Listen, DefaultListen)
	s.MaxBodyBytes = cmp.Or(s.MaxBodyBytes, DefaultMaxBodyBytes)
	s.MaxLength = cmp.Or(s.MaxLength, DefaultMaxLength)
	s.MaxPromptChars = cmp.Or(s.MaxPromptChars, DefaultMaxPromptChars)
	s.MaxImages = cmp.Or(s.MaxImages, DefaultMaxImages)
	s.ReadHeaderTimeout = cmp.Or(s.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	s.IdleTimeout = cmp.Or(s.IdleTimeout, DefaultIdleTimeout)
	s.ShutdownTimeout = cmp.Or(s.ShutdownTimeout, DefaultShutdownTimeout)
	s.Debounce = cmp.Or(s.Debounce, DefaultDebounce)
	s.LoadTimeout = cmp.Or(s.LoadTimeout, DefaultLoadTimeout)
	for i := range c.Models {
		m := &c.Models[i]
		if m.Path != "" && base != "" && !filepath.IsAbs(m.Path) {
			m.Path = filepath.Join(base, m.Path)
		}
		m.fill()
	}
}

func (m *ModelConfig) fill() {
	if m.Concurrency == 0 {
		m.Concurrency = DefaultConcurrency
	}
	if m.Defaults.MaxLength == 0 {
		m.Defaults.MaxLength = DefaultGenerateLength
	}
	if m.Defaults.TopP == 0 {
		m.Defaults.TopP = 1
	}
	if m.Defaults.Temperature == nil {
		t := DefaultTemperature
		m.Defaults.Temperature = &t
	}
}

// Validate checks names, paths and values.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...))
	}
	s := c.Server
	if s.MaxBodyBytes < 0 {
		bad("server.max-body-bytes %d is negative", s.MaxBodyBytes)
	}
	if s.MaxLength < 0 {
		bad("server.max-length %d is negative", s.MaxLength)
	}
	if s.MaxPromptChars < 0 {
		bad("server.max-prompt-chars %d is negative", s.MaxPromptChars)
	}
	if s.MaxImages < 0 {
		bad("server.max-images %d is negative", s.MaxImages)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"request-timeout", s.RequestTimeout}, {"read-header-timeout", s.ReadHeaderTimeout}, {"idle-timeout", s.IdleTimeout},
		{"shutdown-timeout", s.ShutdownTimeout}, {"debounce", s.Debounce}, {"load-timeout", s.LoadTimeout}} {
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
		switch m.Task {
		case "", "text-generation", "image-classification":
		default:
			bad("%s: task %q: want text-generation or image-classification", where, m.Task)
		}
		switch m.Mode {
		case "", "auto", "stateful", "windowed", "window":
		default:
			bad("%s: mode %q: want auto, stateful or windowed", where, m.Mode)
		}
		if m.Threads < 0 || m.Concurrency < 0 || m.Window < 0 {
			bad("%s: threads, concurrency and window must not be negative", where)
		}
		d := m.Defaults
		if d.MaxLength < 0 || (s.MaxLength > 0 && d.MaxLength > s.MaxLength) {
			bad("%s: defaults.max-length %d must be in 0..server.max-length (%d)", where, d.MaxLength, s.MaxLength)
		}
		if (d.Temperature != nil && *d.Temperature < 0) || d.TopK < 0 || d.TopP < 0 || d.TopP > 1 {
			bad("%s: defaults: temperature and top-k must be >= 0, top-p in (0, 1]", where)
		}
		for _, st := range d.Stop {
			if st == "" {
				bad("%s: defaults.stop has an empty string", where)
			}
		}
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
