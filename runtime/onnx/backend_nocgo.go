//go:build !cgo

package onnx

import (
	"context"
	"fmt"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Enabled reports whether the ONNX Runtime backend is compiled in (it needs cgo).
const Enabled = false

// NotCompiled is the error's text: how to get a build with ONNX Runtime.
const NotCompiled = "ONNX Runtime backend not compiled in (this is a cgo-free build): " +
	"rebuild with cgo (CGO_ENABLED=1 and a C compiler) and install the library with " + InstallHint +
	"; or use --backend native"

func init() { model.Register(Open, "onnx", "ort") }

// Open fails: this build has no ONNX Runtime. It satisfies model.Opener.
func Open(ctx context.Context, path string, opts model.Options) (model.Backend, error) {
	return nil, fmt.Errorf("%w: %s", model.ErrNoBackend, NotCompiled)
}

// LoadedLibrary reports the library path in use: always "" without cgo.
func LoadedLibrary() string { return "" }
