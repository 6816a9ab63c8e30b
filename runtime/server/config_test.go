package server_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/server"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rnnrun.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The server: section: the file's values, the environment over them, and
// the one defaults table for the rest.
func TestLoadConfig(t *testing.T) {
	path := writeFile(t, "server:\n  listen: 127.0.0.1:9999\n  max-length: 1000\n  request-timeout: 5s\n  load-timeout: 3s\nmodels: []\n")
	t.Setenv("RNNRUN_SERVER_MAX_BODY_BYTES", "1234")
	c, err := server.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	d := server.Defaults
	if c.Listen != "127.0.0.1:9999" || c.MaxLength != 1000 || c.RequestTimeout != 5*time.Second || c.MaxBodyBytes != 1234 ||
		c.MaxImages != d.MaxImages || c.MaxPixels != d.MaxPixels || c.ShutdownTimeout != d.ShutdownTimeout || c.IdleTimeout != d.IdleTimeout {
		t.Fatalf("server config %+v", c)
	}
	// An explicit request-timeout of 0 means none; it is not filled in.
	c, err = server.LoadConfig(writeFile(t, "server:\n  request-timeout: 0s\n"))
	if err != nil || c.RequestTimeout != 0 || c.Listen != d.Listen {
		t.Fatalf("request-timeout 0: %+v, %v", c, err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"duration", "server: {request-timeout: soon}", "request-timeout"},
		{"negative", "server: {max-body-bytes: -1}", "max-body-bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := server.LoadConfig(writeFile(t, tc.text))
			if !errors.Is(err, registry.ErrBadConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrBadConfig mentioning %q", err, tc.want)
			}
		})
	}
}
