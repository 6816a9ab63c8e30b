//go:build !tensorflow || !cgo

package main

import (
	"bytes"
	"strings"
	"testing"
)

// Without -tags tensorflow, asking for the TensorFlow backend says how to get it.
func TestTFBackendNotCompiledIn(t *testing.T) {
	for _, name := range []string{"tf", "tensorflow"} {
		var out, errb bytes.Buffer
		code := run([]string{"--backend", name, "--model", t.TempDir(), "--temp", "0", "--length", "5"}, &out, &errb)
		if code != exitRuntime || !strings.Contains(errb.String(), "TensorFlow backend not compiled in: rebuild with -tags tensorflow and cgo (CGO_ENABLED=1, see docs/tensorflow.md)") {
			t.Fatalf("--backend %s: exit %d, stderr %q", name, code, errb.String())
		}
	}
}
