//go:build goexperiment.simd && amd64 && !purego

#include "textflag.h"

// The AVX-512 nonlinearities in assembly, 16 lanes a block. Sigmoid is the
// Cephes-style exp of exp16 and sigmoidVec16 (same constants and clamps); tanh
// is a rational approximation (TANHZ), 19 vector operations where tanhVec16's
// two branches take about 33. NaN stays NaN. Written here so that nothing
// spills: archsimd's versions are calls (too large to inline) with every vector
// register saved around them, and their divisions are VDIVPS, about 10 cycles
// each on this core. Here 1/d is VRCP14PS refined by one Newton step
// (y = y0 + y0 (1 - d y0), relative error about 2^-28 before rounding) and 2^n
// is VSCALEFPS. The constants are 4-byte scalars in ·kc (embedded broadcasts);
// their offsets follow the order of kc in nonlin_amd64.go.

#define C_LOG2E ·kc+0(SB)
#define C_NLN2HI ·kc+4(SB)
#define C_NLN2LO ·kc+8(SB)
#define C_P0 ·kc+12(SB)
#define C_P1 ·kc+16(SB)
#define C_P2 ·kc+20(SB)
#define C_P3 ·kc+24(SB)
#define C_P4 ·kc+28(SB)
#define C_P5 ·kc+32(SB)
#define C_ONE ·kc+36(SB)
#define C_EXPLO ·kc+40(SB)
#define C_EXPHI ·kc+44(SB)
#define C_MINUS1 ·kc+48(SB)
#define C_A13 ·kc+52(SB)
#define C_A11 ·kc+56(SB)
#define C_A9 ·kc+60(SB)
#define C_A7 ·kc+64(SB)
#define C_A5 ·kc+68(SB)
#define C_A3 ·kc+72(SB)
#define C_A1 ·kc+76(SB)
#define C_B6 ·kc+80(SB)
#define C_B4 ·kc+84(SB)
#define C_B2 ·kc+88(SB)
#define C_B0 ·kc+92(SB)
#define C_TANHMAX ·kc+96(SB)

// Registers held for a whole call: 1, -1, expLo, expHi and +-tanhMax (clamps take the input as
// their second source, so a NaN input passes through).
#define ONE Z31
#define ZLO Z30
#define ZHI Z29
#define ZTMAX Z28
#define ZTMIN Z27
#define ZMONE Z26

#define LOADK \
	VBROADCASTSS C_ONE, ONE; \
	VBROADCASTSS C_EXPLO, ZLO; \
	VBROADCASTSS C_EXPHI, ZHI; \
	VBROADCASTSS C_TANHMAX, ZTMAX; \
	VBROADCASTSS C_MINUS1, ZMONE; \
	VMULPS ZMONE, ZTMAX, ZTMIN

// EXPZ sets P = e^X for X already clamped to [expLo, expHi]; X is clobbered
// (left holding the reduced argument r), N and T are scratch.
#define EXPZ(X, N, P, T) \
	VMULPS.BCST C_LOG2E, X, N; \
	VRNDSCALEPS $0, N, N; \
	VFMADD231PS.BCST C_NLN2HI, N, X; \
	VFMADD231PS.BCST C_NLN2LO, N, X; \
	VBROADCASTSS C_P0, P; \
	VFMADD213PS.BCST C_P1, X, P; \
	VFMADD213PS.BCST C_P2, X, P; \
	VFMADD213PS.BCST C_P3, X, P; \
	VFMADD213PS.BCST C_P4, X, P; \
	VFMADD213PS.BCST C_P5, X, P; \
	VMULPS X, X, T; \
	VFMADD213PS X, T, P; \
	VADDPS ONE, P, P; \
	VSCALEFPS N, P, P

// RECIP sets X = 1/D (D clobbered).
#define RECIP(D, X) \
	VRCP14PS D, X; \
	VFNMADD213PS ONE, X, D; \
	VFMADD231PS D, X, X

// SIGMOIDZ replaces X by 1/(1 + e^-X); N, P and T are scratch.
#define SIGMOIDZ(X, N, P, T) \
	VMULPS.BCST C_MINUS1, X, X; \
	VMAXPS X, ZLO, X; \
	VMINPS X, ZHI, X; \
	EXPZ(X, N, P, T); \
	VADDPS ONE, P, P; \
	RECIP(P, X)

// TANHZ sets OUT = tanh(X), X clobbered (clamped), Q, T and Y scratch: the
// odd/even rational approximation p(x)/q(x) of degrees 13 and 6 that Eigen and
// ONNX Runtime's MLAS use, on x clamped to [-9, 9], the quotient as p y0 refined
// by its residual (y0 = VRCP14PS q), the result clamped to [-1, 1].
#define TANHZ(X, OUT, Q, T, Y) \
	VMAXPS X, ZTMIN, X; \
	VMINPS X, ZTMAX, X; \
	VMULPS X, X, T; \
	VBROADCASTSS C_A13, OUT; \
	VFMADD213PS.BCST C_A11, T, OUT; \
	VFMADD213PS.BCST C_A9, T, OUT; \
	VFMADD213PS.BCST C_A7, T, OUT; \
	VFMADD213PS.BCST C_A5, T, OUT; \
	VFMADD213PS.BCST C_A3, T, OUT; \
	VFMADD213PS.BCST C_A1, T, OUT; \
	VMULPS X, OUT, OUT; \
	VBROADCASTSS C_B6, Q; \
	VFMADD213PS.BCST C_B4, T, Q; \
	VFMADD213PS.BCST C_B2, T, Q; \
	VFMADD213PS.BCST C_B0, T, Q; \
	VRCP14PS Q, Y; \
	VMULPS Y, OUT, T; \
	VFNMADD231PS T, Q, OUT; \
	VFMADD213PS T, Y, OUT; \
	VMAXPS OUT, ZMONE, OUT; \
	VMINPS OUT, ONE, OUT

// BLOCKS_BEGIN and BLOCKS_NEXT frame an element-wise loop over n blocks of 16
// floats from SI to DI (arguments dst, src, n).
#define BLOCKS_BEGIN \
	MOVQ dst+0(FP), DI; \
	MOVQ src+8(FP), SI; \
	MOVQ n+16(FP), CX; \
	LOADK

#define BLOCKS_NEXT(label) \
	ADDQ $64, SI; \
	ADDQ $64, DI; \
	DECQ CX; \
	JNZ label; \
	VZEROUPPER; \
	RET

// func sigmoidBlocks(dst, src *float32, n int)
// dst[i] = sigmoid(src[i]) for i < 16n; n > 0.
TEXT ·sigmoidBlocks(SB), NOSPLIT, $0-24
	BLOCKS_BEGIN
sloop:
	VMOVUPS (SI), Z0
	SIGMOIDZ(Z0, Z1, Z2, Z3)
	VMOVUPS Z0, (DI)
	BLOCKS_NEXT(sloop)

// func tanhBlocks(dst, src *float32, n int)
// dst[i] = tanh(src[i]) for i < 16n; n > 0.
TEXT ·tanhBlocks(SB), NOSPLIT, $0-24
	BLOCKS_BEGIN
tloop:
	VMOVUPS (SI), Z0
	TANHZ(Z0, Z1, Z2, Z3, Z4)
	VMOVUPS Z1, (DI)
	BLOCKS_NEXT(tloop)

// CELL16 is the LSTM cell on one block of 16 units whose gates are in Z0 (i),
// Z6 (o), Z10 (f) and Z14 (c gate): c at DI is updated, h at DX is set.
// The five nonlinearities of a block are independent until the end, so the
// core overlaps them.
#define CELL16 \
	SIGMOIDZ(Z0, Z1, Z2, Z3); \
	SIGMOIDZ(Z6, Z7, Z8, Z9); \
	SIGMOIDZ(Z10, Z11, Z12, Z13); \
	TANHZ(Z14, Z15, Z16, Z17, Z18); \
	VMULPS (DI), Z10, Z10; \
	VFMADD231PS Z15, Z0, Z10; \
	VMOVUPS Z10, (DI); \
	TANHZ(Z10, Z20, Z21, Z22, Z23); \
	VMULPS Z20, Z6, Z6; \
	VMOVUPS Z6, (DX)

// func lstmCellBlocks(gates, c, h *float32, hidden, n int)
// The LSTM cell (gates i, o, f, c at g, g+hidden, g+2 hidden, g+3 hidden) on
// units 0 .. 16n-1 of one row: c = f c + i tanh(gc), h = o tanh(c); n > 0.
TEXT ·lstmCellBlocks(SB), NOSPLIT, $0-40
	MOVQ gates+0(FP), SI
	MOVQ c+8(FP), DI
	MOVQ h+16(FP), DX
	MOVQ hidden+24(FP), R8
	MOVQ n+32(FP), CX
	SHLQ $2, R8 // bytes between gates
	LEAQ (SI)(R8*2), R9 // gate f
	LOADK
cloop:
	VMOVUPS (SI), Z0        // i
	VMOVUPS (SI)(R8*1), Z6  // o
	VMOVUPS (R9), Z10       // f
	VMOVUPS (R9)(R8*1), Z14 // c gate
	CELL16
	ADDQ $64, SI
	ADDQ $64, R9
	ADDQ $64, DI
	ADDQ $64, DX
	DECQ CX
	JNZ cloop
	VZEROUPPER
	RET

// func lstmCellAddBlocks(gates, add, c, h *float32, hidden, n int)
// lstmCellBlocks on gates + add (both laid out [i, o, f, c] with hidden
// units per gate); gates is only read.
TEXT ·lstmCellAddBlocks(SB), NOSPLIT, $0-48
	MOVQ gates+0(FP), SI
	MOVQ add+8(FP), AX
	MOVQ c+16(FP), DI
	MOVQ h+24(FP), DX
	MOVQ hidden+32(FP), R8
	MOVQ n+40(FP), CX
	SHLQ $2, R8 // bytes between gates
	LEAQ (SI)(R8*2), R9  // gate f
	LEAQ (AX)(R8*2), R10 // its addend
	LOADK
aloop:
	VMOVUPS (SI), Z0
	VADDPS (AX), Z0, Z0
	VMOVUPS (SI)(R8*1), Z6
	VADDPS (AX)(R8*1), Z6, Z6
	VMOVUPS (R9), Z10
	VADDPS (R10), Z10, Z10
	VMOVUPS (R9)(R8*1), Z14
	VADDPS (R10)(R8*1), Z14, Z14
	CELL16
	ADDQ $64, SI
	ADDQ $64, AX
	ADDQ $64, R9
	ADDQ $64, R10
	ADDQ $64, DI
	ADDQ $64, DX
	DECQ CX
	JNZ aloop
	VZEROUPPER
	RET
