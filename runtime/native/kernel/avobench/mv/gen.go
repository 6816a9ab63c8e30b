// Package mv is route B of the kernel choice (docs/native.md, "Kernels"): the
// 512x128 recurrent mat-vec of the char model written as avo-generated AVX-512
// assembly, benchmarked against the archsimd kernel in the same run. It is its own
// module, so the main module does not depend on avo.
package mv

//go:generate go run ../gen -out mv_amd64.s -stubs stub_amd64.go -pkg mv
