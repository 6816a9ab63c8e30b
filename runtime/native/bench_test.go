package native_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
)

func nativeShipped(tb testing.TB, name string) *model.Model {
	return onnxtest.OpenShipped(tb, name, model.Options{Backend: "native"})
}

// One stateful step of char.onnx (batch 1: a single stream; batch 64: the
// Batcher's shard) through a Binding; rows/s is streams stepped per second.
func BenchmarkNativeCharStep(b *testing.B) {
	m := nativeShipped(b, "char.onnx")
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			onnxtest.RunBinding(b, onnxtest.CharBinding(b, m, batch, 1), batch, "rows/s")
		})
	}
}

// The windowed call: 100 characters from a zero state.
func BenchmarkNativeCharWindow(b *testing.B) {
	onnxtest.RunBinding(b, onnxtest.CharBinding(b, nativeShipped(b, "char.onnx"), 1, 100), 1, "windows/s")
}

// mnist.onnx and mnist_tf.onnx at batch 256.
func BenchmarkNativeMNIST(b *testing.B) {
	for _, name := range []string{"mnist.onnx", "mnist_tf.onnx"} {
		m := nativeShipped(b, name)
		b.Run(name+"/batch=256", func(b *testing.B) {
			onnxtest.RunBinding(b, onnxtest.MNISTBinding(b, m, 256), 256, "images/s")
		})
	}
}

// A Binding's Run allocates nothing once the first call has sized its buffers:
// the char step at batch 1 and 64, the window, and an MNIST batch.
func TestBindingZeroAllocs(t *testing.T) {
	char := nativeShipped(t, "char.onnx")
	cases := map[string]model.Binding{
		"char step batch 1":  onnxtest.CharBinding(t, char, 1, 1),
		"char step batch 64": onnxtest.CharBinding(t, char, 64, 1),
		"char window":        onnxtest.CharBinding(t, char, 1, 100),
		"mnist batch 16":     onnxtest.MNISTBinding(t, nativeShipped(t, "mnist_tf.onnx"), 16),
	}
	ctx := context.Background()
	for name, bd := range cases {
		if err := bd.Run(ctx); err != nil {
			t.Fatal(err)
		}
		runs := 50
		if name == "mnist batch 16" {
			runs = 3
		}
		if a := testing.AllocsPerRun(runs, func() {
			if err := bd.Run(ctx); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: %v allocations per Run, want 0", name, a)
		}
		bd.Close()
	}
}
