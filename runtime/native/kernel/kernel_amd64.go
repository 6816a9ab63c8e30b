//go:build goexperiment.simd && amd64 && !purego

package kernel

import "simd/archsimd"

// Every entry point ends with VZEROUPPER (archsimd.ClearAVXUpperBits): Go's own
// scalar float code is legacy SSE, and running it with the upper halves of the
// vector registers dirty costs about 150 ns per switch on this machine (measured:
// a zero constant, which Go builds with XORPS, inside the sigmoid loop made it 18x
// slower). The compiler does not insert the instruction yet.

// lanes is one vector width's kernels, as the files of this package write them.
type lanes struct {
	name       string
	matVec     func(y, w, x, b1, b2 []float32, rows, cols int, acc bool)
	gemmNT     func(c, a, b []float32, m, n, k int, acc bool)
	gemmPacked func(c, a []float32, lda int, bp []float32, m, n, k int, acc bool)
	gemmSparse func(c, a, bp []float32, m, n, k, k0 int, cols []int32, off []int)
	addBias    func(x, b []float32, m, n int)
	sigmoid    func(dst, src []float32)
	tanh       func(dst, src []float32)
	softmax    func(x []float32)
	lstmCell   func(g, c, h []float32, hidden int)
	cellAdd    func(g, add, c, h []float32, hidden int)
	oneHot     func(x []float32) int
}

// avx512 uses 16-lane vectors (AVX-512 F, CD, BW, DQ and VL, as archsimd bundles
// them); avx2 uses 8-lane vectors with FMA.
var (
	avx512 = simdImpl(lanes{"avx512", matVec16, gemmNT16, gemmPacked16, gemmSparse16, addBias16, sigmoid16, tanh16, softmax16, lstmCell16, lstmCellAdd16, oneHot16})
	avx2   = simdImpl(lanes{"avx2", matVec8, gemmNT8, gemmPacked8, gemmSparseDense(gemmPacked8), addBias8, sigmoid8, tanh8, softmax8, lstmCell8, cellAdd(addBias8, lstmCell8), oneHotGeneric})
)

// simdImpl adapts l to the package's entry points, each ending with VZEROUPPER.
func simdImpl(l lanes) impl {
	vz := archsimd.ClearAVXUpperBits
	return impl{
		name: l.name,
		matVec: func(y, w, x, b []float32, rows, cols int) {
			l.matVec(y, w, x, b, nil, rows, cols, false)
			vz()
		},
		matVecAdd: func(y, w, x []float32, rows, cols int) {
			l.matVec(y, w, x, nil, nil, rows, cols, true)
			vz()
		},
		gemmNT: func(c, a, b []float32, m, n, k int, acc bool) { l.gemmNT(c, a, b, m, n, k, acc); vz() },
		gemmPacked: func(c, a []float32, lda int, bp []float32, m, n, k int, acc bool) {
			l.gemmPacked(c, a, lda, bp, m, n, k, acc)
			vz()
		},
		gemmSparse: func(c, a, bp []float32, m, n, k, k0 int, cols []int32, off []int) {
			l.gemmSparse(c, a, bp, m, n, k, k0, cols, off)
			vz()
		},
		addBias:  func(x, b []float32, m, n int) { l.addBias(x, b, m, n); vz() },
		sigmoid:  func(dst, src []float32) { l.sigmoid(dst, src); vz() },
		tanh:     func(dst, src []float32) { l.tanh(dst, src); vz() },
		softmax:  func(x []float32) { l.softmax(x); vz() },
		lstmCell: func(g, c, h []float32, hidden int) { l.lstmCell(g, c, h, hidden); vz() },
		oneHot:   l.oneHot, // clears the upper halves itself, before its scalar part
		lstmCellAdd: func(g, add, c, h []float32, hidden int) {
			l.cellAdd(g, add, c, h, hidden)
			vz()
		},
		lstmStep: func(g, c, h, r, b, col []float32, hidden int) {
			l.matVec(g, r, h, b, col, 4*hidden, hidden, false)
			l.lstmCell(g, c, h, hidden)
			vz()
		},
	}
}

// available lists the kernel sets this CPU can run, fastest first.
func available() []impl {
	var sets []impl
	if archsimd.X86.AVX512() {
		sets = append(sets, avx512)
	}
	if archsimd.X86.AVX2() && archsimd.X86.FMA() {
		sets = append(sets, avx2)
	}
	return append(sets, generic)
}

func best() impl { return available()[0] }
