package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/onnx"
)

// version is set with -ldflags "-X main.version=..."; otherwise the module version.
var version = ""

func init() {
	subcommands = append(subcommands, func(a *app) *cobra.Command {
		return &cobra.Command{
			Use:   "version",
			Short: "Print rnnrun's version, Go version and backends",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				v := version
				if v == "" {
					v = "devel"
					if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
						v = bi.Main.Version
					}
				}
				fmt.Fprintf(a.stdout, "rnnrun %s\n", v)
				fmt.Fprintf(a.stdout, "go %s %s/%s\n", strings.TrimPrefix(goruntime.Version(), "go"), goruntime.GOOS, goruntime.GOARCH)
				fmt.Fprintf(a.stdout, "onnxruntime %s (library: %s)\n", onnx.Version, libraryStatus())
				fmt.Fprintf(a.stdout, "backends %s\n", strings.Join(model.Backends(), ", "))
				return nil
			},
		}
	})
}

func libraryStatus() string {
	p, err := onnx.FindLibrary("")
	if err != nil {
		return "not found"
	}
	return p
}
