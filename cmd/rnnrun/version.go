package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native/kernel"
	"github.com/rnnrun/rnnrun/runtime/onnx"
	"github.com/rnnrun/rnnrun/runtime/tensorflow"
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
				fmt.Fprintf(a.stdout, "onnxruntime %s\n", onnxStatus())
				fmt.Fprintf(a.stdout, "backends %s\n", strings.Join(compiledIn(), ", "))
				return nil
			},
		}
	})
}

// onnxStatus is the onnxruntime line: the version and library, or that this
// build has no ONNX Runtime.
func onnxStatus() string {
	if !onnx.Enabled {
		return "not compiled in (cgo-free build; rebuild with CGO_ENABLED=1 for --backend onnx)"
	}
	return fmt.Sprintf("%s (library: %s)", onnx.Version, libraryStatus())
}

// compiledIn lists the backends that can run a model in this build (a name
// registered only by a stub is left out), native with its kernels.
func compiledIn() []string {
	var list []string
	for _, n := range model.Backends() {
		switch {
		case n == "native":
			n = fmt.Sprintf("native (kernels %s)", kernel.Implementation())
		case (n == "onnx" || n == "ort") && !onnx.Enabled, (n == "tf" || n == "tensorflow") && !tensorflow.Enabled:
			continue
		}
		list = append(list, n)
	}
	return list
}

func libraryStatus() string {
	p, err := onnx.FindLibrary("")
	if err != nil {
		return "not found"
	}
	return p
}
