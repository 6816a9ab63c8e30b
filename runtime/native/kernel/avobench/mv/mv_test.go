//go:build amd64

package mv

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rnnrun/rnnrun/runtime/native/kernel"
)

const rows, cols = 512, 128

func data() (y, w, x []float32) {
	r := rand.New(rand.NewPCG(1, 1))
	w, x, y = make([]float32, rows*cols), make([]float32, cols), make([]float32, rows)
	for i := range w {
		w[i] = r.Float32()*2 - 1
	}
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	return y, w, x
}

func TestAgainstKernel(t *testing.T) {
	y, w, x := data()
	want := make([]float32, rows)
	kernel.MatVec(want, w, x, nil, rows, cols)
	mv128(&y[0], &w[0], &x[0], rows)
	for i := range y {
		if math.Abs(float64(y[i]-want[i])) > 1e-4 {
			t.Fatalf("y[%d] = %v, kernel.MatVec %v", i, y[i], want[i])
		}
	}
}

// run reports min-ns/op, the fastest batch of 8 calls (the machine is shared).
func run(b *testing.B, f func()) {
	best := math.Inf(1)
	for i := 0; i < b.N; i += 8 {
		t := time.Now()
		for range 8 {
			f()
		}
		best = min(best, float64(time.Since(t).Nanoseconds())/8)
	}
	b.ReportMetric(best, "min-ns/op")
}

func BenchmarkMatVec512x128(b *testing.B) {
	y, w, x := data()
	b.Run("avo", func(b *testing.B) { run(b, func() { mv128(&y[0], &w[0], &x[0], rows) }) })
	b.Run("kernel_"+kernel.Implementation(), func(b *testing.B) {
		run(b, func() { kernel.MatVec(y, w, x, nil, rows, cols) })
	})
}
