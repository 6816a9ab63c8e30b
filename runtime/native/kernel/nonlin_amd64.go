//go:build goexperiment.simd && amd64 && !purego

package kernel

import (
	"math"
	"math/bits"
	"simd/archsimd"
)

// The nonlinearities use a Cephes-style exp: x = n ln2 + r with n = round(x log2 e)
// and |r| <= ln2/2 (ln2 split in two parts so n ln2 is exact), e^r by a degree-5
// polynomial, 2^n built in the exponent bits. Inputs are clamped to [expLo, expHi]
// first, so n stays in [-126, 127] and 2^n is a normal float: exp never returns Inf
// or a denormal, sigmoid saturates to 0 or 1 (within 1e-38) without NaN, and tanh
// to -1 or 1. NaN stays NaN. tanh uses Cephes' odd polynomial for |x| < 0.625
// (where 1 - 2/(e^2x + 1) would cancel) and 1 - 2/(e^2|x| + 1) with the sign of x
// above it. Measured error against float64 math: see TestNonlinearAccuracy.
const (
	expHi  = 88.02  // e^88.02 = 1.6e38; n <= 127
	expLo  = -87.33 // e^-87.33 = 1.2e-38, the smallest normal float32 is 1.18e-38
	log2e  = 1.44269504088896341
	ln2Hi  = 0.693359375 // 8 significant bits: n*ln2Hi is exact
	ln2Lo  = -2.12194440e-4
	expP0  = 1.9875691500e-4
	expP1  = 1.3981999507e-3
	expP2  = 8.3334519073e-3
	expP3  = 4.1665795894e-2
	expP4  = 1.6666665459e-1
	expP5  = 5.0000001201e-1
	tanhT0 = -5.70498872745e-3
	tanhT1 = 2.06390887954e-2
	tanhT2 = -5.37397155531e-2
	tanhT3 = 1.33314422036e-1
	tanhT4 = -3.33332819422e-1
	tanhLo = 0.625 // below it the polynomial, above it the exp form
)

// nan32 is the quiet NaN the vector kernels return for a NaN input.
var nan32 = float32(math.NaN())

func b16(v float32) archsimd.Float32x16 { return archsimd.BroadcastFloat32x16(v) }

// k16 holds the constants of exp16, sigmoidVec16 and tanhVec16 already broadcast:
// one 64-byte load each, where a broadcast is two instructions (VMOVSS +
// VBROADCASTSS), none of which can be hoisted out of the callers' loops.
var k16 = func() (t [kCount][16]float32) {
	for i, v := range [kCount]float32{expLo, expHi, log2e, -ln2Hi, -ln2Lo, expP0, expP1, expP2, expP3, expP4, expP5, 1, -1, 2, tanhT0, tanhT1, tanhT2, tanhT3, tanhT4, tanhLo, nan32} {
		for j := range t[i] {
			t[i][j] = v
		}
	}
	return t
}()

const (
	kExpLo = iota
	kExpHi
	kLog2e
	kLn2Hi
	kLn2Lo
	kP0
	kP1
	kP2
	kP3
	kP4
	kP5
	kOne
	kMinusOne
	kTwo
	kT0
	kT1
	kT2
	kT3
	kT4
	kTanhLo
	kNaN
	kCount
)

func c16(i int) archsimd.Float32x16 { return archsimd.LoadFloat32x16(&k16[i]) }

// kc holds the same constants as 4-byte scalars for the assembly kernels
// (nonlin_amd64.s, which names them by offset: keep the order).
var kc = [...]float32{log2e, -ln2Hi, -ln2Lo, expP0, expP1, expP2, expP3, expP4, expP5, 1, expLo, expHi, -1,
	tanhA13, tanhA11, tanhA9, tanhA7, tanhA5, tanhA3, tanhA1, tanhB6, tanhB4, tanhB2, tanhB0, tanhMax}

// The rational tanh of the assembly kernels (TANHZ in nonlin_amd64.s): tanh(x) =
// x a(x^2) / b(x^2) on x clamped to [-tanhMax, tanhMax], the result clamped to
// [-1, 1]: the coefficients of Eigen's and MLAS's float tanh (the latter is what
// ONNX Runtime's LSTM uses). Max relative error measured by TestNonlinearAccuracy.
const (
	tanhA13 = -2.76076847742355e-16
	tanhA11 = 2.00018790482477e-13
	tanhA9  = -8.60467152213735e-11
	tanhA7  = 5.12229709037114e-08
	tanhA5  = 1.48572235717979e-05
	tanhA3  = 6.37261928875436e-04
	tanhA1  = 4.89352455891786e-03
	tanhB6  = 1.19825839466702e-06
	tanhB4  = 1.18534705686654e-04
	tanhB2  = 2.26843463243900e-03
	tanhB0  = 4.89352518554385e-03
	tanhMax = 9
)

// sigmoidBlocks, tanhBlocks and lstmCellBlocks (nonlin_amd64.s) are Sigmoid, Tanh
// and the LSTM cell on the first 16n values (units), n > 0.
//
//go:noescape
func sigmoidBlocks(dst, src *float32, n int)

//go:noescape
func tanhBlocks(dst, src *float32, n int)

//go:noescape
func lstmCellBlocks(gates, c, h *float32, hidden, n int)

// lstmCellAddBlocks is lstmCellBlocks on gates + add, gates only read.
//
//go:noescape
func lstmCellAddBlocks(gates, add, c, h *float32, hidden, n int)
func b8(v float32) archsimd.Float32x8 { return archsimd.BroadcastFloat32x8(v) }

// exp16 returns e^x lane by lane (x clamped to [expLo, expHi]; NaN stays NaN).
func exp16(x archsimd.Float32x16) archsimd.Float32x16 {
	num := x.Equal(x) // false in the NaN lanes
	x = x.Max(c16(kExpLo)).Min(c16(kExpHi))
	n := x.Mul(c16(kLog2e)).RoundToEvenScaled(0)
	r := n.MulAdd(c16(kLn2Hi), x)
	r = n.MulAdd(c16(kLn2Lo), r)
	p := c16(kP0).MulAdd(r, c16(kP1))
	p = p.MulAdd(r, c16(kP2))
	p = p.MulAdd(r, c16(kP3))
	p = p.MulAdd(r, c16(kP4))
	p = p.MulAdd(r, c16(kP5))
	p = p.MulAdd(r.Mul(r), r).Add(c16(kOne))
	pow := n.ConvertToInt32().Add(archsimd.BroadcastInt32x16(127)).ShiftAllLeft(23).AsFloat32x16()
	return p.Mul(pow).Merge(c16(kNaN), num)
}

// exp8 is exp16 with 8 lanes (AVX2).
func exp8(x archsimd.Float32x8) archsimd.Float32x8 {
	num := x.Equal(x) // false in the NaN lanes
	x = x.Max(b8(expLo)).Min(b8(expHi))
	n := x.Mul(b8(log2e)).RoundToEven()
	r := n.MulAdd(b8(-ln2Hi), x)
	r = n.MulAdd(b8(-ln2Lo), r)
	p := b8(expP0).MulAdd(r, b8(expP1))
	p = p.MulAdd(r, b8(expP2))
	p = p.MulAdd(r, b8(expP3))
	p = p.MulAdd(r, b8(expP4))
	p = p.MulAdd(r, b8(expP5))
	p = p.MulAdd(r.Mul(r), r).Add(b8(1))
	pow := n.ConvertToInt32().Add(archsimd.BroadcastInt32x8(127)).ShiftAllLeft(23).AsFloat32x8()
	return p.Mul(pow).Merge(b8(nan32), num)
}

func sigmoidVec16(x archsimd.Float32x16) archsimd.Float32x16 {
	one := c16(kOne)
	return one.Div(one.Add(exp16(x.Mul(c16(kMinusOne)))))
}

func sigmoidVec8(x archsimd.Float32x8) archsimd.Float32x8 {
	one := b8(1)
	return one.Div(one.Add(exp8(x.Mul(b8(-1)))))
}

func tanhVec16(x archsimd.Float32x16) archsimd.Float32x16 {
	var zero archsimd.Float32x16
	ax := x.Max(x.Mul(c16(kMinusOne)))
	z := x.Mul(x)
	p := c16(kT0).MulAdd(z, c16(kT1))
	p = p.MulAdd(z, c16(kT2))
	p = p.MulAdd(z, c16(kT3))
	p = p.MulAdd(z, c16(kT4))
	small := p.Mul(z).MulAdd(x, x)
	large := c16(kOne).Sub(c16(kTwo).Div(exp16(ax.Add(ax)).Add(c16(kOne))))
	large = large.Merge(large.Mul(c16(kMinusOne)), x.GreaterEqual(zero))
	return small.Merge(large, ax.Less(c16(kTanhLo))).Merge(x, x.Equal(x))
}

func tanhVec8(x archsimd.Float32x8) archsimd.Float32x8 {
	var zero archsimd.Float32x8
	ax := x.Max(x.Mul(b8(-1)))
	z := x.Mul(x)
	p := b8(tanhT0).MulAdd(z, b8(tanhT1))
	p = p.MulAdd(z, b8(tanhT2))
	p = p.MulAdd(z, b8(tanhT3))
	p = p.MulAdd(z, b8(tanhT4))
	small := p.Mul(z).MulAdd(x, x)
	large := b8(1).Sub(b8(2).Div(exp8(ax.Add(ax)).Add(b8(1))))
	large = large.Merge(large.Mul(b8(-1)), x.GreaterEqual(zero))
	return small.Merge(large, ax.Less(b8(tanhLo))).Merge(x, x.Equal(x))
}

func sigmoid16(dst, src []float32) {
	dst = dst[:len(src)]
	i := len(src) &^ 15
	if i > 0 {
		sigmoidBlocks(&dst[0], &src[0], i/16)
	}
	if i < len(src) {
		storePart16(sigmoidVec16(loadPart16(src[i:])), dst[i:])
	}
}

func sigmoid8(dst, src []float32) {
	dst = dst[:len(src)]
	i := 0
	for ; i+8 <= len(src); i += 8 {
		sigmoidVec8(archsimd.LoadFloat32x8Slice(src[i:])).StoreSlice(dst[i:])
	}
	if i < len(src) {
		storePart8(sigmoidVec8(loadPart8(src[i:])), dst[i:])
	}
}

func tanh16(dst, src []float32) {
	dst = dst[:len(src)]
	i := len(src) &^ 15
	if i > 0 {
		tanhBlocks(&dst[0], &src[0], i/16)
	}
	if i < len(src) {
		storePart16(tanhVec16(loadPart16(src[i:])), dst[i:])
	}
}

func tanh8(dst, src []float32) {
	dst = dst[:len(src)]
	i := 0
	for ; i+8 <= len(src); i += 8 {
		tanhVec8(archsimd.LoadFloat32x8Slice(src[i:])).StoreSlice(dst[i:])
	}
	if i < len(src) {
		storePart8(tanhVec8(loadPart8(src[i:])), dst[i:])
	}
}

// lstmCell16 is the LSTM cell on 16 units at a time (gate order i, o, f, c):
// the full blocks in assembly, a ragged end with archsimd.
func lstmCell16(g, c, h []float32, hidden int) {
	gi, gO, gf, gc := g[:hidden], g[hidden:2*hidden], g[2*hidden:3*hidden], g[3*hidden:4*hidden]
	c, h = c[:hidden], h[:hidden]
	j := hidden &^ 15
	if j > 0 {
		lstmCellBlocks(&g[0], &c[0], &h[0], hidden, j/16)
	}
	if j < hidden {
		i := sigmoidVec16(loadPart16(gi[j:]))
		o := sigmoidVec16(loadPart16(gO[j:]))
		f := sigmoidVec16(loadPart16(gf[j:]))
		z := tanhVec16(loadPart16(gc[j:]))
		cj := i.MulAdd(z, f.Mul(loadPart16(c[j:])))
		storePart16(cj, c[j:])
		storePart16(o.Mul(tanhVec16(cj)), h[j:])
	}
}

// oneHot16 is OneHot 16 values at a time: a block's nonzero lanes are the
// complement of an ordered compare with 0 (so a NaN counts as nonzero). The
// last len(x) mod 16 values and the check that the nonzero is 1 are scalar,
// after VZEROUPPER: scalar float code with the upper halves dirty made this
// 10x slower than a plain loop (12 µs instead of 1.2 for 64 rows of 70).
func oneHot16(x []float32) int {
	var zero archsimd.Float32x16
	at, i := -1, 0
	for ; i+16 <= len(x); i += 16 {
		nz := ^archsimd.LoadFloat32x16Slice(x[i:]).Equal(zero).ToBits()
		if nz == 0 {
			continue
		}
		if at >= 0 || nz&(nz-1) != 0 {
			archsimd.ClearAVXUpperBits()
			return -1
		}
		at = i + bits.TrailingZeros16(nz)
	}
	archsimd.ClearAVXUpperBits()
	for ; i < len(x); i++ {
		if v := x[i]; math.Float32bits(v)&0x7fffffff != 0 {
			if at >= 0 {
				return -1
			}
			at = i
		}
	}
	if at < 0 || x[at] != 1 {
		return -1
	}
	return at
}

// lstmCellAdd16 is lstmCell16 on g + add, g only read.
func lstmCellAdd16(g, add, c, h []float32, hidden int) {
	g, add, c, h = g[:4*hidden], add[:4*hidden], c[:hidden], h[:hidden]
	j := hidden &^ 15
	if j > 0 {
		lstmCellAddBlocks(&g[0], &add[0], &c[0], &h[0], hidden, j/16)
	}
	if j < hidden {
		gate := func(q int) archsimd.Float32x16 {
			return loadPart16(g[q*hidden+j : (q+1)*hidden]).Add(loadPart16(add[q*hidden+j : (q+1)*hidden]))
		}
		i, o, f, z := sigmoidVec16(gate(0)), sigmoidVec16(gate(1)), sigmoidVec16(gate(2)), tanhVec16(gate(3))
		cj := i.MulAdd(z, f.Mul(loadPart16(c[j:])))
		storePart16(cj, c[j:])
		storePart16(o.Mul(tanhVec16(cj)), h[j:])
	}
}

// lstmCell8 is lstmCell16 with 8 lanes.
func lstmCell8(g, c, h []float32, hidden int) {
	gi, gO, gf, gc := g[:hidden], g[hidden:2*hidden], g[2*hidden:3*hidden], g[3*hidden:4*hidden]
	c, h = c[:hidden], h[:hidden]
	j := 0
	for ; j+8 <= hidden; j += 8 {
		i := sigmoidVec8(archsimd.LoadFloat32x8Slice(gi[j:]))
		o := sigmoidVec8(archsimd.LoadFloat32x8Slice(gO[j:]))
		f := sigmoidVec8(archsimd.LoadFloat32x8Slice(gf[j:]))
		z := tanhVec8(archsimd.LoadFloat32x8Slice(gc[j:]))
		cj := i.MulAdd(z, f.Mul(archsimd.LoadFloat32x8Slice(c[j:])))
		cj.StoreSlice(c[j:])
		o.Mul(tanhVec8(cj)).StoreSlice(h[j:])
	}
	if j < hidden {
		i := sigmoidVec8(loadPart8(gi[j:]))
		o := sigmoidVec8(loadPart8(gO[j:]))
		f := sigmoidVec8(loadPart8(gf[j:]))
		z := tanhVec8(loadPart8(gc[j:]))
		cj := i.MulAdd(z, f.Mul(loadPart8(c[j:])))
		storePart8(cj, c[j:])
		storePart8(o.Mul(tanhVec8(cj)), h[j:])
	}
}

// softmax16 is the softmax of one row: the maximum, then e^(x-max) and its sum,
// then the scale; the lanes past a ragged end are masked out of the max and sum.
func softmax16(x []float32) {
	n := len(x)
	if n == 0 {
		return
	}
	full := n &^ 15
	tail := mask16(n & 15)
	ninf := b16(float32(math.Inf(-1)))
	mv := ninf
	for i := 0; i < full; i += 16 {
		mv = mv.Max(archsimd.LoadFloat32x16Slice(x[i:]))
	}
	if full < n {
		mv = mv.Max(loadPart16(x[full:]).Merge(ninf, tail))
	}
	m := maxAll16(mv)
	var sv archsimd.Float32x16
	for i := 0; i < full; i += 16 {
		e := exp16(archsimd.LoadFloat32x16Slice(x[i:]).Sub(m))
		e.StoreSlice(x[i:])
		sv = sv.Add(e)
	}
	if full < n {
		e := exp16(loadPart16(x[full:]).Sub(m)).Masked(tail)
		storePart16(e, x[full:])
		sv = sv.Add(e)
	}
	inv := b16(1).Div(sumAll16(sv))
	for i := 0; i < full; i += 16 {
		archsimd.LoadFloat32x16Slice(x[i:]).Mul(inv).StoreSlice(x[i:])
	}
	if full < n {
		storePart16(loadPart16(x[full:]).Mul(inv), x[full:])
	}
}

// softmax8 is softmax16 with 8 lanes.
func softmax8(x []float32) {
	n := len(x)
	if n == 0 {
		return
	}
	full := n &^ 7
	tail := tailMask8(n & 7)
	ninf := b8(float32(math.Inf(-1)))
	mv := ninf
	for i := 0; i < full; i += 8 {
		mv = mv.Max(archsimd.LoadFloat32x8Slice(x[i:]))
	}
	if full < n {
		mv = mv.Max(loadPart8(x[full:]).Merge(ninf, tail))
	}
	m := maxAll8(mv)
	var sv archsimd.Float32x8
	for i := 0; i < full; i += 8 {
		e := exp8(archsimd.LoadFloat32x8Slice(x[i:]).Sub(m))
		e.StoreSlice(x[i:])
		sv = sv.Add(e)
	}
	if full < n {
		e := exp8(loadPart8(x[full:]).Sub(m)).Masked(tail)
		storePart8(e, x[full:])
		sv = sv.Add(e)
	}
	inv := b8(1).Div(sumAll8(sv))
	for i := 0; i < full; i += 8 {
		archsimd.LoadFloat32x8Slice(x[i:]).Mul(inv).StoreSlice(x[i:])
	}
	if full < n {
		storePart8(loadPart8(x[full:]).Mul(inv), x[full:])
	}
}

// rot16 and rot8 rotate the lanes by 8, 4, 2 and 1 places; maxAll and sumAll
// fold a vector with its rotations so every lane holds the maximum or the sum.
// Everything stays in vector registers: scalar float code between AVX-512
// instructions is legacy SSE, and on this machine each such switch costs
// about 150 ns (see docs/native.md).
var rot16 = [4][16]uint32{
	{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7},
	{4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11},
	{2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13},
	{1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14},
}

var rot8 = [3][8]uint32{
	{4, 5, 6, 7, 0, 1, 2, 3},
	{2, 3, 0, 1, 6, 7, 4, 5},
	{1, 0, 3, 2, 5, 4, 7, 6},
}

func maxAll16(v archsimd.Float32x16) archsimd.Float32x16 {
	for i := range rot16 {
		v = v.Max(v.Permute(archsimd.LoadUint32x16(&rot16[i])))
	}
	return v
}

func sumAll16(v archsimd.Float32x16) archsimd.Float32x16 {
	for i := range rot16 {
		v = v.Add(v.Permute(archsimd.LoadUint32x16(&rot16[i])))
	}
	return v
}

func maxAll8(v archsimd.Float32x8) archsimd.Float32x8 {
	for i := range rot8 {
		v = v.Max(v.Permute(archsimd.LoadUint32x8(&rot8[i])))
	}
	return v
}

func sumAll8(v archsimd.Float32x8) archsimd.Float32x8 {
	for i := range rot8 {
		v = v.Add(v.Permute(archsimd.LoadUint32x8(&rot8[i])))
	}
	return v
}

func addBias16(x, b []float32, m, n int) {
	for i := 0; i < m; i++ {
		addRow(x[i*n:i*n+n], b)
	}
}

// addBias8 is addBias16: addRow already uses 8 lanes, which AVX2 has.
var addBias8 = addBias16
