package native

import (
	"fmt"
	"math"

	"github.com/rnnrun/rnnrun/runtime/internal/avx"
	"github.com/rnnrun/rnnrun/runtime/native/kernel"
)

// transposeInto writes the [cols, rows] transpose of a row-major [rows, cols] matrix.
func transposeInto(dst, src []float32, rows, cols int) {
	for r := range rows {
		row := src[r*cols : r*cols+cols]
		for c, v := range row {
			dst[c*rows+r] = v
		}
	}
}

// packed returns bt ([n, k], one row per output unit) packed for kernel.GemmPacked.
func packed(bt []float32, n, k int) []float32 {
	bp := make([]float32, kernel.PackedLen(n, k))
	kernel.PackNT(bp, bt, n, k)
	return bp
}

// grow returns buf resized to n, reallocating only when it is too small.
func grow[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	*buf = (*buf)[:n]
	return *buf
}

// matmul is numpy's matmul. A constant 2-D right operand is transposed once
// at load into [N, K], the layout kernel.GemmNT reads, and packed for
// kernel.GemmPacked (batched rows).
type matmul struct {
	bt, bp []float32 // constant B transposed and packed, or nil
	k, n   int
}

type matmulState struct{ bt []float32 }

func (matmul) newState() any { return &matmulState{} }

func buildMatMul(c *nodeCtx) (op, error) {
	if err := c.inputs(2, 2); err != nil {
		return nil, err
	}
	o := &matmul{}
	if b := c.constant(1); b != nil && b.rank() == 2 && b.et == f32 {
		o.k, o.n = b.shape[0], b.shape[1]
		o.bt = make([]float32, o.k*o.n)
		transposeInto(o.bt, b.f, o.k, o.n)
		o.bp = packed(o.bt, o.n, o.k)
	}
	return o, nil
}

func (o *matmul) run(f *frame, n *node) error {
	a, b, out := f.in(n, 0), f.in(n, 1), f.out(n, 0)
	if a.et != f32 || b.et != f32 {
		return fmt.Errorf("needs float32 inputs, has %s and %s", a.et, b.et)
	}
	if a.rank() == 0 || b.rank() == 0 {
		return fmt.Errorf("inputs must not be scalars (shapes %v and %v)", a.shape, b.shape)
	}
	K := a.shape[a.rank()-1]
	if o.bt != nil {
		if K != o.k {
			return fmt.Errorf("shapes %v and %v do not multiply", a.shape, b.shape)
		}
		var dims [maxRank]int
		r := copy(dims[:], a.shape[:a.rank()-1])
		dims[r] = o.n
		dst := out.floats(dims[:r+1])
		mulPacked(dst, a.f, o.bt, o.bp, a.size()/max(K, 1), o.n, K, false)
		return nil
	}
	return matmulGeneral(f.state[n.slot].(*matmulState), a, b, out)
}

// matmulGeneral handles 1-D operands and broadcast batch dimensions.
func matmulGeneral(st *matmulState, a, b, out *value) error {
	ash, bsh := a.shape, b.shape
	dropA, dropB := len(ash) == 1, len(bsh) == 1
	M, K := 1, ash[len(ash)-1]
	if !dropA {
		M = ash[len(ash)-2]
	}
	KB, N := bsh[0], 1
	if !dropB {
		KB, N = bsh[len(bsh)-2], bsh[len(bsh)-1]
	}
	if K != KB {
		return fmt.Errorf("shapes %v and %v do not multiply", ash, bsh)
	}
	batchA, batchB := ash[:max(len(ash)-2, 0)], bsh[:max(len(bsh)-2, 0)]
	var p bcast
	if err := p.init(batchA, batchB); err != nil {
		return err
	}
	var dims [maxRank]int
	r := copy(dims[:], p.shape())
	if !dropA {
		dims[r] = M
		r++
	}
	if !dropB {
		dims[r] = N
		r++
	}
	if r > maxRank {
		return fmt.Errorf("output rank %d is above the limit of %d", r, maxRank)
	}
	dst := out.floats(dims[:r])
	bt := grow(&st.bt, K*N)
	w, sa, sb := p.inner()
	mk, kn, mn := M*K, K*N, M*N
	batch := 0
	lastB := -1
	p.each(func(_, ia, ib int) {
		for j := range w {
			if boff := (ib + j*sb) * kn; boff != lastB {
				transposeInto(bt, b.f[boff:boff+kn], K, N)
				lastB = boff
			}
			aoff := (ia + j*sa) * mk
			mulNT(dst[batch*mn:batch*mn+mn], a.f[aoff:aoff+mk], bt, M, N, K, false)
			batch++
		}
	})
	return nil
}

// gemm is Y = alpha * A' B' + beta * C.
type gemm struct {
	alpha, beta    float32
	transA, transB bool
	bt, bp         []float32 // constant B as [N, K] and packed, or nil
}

type gemmState struct{ a, bt []float32 }

func (*gemm) newState() any { return &gemmState{} }

func buildGemm(c *nodeCtx) (op, error) {
	if err := c.inputs(2, 3); err != nil {
		return nil, err
	}
	o := &gemm{
		alpha:  c.attrs.float("alpha", 1),
		beta:   c.attrs.float("beta", 1),
		transA: c.attrs.int("transA", 0) != 0,
		transB: c.attrs.int("transB", 0) != 0,
	}
	if b := c.constant(1); b != nil && b.rank() == 2 && b.et == f32 {
		o.bt = b.f
		if !o.transB {
			o.bt = make([]float32, b.size())
			transposeInto(o.bt, b.f, b.shape[0], b.shape[1])
		}
		n, k := b.shape[1], b.shape[0]
		if o.transB {
			n, k = k, n
		}
		o.bp = packed(o.bt, n, k)
	}
	return o, nil
}

func (o *gemm) run(f *frame, n *node) error {
	a, b, cv, out := f.in(n, 0), f.in(n, 1), f.in(n, 2), f.out(n, 0)
	if a.rank() != 2 || b.rank() != 2 || a.et != f32 || b.et != f32 {
		return fmt.Errorf("needs 2-D float32 A and B, has %s%v and %s%v", a.et, a.shape, b.et, b.shape)
	}
	st := f.state[n.slot].(*gemmState)
	M, K := a.shape[0], a.shape[1]
	av := a.f
	if o.transA {
		M, K = K, M
		av = grow(&st.a, M*K)
		transposeInto(av, a.f, K, M)
	}
	N, KB := b.shape[1], b.shape[0]
	bt, bp := b.f, o.bp
	if o.transB {
		N, KB = KB, N
	} else if o.bt != nil {
		bt = o.bt
	} else {
		bt = grow(&st.bt, K*N)
		transposeInto(bt, b.f, KB, N)
	}
	if K != KB {
		return fmt.Errorf("A%v and B%v do not multiply (transA=%v, transB=%v)", a.shape, b.shape, o.transA, o.transB)
	}
	dst := out.floats([]int{M, N})
	if bp != nil {
		mulPacked(dst, av, bt, bp, M, N, K, false)
	} else {
		mulNT(dst, av, bt, M, N, K, false)
	}
	if o.alpha != 1 {
		for k := range dst {
			dst[k] *= o.alpha
		}
	}
	if cv == nil || o.beta == 0 {
		return nil
	}
	var p bcast
	if err := p.init([]int{M, N}, cv.shape); err != nil || p.rank != 2 || p.out[0] != M || p.out[1] != N {
		return fmt.Errorf("C%v does not broadcast to [%d %d]", cv.shape, M, N)
	}
	w, _, sc := p.inner()
	p.each(func(k, _, ic int) {
		row := dst[k : k+w]
		for j := range row {
			row[j] += o.beta * cv.f[ic+j*sc]
		}
	})
	return nil
}

// softmax and logSoftmax: before opset 13 over the input flattened to 2-D at
// axis (default 1), from 13 along one axis (default -1).
type softmax struct {
	axis    int64
	flatten bool
	log     bool
}

func buildSoftmax(log bool) func(*nodeCtx) (op, error) {
	return func(c *nodeCtx) (op, error) {
		if err := c.inputs(1, 1); err != nil {
			return nil, err
		}
		o := softmax{log: log, flatten: c.opset() < 13}
		def := int64(-1)
		if o.flatten {
			def = 1
		}
		o.axis = c.attrs.int("axis", def)
		return o, nil
	}
}

func (o softmax) run(f *frame, n *node) error {
	x, out := f.in(n, 0), f.out(n, 0)
	if x.et != f32 {
		return fmt.Errorf("needs float32, has %s", x.et)
	}
	r := max(x.rank(), 1)
	axis, err := normAxis(o.axis, r)
	if err != nil {
		return err
	}
	dst := out.floats(x.shape)
	copy(dst, x.f)
	outer, dim, inner := 1, 1, 1
	for k, d := range x.shape {
		switch {
		case k < axis:
			outer *= d
		case k == axis || o.flatten:
			dim *= d
		default:
			inner *= d
		}
	}
	for b := range outer {
		for j := range inner {
			base := b*dim*inner + j
			if inner == 1 && !o.log {
				kernel.Softmax(dst[base : base+dim])
				continue
			}
			softmaxStrided(dst, base, dim, inner, o.log)
		}
	}
	return nil
}

func softmaxStrided(x []float32, base, dim, stride int, log bool) {
	if dim == 0 {
		return
	}
	m := x[base]
	for k := 1; k < dim; k++ {
		m = max(m, x[base+k*stride])
	}
	var sum float64
	avx.ClearUpper() // math.Exp: see package avx
	for k := range dim {
		sum += math.Exp(float64(x[base+k*stride] - m))
	}
	if log {
		ls := float32(math.Log(sum))
		for k := range dim {
			x[base+k*stride] = x[base+k*stride] - m - ls
		}
		return
	}
	for k := range dim {
		i := base + k*stride
		x[i] = float32(math.Exp(float64(x[i]-m)) / sum)
	}
}
