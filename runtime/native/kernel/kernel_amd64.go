//go:build goexperiment.simd && amd64 && !purego

package kernel

import "simd/archsimd"

// avx512 uses 16-lane vectors (AVX-512 F, CD, BW, DQ and VL, as archsimd bundles them).
var avx512 = impl{
	name:      "avx512",
	matVec:    func(y, w, x, b []float32, rows, cols int) { matVec16(y, w, x, b, nil, rows, cols, false) },
	matVecAdd: func(y, w, x []float32, rows, cols int) { matVec16(y, w, x, nil, nil, rows, cols, true) },
	gemmNT:    gemmNT16,
	addBias:   addBias16,
	sigmoid:   sigmoid16,
	tanh:      tanh16,
	softmax:   softmax16,
	lstmCell:  lstmCell16,
	lstmStep: func(g, c, h, r, b, col []float32, hidden int) {
		matVec16(g, r, h, b, col, 4*hidden, hidden, false)
		lstmCell16(g, c, h, hidden)
	},
}

// avx2 uses 8-lane vectors with FMA.
var avx2 = impl{
	name:      "avx2",
	matVec:    func(y, w, x, b []float32, rows, cols int) { matVec8(y, w, x, b, nil, rows, cols, false) },
	matVecAdd: func(y, w, x []float32, rows, cols int) { matVec8(y, w, x, nil, nil, rows, cols, true) },
	gemmNT:    gemmNT8,
	addBias:   addBias8,
	sigmoid:   sigmoid8,
	tanh:      tanh8,
	softmax:   softmax8,
	lstmCell:  lstmCell8,
	lstmStep: func(g, c, h, r, b, col []float32, hidden int) {
		matVec8(g, r, h, b, col, 4*hidden, hidden, false)
		lstmCell8(g, c, h, hidden)
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
