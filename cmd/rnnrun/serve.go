package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	goruntime "runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/server"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

func init() { subcommands = append(subcommands, (*app).serveCmd) }

func (a *app) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Serve the configured models over HTTP (generate, classify, score, metrics, health)",
		Long: `serve loads every model the config file lists and serves them over HTTP:

  rnnrun serve --config configs/rnnrun.yaml

  GET  /api/v1/models                 the models, their versions, status and last error
  POST /api/v1/models/{name}/generate text generation (JSON; "stream": true for Server-Sent Events)
  POST /api/v1/models/{name}/classify image classification (PNG/JPEG, multipart, JSON pixels)
  POST /api/v1/models/{name}/score    the loss of a text (JSON; "stream": true for progress events)
  GET  /v1/models  POST /v1/completions  OpenAI-compatible completions (a character is a token)
  GET  /v2/...  POST /v2/models/{name}/infer  KServe v2 (Open Inference Protocol), any model
  GET  /healthz  /readyz  /metrics
  GET  /                              the browser playground (--playground=false turns it off)

The config file (YAML, TOML or JSON) has a server: section and a models: list;
configs/rnnrun.yaml is a commented example, docs/api.md describes the API. Every
key can be overridden by the environment: RNNRUN_SERVER_LISTEN,
RNNRUN_SERVER_MAX_LENGTH, RNNRUN_MODELS_<NAME>_PATH, ... and the flags below.

When the config file or a model file changes (or on SIGHUP) the changed models
are loaded in the background, checked and swapped in; requests already running
finish on the old version. A broken file keeps the old version serving. SIGTERM
or SIGINT stop accepting connections, let in-flight requests finish (up to
server.shutdown-timeout) and close the models.`,
		Args: cobra.NoArgs,
		RunE: a.serve,
	}
	fs := cmd.Flags()
	fs.String("config", "", "config file (YAML, TOML or JSON); also $RNNRUN_CONFIG")
	fs.String("listen", "", "address to listen on, e.g. 127.0.0.1:8080 or :0 (default: server.listen, also $RNNRUN_LISTEN)")
	fs.String("ort-lib", "", "path of libonnxruntime.so (default: ort-lib in the config, $RNNRUN_ORT_LIB, the project cache, the system)")
	fs.Bool("watch", true, "reload models when the config file or a model file changes (default: server.watch)")
	fs.Duration("shutdown-timeout", 0, "how long in-flight requests may finish after SIGTERM/SIGINT (default: server.shutdown-timeout, 30s)")
	fs.Int("max-batch", textgen.DefaultMaxBatch, "step up to this many concurrent generation streams of a stateful model in one call (0: no batching)")
	fs.Int("batch-shards", goruntime.NumCPU(), "independent batches per stateful model, each stepped with one call per step (default: one per CPU)")
	fs.Bool("playground", true, "serve the browser playground at / (also playground: in the config, $RNNRUN_PLAYGROUND)")
	fs.String("log-format", "text", "log format: text or json")
	fs.String("log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// newLogger makes the structured logger serve writes to stderr.
func (a *app) newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}

func (a *app) serve(cmd *cobra.Command, _ []string) error {
	v, err := a.config(cmd)
	if err != nil {
		return err
	}
	log, err := a.newLogger(v.GetString("log-format"), v.GetString("log-level"))
	if err != nil {
		return err
	}
	path := v.GetString("config")
	if path == "" {
		return usagef("--config is required (or RNNRUN_CONFIG); see configs/rnnrun.yaml")
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	load := configLoader(cmd, path)
	cfg, err := load()
	if err != nil {
		return err
	}
	sc, err := serverConfig(v, path, &cfg)
	if err != nil {
		return err
	}
	regOpts, err := registryOptions(v, log, path, load)
	if err != nil {
		return err
	}
	reg := registry.New(cfg, regOpts...)
	opts := server.OptionsFromConfig(sc)
	opts.Logger = log
	opts.NoPlayground = !v.GetBool("playground")
	s := &serving{log: log, reg: reg, cfg: cfg, sc: sc, hup: hup}
	if err := s.listen(server.New(reg, opts)); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "rnnrun: serving on %s://%s\n", s.scheme, s.addr)
	log.Info("listening", "addr", s.addr, "config", path, "models", len(cfg.Models), "watch", cfg.Loading.Watch)
	return s.run(cmd.Context())
}

// configLoader reads the config file afresh on every (re)load, with the same
// flags and environment.
func configLoader(cmd *cobra.Command, path string) func() (registry.Config, error) {
	return func() (registry.Config, error) {
		lv, err := registry.NewViper(path)
		if err != nil {
			return registry.Config{}, err
		}
		if f := cmd.Flags().Lookup("ort-lib"); f != nil {
			_ = lv.BindPFlag(f.Name, f)
		}
		return registry.Decode(lv)
	}
}

// serverConfig reads the file's server: section; --listen, --watch and
// --shutdown-timeout override it (--watch lands in the registry's cfg).
func serverConfig(v *viper.Viper, path string, cfg *registry.Config) (server.Config, error) {
	sc, err := server.LoadConfig(path)
	if err != nil {
		return sc, err
	}
	if v.IsSet("listen") {
		sc.Listen = v.GetString("listen")
	}
	if v.IsSet("watch") {
		cfg.Loading.Watch = v.GetBool("watch")
	}
	if v.IsSet("shutdown-timeout") {
		sc.ShutdownTimeout = v.GetDuration("shutdown-timeout")
	}
	return sc, nil
}

// registryOptions are the logger, the config file and, unless --max-batch is
// 0, a generate task that steps concurrent streams of stateful models together.
func registryOptions(v *viper.Viper, log *slog.Logger, path string, load func() (registry.Config, error)) ([]registry.Option, error) {
	maxBatch, shards := v.GetInt("max-batch"), v.GetInt("batch-shards")
	if maxBatch < 0 {
		return nil, usagef("--max-batch %d: must be >= 0 (0 disables batching)", maxBatch)
	}
	if shards < 1 {
		return nil, usagef("--batch-shards %d: must be >= 1", shards)
	}
	opts := []registry.Option{registry.WithLogger(log), registry.WithConfigFile(path, load)}
	if maxBatch > 0 {
		batch := generate.Batching(textgen.BatcherOptions{MaxBatch: maxBatch, Shards: shards})
		opts = append(opts, registry.WithTask(generate.New(generate.Options{Engine: batch})))
	}
	return opts, nil
}

// serving is one run of the HTTP server over a registry.
type serving struct {
	log    *slog.Logger
	reg    *registry.Registry
	cfg    registry.Config
	sc     server.Config
	hup    chan os.Signal
	hs     *http.Server
	addr   string
	scheme string     // http or https
	errs   chan error // the HTTP server's end

	// Request contexts outlive the signal: they are cancelled only when the
	// shutdown timeout has passed.
	cancelRequests context.CancelFunc
}

// listen opens the socket and starts serving handler on it.
func (s *serving) listen(handler http.Handler) error {
	ln, err := net.Listen("tcp", s.sc.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.sc.Listen, err)
	}
	if ln, s.scheme, err = guardListener(ln, s.sc); err != nil {
		return err
	}
	baseCtx, cancel := context.WithCancel(context.Background())
	s.cancelRequests = cancel
	s.hs = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: s.sc.ReadHeaderTimeout,
		IdleTimeout:       s.sc.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.errs = make(chan error, 1)
	go func() { s.errs <- s.hs.Serve(ln) }()
	s.addr = ln.Addr().String()
	return nil
}

// run loads the models in the background (/healthz answers at once, /readyz
// once they are loaded), reloads on SIGHUP, and shuts down when ctx ends.
func (s *serving) run(ctx context.Context) error {
	defer s.cancelRequests()
	regCtx, stopRegistry := context.WithCancel(context.Background())
	defer stopRegistry()
	started, watched := make(chan struct{}), make(chan struct{})
	go s.loadAndWatch(regCtx, started, watched)
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			s.log.Info("signal received; shutting down", "timeout", s.sc.ShutdownTimeout)
			break loop
		case err := <-s.errs:
			runErr = fmt.Errorf("http server: %w", err)
			break loop
		case <-s.hup:
			s.log.Info("SIGHUP: reloading")
			go func() {
				<-started
				_ = s.reg.Reload(regCtx) // errors are logged and shown on /api/v1/models
			}()
		}
	}
	stopRegistry()
	s.shutdown(watched)
	if runErr != nil && !errors.Is(runErr, http.ErrServerClosed) {
		return runErr
	}
	return nil
}

func (s *serving) loadAndWatch(ctx context.Context, started, watched chan struct{}) {
	defer close(watched)
	if err := s.reg.Start(ctx); err != nil {
		s.log.Error("some models failed to load; /readyz stays 503 until they load", "err", err)
	} else {
		s.log.Info("all models loaded", "models", len(s.cfg.Models))
	}
	close(started)
	if s.cfg.Loading.Watch {
		if err := s.reg.Watch(ctx); err != nil {
			s.log.Error("cannot watch the files; reload with SIGHUP", "err", err)
		}
	}
}

// shutdown stops accepting, lets in-flight requests finish, then closes the models.
func (s *serving) shutdown(watched chan struct{}) {
	shutCtx, cancel := context.WithTimeout(context.Background(), s.sc.ShutdownTimeout)
	defer cancel()
	if err := s.hs.Shutdown(shutCtx); err != nil {
		s.log.Warn("in-flight requests did not finish in time; cancelling them", "err", err)
		s.cancelRequests()
		_ = s.hs.Close()
	}
	<-watched
	if err := s.reg.Close(); err != nil {
		s.log.Warn("closing models", "err", err)
	}
	s.log.Info("stopped")
}
