//go:build !tensorflow || !cgo

package tensorflow

import (
	"context"
	"fmt"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Enabled reports whether the TensorFlow backend is compiled in.
const Enabled = false

func init() { model.Register(Open, "tf", "tensorflow") }

// Open fails: this build has no TensorFlow. It satisfies model.Opener.
func Open(ctx context.Context, path string, opts model.Options) (model.Backend, error) {
	return nil, fmt.Errorf("%w: TensorFlow backend not compiled in: rebuild with -tags tensorflow and cgo (CGO_ENABLED=1, see docs/tensorflow.md)", model.ErrNoBackend)
}
