package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

func TestMatVecAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, dims := range [][2]int{{1, 1}, {3, 5}, {512, 128}, {70, 128}, {17, 33}} {
		rows, cols := dims[0], dims[1]
		w, x, b := randSlice(r, rows*cols), randSlice(r, cols), randSlice(r, rows)
		y := make([]float32, rows)
		MatVec(y, w, x, b, rows, cols)
		for i := 0; i < rows; i++ {
			want := float64(b[i])
			for j := 0; j < cols; j++ {
				want += float64(w[i*cols+j]) * float64(x[j])
			}
			if d := math.Abs(float64(y[i]) - want); d > 1e-4 {
				t.Fatalf("%dx%d: y[%d] = %v, want %v", rows, cols, i, y[i], want)
			}
		}
	}
}
