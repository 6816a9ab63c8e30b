//go:build cgo

package onnx

import (
	"fmt"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// The ONNX Runtime environment is process-wide and created once: by the first
// session that opens, from the library that session finds. It is never
// destroyed, because ONNX Runtime does not support creating an environment
// again after destroying it; the process's exit releases it. A failed creation
// (no library, a bad path) is not remembered, so a later Open may succeed.
var env struct {
	sync.Mutex
	lib string // the library the environment was created from; "" before
}

// ensureEnv creates the environment on first use. An explicit library other
// than the one already loaded is an error: one process holds one ONNX Runtime.
func ensureEnv(explicit string) error {
	env.Lock()
	defer env.Unlock()
	if env.lib != "" {
		if explicit != "" && explicit != env.lib {
			return fmt.Errorf("%w: ONNX Runtime is already loaded from %s; cannot also load %s in one process", model.ErrLibrary, env.lib, explicit)
		}
		return nil
	}
	lib, err := FindLibrary(explicit)
	if err != nil {
		return err
	}
	ort.SetSharedLibraryPath(lib)
	var initErr error
	err = onBigStack(func() { initErr = ort.InitializeEnvironment(ort.WithLogLevelFatal()) }) // bigstack.go says why
	if err == nil {
		err = initErr
	}
	if err != nil {
		return fmt.Errorf("%w: loading ONNX Runtime from %s: %v", model.ErrLibrary, lib, err)
	}
	env.lib = lib
	return nil
}

// LoadedLibrary reports the library path in use, or "" before the first session.
func LoadedLibrary() string {
	env.Lock()
	defer env.Unlock()
	return env.lib
}
