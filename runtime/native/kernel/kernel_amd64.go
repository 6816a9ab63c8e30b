//go:build goexperiment.simd && amd64 && !purego

package kernel

import "simd/archsimd"

// Every entry point ends with VZEROUPPER (archsimd.ClearAVXUpperBits): Go's own
// scalar float code is legacy SSE, and running it with the upper halves of the
// vector registers dirty costs about 150 ns per switch on this machine (measured:
// a zero constant, which Go builds with XORPS, inside the sigmoid loop made it 18x
// slower). The compiler does not insert the instruction yet.

// avx512 uses 16-lane vectors (AVX-512 F, CD, BW, DQ and VL, as archsimd bundles them).
var avx512 = impl{
	name: "avx512",
	matVec: func(y, w, x, b []float32, rows, cols int) {
		matVec16(y, w, x, b, nil, rows, cols, false)
		archsimd.ClearAVXUpperBits()
	},
	matVecAdd: func(y, w, x []float32, rows, cols int) {
		matVec16(y, w, x, nil, nil, rows, cols, true)
		archsimd.ClearAVXUpperBits()
	},
	gemmNT: func(c, a, b []float32, m, n, k int, acc bool) {
		gemmNT16(c, a, b, m, n, k, acc)
		archsimd.ClearAVXUpperBits()
	},
	addBias: func(x, b []float32, m, n int) {
		addBias16(x, b, m, n)
		archsimd.ClearAVXUpperBits()
	},
	sigmoid: func(dst, src []float32) {
		sigmoid16(dst, src)
		archsimd.ClearAVXUpperBits()
	},
	tanh: func(dst, src []float32) {
		tanh16(dst, src)
		archsimd.ClearAVXUpperBits()
	},
	softmax: func(x []float32) {
		softmax16(x)
		archsimd.ClearAVXUpperBits()
	},
	lstmCell: func(g, c, h []float32, hidden int) {
		lstmCell16(g, c, h, hidden)
		archsimd.ClearAVXUpperBits()
	},
	lstmStep: func(g, c, h, r, b, col []float32, hidden int) {
		matVec16(g, r, h, b, col, 4*hidden, hidden, false)
		lstmCell16(g, c, h, hidden)
		archsimd.ClearAVXUpperBits()
	},
	gemmPacked: func(c, a, bp []float32, m, n, k int, acc bool) {
		gemmPacked16(c, a, bp, m, n, k, acc)
		archsimd.ClearAVXUpperBits()
	},
}

// avx2 uses 8-lane vectors with FMA.
var avx2 = impl{
	name: "avx2",
	matVec: func(y, w, x, b []float32, rows, cols int) {
		matVec8(y, w, x, b, nil, rows, cols, false)
		archsimd.ClearAVXUpperBits()
	},
	matVecAdd: func(y, w, x []float32, rows, cols int) {
		matVec8(y, w, x, nil, nil, rows, cols, true)
		archsimd.ClearAVXUpperBits()
	},
	gemmNT: func(c, a, b []float32, m, n, k int, acc bool) {
		gemmNT8(c, a, b, m, n, k, acc)
		archsimd.ClearAVXUpperBits()
	},
	addBias: func(x, b []float32, m, n int) {
		addBias8(x, b, m, n)
		archsimd.ClearAVXUpperBits()
	},
	sigmoid: func(dst, src []float32) {
		sigmoid8(dst, src)
		archsimd.ClearAVXUpperBits()
	},
	tanh: func(dst, src []float32) {
		tanh8(dst, src)
		archsimd.ClearAVXUpperBits()
	},
	softmax: func(x []float32) {
		softmax8(x)
		archsimd.ClearAVXUpperBits()
	},
	lstmCell: func(g, c, h []float32, hidden int) {
		lstmCell8(g, c, h, hidden)
		archsimd.ClearAVXUpperBits()
	},
	lstmStep: func(g, c, h, r, b, col []float32, hidden int) {
		matVec8(g, r, h, b, col, 4*hidden, hidden, false)
		lstmCell8(g, c, h, hidden)
		archsimd.ClearAVXUpperBits()
	},
	gemmPacked: func(c, a, bp []float32, m, n, k int, acc bool) {
		gemmPacked8(c, a, bp, m, n, k, acc)
		archsimd.ClearAVXUpperBits()
	},
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
