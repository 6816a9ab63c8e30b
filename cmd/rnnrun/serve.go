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
	"github.com/spf13/pflag"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/server"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

func init() { subcommands = append(subcommands, (*app).serveCmd) }

func (a *app) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Serve the configured models over HTTP (generate, classify, metrics, health)",
		Long: `serve loads every model the config file lists and serves them over HTTP:

  rnnrun serve --config configs/rnnrun.yaml

  GET  /v1/models                 the models, their versions, status and last error
  POST /v1/models/{name}/generate text generation (JSON; "stream": true for Server-Sent Events)
  POST /v1/models/{name}/classify image classification (PNG/JPEG, multipart, JSON pixels)
  GET  /healthz  /readyz  /metrics
  GET  /                          the browser playground (--playground=false turns it off)

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

// batching steps the concurrent streams of each stateful text model together
// (one model call per step for all of them); windowed models generate alone.
func batching(opts textgen.BatcherOptions) func(string, *textgen.Generator) (registry.TextGenerator, error) {
	return func(_ string, g *textgen.Generator) (registry.TextGenerator, error) {
		if g.Mode() != textgen.ModeStateful {
			return g, nil
		}
		return textgen.NewBatcher(g, opts)
	}
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
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	path := v.GetString("config")
	if path == "" {
		return usagef("--config is required (or RNNRUN_CONFIG); see configs/rnnrun.yaml")
	}
	// Every (re)load reads the file afresh, with the same flags and environment.
	load := func() (registry.Config, error) {
		lv, err := registry.NewViper(path)
		if err != nil {
			return registry.Config{}, err
		}
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "ort-lib" {
				_ = lv.BindPFlag(f.Name, f)
			}
		})
		return registry.Decode(lv)
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	sc := cfg.Server
	if v.IsSet("listen") {
		sc.Listen = v.GetString("listen")
	}
	if v.IsSet("watch") {
		sc.Watch = v.GetBool("watch")
	}
	if v.IsSet("shutdown-timeout") {
		sc.ShutdownTimeout = v.GetDuration("shutdown-timeout")
	}

	maxBatch := v.GetInt("max-batch")
	if maxBatch < 0 {
		return usagef("--max-batch %d: must be >= 0 (0 disables batching)", maxBatch)
	}
	shards := v.GetInt("batch-shards")
	if shards < 1 {
		return usagef("--batch-shards %d: must be >= 1", shards)
	}
	regOpts := []registry.Option{registry.WithLogger(log), registry.WithConfigFile(path, load)}
	if maxBatch > 0 {
		regOpts = append(regOpts, registry.WithTextEngine(batching(textgen.BatcherOptions{MaxBatch: maxBatch, Shards: shards})))
	}
	reg := registry.New(cfg, regOpts...)
	opts := server.OptionsFromConfig(sc)
	opts.Logger = log
	opts.NoPlayground = !v.GetBool("playground")
	handler := server.New(reg, opts)

	ln, err := net.Listen("tcp", sc.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sc.Listen, err)
	}
	// Request contexts outlive the signal: they are cancelled only when the
	// shutdown timeout has passed.
	baseCtx, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: sc.ReadHeaderTimeout,
		IdleTimeout:       sc.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	addr := ln.Addr().String()
	log.Info("listening", "addr", addr, "config", path, "models", len(cfg.Models), "watch", sc.Watch)
	fmt.Fprintf(a.stdout, "rnnrun: serving on http://%s\n", addr)

	// Models load in the background: /healthz answers at once, /readyz once they are loaded.
	ctx := cmd.Context()
	regCtx, stopRegistry := context.WithCancel(context.Background())
	defer stopRegistry()
	started := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if err := reg.Start(regCtx); err != nil {
			log.Error("some models failed to load; /readyz stays 503 until they load", "err", err)
		} else {
			log.Info("all models loaded", "models", len(cfg.Models))
		}
		close(started)
		if sc.Watch {
			if err := reg.Watch(regCtx); err != nil {
				log.Error("cannot watch the files; reload with SIGHUP", "err", err)
			}
		}
	}()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("signal received; shutting down", "timeout", sc.ShutdownTimeout)
			break loop
		case err := <-serveErr:
			runErr = fmt.Errorf("http server: %w", err)
			break loop
		case <-hup:
			log.Info("SIGHUP: reloading")
			go func() {
				<-started
				_ = reg.Reload(regCtx) // errors are logged and shown on /v1/models
			}()
		}
	}

	// Stop accepting, let in-flight requests finish, then close the models.
	stopRegistry()
	shutCtx, cancel := context.WithTimeout(context.Background(), sc.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		log.Warn("in-flight requests did not finish in time; cancelling them", "err", err)
		cancelRequests()
		_ = hs.Close()
	}
	<-watched
	if err := reg.Close(); err != nil {
		log.Warn("closing models", "err", err)
	}
	log.Info("stopped")
	if runErr != nil && !errors.Is(runErr, http.ErrServerClosed) {
		return runErr
	}
	return nil
}
