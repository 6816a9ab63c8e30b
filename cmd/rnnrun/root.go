package main

import (
	"github.com/spf13/cobra"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
)

// subcommands lists the constructors of rnnrun's own subcommands; each
// command's file appends its own from init, so commands live one per file.
// The tasks' commands (task.Commander) are added from the registered tasks.
var subcommands []func(*app) *cobra.Command

func (a *app) rootCmd() *cobra.Command {
	root := a.setup(&cobra.Command{
		Use:   "rnnrun",
		Short: "Run Keras-trained recurrent neural networks from Go",
		Long: `rnnrun runs LSTM models exported from Keras (ONNX or SavedModel).

Without a subcommand it generates text with a character model:
  rnnrun --model models/export/char.onnx --temp 1.2

Every flag can also be set as RNNRUN_<FLAG> (dashes as underscores) or in the
config file given with --config. Exit status: 0 success, 2 usage error, 1 failure.`,
		Args: cobra.NoArgs,
	})
	for _, sub := range subcommands {
		root.AddCommand(a.setup(sub(a)))
	}
	for _, t := range registry.RegisteredTasks() {
		c, ok := t.(task.Commander)
		if !ok {
			continue
		}
		for _, sub := range c.Commands(a) {
			root.AddCommand(a.setup(sub))
			if t.Name() == generate.Name && sub.Name() == generate.Name {
				// Without a subcommand rnnrun generates text.
				root.RunE = sub.RunE
				root.Flags().AddFlagSet(sub.Flags())
			}
		}
	}
	return root
}
