package main

import (
	"github.com/spf13/cobra"
)

// subcommands lists the constructors of rnnrun's subcommands; each command's
// file appends its own from init, so commands live one per file.
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
		RunE: a.generate,
	})
	addModelFlags(root.Flags())
	addGenerateFlags(root.Flags())
	for _, sub := range subcommands {
		root.AddCommand(a.setup(sub(a)))
	}
	return root
}
