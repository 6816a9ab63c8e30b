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
		for _, m := range []int{1, 2, 3, 5, 13, 64} {
			for _, n := range []int{1, 3, 4, 5, 16, 17, 32, 33, 70} {
				for _, k := range []int{1, 7, 16, 28, 33, 128} {
					a, b, c0 := randSlice(r, m*k), randSlice(r, n*k), randSlice(r, m*n)
					for _, acc := range []bool{false, true} {
						c := padded(m * n)
						copy(c, c0)
						GemmNT(c, a, b, m, n, k, acc)
						checkPad(t, "GemmNT", c, m*n)
						cp := padded(m * n)
						copy(cp, c0)
						bp := make([]float32, PackedLen(n, k))
						PackNT(bp, b, n, k)
						GemmPacked(cp, a, bp, m, n, k, acc)
						checkPad(t, "GemmPacked", cp, m*n)
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								want, mag := dot64(a[i*k:i*k+k], b[j*k:j*k+k])
								if acc {
									want += float64(c0[i*n+j])
								}
								if !near(c[i*n+j], want, mag) || !near(cp[i*n+j], want, mag) {
									t.Fatalf("m=%d n=%d k=%d acc=%v: c[%d,%d] = %v (packed %v), want %v", m, n, k, acc, i, j, c[i*n+j], cp[i*n+j], want)
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

// sweep returns n inputs evenly spread over [lo, hi] followed by random ones.
func sweep(r *rand.Rand, lo, hi float32, n int) []float32 {
	s := make([]float32, 0, 2*n)
	for i := 0; i < n; i++ {
		s = append(s, lo+(hi-lo)*float32(i)/float32(n-1))
	}
	for i := 0; i < n; i++ {
		s = append(s, lo+(hi-lo)*r.Float32())
	}
	return s
}

func sigmoid64(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

// relErr is |got-want| / |want|, with values below 1e-30 compared absolutely (the
// fast exp clamps its input, so results under 1.2e-38 are off by that much).
func relErr(got float32, want float64) float64 {
	d := math.Abs(float64(got) - want)
	if math.Abs(want) < 1e-30 {
		return d / 1e-30
	}
	return d / math.Abs(want)
}

// maxRelErr is the error bound the docs state for Sigmoid, Tanh, Softmax and
// LSTMCell against float64 math (a few float32 ulps: 2^-23 is 1.19e-7).
const maxRelErr = 4e-7

func TestNonlinearAccuracy(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(dst, src []float32)
		ref  func(float64) float64
	}{{"Sigmoid", Sigmoid, sigmoid64}, {"Tanh", Tanh, math.Tanh}} {
		forEach(t, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			in := append(sweep(r, -20, 20, 20001), sweep(r, -1, 1, 20001)...)
			in = append(in, sweep(r, -100, 100, 2001)...)
			in = append(in, sweep(r, -1e-4, 1e-4, 2001)...)
			out := make([]float32, len(in))
			tc.f(out, in)
			worst, at := 0.0, float32(0)
			for i, v := range in {
				if e := relErr(out[i], tc.ref(float64(v))); e > worst {
					worst, at = e, v
				}
			}
			t.Logf("%s: max relative error %.3g at x = %v", tc.name, worst, at)
			if worst > maxRelErr {
				t.Fatalf("%s: relative error %.3g at x = %v, bound %g", tc.name, worst, at, maxRelErr)
			}
		})
	}
}

func TestNonlinearSpecialValues(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	in := []float32{0, float32(math.Copysign(0, -1)), inf, -inf, nan, 88, -88, 89, -89, 100, -100, 1e30, -1e30, 1e-40, -1e-40}
	forEach(t, func(t *testing.T) {
		for _, tc := range []struct {
			name string
			f    func(dst, src []float32)
			ref  func(float64) float64
		}{{"Sigmoid", Sigmoid, sigmoid64}, {"Tanh", Tanh, math.Tanh}} {
			out := make([]float32, len(in))
			tc.f(out, in)
			for i, v := range in {
				want := tc.ref(float64(v))
				got := out[i]
				switch {
				case math.IsNaN(want):
					if !math.IsNaN(float64(got)) {
						t.Errorf("%s(%v) = %v, want NaN", tc.name, v, got)
					}
				case math.IsNaN(float64(got)) || math.Abs(float64(got)-want) > 1e-7*math.Max(1e-30, math.Abs(want)) && math.Abs(float64(got)-want) > 1e-37:
					t.Errorf("%s(%v) = %v, want %v", tc.name, v, got, want)
				}
			}
		}
	})
}

// TestElementwiseTailsAndAliasing runs every length from 0 to 70, in place and
// into a separate slice, against the generic kernels, and checks nothing past the
// end is written.
func TestElementwiseTailsAndAliasing(t *testing.T) {
	forEach(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for n := 0; n <= 70; n++ {
			src := randSlice(r, n)
			for i := range src {
				src[i] *= 8
			}
			for _, tc := range []struct {
				name   string
				f, ref func(dst, src []float32)
			}{{"Sigmoid", Sigmoid, sigmoidGeneric}, {"Tanh", Tanh, tanhGeneric}} {
				want := make([]float32, n)
				tc.ref(want, src)
				dst := padded(n)
				tc.f(dst[:n], src)
				checkPad(t, tc.name, dst, n)
				inPlace := padded(n)
				copy(inPlace, src)
				tc.f(inPlace[:n], inPlace[:n])
				checkPad(t, tc.name+" in place", inPlace, n)
				for i := range want {
					if relErr(dst[i], float64(want[i])) > maxRelErr || dst[i] != inPlace[i] {
						t.Fatalf("%s n=%d: [%d] = %v (in place %v), generic %v", tc.name, n, i, dst[i], inPlace[i], want[i])
					}
				}
			}
		}
	})
}

func softmax64(x []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	out := make([]float64, len(x))
	var sum float64
	for i, v := range x {
		out[i] = math.Exp(float64(v) - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func TestSoftmax(t *testing.T) {
	forEach(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		for n := 0; n <= 70; n++ {
			for _, scale := range []float32{1, 10, 1000} {
				x0 := randSlice(r, n)
				for i := range x0 {
					x0[i] *= scale
				}
				if n > 2 {
					x0[1] = float32(math.Inf(-1)) // a masked-out logit
				}
				x := padded(n)
				copy(x, x0)
				Softmax(x[:n])
				checkPad(t, "Softmax", x, n)
				m := math.Inf(-1)
				for _, v := range x0 {
					m = math.Max(m, float64(v))
				}
				for i, want := range softmax64(x0) {
					// x-max is rounded to float32 first: e^(x-max) inherits its
					// relative error, |x-max| * 2^-24.
					tol := maxRelErr*want*(1+math.Abs(float64(x0[i])-m)) + 1e-30
					if math.Abs(float64(x[i])-want) > tol {
						t.Fatalf("n=%d scale=%v: p[%d] = %v, want %v", n, scale, i, x[i], want)
					}
				}
			}
		}
	})
}

func lstmCell64(g, c []float32, hidden int) (c2, h2 []float64) {
	c2, h2 = make([]float64, hidden), make([]float64, hidden)
	for j := 0; j < hidden; j++ {
		i := sigmoid64(float64(g[j]))
		o := sigmoid64(float64(g[hidden+j]))
		f := sigmoid64(float64(g[2*hidden+j]))
		z := math.Tanh(float64(g[3*hidden+j]))
		c2[j] = f*float64(c[j]) + i*z
		h2[j] = o * math.Tanh(c2[j])
	}
	return c2, h2
}

func TestLSTMCell(t *testing.T) {
	forEach(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, hidden := range []int{1, 3, 7, 8, 15, 16, 17, 33, 128} {
			g := randSlice(r, 4*hidden)
			for i := range g {
				g[i] *= 6
			}
			c0 := randSlice(r, hidden)
			wantC, wantH := lstmCell64(g, c0, hidden)
			c, h := padded(hidden), padded(hidden)
			copy(c, c0)
			LSTMCell(append([]float32(nil), g...), c[:hidden], h[:hidden], hidden)
			checkPad(t, "LSTMCell c", c, hidden)
			checkPad(t, "LSTMCell h", h, hidden)
			for j := 0; j < hidden; j++ {
				if math.Abs(float64(c[j])-wantC[j]) > 1e-6 || math.Abs(float64(h[j])-wantH[j]) > 1e-6 {
					t.Fatalf("H=%d: unit %d: c = %v, h = %v, want %v, %v", hidden, j, c[j], h[j], wantC[j], wantH[j])
				}
			}
		}
	})
}

// TestLSTMCellAdd checks that the cell on g + add gives, bit for bit, what
// adding first and then LSTMCell gives with the same kernel set, for hidden
// sizes with and without a ragged last block.
func TestLSTMCellAdd(t *testing.T) {
	forEach(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(17, 18))
		for _, hidden := range []int{1, 3, 16, 17, 33, 128} {
			n := 4 * hidden
			g, add, c0 := randSlice(r, n), randSlice(r, n), randSlice(r, hidden)
			for i := range g {
				g[i] *= 4
			}
			sum := make([]float32, n)
			for i := range sum {
				sum[i] = g[i] + add[i]
			}
			wantC, wantH := append([]float32(nil), c0...), make([]float32, hidden)
			LSTMCell(sum, wantC, wantH, hidden)
			c, h := padded(hidden), padded(hidden)
			copy(c, c0)
			LSTMCellAdd(append([]float32(nil), g...), add, c[:hidden], h[:hidden], hidden)
			checkPad(t, "LSTMCellAdd c", c, hidden)
			checkPad(t, "LSTMCellAdd h", h, hidden)
			for j := range hidden {
				if c[j] != wantC[j] || h[j] != wantH[j] {
					t.Fatalf("H=%d: unit %d: c = %v, h = %v; add then LSTMCell gives %v, %v", hidden, j, c[j], h[j], wantC[j], wantH[j])
				}
			}
		}
	})
}

// TestLSTMStep checks the fused step against MatVec + the column + LSTMCell of the
// generic kernels, with and without the bias and the column.
func TestLSTMStep(t *testing.T) {
	forEach(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(15, 16))
		for _, hidden := range []int{1, 5, 16, 33, 128} {
			n := 4 * hidden
			rw, b, col := randSlice(r, n*hidden), randSlice(r, n), randSlice(r, n)
			h0, c0 := randSlice(r, hidden), randSlice(r, hidden)
			for _, args := range [][2][]float32{{b, col}, {nil, col}, {b, nil}, {nil, nil}} {
				want := make([]float32, n)
				matVecGeneric(want, rw, h0, args[0], n, hidden)
				if args[1] != nil {
					addBiasGeneric(want, args[1], 1, n)
				}
				wantC, wantH := lstmCell64(want, c0, hidden)
				g, c, h := make([]float32, n), append([]float32(nil), c0...), append([]float32(nil), h0...)
				LSTMStep(g, c, h, rw, args[0], args[1], hidden)
				for j := 0; j < hidden; j++ {
					if math.Abs(float64(c[j])-wantC[j]) > 1e-5 || math.Abs(float64(h[j])-wantH[j]) > 1e-5 {
						t.Fatalf("H=%d bias=%v col=%v: unit %d: c = %v, h = %v, want %v, %v", hidden, args[0] != nil, args[1] != nil, j, c[j], h[j], wantC[j], wantH[j])
					}
				}
			}
		}
	})
}

// TestGemmPackedSparse zeroes the columns below k0 that a group of rows does
// not list and checks the product against the float64 reference.
func TestGemmPackedSparse(t *testing.T) {
	forEach(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, m := range []int{1, 7, 8, 13, 24, 37} {
			for _, n := range []int{5, 32, 70, 512} {
				for _, k0 := range []int{1, 28} {
					k := k0 + 129
					a, b := randSlice(r, m*k), randSlice(r, n*k)
					var cols []int32
					off := []int{0}
					for g := 0; g < m/SparseGroup+1; g++ {
						keep := make([]bool, k0)
						for j := range keep {
							if keep[j] = r.IntN(3) == 0; keep[j] && g < m/SparseGroup {
								cols = append(cols, int32(j))
							}
						}
						for i := g * SparseGroup; i < min(m, (g+1)*SparseGroup); i++ {
							for j, kj := range keep {
								// unlisted columns are zeros; the last rows (no group) keep some
								if !kj && (g < m/SparseGroup || j%2 == 0) {
									a[i*k+j] = 0
								}
							}
						}
						if g < m/SparseGroup {
							off = append(off, len(cols))
						}
					}
					bp := make([]float32, PackedLen(n, k))
					PackNT(bp, b, n, k)
					c := padded(m * n)
					GemmPackedSparse(c, a, bp, m, n, k, k0, cols, off)
					checkPad(t, "GemmPackedSparse", c, m*n)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							want, mag := dot64(a[i*k:i*k+k], b[j*k:j*k+k])
							if !near(c[i*n+j], want, mag) {
								t.Fatalf("m=%d n=%d k0=%d: c[%d,%d] = %v, want %v", m, n, k0, i, j, c[i*n+j], want)
							}
						}
					}
				}
			}
		}
	})
}

// TestOneHot checks every kernel set on rows of every length up to 70 with the
// 1 at each position, and on the rows that are not one-hot.
func TestOneHot(t *testing.T) {
	nan, negZero := float32(math.NaN()), float32(math.Copysign(0, -1))
	forEach(t, func(t *testing.T) {
		for n := 0; n <= 70; n++ {
			x := make([]float32, n)
			if got := OneHot(x); got != -1 {
				t.Fatalf("n=%d all zeros: OneHot = %d, want -1", n, got)
			}
			for at := range n {
				clear(x)
				x[at] = 1
				if got := OneHot(x); got != at {
					t.Fatalf("n=%d, 1 at %d: OneHot = %d", n, at, got)
				}
				z := (at + n/2) % n
				x[z] = negZero // -0 counts as 0 (where it did not replace the 1)
				want := at
				if z == at {
					want = -1
				}
				if got := OneHot(x); got != want {
					t.Fatalf("n=%d, 1 at %d and -0 at %d: OneHot = %d, want %d", n, at, z, got, want)
				}
				for _, other := range []float32{nan, 1, 0.5, float32(math.Inf(1))} {
					y := make([]float32, n)
					y[at] = 1
					o := (at + 7) % n
					y[o] = other
					want := -1
					if o == at && other == 1 {
						want = at
					}
					if got := OneHot(y); got != want {
						t.Fatalf("n=%d, 1 at %d and %v at %d: OneHot = %d, want %d", n, at, other, o, got, want)
					}
				}
				y := make([]float32, n)
				y[at] = 2
				if got := OneHot(y); got != -1 {
					t.Fatalf("n=%d, a lone 2 at %d: OneHot = %d, want -1", n, at, got)
				}
			}
		}
	})
}
