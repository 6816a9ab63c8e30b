// Package onnx is rnnrun's ONNX Runtime backend, built on
// github.com/yalue/onnxruntime_go. Importing it registers the backend names
// "onnx" and "ort" with model.Open. The backend needs cgo; a build without it
// (CGO_ENABLED=0) registers the names with an opener whose error says how to
// get it, and keeps the library search below for `rnnrun version`.
package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rnnrun/rnnrun/internal/versions"
	"github.com/rnnrun/rnnrun/runtime/model"
)

// DefaultThreads is the intra-op thread count used when Options.Threads is 0.
// One thread was fastest for the shipped models' LSTM steps (see docs/benchmarks.md).
const DefaultThreads = 1

// Version is the ONNX Runtime release the project installs and tests with
// (ORT_VERSION in internal/versions/versions.env, which scripts/setup-ort.sh reads too).
var Version = versions.ORT

// LibraryEnv names the environment variable that points at libonnxruntime.
const LibraryEnv = "RNNRUN_ORT_LIB"

// InstallHint is the command that installs the library into the project's cache.
const InstallHint = "make setup-ort (runs scripts/setup-ort.sh)"

// CacheDir is where scripts/setup-ort.sh installs the library: $RNNRUN_CACHE,
// else $XDG_CACHE_HOME/rnnrun, else ~/.cache/rnnrun.
func CacheDir() string {
	if d := os.Getenv("RNNRUN_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "rnnrun")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "rnnrun")
}

// FindLibrary returns the shared library to load: explicit (an option, the
// --ort-lib flag or the config file) if set, else $RNNRUN_ORT_LIB, else the
// project's cache, else the system's library folders. The error lists every
// place it looked and how to install the library.
func FindLibrary(explicit string) (string, error) {
	var looked []string
	check := func(p, why string) bool {
		looked = append(looked, fmt.Sprintf("%s (%s)", p, why))
		st, err := os.Stat(p)
		return err == nil && !st.IsDir()
	}
	if explicit != "" {
		if check(explicit, "option") {
			return explicit, nil
		}
		return "", fmt.Errorf("%w: ONNX Runtime library %s given as an option does not exist", model.ErrLibrary, explicit)
	}
	if p := os.Getenv(LibraryEnv); p != "" {
		if check(p, LibraryEnv) {
			return p, nil
		}
		return "", fmt.Errorf("%w: ONNX Runtime library %s named by %s does not exist", model.ErrLibrary, p, LibraryEnv)
	}
	if c := CacheDir(); c != "" {
		if p := filepath.Join(c, "onnxruntime-"+Version, "libonnxruntime.so.1"); check(p, "project cache") {
			return p, nil
		}
	}
	var dirs []string
	if lp := os.Getenv("LD_LIBRARY_PATH"); lp != "" {
		dirs = append(dirs, filepath.SplitList(lp)...)
	}
	dirs = append(dirs, "/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib", "/lib/x86_64-linux-gnu", "/lib")
	for _, d := range dirs {
		for _, n := range []string{"libonnxruntime.so.1", "libonnxruntime.so"} {
			if p := filepath.Join(d, n); check(p, "system") {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%w: ONNX Runtime shared library not found; looked in:\n  %s\ninstall it with: %s, or point %s or --ort-lib at libonnxruntime.so",
		model.ErrLibrary, strings.Join(looked, "\n  "), InstallHint, LibraryEnv)
}
