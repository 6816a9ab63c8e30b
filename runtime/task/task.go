// Package task is the shape every task of rnnrun takes (text generation,
// image classification, scoring, ...), beyond what the registry needs of it
// (registry.Task: which models it serves, its config check, its Load with the
// smoke check, its Instance's status). A task adds, each optionally:
//
//   - HTTP: its routes relative to a model (POST {prefix}/models/{name}/generate),
//     its error mapping and its Prometheus metrics, made once per server;
//   - Commander: its CLI commands.
//
// A task is one package that registers itself from init with
// registry.RegisterTask; the registry, the server and the CLI find it there
// and hold no switch or field per task. This package also holds what the task
// packages share: the per-request Call (lease, limits, JSON, errors, SSE) and
// the CLI's environment.
package task

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/registry"
)

// HTTP is a task with HTTP routes. NewHTTP is called once per server, so
// each server counts its own metrics.
type HTTP interface {
	registry.Task
	NewHTTP() Handlers
}

// Handlers are a task's routes, metrics and error mapping for one server.
type Handlers struct {
	Routes     []Route
	Collectors []prometheus.Collector
	// MapError maps the task's own errors to an HTTP status and a stable
	// code; ok false leaves the error to the server's common mapping.
	MapError func(err error) (status int, code string, ok bool)
}

// Route is one endpoint of a task, relative to a model: Path "generate" is
// served at {prefix}/models/{name}/generate.
type Route struct {
	Method string
	Path   string
	// Label names the route in metrics and logs (default Path).
	Label  string
	Handle func(*Call)
}

// Limits bound what one request may ask. They are the server's settings
// (the config file's server: section), shared by every task.
type Limits struct {
	// MaxBodyBytes caps a request body; larger bodies get 413.
	MaxBodyBytes int64 `mapstructure:"max-body-bytes" json:"max_body_bytes"`
	// MaxLength caps the max_length of a generate request (400 above it).
	MaxLength int `mapstructure:"max-length" json:"max_length"`
	// MaxPromptChars caps a request's text in characters (400 above it): a
	// generate prompt (a stateful model primes on it in one call) or a text to score.
	MaxPromptChars int `mapstructure:"max-prompt-chars" json:"max_prompt_chars"`
	// MaxImages caps the images of one classify request (413 above it).
	MaxImages int `mapstructure:"max-images" json:"max_images"`
	// MaxPixels caps the pixels of one decoded image (413 above it); the
	// images of one request may hold 4 times as many together.
	MaxPixels int `mapstructure:"max-pixels" json:"max_pixels"`
	// RequestTimeout bounds one request's work; 0 means none (so it is never filled in).
	RequestTimeout time.Duration `mapstructure:"request-timeout" json:"request_timeout" fill:"no"`
	// StreamIdle bounds the write of each event of a stream (SSE): a client
	// that stops reading for that long loses the stream.
	StreamIdle time.Duration `mapstructure:"stream-idle-timeout" json:"stream_idle_timeout"`
}

// Commander is a task with CLI commands.
type Commander interface {
	registry.Task
	Commands(CLI) []*cobra.Command
}

// CLI is what the rnnrun command gives a task's commands.
type CLI interface {
	Stdout() io.Writer
	Stderr() io.Writer
	// Config binds cmd's flags, the RNNRUN_* environment and the --config
	// file, in that order of precedence.
	Config(cmd *cobra.Command) (*viper.Viper, error)
	// AddModelFlags adds --model, --backend, --ort-lib, --threads, --config.
	AddModelFlags(fs *pflag.FlagSet)
	// OpenModel opens the model those flags name.
	OpenModel(ctx context.Context, v *viper.Viper) (*model.Model, error)
}

// UsageError marks a wrong command line: rnnrun exits with status 2.
type UsageError struct{ Err error }

func (u UsageError) Error() string { return u.Err.Error() }
func (u UsageError) Unwrap() error { return u.Err }

// ModelCounter is a counter by model, the metric most tasks keep (characters
// generated, images classified, characters scored).
func ModelCounter(name, help string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"model"})
}

// WithModel opens the model the command's flags name, runs f on it and closes it.
func WithModel(ctx context.Context, cli CLI, v *viper.Viper, f func(*model.Model) error) error {
	m, err := cli.OpenModel(ctx, v)
	if err != nil {
		return err
	}
	defer m.Close()
	return f(m)
}

// Usagef makes a UsageError.
func Usagef(format string, args ...any) error { return UsageError{Err: fmt.Errorf(format, args...)} }

// Post is the Handlers of a task with one POST route named after it and
// one counter by model (the common case: generate, classify, score).
func Post(path string, handle func(*Call), counter *prometheus.CounterVec, mapError func(error) (int, string, bool)) Handlers {
	return Handlers{
		Routes:     []Route{{Method: "POST", Path: path, Handle: handle}},
		Collectors: []prometheus.Collector{counter},
		MapError:   mapError,
	}
}
