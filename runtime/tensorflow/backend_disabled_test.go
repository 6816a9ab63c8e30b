//go:build !tensorflow || !cgo

package tensorflow

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/model"
)

func TestDisabled(t *testing.T) {
	for _, name := range []string{"tf", "tensorflow"} {
		_, err := model.Open(context.Background(), t.TempDir(), model.Options{Backend: name})
		if !errors.Is(err, model.ErrNoBackend) || !strings.Contains(err.Error(), "rebuild with -tags tensorflow and cgo (CGO_ENABLED=1, see docs/tensorflow.md)") {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
