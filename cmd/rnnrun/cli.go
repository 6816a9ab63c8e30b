package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/model/infer"
	_ "github.com/rnnrun/rnnrun/runtime/native" // registers the "native" backend
	_ "github.com/rnnrun/rnnrun/runtime/onnx"   // registers the "onnx" backend
	"github.com/rnnrun/rnnrun/runtime/task"
	_ "github.com/rnnrun/rnnrun/runtime/task/tasks" // registers every task
)

// Exit statuses.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// usageError marks a wrong command line (exit status 2), as task.UsageError does for the tasks' commands.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// usagef returns a usage error (exit status 2).
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// app is one invocation: its output streams and its configuration.
type app struct {
	stdout, stderr io.Writer
	v              *viper.Viper
	configRead     bool
	cmd            *cobra.Command // the command a.v was made for
}

// run executes the command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "rnnrun: %v\n", err)
	var ue usageError
	var te task.UsageError
	if errors.As(err, &ue) || errors.As(err, &te) || isCobraUsage(err) {
		return exitUsage
	}
	return exitRuntime
}

// isCobraUsage recognises the argument errors cobra builds itself.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "flag needs an argument", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// setup makes every command: flags parse errors are usage errors, and each
// command binds its flags to viper (flag > RNNRUN_<FLAG> > config file > default).
func (a *app) setup(cmd *cobra.Command) *cobra.Command {
	cmd.SilenceErrors = true
	cmd.SilenceUsage = true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

// config loads the configuration for cmd: binds its flags, the environment
// and the config file named by --config or RNNRUN_CONFIG.
func (a *app) config(cmd *cobra.Command) (*viper.Viper, error) {
	if a.v != nil {
		return a.v, nil
	}
	v := viper.New()
	v.SetEnvPrefix("RNNRUN")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	v.AutomaticEnv()
	var bindErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err := v.BindPFlag(f.Name, f); err != nil && bindErr == nil {
			bindErr = err
		}
	})
	if bindErr != nil {
		return nil, bindErr
	}
	if path := v.GetString("config"); path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		a.configRead = true
	}
	a.v, a.cmd = v, cmd
	return v, nil
}

// addModelFlags adds the flags every model-loading command shares.
func addModelFlags(fs *pflag.FlagSet) {
	fs.String("model", "", "model file (.onnx) or SavedModel folder")
	fs.String("backend", model.Auto, "backend: auto, native, onnx or tf (auto: a folder is tf; an ONNX file runs on native if it supports every node, else on onnx)")
	fs.String("ort-lib", "", "path of libonnxruntime.so (default: $RNNRUN_ORT_LIB, the config file, the project cache, the system)")
	fs.Int("threads", 0, "intra-op threads (0: the backend's default)")
	fs.String("config", "", "config file (YAML, TOML or JSON); also $RNNRUN_CONFIG")
	addOverrideFlags(fs)
}

// openModel loads the model the flags, environment and config name, with
// its metadata resolved over the override flags (see overrides.go).
func (a *app) openModel(ctx context.Context, v *viper.Viper) (*model.Model, error) {
	path := v.GetString("model")
	if path == "" {
		return nil, usagef("--model is required (or RNNRUN_MODEL, or model: in the config file)")
	}
	if n := v.GetInt("threads"); n < 0 {
		return nil, usagef("--threads %d: must be >= 0 (0: the backend's default)", n)
	}
	layers, err := a.overrideLayers(v)
	if err != nil {
		return nil, err
	}
	return infer.Open(ctx, path, modelOptions(v), layers...)
}

// modelOptions are the backend options the flags set.
func modelOptions(v *viper.Viper) model.Options {
	return model.Options{
		Backend:     model.BackendName(v.GetString("backend")),
		Threads:     v.GetInt("threads"),
		LibraryPath: v.GetString("ort-lib"),
	}
}

// app is the task.CLI the tasks' commands run in.
var _ task.CLI = (*app)(nil)

func (a *app) Stdout() io.Writer { return a.stdout }
func (a *app) Stderr() io.Writer { return a.stderr }

func (a *app) Config(cmd *cobra.Command) (*viper.Viper, error) { return a.config(cmd) }
func (a *app) AddModelFlags(fs *pflag.FlagSet)                 { addModelFlags(fs) }

func (a *app) OpenModel(ctx context.Context, v *viper.Viper) (*model.Model, error) {
	return a.openModel(ctx, v)
}
