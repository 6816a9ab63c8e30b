// Package kernel holds the float32 compute kernels of the native engine: the
// recurrent mat-vec, a GEMM for batched steps, and the vectorised nonlinearities.
//
// Every function has a portable pure-Go implementation (kernel_generic.go) that is
// correct on every GOARCH; faster paths for amd64 are chosen at run time by CPU
// feature. The fast paths are written with simd/archsimd and are compiled only
// with GOEXPERIMENT=simd on amd64 (the Makefile sets it); the purego build tag
// leaves them out. Implementation names the path in use. Slices are row-major and
// are never retained; no function allocates.
package kernel

// MatVec sets y[i] = b[i] + sum_j w[i*cols+j] * x[j] for i < rows.
// b may be nil (no bias). w holds rows*cols values; x at least cols; y at least rows.
func MatVec(y, w, x, b []float32, rows, cols int) { cur.matVec(y, w, x, b, rows, cols) }

// MatVecAdd adds W x to y: y[i] += sum_j w[i*cols+j] * x[j].
func MatVecAdd(y, w, x []float32, rows, cols int) { cur.matVecAdd(y, w, x, rows, cols) }

// GemmNT sets C = A * B^T (+ C when acc): A is m x k, B is n x k (each row of B
// one output unit, as a weight matrix [out, in]), C is m x n, all row-major.
func GemmNT(c, a, b []float32, m, n, k int, acc bool) { cur.gemmNT(c, a, b, m, n, k, acc) }

// AddBias adds b to each of the m rows of x (n values each).
func AddBias(x, b []float32, m, n int) { cur.addBias(x, b, m, n) }

// Sigmoid sets dst[i] = 1 / (1 + exp(-src[i])); dst and src may be the same slice.
func Sigmoid(dst, src []float32) { cur.sigmoid(dst, src) }

// Tanh sets dst[i] = tanh(src[i]); dst and src may be the same slice.
func Tanh(dst, src []float32) { cur.tanh(dst, src) }

// Softmax replaces x by its softmax (one row), subtracting the maximum first.
func Softmax(x []float32) { cur.softmax(x) }

// LSTMCell applies the ONNX LSTM cell with the default activations (sigmoid,
// tanh, tanh) and no peepholes to one row: g holds the 4H pre-activations in
// ONNX gate order i, o, f, c (W x + R h + Wb + Rb); c is updated in place to
// f*c + i*tanh(gc) and h is set to o*tanh(c). g is used as scratch.
func LSTMCell(g, c, h []float32, hidden int) { cur.lstmCell(g, c, h, hidden) }

// LSTMCellAdd is LSTMCell on the pre-activations g + add (4H values each),
// g used as scratch: a batched step of one-hot rows adds each row's column of
// W (with the biases) here instead of copying it into g before the GEMM. The
// sums are the float32 additions LSTMCell's callers would make first.
func LSTMCellAdd(g, add, c, h []float32, hidden int) { cur.lstmCellAdd(g, add, c, h, hidden) }

// LSTMStep is one whole LSTM step of one row whose input term is already a vector
// (a one-hot input: the column of W for that symbol, contiguous when W^T is laid
// out [V, 4H]). It sets g = R h + b + col, then applies LSTMCell(g, c, h, hidden).
// r is row-major [4H, H]; b and col hold 4H values each and may be nil; g holds
// 4H values of scratch. h is read in full before it is overwritten.
func LSTMStep(g, c, h, r, b, col []float32, hidden int) {
	cur.lstmStep(g, c, h, r, b, col, hidden)
}

// OneHot returns the index of the single 1 in x when every other value is 0
// (-0 counts as 0), else -1 (also for an empty x, two nonzeros, a NaN, or a
// lone nonzero other than 1).
func OneHot(x []float32) int { return cur.oneHot(x) }

// Implementation names the kernels in use: "avx512", "avx2" or "generic".
func Implementation() string { return cur.name }

// impl is one set of kernels; cur is the set chosen at start-up (kernel_amd64.go
// picks by CPU feature, every other build keeps generic).
type impl struct {
	name      string
	matVec    func(y, w, x, b []float32, rows, cols int)
	matVecAdd func(y, w, x []float32, rows, cols int)
	gemmNT    func(c, a, b []float32, m, n, k int, acc bool)
	addBias   func(x, b []float32, m, n int)
	sigmoid   func(dst, src []float32)
	tanh      func(dst, src []float32)
	softmax   func(x []float32)
	lstmCell  func(g, c, h []float32, hidden int)
	lstmStep  func(g, c, h, r, b, col []float32, hidden int)

	lstmCellAdd func(g, add, c, h []float32, hidden int)
	oneHot      func(x []float32) int

	gemmPacked func(c, a []float32, lda int, bp []float32, m, n, k int, acc bool)
	gemmSparse func(c, a, bp []float32, m, n, k, k0 int, cols []int32, off []int)
}

// cur is read by every kernel call; it is set once, before main (and by tests).
var cur = best()

// PanelWidth is the number of B rows (output units) in one panel of a packed B.
const PanelWidth = 32

// PackedLen is the length of the slice PackNT fills for an n x k matrix: n rounded
// up to a multiple of PanelWidth, times k.
func PackedLen(n, k int) int { return (n + PanelWidth - 1) / PanelWidth * PanelWidth * k }

// PackNT lays out B (n x k, row-major: one row per output unit, as GemmNT takes it)
// for GemmPacked, once, when the weights are loaded: panels of PanelWidth units,
// each stored k-major (the PanelWidth values of column p, then of p+1, ...), with
// zeros past unit n. dst holds at least PackedLen(n, k) values.
func PackNT(dst, b []float32, n, k int) {
	dst = dst[:PackedLen(n, k)]
	for q := 0; q*PanelWidth < n; q++ {
		panel := dst[q*PanelWidth*k : (q+1)*PanelWidth*k]
		for t := 0; t < PanelWidth; t++ {
			j := q*PanelWidth + t
			for p := 0; p < k; p++ {
				v := float32(0)
				if j < n {
					v = b[j*k+p]
				}
				panel[p*PanelWidth+t] = v
			}
		}
	}
}

// GemmPacked is GemmNT with B packed by PackNT: C = A * B^T (+ C when acc), A m x k,
// C m x n. It is the batched-step GEMM: the packed layout lets the kernel keep a
// 4 x 32 tile of C in registers and stream A and B once per tile.
func GemmPacked(c, a, bp []float32, m, n, k int, acc bool) { cur.gemmPacked(c, a, k, bp, m, n, k, acc) }

// SparseGroup is the number of rows of A that share one column list in
// GemmPackedSparse.
const SparseGroup = 8

// GemmPackedSparse is GemmPacked (C = A B^T, B packed, no accumulation) for an A
// whose first k0 columns are mostly zeros: the rows of group g (rows
// SparseGroup*g to SparseGroup*g+SparseGroup-1) have nonzero values below
// column k0 only in the columns cols[off[g]:off[g+1]] (ascending, each < k0);
// columns k0 to k-1 are always summed. A kernel may skip the other columns
// below k0 (the AVX-512 one does, for full groups) or sum them (they are
// zeros), so the caller must list every nonzero one. off holds
// m/SparseGroup+1 values.
func GemmPackedSparse(c, a, bp []float32, m, n, k, k0 int, cols []int32, off []int) {
	cur.gemmSparse(c, a, bp, m, n, k, k0, cols, off)
}

// gemmSparseDense is GemmPackedSparse for kernels without a column list: every
// column is summed.
func gemmSparseDense(gemm func(c, a []float32, lda int, bp []float32, m, n, k int, acc bool)) func(c, a, bp []float32, m, n, k, k0 int, cols []int32, off []int) {
	return func(c, a, bp []float32, m, n, k, _ int, _ []int32, _ []int) { gemm(c, a, k, bp, m, n, k, false) }
}
