package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// run times f b.N times and also reports min-ns/op, the fastest of the batches of
// 8 calls: this machine is shared, and the minimum is the figure that is stable
// from run to run (ns/op includes the time other processes took the core).
func run(b *testing.B, f func()) {
	const batch = 8
	best := math.Inf(1)
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		t := time.Now()
		for range batch {
			f()
		}
		best = min(best, float64(time.Since(t).Nanoseconds())/batch)
	}
	b.ReportMetric(best, "min-ns/op")
}

// benchEach runs f as one sub-benchmark per kernel set (avx512, avx2, generic).
func benchEach(b *testing.B, f func(b *testing.B)) {
	defer func() { cur = best() }()
	for _, k := range available() {
		cur = k
		b.Run(k.name, f)
	}
}

func BenchmarkMatVec(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range [][2]int{{512, 128}, {70, 128}} {
		rows, cols := s[0], s[1]
		w, x, bias, y := randSlice(r, rows*cols), randSlice(r, cols), randSlice(r, rows), make([]float32, rows)
		b.Run(fmt.Sprintf("%dx%d", rows, cols), func(b *testing.B) {
			benchEach(b, func(b *testing.B) {
				run(b, func() { MatVec(y, w, x, bias, rows, cols) })
			})
		})
	}
}

func BenchmarkGemmNT(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, s := range [][3]int{{64, 512, 128}, {64, 70, 128}, {256, 512, 28}, {256, 512, 128}} {
		m, n, k := s[0], s[1], s[2]
		a, w, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
		b.Run(fmt.Sprintf("m%d_n%d_k%d", m, n, k), func(b *testing.B) {
			benchEach(b, func(b *testing.B) {
				run(b, func() { GemmNT(c, a, w, m, n, k, false) })
			})
		})
	}
}
