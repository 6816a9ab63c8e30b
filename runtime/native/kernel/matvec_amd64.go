//go:build goexperiment.simd && amd64 && !purego

package kernel

import (
	"simd/archsimd"
	"unsafe"
)

// The mat-vec uses the dot-product form on row-major W: x is held in eight vector
// registers (one block of 128 columns with AVX-512, 64 with AVX2) while the rows
// of W stream past, four rows at a time, one accumulator chain per row; the four
// sums are folded together with horizontal adds into one 4-lane vector and stored
// at once. Go's register allocator uses 15 vector registers and folds no load into
// an FMA, so 8 (x) + 4 (sums) + a load is what fits. Columns past the last full
// block go through a loop that loads x as well, with a masked load for a ragged
// end; a ragged tail of rows re-reads the group's first row and stores only the
// rows that exist. Loads go through base pointers plus byte offsets, so the inner
// loops carry no bounds checks (the entry points check the slice lengths once).

// reduce4 returns [sum(a), sum(b), sum(c), sum(d)].
func reduce4(a, b, c, d archsimd.Float32x8) archsimd.Float32x4 {
	ab := a.AddPairsGrouped(b) // a01 a23 b01 b23 | a45 a67 b45 b67
	cd := c.AddPairsGrouped(d)
	t := ab.AddPairsGrouped(cd) // a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7
	return t.GetLo().Add(t.GetHi())
}

// half folds a 16-lane vector into 8 lanes with the same total.
func half(a archsimd.Float32x16) archsimd.Float32x8 { return a.GetLo().Add(a.GetHi()) }

// base is the address of s[0]; load16 and load8 read 16 or 8 values at byte offset
// off from it (the callers keep every read inside the slice).
func base(s []float32) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(s)) }

func load16(p unsafe.Pointer, off uintptr) archsimd.Float32x16 {
	return archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(p, off)))
}

func load8(p unsafe.Pointer, off uintptr) archsimd.Float32x8 {
	return archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(p, off)))
}

// group4 returns the byte offsets of the four rows of a group starting at row r
// (stride bytes apart); rows past the last repeat row r.
func group4(r, rows int, stride uintptr) (o0, o1, o2, o3 uintptr) {
	o0 = uintptr(r) * stride
	o1, o2, o3 = o0, o0, o0
	if r+1 < rows {
		o1 = o0 + stride
	}
	if r+2 < rows {
		o2 = o0 + 2*stride
	}
	if r+3 < rows {
		o3 = o0 + 3*stride
	}
	return o0, o1, o2, o3
}

// rest3 returns the addresses of rows 1-3 of the group at p0 with n rows left;
// rows past the last repeat row 0 (their sums are computed and not stored).
func rest3(p0 unsafe.Pointer, n int, stride uintptr) (p1, p2, p3 unsafe.Pointer) {
	p1, p2, p3 = p0, p0, p0
	if n > 1 {
		p1 = unsafe.Add(p0, stride)
	}
	if n > 2 {
		p2 = unsafe.Add(p0, 2*stride)
	}
	if n > 3 {
		p3 = unsafe.Add(p0, 3*stride)
	}
	return p1, p2, p3
}

// store4 sets (or, when acc, adds to) y[r:r+n] from s, n <= 4.
func store4(s archsimd.Float32x4, y []float32, r, n int, acc bool) {
	dst := y[r : r+n]
	if n == 4 {
		if acc {
			s = s.Add(archsimd.LoadFloat32x4Slice(dst))
		}
		s.StoreSlice(dst)
		return
	}
	if acc {
		s = s.Add(loadPart4(dst))
	}
	storePart4(s, dst)
}

// checkMatVec panics, as the generic code would, when a slice is too short.
func checkMatVec(y, w, x []float32, rows, cols int) {
	if rows > 0 && cols > 0 {
		_, _, _ = y[rows-1], w[rows*cols-1], x[cols-1]
	}
}

// matVec16 sets y = W x + b1 + b2 (+ y when acc) with 16-lane vectors; b1 and b2
// may be nil.
func matVec16(y, w, x, b1, b2 []float32, rows, cols int, acc bool) {
	checkMatVec(y, w, x, rows, cols)
	j := 0
	for ; j+128 <= cols; j += 128 {
		mvBlock16(y, w[j:], x[j:j+128], rows, cols, acc || j > 0)
	}
	if j < cols || cols == 0 {
		mvTail16(y, w[j:], x[j:cols], rows, cols, acc || j > 0)
	}
	addRow(y[:rows], b1)
	addRow(y[:rows], b2)
}

// mvBlock16 adds (or sets, !acc) y[r] = sum over 128 columns of w[r*stride+c]*x[c].
func mvBlock16(y, w, x []float32, rows, stride int, acc bool) {
	x = x[:128]
	x0, x1, x2, x3 := load16(base(x), 0), load16(base(x), 64), load16(base(x), 128), load16(base(x), 192)
	x4, x5, x6, x7 := load16(base(x), 256), load16(base(x), 320), load16(base(x), 384), load16(base(x), 448)
	if rows <= 0 {
		return
	}
	st := uintptr(stride) * 4
	p0 := base(w)
	p1, p2, p3 := rest3(p0, rows, st)
	for r := 0; ; {
		q0, q1, q2, q3 := p0, p1, p2, p3
		a0, a1, a2, a3 := load16(q0, 0).Mul(x0), load16(q1, 0).Mul(x0), load16(q2, 0).Mul(x0), load16(q3, 0).Mul(x0)
		q0, q1, q2, q3 = unsafe.Add(q0, 64), unsafe.Add(q1, 64), unsafe.Add(q2, 64), unsafe.Add(q3, 64)
		a0, a1, a2, a3 = load16(q0, 0).MulAdd(x1, a0), load16(q1, 0).MulAdd(x1, a1), load16(q2, 0).MulAdd(x1, a2), load16(q3, 0).MulAdd(x1, a3)
		q0, q1, q2, q3 = unsafe.Add(q0, 64), unsafe.Add(q1, 64), unsafe.Add(q2, 64), unsafe.Add(q3, 64)
		a0, a1, a2, a3 = load16(q0, 0).MulAdd(x2, a0), load16(q1, 0).MulAdd(x2, a1), load16(q2, 0).MulAdd(x2, a2), load16(q3, 0).MulAdd(x2, a3)
		q0, q1, q2, q3 = unsafe.Add(q0, 64), unsafe.Add(q1, 64), unsafe.Add(q2, 64), unsafe.Add(q3, 64)
		a0, a1, a2, a3 = load16(q0, 0).MulAdd(x3, a0), load16(q1, 0).MulAdd(x3, a1), load16(q2, 0).MulAdd(x3, a2), load16(q3, 0).MulAdd(x3, a3)
		q0, q1, q2, q3 = unsafe.Add(q0, 64), unsafe.Add(q1, 64), unsafe.Add(q2, 64), unsafe.Add(q3, 64)
		a0, a1, a2, a3 = load16(q0, 0).MulAdd(x4, a0), load16(q1, 0).MulAdd(x4, a1), load16(q2, 0).MulAdd(x4, a2), load16(q3, 0).MulAdd(x4, a3)
		q0, q1, q2, q3 = unsafe.Add(q0, 64), unsafe.Add(q1, 64), unsafe.Add(q2, 64), unsafe.Add(q3, 64)
		a0, a1, a2, a3 = load16(q0, 0).MulAdd(x5, a0), load16(q1, 0).MulAdd(x5, a1), load16(q2, 0).MulAdd(x5, a2), load16(q3, 0).MulAdd(x5, a3)
		q0, q1, q2, q3 = unsafe.Add(q0, 64), unsafe.Add(q1, 64), unsafe.Add(q2, 64), unsafe.Add(q3, 64)
		a0, a1, a2, a3 = load16(q0, 0).MulAdd(x6, a0), load16(q1, 0).MulAdd(x6, a1), load16(q2, 0).MulAdd(x6, a2), load16(q3, 0).MulAdd(x6, a3)
		q0, q1, q2, q3 = unsafe.Add(q0, 64), unsafe.Add(q1, 64), unsafe.Add(q2, 64), unsafe.Add(q3, 64)
		a0, a1, a2, a3 = load16(q0, 0).MulAdd(x7, a0), load16(q1, 0).MulAdd(x7, a1), load16(q2, 0).MulAdd(x7, a2), load16(q3, 0).MulAdd(x7, a3)
		store4(reduce4(half(a0), half(a1), half(a2), half(a3)), y, r, min(4, rows-r), acc)
		if r += 4; r >= rows {
			return
		}
		p0 = unsafe.Add(p0, 4*st) // in range: row r exists
		if r+3 < rows {
			p1, p2, p3 = unsafe.Add(p1, 4*st), unsafe.Add(p2, 4*st), unsafe.Add(p3, 4*st)
		} else {
			p1, p2, p3 = rest3(p0, rows-r, st)
		}
	}
}

// mvTail16 is mvBlock16 for the last len(x) < 128 columns (or none: y = 0 or kept).
func mvTail16(y, w, x []float32, rows, stride int, acc bool) {
	n := len(x)
	full := uintptr(n/16) * 64
	var mask archsimd.Mask32x16
	if n%16 != 0 {
		mask = archsimd.Mask32x16FromBits(0xffff >> (16 - n%16))
	}
	px, p, st := base(x), base(w), uintptr(stride)*4
	for r := 0; r < rows; r += 4 {
		o0, o1, o2, o3 := group4(r, rows, st)
		var a0, a1, a2, a3 archsimd.Float32x16
		off := uintptr(0)
		for ; off < full; off += 64 {
			xv := load16(px, off)
			a0, a1 = load16(p, o0+off).MulAdd(xv, a0), load16(p, o1+off).MulAdd(xv, a1)
			a2, a3 = load16(p, o2+off).MulAdd(xv, a2), load16(p, o3+off).MulAdd(xv, a3)
		}
		if n%16 != 0 {
			xv := loadMask16(px, off, mask)
			a0, a1 = loadMask16(p, o0+off, mask).MulAdd(xv, a0), loadMask16(p, o1+off, mask).MulAdd(xv, a1)
			a2, a3 = loadMask16(p, o2+off, mask).MulAdd(xv, a2), loadMask16(p, o3+off, mask).MulAdd(xv, a3)
		}
		store4(reduce4(half(a0), half(a1), half(a2), half(a3)), y, r, min(4, rows-r), acc)
	}
}

// loadMask16 reads the lanes of mask at byte offset off from p (zeros elsewhere);
// the lanes outside mask are not touched, so they may lie past the slice (hence no
// checkptr: the 64-byte array the load is typed as may straddle the allocation).
//
//go:nocheckptr
func loadMask16(p unsafe.Pointer, off uintptr, mask archsimd.Mask32x16) archsimd.Float32x16 {
	return archsimd.LoadMaskedFloat32x16((*[16]float32)(unsafe.Add(p, off)), mask)
}

// matVec8 is matVec16 with 8-lane vectors (AVX2 and FMA) and blocks of 64 columns.
func matVec8(y, w, x, b1, b2 []float32, rows, cols int, acc bool) {
	checkMatVec(y, w, x, rows, cols)
	j := 0
	for ; j+64 <= cols; j += 64 {
		mvBlock8(y, w[j:], x[j:j+64], rows, cols, acc || j > 0)
	}
	if j < cols || cols == 0 {
		mvTail8(y, w[j:], x[j:cols], rows, cols, acc || j > 0)
	}
	addRow(y[:rows], b1)
	addRow(y[:rows], b2)
}

func mvBlock8(y, w, x []float32, rows, stride int, acc bool) {
	x = x[:64]
	x0, x1, x2, x3 := load8(base(x), 0), load8(base(x), 32), load8(base(x), 64), load8(base(x), 96)
	x4, x5, x6, x7 := load8(base(x), 128), load8(base(x), 160), load8(base(x), 192), load8(base(x), 224)
	if rows <= 0 {
		return
	}
	st := uintptr(stride) * 4
	p0 := base(w)
	p1, p2, p3 := rest3(p0, rows, st)
	for r := 0; ; {
		q0, q1, q2, q3 := p0, p1, p2, p3
		a0, a1, a2, a3 := load8(q0, 0).Mul(x0), load8(q1, 0).Mul(x0), load8(q2, 0).Mul(x0), load8(q3, 0).Mul(x0)
		q0, q1, q2, q3 = unsafe.Add(q0, 32), unsafe.Add(q1, 32), unsafe.Add(q2, 32), unsafe.Add(q3, 32)
		a0, a1, a2, a3 = load8(q0, 0).MulAdd(x1, a0), load8(q1, 0).MulAdd(x1, a1), load8(q2, 0).MulAdd(x1, a2), load8(q3, 0).MulAdd(x1, a3)
		q0, q1, q2, q3 = unsafe.Add(q0, 32), unsafe.Add(q1, 32), unsafe.Add(q2, 32), unsafe.Add(q3, 32)
		a0, a1, a2, a3 = load8(q0, 0).MulAdd(x2, a0), load8(q1, 0).MulAdd(x2, a1), load8(q2, 0).MulAdd(x2, a2), load8(q3, 0).MulAdd(x2, a3)
		q0, q1, q2, q3 = unsafe.Add(q0, 32), unsafe.Add(q1, 32), unsafe.Add(q2, 32), unsafe.Add(q3, 32)
		a0, a1, a2, a3 = load8(q0, 0).MulAdd(x3, a0), load8(q1, 0).MulAdd(x3, a1), load8(q2, 0).MulAdd(x3, a2), load8(q3, 0).MulAdd(x3, a3)
		q0, q1, q2, q3 = unsafe.Add(q0, 32), unsafe.Add(q1, 32), unsafe.Add(q2, 32), unsafe.Add(q3, 32)
		a0, a1, a2, a3 = load8(q0, 0).MulAdd(x4, a0), load8(q1, 0).MulAdd(x4, a1), load8(q2, 0).MulAdd(x4, a2), load8(q3, 0).MulAdd(x4, a3)
		q0, q1, q2, q3 = unsafe.Add(q0, 32), unsafe.Add(q1, 32), unsafe.Add(q2, 32), unsafe.Add(q3, 32)
		a0, a1, a2, a3 = load8(q0, 0).MulAdd(x5, a0), load8(q1, 0).MulAdd(x5, a1), load8(q2, 0).MulAdd(x5, a2), load8(q3, 0).MulAdd(x5, a3)
		q0, q1, q2, q3 = unsafe.Add(q0, 32), unsafe.Add(q1, 32), unsafe.Add(q2, 32), unsafe.Add(q3, 32)
		a0, a1, a2, a3 = load8(q0, 0).MulAdd(x6, a0), load8(q1, 0).MulAdd(x6, a1), load8(q2, 0).MulAdd(x6, a2), load8(q3, 0).MulAdd(x6, a3)
		q0, q1, q2, q3 = unsafe.Add(q0, 32), unsafe.Add(q1, 32), unsafe.Add(q2, 32), unsafe.Add(q3, 32)
		a0, a1, a2, a3 = load8(q0, 0).MulAdd(x7, a0), load8(q1, 0).MulAdd(x7, a1), load8(q2, 0).MulAdd(x7, a2), load8(q3, 0).MulAdd(x7, a3)
		store4(reduce4(a0, a1, a2, a3), y, r, min(4, rows-r), acc)
		if r += 4; r >= rows {
			return
		}
		p0 = unsafe.Add(p0, 4*st) // in range: row r exists
		if r+3 < rows {
			p1, p2, p3 = unsafe.Add(p1, 4*st), unsafe.Add(p2, 4*st), unsafe.Add(p3, 4*st)
		} else {
			p1, p2, p3 = rest3(p0, rows-r, st)
		}
	}
}

func mvTail8(y, w, x []float32, rows, stride int, acc bool) {
	n := len(x)
	full := uintptr(n/8) * 32
	mask := tailMask8(n % 8)
	px, p, st := base(x), base(w), uintptr(stride)*4
	for r := 0; r < rows; r += 4 {
		o0, o1, o2, o3 := group4(r, rows, st)
		var a0, a1, a2, a3 archsimd.Float32x8
		off := uintptr(0)
		for ; off < full; off += 32 {
			xv := load8(px, off)
			a0, a1 = load8(p, o0+off).MulAdd(xv, a0), load8(p, o1+off).MulAdd(xv, a1)
			a2, a3 = load8(p, o2+off).MulAdd(xv, a2), load8(p, o3+off).MulAdd(xv, a3)
		}
		if n%8 != 0 {
			xv := loadMask8(px, off, mask)
			a0, a1 = loadMask8(p, o0+off, mask).MulAdd(xv, a0), loadMask8(p, o1+off, mask).MulAdd(xv, a1)
			a2, a3 = loadMask8(p, o2+off, mask).MulAdd(xv, a2), loadMask8(p, o3+off, mask).MulAdd(xv, a3)
		}
		store4(reduce4(a0, a1, a2, a3), y, r, min(4, rows-r), acc)
	}
}

//go:nocheckptr
func loadMask8(p unsafe.Pointer, off uintptr, mask archsimd.Mask32x8) archsimd.Float32x8 {
	return archsimd.LoadMaskedFloat32x8((*[8]float32)(unsafe.Add(p, off)), mask)
}

// addRow adds b (nil: nothing) to y, element by element.
func addRow(y, b []float32) {
	if b == nil {
		return
	}
	b = b[:len(y)]
	i := 0
	for ; i+8 <= len(y); i += 8 {
		archsimd.LoadFloat32x8Slice(y[i:]).Add(archsimd.LoadFloat32x8Slice(b[i:])).StoreSlice(y[i:])
	}
	if i < len(y) {
		storePart8(loadPart8(y[i:]).Add(loadPart8(b[i:])), y[i:])
	}
}

// gemmNT16 and gemmNT8 compute C = A B^T (+ C) as one mat-vec of B per row of A.
func gemmNT16(c, a, b []float32, m, n, k int, acc bool) {
	for i := 0; i < m; i++ {
		matVec16(c[i*n:i*n+n], b, a[i*k:i*k+k], nil, nil, n, k, acc)
	}
}

func gemmNT8(c, a, b []float32, m, n, k int, acc bool) {
	for i := 0; i < m; i++ {
		matVec8(c[i*n:i*n+n], b, a[i*k:i*k+k], nil, nil, n, k, acc)
	}
}
