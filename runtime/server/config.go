package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/internal/conf"
	"github.com/rnnrun/rnnrun/runtime/protocol"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
)

// Config is the HTTP server's section of the config file (key "server"):
// its address, the limits of one request and its timeouts. The section's
// watch, debounce and load-timeout keys are the registry's (registry.Loading).
type Config struct {
	// Listen is the TCP address to listen on, e.g. "127.0.0.1:8080".
	Listen string `mapstructure:"listen" json:"listen"`
	// Limits bound one request (body size, lengths, images, time).
	task.Limits `mapstructure:",squash"`
	// Guard: decode budget, body and write deadlines, connection limit.
	Guard `mapstructure:",squash"`
	// Auth: optional bearer tokens; Decode reads the token file.
	Auth `mapstructure:",squash"`
	// TLSCertFile and TLSKeyFile, both set, make rnnrun serve speak HTTPS.
	TLSCertFile string `mapstructure:"tls-cert-file" json:"tls_cert_file,omitempty"`
	TLSKeyFile  string `mapstructure:"tls-key-file" json:"tls_key_file,omitempty"`
	// AbsolutePaths shows absolute file paths in GET /api/v1/models.
	AbsolutePaths bool `mapstructure:"absolute-paths" json:"absolute_paths"`
	// SequenceLimits bound KServe v2's stateful sequences (max-sequences, sequence-idle).
	protocol.SequenceLimits `mapstructure:",squash"`
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration `mapstructure:"read-header-timeout" json:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout time.Duration `mapstructure:"idle-timeout" json:"idle_timeout"`
	// ShutdownTimeout is how long in-flight requests may run after SIGTERM/SIGINT.
	ShutdownTimeout time.Duration `mapstructure:"shutdown-timeout" json:"shutdown_timeout"`
}

// Defaults is the one table of the server's defaults: for the config file
// (SetDefaults), for a Config built in Go (LoadConfig fills zero fields) and
// for Options left zero.
var Defaults = Config{
	Listen: "127.0.0.1:8080",
	Limits: task.Limits{
		MaxBodyBytes:   8 << 20,
		MaxLength:      2000,
		MaxPromptChars: 10000,
		MaxImages:      64,
		MaxPixels:      2048 * 2048, // up to 32 MiB once decoded
		RequestTimeout: 60 * time.Second,
		StreamIdle:     60 * time.Second,
	},
	Guard:             DefaultGuard,
	SequenceLimits:    protocol.SequenceLimits{MaxSequences: 64, SequenceIdle: 5 * time.Minute},
	ReadHeaderTimeout: 10 * time.Second,
	IdleTimeout:       120 * time.Second,
	ShutdownTimeout:   30 * time.Second,
}

// SetDefaults registers the server's defaults in v under "server.", which
// also lets RNNRUN_SERVER_* environment variables override keys a file leaves out.
func SetDefaults(v *viper.Viper) { conf.SetDefaults(v, "server.", Defaults) }

// LoadConfig reads the server: section of the config file at path (with
// registry.NewViper: RNNRUN_* overrides, YAML, TOML or JSON).
func LoadConfig(path string) (Config, error) {
	v, err := registry.NewViper(path)
	if err != nil {
		return Config{}, err
	}
	return Decode(v)
}

// Decode reads the server: section of v, fills the defaults and validates it.
func Decode(v *viper.Viper) (Config, error) {
	SetDefaults(v)
	for _, key := range []string{"auth-tokens", "auth-token-file", "public-metrics", "tls-cert-file", "tls-key-file", "absolute-paths"} {
		_ = v.BindEnv("server." + key) // keys without a default: RNNRUN_SERVER_AUTH_TOKENS, ...
	}
	var file struct {
		Server Config `mapstructure:"server"`
	}
	if err := v.Unmarshal(&file, viper.DecodeHook(registry.DecodeHook())); err != nil {
		return Config{}, fmt.Errorf("%w: %v", registry.ErrBadConfig, err)
	}
	c := file.Server
	conf.Fill(&c, Defaults)
	if err := c.Validate(); err != nil {
		return c, err
	}
	var err error
	if c.Auth, err = c.Auth.load(); err != nil {
		return c, fmt.Errorf("%w: %v", registry.ErrBadConfig, err)
	}
	return c, nil
}

// Validate rejects negative limits and timeouts.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		key string
		v   int64
	}{{"max-body-bytes", c.MaxBodyBytes}, {"max-length", int64(c.MaxLength)}, {"max-prompt-chars", int64(c.MaxPromptChars)},
		{"max-images", int64(c.MaxImages)}, {"max-pixels", int64(c.MaxPixels)}, {"request-timeout", int64(c.RequestTimeout)},
		{"max-sequences", int64(c.MaxSequences)}, {"sequence-idle", int64(c.SequenceIdle)},
		{"read-header-timeout", int64(c.ReadHeaderTimeout)},
		{"max-decode-bytes", c.MaxDecodeBytes}, {"body-timeout", int64(c.BodyTimeout)}, {"write-timeout", int64(c.WriteTimeout)},
		{"max-connections", int64(c.MaxConnections)}, {"stream-idle-timeout", int64(c.StreamIdle)}, {"idle-timeout", int64(c.IdleTimeout)}, {"shutdown-timeout", int64(c.ShutdownTimeout)}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%w: server.%s is negative", registry.ErrBadConfig, f.key))
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, fmt.Errorf("%w: server.tls-cert-file and server.tls-key-file go together", registry.ErrBadConfig))
	}
	return errors.Join(errs...)
}
