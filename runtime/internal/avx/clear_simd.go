//go:build goexperiment.simd && amd64

package avx

import "simd/archsimd"

var hasAVX = archsimd.X86.AVX()

// ClearUpper zeroes the upper halves of the vector registers (VZEROUPPER),
// so the legacy SSE code that follows pays no transition.
func ClearUpper() {
	if hasAVX {
		archsimd.ClearAVXUpperBits()
	}
}
