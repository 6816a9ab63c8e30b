package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/model/infer"
	"github.com/rnnrun/rnnrun/runtime/registry"
)

func init() {
	subcommands = append(subcommands, func(a *app) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "annotate --model IN [--vocab V --labels L --task T --input-scale S ...] -o OUT",
			Short: "Write rnnrun's metadata into a model file, so it runs with no flags",
			Long: `annotate resolves the model's metadata as every command does (its own
metadata, its sidecar IN.rnnrun.json, the config and these flags, and what the
signature implies), writes it into a copy of the model (ONNX metadata_props; for
a SavedModel folder, a copy with assets/rnnrun.json), opens that copy with no
flags and runs its task's smoke check, and only then puts it at OUT.

OUT must not exist, unless it is IN itself (annotate in place: say -o IN) or
--force is given. Nothing is written when the check fails.`,
			Args: cobra.NoArgs,
			RunE: a.annotate,
		}
		fs := cmd.Flags()
		addModelFlags(fs)
		fs.StringP("output", "o", "", "where to write the annotated model (required)")
		fs.Bool("force", false, "replace OUT when it exists")
		return cmd
	})
}

func (a *app) annotate(cmd *cobra.Command, _ []string) error {
	v, err := a.config(cmd)
	if err != nil {
		return err
	}
	in, out := v.GetString("model"), v.GetString("output")
	if out == "" {
		return usagef("-o OUT is required: where to write the annotated model")
	}
	if err := checkTarget(in, out, v.GetBool("force")); err != nil {
		return err
	}
	m, err := a.openModel(cmd.Context(), v)
	if err != nil {
		return err
	}
	md := m.Metadata()
	m.Close()
	if md.Task == "" {
		return fmt.Errorf("%s: cannot annotate a model without a task: the task is %s", in, md.Sources["task"])
	}
	if md.Task == model.TaskTextGeneration && len(md.Vocab) == 0 {
		return fmt.Errorf("%s: a text model needs its vocabulary: pass --vocab FILE (a JSON array of strings)", in)
	}
	raw := md.Raw
	if raw["rnnrun_format"] == "" {
		raw["rnnrun_format"] = "1"
		md.Sources["rnnrun_format"] = "annotate"
	}
	tasks, err := writeChecked(cmd.Context(), in, out, raw, modelOptions(v))
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wrote %s (%s)\n", out, md.Task)
	printMetadata(a.stdout, md)
	fmt.Fprintf(a.stdout, "checked: %s opens with no flags as %s; smoke check passed (%s)\n", out, md.Task, strings.Join(tasks, ", "))
	return nil
}

// checkTarget refuses to replace an existing OUT unless it is IN itself or force is set.
func checkTarget(in, out string, force bool) error {
	ost, err := os.Stat(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if ist, err := os.Stat(in); err == nil && os.SameFile(ist, ost) {
		return nil // in place, asked for explicitly
	}
	if !force {
		return fmt.Errorf("%s exists: pass --force to replace it (or -o %s to annotate the input in place)", out, in)
	}
	return nil
}

// writeChecked writes the annotated model into a temporary sibling of out,
// opens it with no overrides, runs the smoke check of every task that serves
// it, and then moves it to out. It returns the tasks checked.
func writeChecked(ctx context.Context, in, out string, raw map[string]string, opts model.Options) ([]string, error) {
	tmpDir, err := os.MkdirTemp(filepath.Dir(out), ".rnnrun-annotate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, filepath.Base(strings.TrimRight(out, "/")))
	if err := infer.Write(in, tmp, raw); err != nil {
		return nil, err
	}
	tasks, err := smokeCheck(ctx, tmp, opts)
	if err != nil {
		return nil, fmt.Errorf("the annotated model fails its check, nothing written: %w", err)
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		if err := os.Rename(out, filepath.Join(tmpDir, "replaced")); err != nil {
			return nil, err
		}
	}
	return tasks, os.Rename(tmp, out)
}

// smokeCheck opens path as a server would, with no flags, and prepares every
// task serving its task (each runs one small inference).
func smokeCheck(ctx context.Context, path string, opts model.Options) ([]string, error) {
	m, err := infer.Open(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	kind := m.Metadata().Task
	var names []string
	for _, t := range registry.RegisteredTasks() {
		if !t.Serves(kind) {
			continue
		}
		inst, err := t.Load(ctx, m, registry.ModelConfig{Name: "annotate", Path: path})
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", t.Name(), err)
		}
		inst.Close()
		names = append(names, t.Name())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no task serves %q", kind)
	}
	return names, nil
}
