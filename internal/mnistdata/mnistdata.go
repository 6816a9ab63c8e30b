// Package mnistdata finds the default MNIST test data for the CLI and the
// tests: the data/ folder of the Go module pinned in internal/versions
// (GOMNIST_MODULE@GOMNIST_VERSION), in the Go module cache, fetched with
// `go mod download` when absent. scripts/mnist-dir.sh (which the Python
// exporter calls) applies the same rule to the same pin; the vision library
// itself only takes a folder.
package mnistdata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/rnnrun/rnnrun/internal/versions"
)

// ErrNotFound is wrapped by Dir's error.
var ErrNotFound = errors.New("MNIST test data not found")

// probe is the file whose presence marks the data folder (as in scripts/mnist-dir.sh).
const probe = "t10k-images-idx3-ubyte.gz"

// Module is the pinned module, path@version.
func Module() string { return versions.GoMNISTModule + "@" + versions.GoMNISTVersion }

// Dir returns the folder holding the MNIST idx files: the pinned module's
// data/ folder, looked for first in the module cache ($GOMODCACHE, else
// $GOPATH/pkg/mod, else ~/go/pkg/mod), then obtained with `go mod download
// -json`, which downloads it if needed. The error says what was tried and
// that --data DIR passes a folder instead.
func Dir(ctx context.Context) (string, error) {
	var tried []string
	for _, cache := range moduleCaches() {
		dir := filepath.Join(cache, filepath.FromSlash(escape(versions.GoMNISTModule))+"@"+versions.GoMNISTVersion, "data")
		if hasData(dir) {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	dir, err := goModDownload(ctx)
	if err == nil {
		data := filepath.Join(dir, "data")
		if hasData(data) {
			return data, nil
		}
		err = fmt.Errorf("%s has no %s", data, probe)
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	return "", fmt.Errorf("%w: not in the module cache (%s), and `go mod download %s` failed: %v; pass --data DIR, a folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz",
		ErrNotFound, strings.Join(tried, ", "), Module(), err)
}

func hasData(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, probe))
	return err == nil && !st.IsDir()
}

// escape spells a module path as the module cache does: each upper-case
// letter becomes '!' and its lower case.
func escape(path string) string {
	var b strings.Builder
	for _, r := range path {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// moduleCaches lists where the module cache may be without running the go command.
func moduleCaches() []string {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return []string{c}
	}
	var list []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		if first := filepath.SplitList(gp)[0]; first != "" {
			list = append(list, filepath.Join(first, "pkg", "mod"))
		}
	} else if home, err := os.UserHomeDir(); err == nil {
		list = append(list, filepath.Join(home, "go", "pkg", "mod"))
	}
	return list
}

// goModDownload runs `go mod download -json` for the pinned module outside
// any module (so no go.mod or go.sum is touched) and returns its folder.
func goModDownload(ctx context.Context) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is not installed (%v)", err)
	}
	cmd := exec.CommandContext(ctx, gobin, "mod", "download", "-json", Module())
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(stdout.Bytes(), &info); err == nil {
		if info.Error != "" {
			return "", errors.New(info.Error)
		}
		if info.Dir != "" && runErr == nil {
			return info.Dir, nil
		}
	}
	if runErr != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = runErr.Error()
		}
		return "", errors.New(msg)
	}
	return "", fmt.Errorf("its output names no folder")
}
