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

// forEach runs f once with every kernel set this build and CPU can run (on amd64
// with GOEXPERIMENT=simd: avx512, avx2 and generic), then restores the default.
func forEach(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer func() { cur = best() }()
	for _, k := range available() {
		cur = k
		t.Run(k.name, f)
	}
}

func TestImplementationIsTheBestAvailable(t *testing.T) {
	if got, want := Implementation(), available()[0].name; got != want {
		t.Fatalf("Implementation() = %q, want %q", got, want)
	}
}

const sentinel = float32(-12345)

// padded returns a slice of n values followed by 3 sentinels, and checkPad reports
// a kernel that wrote past n.
func padded(n int) []float32 {
	s := make([]float32, n+3)
	for i := n; i < len(s); i++ {
		s[i] = sentinel
	}
	return s
}

func checkPad(t *testing.T, what string, s []float32, n int) {
	t.Helper()
	for i := n; i < len(s); i++ {
		if s[i] != sentinel {
			t.Fatalf("%s wrote past its %d outputs: [%d] = %v", what, n, i, s[i])
		}
	}
}

// dot64 is the float64 reference dot product and the sum of |terms| (its error scale).
func dot64(a, b []float32) (s, mag float64) {
	for i := range a {
		p := float64(a[i]) * float64(b[i])
		s += p
		mag += math.Abs(p)
	}
	return s, mag
}

// near reports whether a float32 sum is within float32 rounding of the reference.
func near(got float32, want, mag float64) bool {
	return math.Abs(float64(got)-want) <= 1e-6*(mag+1)
}

var (
	testRows = []int{1, 2, 3, 4, 5, 7, 16, 17, 70, 512}
	testCols = []int{1, 3, 7, 8, 9, 15, 16, 17, 28, 33, 128}
)

func TestMatVec(t *testing.T) {
	forEach(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, rows := range testRows {
			for _, cols := range testCols {
				w, x, b := randSlice(r, rows*cols), randSlice(r, cols), randSlice(r, rows)
				for _, bias := range [][]float32{nil, b} {
					y := padded(rows)
					MatVec(y, w, x, bias, rows, cols)
					checkPad(t, "MatVec", y, rows)
					for i := 0; i < rows; i++ {
						want, mag := dot64(w[i*cols:i*cols+cols], x)
						if bias != nil {
							want += float64(bias[i])
						}
						if !near(y[i], want, mag) {
							t.Fatalf("%dx%d bias=%v: y[%d] = %v, want %v", rows, cols, bias != nil, i, y[i], want)
						}
					}
				}
				y := padded(rows)
				copy(y, b)
				MatVecAdd(y, w, x, rows, cols)
				checkPad(t, "MatVecAdd", y, rows)
				for i := 0; i < rows; i++ {
					want, mag := dot64(w[i*cols:i*cols+cols], x)
					if want += float64(b[i]); !near(y[i], want, mag) {
						t.Fatalf("MatVecAdd %dx%d: y[%d] = %v, want %v", rows, cols, i, y[i], want)
					}
				}
			}
		}
	})
}

func TestGemmNT(t *testing.T) {
	forEach(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, m := range []int{1, 2, 3, 5, 64} {
			for _, n := range []int{1, 3, 4, 5, 70} {
				for _, k := range []int{1, 7, 16, 28, 33, 128} {
					a, b, c0 := randSlice(r, m*k), randSlice(r, n*k), randSlice(r, m*n)
					for _, acc := range []bool{false, true} {
						c := padded(m * n)
						copy(c, c0)
						GemmNT(c, a, b, m, n, k, acc)
						checkPad(t, "GemmNT", c, m*n)
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								want, mag := dot64(a[i*k:i*k+k], b[j*k:j*k+k])
								if acc {
									want += float64(c0[i*n+j])
								}
								if !near(c[i*n+j], want, mag) {
									t.Fatalf("m=%d n=%d k=%d acc=%v: c[%d,%d] = %v, want %v", m, n, k, acc, i, j, c[i*n+j], want)
								}
							}
						}
					}
				}
			}
		}
	})
}

func TestAddBias(t *testing.T) {
	forEach(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, m := range []int{1, 3} {
			for n := 0; n <= 40; n++ {
				x0, b := randSlice(r, m*n), randSlice(r, n)
				x := padded(m * n)
				copy(x, x0)
				AddBias(x, b, m, n)
				checkPad(t, "AddBias", x, m*n)
				for i := range x0 {
					if want := x0[i] + b[i%n]; x[i] != want {
						t.Fatalf("m=%d n=%d: x[%d] = %v, want %v", m, n, i, x[i], want)
					}
				}
			}
		}
	})
}
