//go:build goexperiment.simd && amd64 && !purego

package kernel

import (
	"simd/archsimd"
	"unsafe"
)

// gemmPacked16 computes C = A B^T (+ C) from B packed by PackNT: groups of 8 rows
// by tile8x32c (assembly, 16 accumulators), the rest in tiles of 4
// rows x 32 columns of C held in 8 registers: for each p, two loads of the panel
// (B's column p for 32 units, contiguous), four broadcasts of A[i..i+3][p] and 8
// FMAs (the outer-product form). A panel (16 KB at k = 128) stays in L1 while the
// rows of A stream past it. Rows past m repeat the tile's first row and are not
// stored; units past n are zeros in the panel and are not stored.
func gemmPacked16(c, a []float32, lda int, bp []float32, m, n, k int, acc bool) {
	gemmCols16(c, a, lda, bp, m, n, k, acc, 0, nil, nil)
}

// gemmSparse16 is GemmPackedSparse with 16 lanes: each group of 8 rows takes
// only its listed columns below k0 (tile8x32c's index loop); the last m mod 8
// rows take every column.
func gemmSparse16(c, a, bp []float32, m, n, k, k0 int, cols []int32, off []int) {
	if m >= SparseGroup && k > k0 {
		_ = off[m/SparseGroup]
		for _, j := range cols[:off[m/SparseGroup]] {
			if int(j) >= k0 {
				panic("kernel: GemmPackedSparse column past k0")
			}
		}
	}
	gemmCols16(c, a, k, bp, m, n, k, false, k0, cols, off)
}

// gemmCols16 is gemmPacked16 where, with off != nil and k > k0, the group of 8
// rows g uses only the columns cols[off[g]:off[g+1]] below k0.
func gemmCols16(c, a []float32, lda int, bp []float32, m, n, k int, acc bool, k0 int, cols []int32, off []int) {
	if off == nil || k <= k0 {
		k0, cols, off = 0, nil, nil
	}
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 {
		gemmPackedGeneric(c, a, lda, bp, m, n, k, acc)
		return
	}
	_, _, _ = a[(m-1)*lda+k-1], c[m*n-1], bp[PackedLen(n, k)-1]
	ast, cst, kb := uintptr(lda)*4, uintptr(n)*4, uintptr(k)*4
	var out [8 * PanelWidth]float32
	for q := 0; q*PanelWidth < n; q++ {
		panel := unsafe.Pointer(&bp[q*PanelWidth*k])
		units := min(PanelWidth, n-q*PanelWidth)
		col := q * PanelWidth
		i := 0
		for ; i+8 <= m; i += 8 {
			var idx unsafe.Pointer
			nidx := 0
			if off != nil {
				if g := cols[off[i/8]:off[i/8+1]]; len(g) > 0 {
					idx, nidx = unsafe.Pointer(&g[0]), len(g)
				}
			}
			if units == PanelWidth {
				tile8x32c(unsafe.Pointer(&a[i*lda]), ast, panel, k, unsafe.Pointer(&c[i*n+col]), cst, acc, idx, nidx, k0)
				continue
			}
			if units <= 16 && nidx == 0 && k0 == 0 {
				tile8x16(unsafe.Pointer(&a[i*lda]), ast, panel, k, unsafe.Pointer(&out))
				for r := range 8 {
					storeTile16(c[(i+r)*n+col:], archsimd.LoadFloat32x16Slice(out[r*16:]), archsimd.Float32x16{}, units, acc)
				}
				continue
			}
			tile8x32c(unsafe.Pointer(&a[i*lda]), ast, panel, k, unsafe.Pointer(&out), PanelWidth*4, false, idx, nidx, k0)
			for r := range 8 {
				o := out[r*PanelWidth : (r+1)*PanelWidth]
				storeTile16(c[(i+r)*n+col:], archsimd.LoadFloat32x16Slice(o), archsimd.LoadFloat32x16Slice(o[16:]), units, acc)
			}
		}
		for ; i < m; i += 4 {
			a0 := unsafe.Pointer(&a[i*lda])
			a1, a2, a3 := rest3(a0, m-i, ast)
			c00, c01, c10, c11, c20, c21, c30, c31 := tile16(a0, a1, a2, a3, panel, kb)
			rows := min(4, m-i)
			storeTile16(c[i*n+col:], c00, c01, units, acc)
			if rows > 1 {
				storeTile16(c[(i+1)*n+col:], c10, c11, units, acc)
			}
			if rows > 2 {
				storeTile16(c[(i+2)*n+col:], c20, c21, units, acc)
			}
			if rows > 3 {
				storeTile16(c[(i+3)*n+col:], c30, c31, units, acc)
			}
		}
	}
}

// tile8x32c (gemm8_amd64.s) sets (or adds to, when acc) 8 rows of 32 floats
// at c (cst bytes apart) the 8 x 32 tile of A B^T for the 8 rows of A from a
// (ast bytes apart) and one panel of a packed B, k > 0: straight into C for a
// full panel, into out (then copied) for a ragged one. It is assembly:
// With nidx > 0 only the columns at idx (int32) and k0..k-1 are summed.
// Go's compiler gives archsimd code only Z0-Z14, never folds a broadcast load
// and puts an FMA's result in its multiplicand, so its 4 x 32 tile (tile16) spends
// more instructions on register moves than on FMAs.
//
// tile8x16 (gemm8_amd64.s) is tile8x32c for the first 16 units of a panel,
// without index lists, into out (8 rows of 16 floats).
//
//go:noescape
func tile8x16(a unsafe.Pointer, ast uintptr, panel unsafe.Pointer, k int, out unsafe.Pointer)

//go:noescape
func tile8x32c(a unsafe.Pointer, ast uintptr, panel unsafe.Pointer, k int, c unsafe.Pointer, cst uintptr, acc bool, idx unsafe.Pointer, nidx, k0 int)

// storeTile16 sets (or adds to) the first cols <= 32 values of dst from lo and hi.
func storeTile16(dst []float32, lo, hi archsimd.Float32x16, cols int, acc bool) {
	if cols == 32 {
		if acc {
			lo = lo.Add(archsimd.LoadFloat32x16Slice(dst))
			hi = hi.Add(archsimd.LoadFloat32x16Slice(dst[16:]))
		}
		lo.StoreSlice(dst)
		hi.StoreSlice(dst[16:])
		return
	}
	d0 := dst[:min(16, cols)]
	if acc {
		lo = lo.Add(loadPart16(d0))
	}
	storePart16(lo, d0)
	if cols > 16 {
		d1 := dst[16:cols]
		if acc {
			hi = hi.Add(loadPart16(d1))
		}
		storePart16(hi, d1)
	}
}

// gemmPacked8 is gemmPacked16 with 8-lane vectors: a tile of 4 rows x 16 columns
// (half a panel) in 8 registers, each panel taken in two halves.
func gemmPacked8(c, a []float32, lda int, bp []float32, m, n, k int, acc bool) {
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 {
		gemmPackedGeneric(c, a, lda, bp, m, n, k, acc)
		return
	}
	_, _, _ = a[(m-1)*lda+k-1], c[m*n-1], bp[PackedLen(n, k)-1]
	ast, kb := uintptr(lda)*4, uintptr(k)*4
	for q := 0; q*PanelWidth < n; q++ {
		for h := 0; h < PanelWidth && q*PanelWidth+h < n; h += 16 {
			panel := unsafe.Pointer(&bp[q*PanelWidth*k+h])
			cols := min(16, n-q*PanelWidth-h)
			for i := 0; i < m; i += 4 {
				a0 := unsafe.Pointer(&a[i*lda])
				a1, a2, a3 := rest3(a0, m-i, ast)
				c00, c01, c10, c11, c20, c21, c30, c31 := tile8(a0, a1, a2, a3, panel, kb)
				col := q*PanelWidth + h
				rows := min(4, m-i)
				storeTile8(c[i*n+col:], c00, c01, cols, acc)
				if rows > 1 {
					storeTile8(c[(i+1)*n+col:], c10, c11, cols, acc)
				}
				if rows > 2 {
					storeTile8(c[(i+2)*n+col:], c20, c21, cols, acc)
				}
				if rows > 3 {
					storeTile8(c[(i+3)*n+col:], c30, c31, cols, acc)
				}
			}
		}
	}
}

func storeTile8(dst []float32, lo, hi archsimd.Float32x8, cols int, acc bool) {
	d0 := dst[:min(8, cols)]
	if acc {
		lo = lo.Add(loadPart8(d0))
	}
	storePart8(lo, d0)
	if cols > 8 {
		d1 := dst[8:cols]
		if acc {
			hi = hi.Add(loadPart8(d1))
		}
		storePart8(hi, d1)
	}
}

// tile16 is the inner loop of gemmPacked16 for the last rows, on its own so that its registers are
// all it holds: the row addresses of A, the panel address and the 8 sums.
//
//go:noinline
func tile16(a0, a1, a2, a3, panel unsafe.Pointer, kb uintptr) (c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x16) {
	for p, pb := uintptr(0), panel; ; pb = unsafe.Add(pb, PanelWidth*4) {
		b0, b1 := load16(pb, 0), load16(pb, 64)
		x := archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Add(a0, p)))
		c00, c01 = x.MulAdd(b0, c00), x.MulAdd(b1, c01)
		x = archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Add(a1, p)))
		c10, c11 = x.MulAdd(b0, c10), x.MulAdd(b1, c11)
		x = archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Add(a2, p)))
		c20, c21 = x.MulAdd(b0, c20), x.MulAdd(b1, c21)
		x = archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Add(a3, p)))
		c30, c31 = x.MulAdd(b0, c30), x.MulAdd(b1, c31)
		if p += 4; p == kb { // stop before pb moves past the panel
			break
		}
	}
	return c00, c01, c10, c11, c20, c21, c30, c31
}

// tile8 is tile16 with 8 lanes: 4 rows x 16 columns.
//
//go:noinline
func tile8(a0, a1, a2, a3, panel unsafe.Pointer, kb uintptr) (c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x8) {
	for p, pb := uintptr(0), panel; ; pb = unsafe.Add(pb, PanelWidth*4) {
		b0, b1 := load8(pb, 0), load8(pb, 32)
		x := archsimd.BroadcastFloat32x8(*(*float32)(unsafe.Add(a0, p)))
		c00, c01 = x.MulAdd(b0, c00), x.MulAdd(b1, c01)
		x = archsimd.BroadcastFloat32x8(*(*float32)(unsafe.Add(a1, p)))
		c10, c11 = x.MulAdd(b0, c10), x.MulAdd(b1, c11)
		x = archsimd.BroadcastFloat32x8(*(*float32)(unsafe.Add(a2, p)))
		c20, c21 = x.MulAdd(b0, c20), x.MulAdd(b1, c21)
		x = archsimd.BroadcastFloat32x8(*(*float32)(unsafe.Add(a3, p)))
		c30, c31 = x.MulAdd(b0, c30), x.MulAdd(b1, c31)
		if p += 4; p == kb {
			break
		}
	}
	return c00, c01, c10, c11, c20, c21, c30, c31
}
