package versions

import (
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// scripts/env.sh sees exactly the pins Go sees: it sources the same file.
func TestEnvShMatches(t *testing.T) {
	keys := make([]string, 0, len(Pins))
	for k := range Pins {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	script := `source "$1" >/dev/null; shift; for k in "$@"; do printf '%s=%s\n' "$k" "${!k}"; done`
	env := filepath.Join("..", "..", "scripts", "env.sh")
	out, err := exec.Command("bash", append([]string{"-c", script, "bash", env}, keys...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		if Pins[k] != v {
			t.Errorf("scripts/env.sh has %s=%q, Go has %q", k, v, Pins[k])
		}
	}
	for _, k := range []string{"ORT_VERSION", "ORT_SHA256", "GOMNIST_MODULE", "GOMNIST_VERSION"} {
		if Pins[k] == "" {
			t.Errorf("versions.env has no %s", k)
		}
	}
	if ORT != Pins["ORT_VERSION"] || GoMNISTVersion != Pins["GOMNIST_VERSION"] {
		t.Error("the Go names do not read the pins")
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{"ORT_VERSION", "=1", "K=", `K="quoted"`, "K=a b", "K=$OTHER"} {
		if _, err := parse("# ok\n\n" + bad + "\n"); err == nil || !strings.Contains(err.Error(), "line 3") {
			t.Errorf("%q: %v, want an error naming line 3", bad, err)
		}
	}
}
