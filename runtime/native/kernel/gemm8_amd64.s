//go:build goexperiment.simd && amd64 && !purego

#include "textflag.h"

// ROWADD adds the C row at BX to (lo, hi) and moves BX to the next row.
#define ROWADD(lo, hi) \
	VADDPS (BX), lo, lo; \
	VADDPS 64(BX), hi, hi; \
	ADDQ DX, BX

// ROWSTORE stores (lo, hi) to the C row at DI and moves DI to the next row.
#define ROWSTORE(lo, hi) \
	VMOVUPS lo, (DI); \
	VMOVUPS hi, 64(DI); \
	ADDQ DX, DI

// BCAST8 broadcasts column p of the 8 rows of A, whose addresses are r0,
// r0+R9, r0+2*R9, r3, r3+R9, r3+2*R9, r6 and r6+R9, into Z18-Z25.
#define BCAST8(r0, r3, r6) \
	VBROADCASTSS (r0), Z18; \
	VBROADCASTSS (r0)(R9*1), Z19; \
	VBROADCASTSS (r0)(R9*2), Z20; \
	VBROADCASTSS (r3), Z21; \
	VBROADCASTSS (r3)(R9*1), Z22; \
	VBROADCASTSS (r3)(R9*2), Z23; \
	VBROADCASTSS (r6), Z24; \
	VBROADCASTSS (r6)(R9*1), Z25

// FMA16 adds the outer product of B's two vectors Z16-Z17 and the 8 broadcasts
// Z18-Z25 to the accumulators Z0-Z15.
#define FMA16 \
	VFMADD231PS Z16, Z18, Z0; \
	VFMADD231PS Z17, Z18, Z1; \
	VFMADD231PS Z16, Z19, Z2; \
	VFMADD231PS Z17, Z19, Z3; \
	VFMADD231PS Z16, Z20, Z4; \
	VFMADD231PS Z17, Z20, Z5; \
	VFMADD231PS Z16, Z21, Z6; \
	VFMADD231PS Z17, Z21, Z7; \
	VFMADD231PS Z16, Z22, Z8; \
	VFMADD231PS Z17, Z22, Z9; \
	VFMADD231PS Z16, Z23, Z10; \
	VFMADD231PS Z17, Z23, Z11; \
	VFMADD231PS Z16, Z24, Z12; \
	VFMADD231PS Z17, Z24, Z13; \
	VFMADD231PS Z16, Z25, Z14; \
	VFMADD231PS Z17, Z25, Z15

// TILE_BEGIN loads a tile's first four arguments (a, ast, panel, k: the rows
// of A at R8, R10 (rows 3-5) and R11 (rows 6-7), R9 apart; the panel at SI; k in
// CX) and zeroes the accumulators Z0-Z7.
#define TILE_BEGIN \
	MOVQ a+0(FP), R8; \
	MOVQ ast+8(FP), R9; \
	MOVQ panel+16(FP), SI; \
	MOVQ k+24(FP), CX; \
	LEAQ (R8)(R9*2), R10; \
	ADDQ R9, R10; \
	LEAQ (R10)(R9*2), R11; \
	ADDQ R9, R11; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7

// func tile8x32c(a unsafe.Pointer, ast uintptr, panel unsafe.Pointer, k int, c unsafe.Pointer, cst uintptr, acc bool, idx unsafe.Pointer, nidx, k0 int)
//
// The 8 x 32 tile of A B^T for rows a, a+ast, ..., a+7*ast of A (k floats
// each) and one panel of a packed B (k-major, 32 floats per p), stored straight
// into rows c, c+cst, ..., c+7*cst of C (32 floats each), added to what they
// hold when acc. Accumulators in Z0-Z15, B's two vectors in Z16-Z17, each A
// element broadcast from memory once into Z18-Z25 (a load-port-only
// VBROADCASTSS), 16 FMAs per p. Only the columns p of idx (nidx int32 values,
// each < k0) and k0 <= p < k enter the sum: the caller knows the 8 rows are
// zero in the other columns below k0. k > k0.
TEXT ·tile8x32c(SB), NOSPLIT, $0-80
	TILE_BEGIN
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	MOVQ idx+56(FP), R12
	MOVQ nidx+64(FP), R13
	TESTQ R13, R13
	JZ dense
iloop:
	MOVLQZX (R12), AX
	SHLQ $2, AX // column p in bytes of A
	MOVQ AX, BX
	SHLQ $5, BX // and of the panel (32 floats per p)
	VMOVUPS (SI)(BX*1), Z16
	VMOVUPS 64(SI)(BX*1), Z17
	LEAQ (R8)(AX*1), R14
	LEAQ (R10)(AX*1), DX
	LEAQ (R11)(AX*1), DI
	BCAST8(R14, DX, DI)
	FMA16
	ADDQ $4, R12
	DECQ R13
	JNZ iloop
dense:
	MOVQ k0+72(FP), AX
	SUBQ AX, CX
	SHLQ $2, AX
	ADDQ AX, R8
	ADDQ AX, R10
	ADDQ AX, R11
	SHLQ $5, AX
	ADDQ AX, SI
loop:
	VMOVUPS (SI), Z16
	VMOVUPS 64(SI), Z17
	BCAST8(R8, R10, R11)
	FMA16
	ADDQ $4, R8
	ADDQ $4, R10
	ADDQ $4, R11
	ADDQ $128, SI
	DECQ CX
	JNZ loop
	MOVQ c+32(FP), DI
	MOVQ cst+40(FP), DX
	MOVBLZX acc+48(FP), AX
	TESTQ AX, AX
	JZ cstore
	MOVQ DI, BX
	ROWADD(Z0, Z1)
	ROWADD(Z2, Z3)
	ROWADD(Z4, Z5)
	ROWADD(Z6, Z7)
	ROWADD(Z8, Z9)
	ROWADD(Z10, Z11)
	ROWADD(Z12, Z13)
	ROWADD(Z14, Z15)
cstore:
	ROWSTORE(Z0, Z1)
	ROWSTORE(Z2, Z3)
	ROWSTORE(Z4, Z5)
	ROWSTORE(Z6, Z7)
	ROWSTORE(Z8, Z9)
	ROWSTORE(Z10, Z11)
	ROWSTORE(Z12, Z13)
	ROWSTORE(Z14, Z15)
	VZEROUPPER
	RET

// FMA8 is FMA16 for the first 16 units of a panel only (B's vector in Z16).
#define FMA8 \
	VFMADD231PS Z16, Z18, Z0; \
	VFMADD231PS Z16, Z19, Z1; \
	VFMADD231PS Z16, Z20, Z2; \
	VFMADD231PS Z16, Z21, Z3; \
	VFMADD231PS Z16, Z22, Z4; \
	VFMADD231PS Z16, Z23, Z5; \
	VFMADD231PS Z16, Z24, Z6; \
	VFMADD231PS Z16, Z25, Z7

// func tile8x16(a unsafe.Pointer, ast uintptr, panel unsafe.Pointer, k int, out unsafe.Pointer)
//
// tile8x32c without index lists and for the first 16 units of the panel only
// (a ragged last panel of at most 16 units, such as the 6 of a 70-unit Dense
// layer): half the FMAs. The 8 rows of 16 floats go to out, 16 floats apart.
TEXT ·tile8x16(SB), NOSPLIT, $0-40
	TILE_BEGIN
hloop:
	VMOVUPS (SI), Z16
	BCAST8(R8, R10, R11)
	FMA8
	ADDQ $4, R8
	ADDQ $4, R10
	ADDQ $4, R11
	ADDQ $128, SI
	DECQ CX
	JNZ hloop
	MOVQ out+32(FP), DI
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	VZEROUPPER
	RET
