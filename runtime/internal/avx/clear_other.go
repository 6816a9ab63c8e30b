//go:build !(goexperiment.simd && amd64)

package avx

// ClearUpper does nothing: without GOEXPERIMENT=simd on amd64 no Go code
// leaves the upper halves of the vector registers dirty.
func ClearUpper() {}
