// Package avx keeps Go's scalar math fast in a binary built with GOEXPERIMENT=simd.
//
// math.Exp's amd64 assembly mixes VEX-encoded FMAs with legacy SSE
// instructions. When the upper halves of the vector registers are dirty, each
// switch between the two encodings costs an AVX-SSE transition. Both the
// archsimd code the compiler emits and the runtime's asynchronous preemption
// (which restores the vector registers in a GOEXPERIMENT=simd build) leave them
// dirty, and on this project's AVX-512 machine math.Exp then takes 1.1 to 1.4 µs
// instead of 9 to 15 ns (a probe binary of one million calls, with and without
// GODEBUG=asyncpreemptoff=1). ClearUpper (VZEROUPPER) before a loop of math.Exp
// calls ends that state; it costs about a cycle.
package avx
