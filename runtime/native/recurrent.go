package native

import (
	"fmt"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/native/kernel"
)

// rnnKind selects the cell of a recurrent op.
type rnnKind uint8

const (
	cellLSTM rnnKind = iota
	cellGRU
	cellRNN
)

// recurrent is ONNX's LSTM, GRU or RNN: forward, reverse or bidirectional,
// layout 0 (time-major) or 1 (batch-major), sequence_lens, initial states,
// outputs Y, Y_h (and Y_c). Constant weights are laid out once at load.
type recurrent struct {
	kind    rnnKind
	gates   int // 4 (LSTM), 3 (GRU), 1 (RNN)
	hidden  int // from hidden_size, or 0 to take it from R
	dirs    int
	reverse [2]bool
	layout  int
	lbr     bool      // GRU linear_before_reset
	acts    [2]unKind // RNN activation per direction
	w       *rnnWeights
}

// rnnWeights are one op's weights in the kernels' layout.
type rnnWeights struct {
	in, hidden int
	dir        [2]dirWeights
}

// dirWeights holds one direction: W row-major [G*H, I] for the dense mat-vec
// and GEMM, its transpose [I, G*H] with the bias added to every row (a one-hot
// input row's whole projection is one contiguous row to copy), R [G*H, H], and the biases pre-summed (W_b + R_b; GRU keeps
// R_b of its h gate apart, as the reset gate scales it).
type dirWeights struct {
	w, wt, r, bias, rbh []float32
	p                   []float32 // LSTM peepholes [3H] (i, o, f), or nil
	wp, rp              []float32 // W and R packed for kernel.GemmPacked (batched rows)
	// wrp is [W | R | bias] (G x (I+H+1)) packed for kernel.GemmPacked, LSTM and
	// RNN only: a batched step of dense inputs is then one GEMM of [x_t | h | 1]
	// (see fusedStep); wr is its row-major scratch.
	wr, wrp []float32
}

type rnnState struct {
	wts                     rnnWeights
	x, xw, g, tmp, tmp2, rh []float32
	h, c, xa                []float32
	nz                      sparseCols
	hot                     []int32 // hotStep: the 1's column in each one-hot input row
}

func (*recurrent) newState() any { return &rnnState{} }

var defaultActs = map[rnnKind][]string{
	cellLSTM: {"sigmoid", "tanh", "tanh"},
	cellGRU:  {"sigmoid", "tanh"},
	cellRNN:  {"tanh"},
}

func buildRecurrent(kind rnnKind) func(*nodeCtx) (op, error) {
	return func(c *nodeCtx) (op, error) {
		o := &recurrent{kind: kind, gates: [...]int{4, 3, 1}[kind]}
		maxIn := 6
		if kind == cellLSTM {
			maxIn = 8
		}
		if err := c.inputs(3, maxIn); err != nil {
			return nil, err
		}
		o.hidden = int(c.attrs.int("hidden_size", 0))
		switch dir := c.attrs.str("direction", "forward"); dir {
		case "forward":
			o.dirs = 1
		case "reverse":
			o.dirs, o.reverse[0] = 1, true
		case "bidirectional":
			o.dirs, o.reverse[1] = 2, true
		default:
			return nil, c.invalid("direction %q is not forward, reverse or bidirectional", dir)
		}
		if c.opset() >= 14 {
			o.layout = int(c.attrs.int("layout", 0))
		}
		if err := o.checkAttrs(c); err != nil {
			return nil, err
		}
		w, r, b, p := c.constant(1), c.constant(2), c.constant(3), c.constant(7)
		if w != nil && r != nil && (b != nil || !c.has(3)) && (p != nil || !c.has(7)) {
			o.w = &rnnWeights{}
			if err := o.prepare(o.w, w, r, b, p); err != nil {
				return nil, c.invalid("%v", err)
			}
		}
		return o, nil
	}
}

func (o *recurrent) checkAttrs(c *nodeCtx) error {
	if o.layout != 0 && o.layout != 1 {
		return c.invalid("layout %d is not 0 or 1", o.layout)
	}
	for _, a := range []string{"activation_alpha", "activation_beta", "clip"} {
		if c.attrs.has(a) {
			return c.unsupportedAttr(a, "is not implemented (only unclipped cells with the default activations are)")
		}
	}
	if o.kind == cellLSTM && c.attrs.int("input_forget", 0) != 0 {
		return c.unsupportedAttr("input_forget", "coupled input and forget gates are not supported")
	}
	if o.kind == cellGRU {
		o.lbr = c.attrs.int("linear_before_reset", 0) != 0
	}
	acts, ok := c.attrs.strs("activations")
	if !ok {
		o.acts = [2]unKind{opTanh, opTanh}
		return nil
	}
	def := defaultActs[o.kind]
	if len(acts) != len(def)*o.dirs {
		return c.invalid("activations %v: needs %d names", acts, len(def)*o.dirs)
	}
	for k, a := range acts {
		a = strings.ToLower(a)
		if o.kind == cellRNN {
			kinds := map[string]unKind{"tanh": opTanh, "relu": opRelu, "sigmoid": opSigmoid}
			u, ok := kinds[a]
			if !ok {
				return c.unsupportedAttr("activations", "%q is not supported (Tanh, Relu and Sigmoid are)", acts[k])
			}
			o.acts[k] = u
			continue
		}
		if a != def[k%len(def)] {
			return c.unsupportedAttr("activations", "%v: only the defaults %v are supported", acts, def)
		}
	}
	if o.dirs == 1 {
		o.acts[1] = o.acts[0]
	}
	return nil
}

// prepare lays out W, R and B (b may be nil) into dst, reusing its buffers.
func (o *recurrent) prepare(dst *rnnWeights, w, r, b, p *value) error {
	if w.et != f32 || r.et != f32 || w.rank() != 3 || r.rank() != 3 {
		return fmt.Errorf("W and R must be 3-D float32, are %s%v and %s%v", w.et, w.shape, r.et, r.shape)
	}
	H := r.shape[2]
	if o.hidden != 0 && H != o.hidden {
		return fmt.Errorf("R%v does not match hidden_size %d", r.shape, o.hidden)
	}
	G, I := o.gates*H, w.shape[2]
	if w.shape[0] != o.dirs || r.shape[0] != o.dirs || w.shape[1] != G || r.shape[1] != G {
		return fmt.Errorf("W%v and R%v do not fit %d direction(s) of %d gates of %d units", w.shape, r.shape, o.dirs, o.gates, H)
	}
	if b != nil && (b.et != f32 || b.rank() != 2 || b.shape[0] != o.dirs || b.shape[1] != 2*G) {
		return fmt.Errorf("B%v must be [%d, %d]", b.shape, o.dirs, 2*G)
	}
	if p != nil && (p.et != f32 || p.rank() != 2 || p.shape[0] != o.dirs || p.shape[1] != 3*H) {
		return fmt.Errorf("P%v must be [%d, %d]", p.shape, o.dirs, 3*H)
	}
	dst.in, dst.hidden = I, H
	for d := range o.dirs {
		dw := &dst.dir[d]
		dw.p = nil
		if p != nil {
			dw.p = p.f[d*3*H : (d+1)*3*H]
		}
		dw.w = w.f[d*G*I : (d+1)*G*I]
		dw.r = r.f[d*G*H : (d+1)*G*H]
		transposeInto(grow(&dw.wt, G*I), dw.w, G, I)
		kernel.PackNT(grow(&dw.wp, kernel.PackedLen(G, I)), dw.w, G, I)
		kernel.PackNT(grow(&dw.rp, kernel.PackedLen(G, H)), dw.r, G, H)
		bias := grow(&dw.bias, G)
		rbh := grow(&dw.rbh, H)
		clear(bias)
		clear(rbh)
		if b != nil {
			wb, rb := b.f[d*2*G:d*2*G+G], b.f[d*2*G+G:(d+1)*2*G]
			for k := range bias {
				bias[k] = wb[k] + rb[k]
			}
			if o.kind == cellGRU {
				copy(rbh, rb[2*H:])
				for k := 2 * H; k < G; k++ {
					bias[k] = wb[k]
				}
			}
		}
		kernel.AddBias(dw.wt, bias, I, G) // a one-hot row's projection is one row of wt
		if o.kind != cellGRU {
			packFused(dw, G, I, H)
		}
	}
	return nil
}

// packFused lays out dw.wrp: row j of [W | R | bias] is W's row j, R's row j
// and bias[j], packed for kernel.GemmPacked.
func packFused(dw *dirWeights, G, I, H int) {
	K := I + H + 1
	wr := grow(&dw.wr, G*K)
	for j := range G {
		row := wr[j*K : (j+1)*K]
		copy(row, dw.w[j*I:(j+1)*I])
		copy(row[I:], dw.r[j*H:(j+1)*H])
		row[I+H] = dw.bias[j]
	}
	kernel.PackNT(grow(&dw.wrp, kernel.PackedLen(G, K)), wr, G, K)
}

// dims of one call.
type rnnDims struct{ T, B, I, H, G, D int }

func (o *recurrent) run(f *frame, n *node) error {
	st := f.state[n.slot].(*rnnState)
	x := f.in(n, 0)
	if x.et != f32 || x.rank() != 3 {
		return fmt.Errorf("input X must be 3-D float32, is %s%v", x.et, x.shape)
	}
	wts := o.w
	if wts == nil {
		wts = &st.wts
		if err := o.prepare(wts, f.in(n, 1), f.in(n, 2), f.in(n, 3), f.in(n, 7)); err != nil {
			return err
		}
	}
	d := rnnDims{T: x.shape[0], B: x.shape[1], I: x.shape[2], H: wts.hidden, D: o.dirs}
	if o.layout == 1 {
		d.T, d.B = d.B, d.T
	}
	d.G = o.gates * d.H
	if d.I != wts.in {
		return fmt.Errorf("input X%v has %d features, W wants %d", x.shape, d.I, wts.in)
	}
	lens, err := seqLens(f.in(n, 4), d)
	if err != nil {
		return err
	}
	h0, c0 := f.in(n, 5), f.in(n, 6)
	if err := checkState("initial_h", h0, d, o.layout); err != nil {
		return err
	}
	if o.kind != cellLSTM {
		c0 = nil
	} else if err := checkState("initial_c", c0, d, o.layout); err != nil {
		return err
	}
	xs := x.f
	if o.layout == 1 { // to time-major
		xs = grow(&st.x, len(x.f))
		for b := range d.B {
			for t := range d.T {
				copy(xs[(t*d.B+b)*d.I:(t*d.B+b+1)*d.I], x.f[(b*d.T+t)*d.I:(b*d.T+t+1)*d.I])
			}
		}
	}
	outs := o.outputs(f, n, d, lens != nil)
	for dir := range d.D {
		o.direction(st, &wts.dir[dir], dir, xs, lens, h0, c0, outs, d)
	}
	return nil
}

// rnnOuts are the output tensors' data (nil when not wanted).
type rnnOuts struct{ y, yh, yc []float32 }

func (o *recurrent) outputs(f *frame, n *node, d rnnDims, clearY bool) rnnOuts {
	var r rnnOuts
	state := []int{d.D, d.B, d.H}
	ydims := []int{d.T, d.D, d.B, d.H}
	if o.layout == 1 {
		state = []int{d.B, d.D, d.H}
		ydims = []int{d.B, d.T, d.D, d.H}
	}
	if v := f.out(n, 0); v != nil {
		r.y = v.floats(ydims)
		if clearY {
			clear(r.y)
		}
	}
	if v := f.out(n, 1); v != nil {
		r.yh = v.floats(state)
	}
	if v := f.out(n, 2); v != nil && o.kind == cellLSTM {
		r.yc = v.floats(state)
	}
	return r
}

func seqLens(v *value, d rnnDims) ([]int64, error) {
	if v == nil {
		return nil, nil
	}
	if v.et != i64 || v.rank() != 1 || v.shape[0] != d.B {
		return nil, fmt.Errorf("sequence_lens must be int32 or int64 [%d], is %s%v", d.B, v.et, v.shape)
	}
	full := true
	for _, l := range v.i {
		if l < 0 || l > int64(d.T) {
			return nil, fmt.Errorf("sequence_lens %v: each must be within 0..%d", v.i, d.T)
		}
		full = full && l == int64(d.T)
	}
	if full {
		return nil, nil
	}
	return v.i, nil
}

func checkState(name string, v *value, d rnnDims, layout int) error {
	if v == nil {
		return nil
	}
	w0, w1 := d.D, d.B
	if layout == 1 {
		w0, w1 = d.B, d.D
	}
	if v.et != f32 || v.rank() != 3 || v.shape[0] != w0 || v.shape[1] != w1 || v.shape[2] != d.H {
		return fmt.Errorf("%s must be float32 [%d %d %d], is %s%v", name, w0, w1, d.H, v.et, v.shape)
	}
	return nil
}

// stateAt is the offset of (direction, batch row) in Y_h, Y_c and the initial states.
func (o *recurrent) stateAt(d rnnDims, dir, b int) int {
	if o.layout == 1 {
		return (b*d.D + dir) * d.H
	}
	return (dir*d.B + b) * d.H
}

// yAt is the offset of (time, direction, batch row) in Y.
func (o *recurrent) yAt(d rnnDims, t, dir, b int) int {
	if o.layout == 1 {
		return ((b*d.T+t)*d.D + dir) * d.H
	}
	return ((t*d.D+dir)*d.B + b) * d.H
}

// direction runs one direction over the whole sequence.
func (o *recurrent) direction(st *rnnState, dw *dirWeights, dir int, xs []float32, lens []int64, h0, c0 *value, outs rnnOuts, d rnnDims) {
	fused := dw.wrp != nil && d.B > 1 && lens == nil && !anyOneHot(xs, d.T*d.B, d.I)
	hot := !fused && o.kind == cellLSTM && dw.p == nil && d.B > 1 && lens == nil && allOneHot(&st.hot, xs, d.T*d.B, d.I)
	var xw []float32
	if !fused && !hot {
		xw = grow(&st.xw, d.T*d.B*d.G)
		project(xw, xs, d.T*d.B, d.I, d.G, dw)
	}
	h, c := grow(&st.h, d.B*d.H), grow(&st.c, d.B*d.H)
	// With one direction in layout 0, Y_h and Y_c are [1, B, H] like h and c:
	// the recurrence runs in them and nothing is copied out at the end.
	if d.D == 1 && o.layout == 0 {
		if outs.yh != nil {
			h = outs.yh[:d.B*d.H]
		}
		if outs.yc != nil {
			c = outs.yc[:d.B*d.H]
		}
	}
	for b := range d.B {
		hb, cb := h[b*d.H:(b+1)*d.H], c[b*d.H:(b+1)*d.H]
		if off := o.stateAt(d, dir, b); h0 != nil {
			copy(hb, h0.f[off:off+d.H])
		} else {
			clear(hb)
		}
		if off := o.stateAt(d, dir, b); c0 != nil {
			copy(cb, c0.f[off:off+d.H])
		} else {
			clear(cb)
		}
	}
	rev := o.reverse[dir]
	for s := range d.T {
		t := s
		if rev {
			t = d.T - 1 - s
		}
		switch {
		case hot:
			hotStep(st, dw, st.hot[t*d.B:(t+1)*d.B], h, c, d)
		case fused:
			o.fusedStep(st, dw, o.acts[dir], xs[t*d.B*d.I:(t+1)*d.B*d.I], h, c, s == 0, d)
			if outs.y != nil || s == d.T-1 {
				fusedH(h, st.xa, d)
			}
		case lens == nil:
			o.step(st, dw, o.acts[dir], xw[t*d.B*d.G:(t+1)*d.B*d.G], h, c, lens, s, d)
		default:
			g := grow(&st.g, d.B*d.G)
			for b := range d.B {
				if t := timeOf(s, b, lens, rev); t >= 0 {
					copy(g[b*d.G:(b+1)*d.G], xw[(t*d.B+b)*d.G:(t*d.B+b+1)*d.G])
				}
			}
			o.step(st, dw, o.acts[dir], g, h, c, lens, s, d)
		}
		if outs.y == nil {
			continue
		}
		for b := range d.B {
			t := t
			if lens != nil {
				t = timeOf(s, b, lens, rev)
			}
			if t >= 0 {
				off := o.yAt(d, t, dir, b)
				copy(outs.y[off:off+d.H], h[b*d.H:(b+1)*d.H])
			}
		}
	}
	for b := range d.B {
		off := o.stateAt(d, dir, b)
		hb, cb := h[b*d.H:(b+1)*d.H], c[b*d.H:(b+1)*d.H]
		if lens != nil && lens[b] == 0 { // as ONNX Runtime: an empty sequence ends in zeros
			clear(hb)
			clear(cb)
		}
		if outs.yh != nil && &outs.yh[off] != &hb[0] {
			copy(outs.yh[off:off+d.H], hb)
		}
		if outs.yc != nil && &outs.yc[off] != &cb[0] {
			copy(outs.yc[off:off+d.H], cb)
		}
	}
}

// timeOf is the time index row b reads at step s, or -1 past its length.
func timeOf(s, b int, lens []int64, rev bool) int {
	l := int(lens[b])
	if s >= l {
		return -1
	}
	if rev {
		return l - 1 - s
	}
	return s
}

func active(lens []int64, s, b int) bool { return lens == nil || s < int(lens[b]) }

// project sets xw[row] = W x[row] + bias for every row: a one-hot row is the
// row of W^T plus bias (dw.wt); dense rows go through the GEMM.
func project(xw, xs []float32, rows, I, G int, dw *dirWeights) {
	if !anyOneHot(xs, rows, I) {
		mulPacked(xw, xs, dw.w, dw.wp, rows, G, I, false)
		kernel.AddBias(xw, dw.bias, rows, G)
		return
	}
	for r := range rows {
		row, dst := xs[r*I:(r+1)*I], xw[r*G:(r+1)*G]
		if j := oneHot(row); j >= 0 {
			copy(dst, dw.wt[j*G:(j+1)*G])
			continue
		}
		kernel.MatVec(dst, dw.w, row, dw.bias, G, I)
	}
}

// allOneHot reports whether every row of xs (I values each) is one-hot, with
// the 1's column of each in *cols.
func allOneHot(cols *[]int32, xs []float32, rows, I int) bool {
	idx := grow(cols, rows)
	for r := range rows {
		j := oneHot(xs[r*I : (r+1)*I])
		if j < 0 {
			return false
		}
		idx[r] = int32(j)
	}
	return true
}

// hotStep advances a batch of LSTM rows whose inputs are one-hot (the 1 of
// row b in column cols[b]) by one step: g = R h by the GEMM, then the cell on
// g + the row of W^T (bias included) that the input selects, so no input
// projection is copied (the same float32 sums as project then step).
func hotStep(st *rnnState, dw *dirWeights, cols []int32, h, c []float32, d rnnDims) {
	H, G := d.H, d.G
	g := grow(&st.g, d.B*G)
	kernel.GemmPacked(g, h, dw.rp, d.B, G, H, false)
	for b, j := range cols {
		kernel.LSTMCellAdd(g[b*G:(b+1)*G], dw.wt[int(j)*G:(int(j)+1)*G], c[b*H:(b+1)*H], h[b*H:(b+1)*H], H)
	}
}

// anyOneHot reports whether any of the rows of xs (I values each) is one-hot.
func anyOneHot(xs []float32, rows, I int) bool {
	for r := range rows {
		if oneHot(xs[r*I:(r+1)*I]) >= 0 {
			return true
		}
	}
	return false
}

// fusedStep advances every row of a batch of dense inputs x [B, I] by one step
// of an LSTM or RNN with one GEMM: g = [x | h | 1] [W | R | bias]^T, then the
// cell. No projection of all time steps is kept: g stays in cache for the cell.
// The rows [x | h | 1] live in st.xa for the whole sequence (filled from h at
// the first step): the cell writes h into them, so a step copies only x_t, and
// fusedH copies h out when it is wanted.
//
// When x is sparse (MNIST's pixel rows: about 80% zeros), each group of 8 rows
// sums only the x columns in which one of them is nonzero (sparseCols).
func (o *recurrent) fusedStep(st *rnnState, dw *dirWeights, act unKind, x, h, c []float32, first bool, d rnnDims) {
	I, H, K := d.I, d.H, d.I+d.H+1
	a := grow(&st.xa, d.B*K)
	for b := range d.B {
		row := a[b*K : (b+1)*K]
		copy(row, x[b*I:(b+1)*I])
		if first {
			copy(row[I:], h[b*H:(b+1)*H])
			row[I+H] = 1
		}
	}
	g := grow(&st.g, d.B*d.G)
	if st.nz.collect(x, d.B, I, sparseFraction) {
		kernel.GemmPackedSparse(g, a, dw.wrp, d.B, d.G, K, I, st.nz.cols, st.nz.off)
	} else {
		kernel.GemmPacked(g, a, dw.wrp, d.B, d.G, K, false)
	}
	o.cells(dw, act, g, a[I:], K, c, nil, 0, d)
}

// sparseFraction is the largest share of listed input columns (see
// sparseCols) for which a batched step takes kernel.GemmPackedSparse: listing
// costs a scan of x, and a group's columns are then summed at the dense GEMM's
// speed (measured on mnist.onnx at batch 256, see docs/native.md).
const sparseFraction = 0.9

// sparseCols lists, for each group of kernel.SparseGroup input rows, the
// columns in which any of its rows is nonzero: cols[off[g]:off[g+1]].
type sparseCols struct {
	cols []int32
	off  []int
}

// collect fills s from x (rows of n values each) and reports whether the full
// groups list at most frac of their columns.
func (s *sparseCols) collect(x []float32, rows, n int, frac float64) bool {
	const gs = kernel.SparseGroup
	groups := rows / gs
	if groups == 0 {
		return false
	}
	cols, off := grow(&s.cols, groups*n), grow(&s.off, groups+1)
	k := 0
	for g := range groups {
		off[g] = k
		xg := x[g*gs*n : (g+1)*gs*n]
		for j := range n {
			for r := j; r < len(xg); r += n {
				if xg[r] != 0 {
					cols[k] = int32(j)
					k++
					break
				}
			}
		}
	}
	off[groups] = k
	return float64(k) <= frac*float64(groups*n)
}

// fusedH copies the rows' h out of fusedStep's [x | h | 1] rows xa into h.
func fusedH(h, xa []float32, d rnnDims) {
	K := d.I + d.H + 1
	for b := range d.B {
		copy(h[b*d.H:(b+1)*d.H], xa[b*K+d.I:b*K+d.I+d.H])
	}
}

// oneHot returns the index of the single 1 in row when every other value is 0, else -1.
func oneHot(row []float32) int { return kernel.OneHot(row) }

// mulNT is c = a w^T (+ c when acc) for m rows; one row goes through the mat-vec kernel.
func mulNT(c, a, w []float32, m, n, k int, acc bool) {
	switch {
	case m == 1 && acc:
		kernel.MatVecAdd(c, w, a, n, k)
	case m == 1:
		kernel.MatVec(c, w, a, nil, n, k)
	default:
		kernel.GemmNT(c, a, w, m, n, k, acc)
	}
}

// step advances every active row by one time step; g holds the rows' input
// projections [B, G] and is used as scratch.
func (o *recurrent) step(st *rnnState, dw *dirWeights, act unKind, g, h, c []float32, lens []int64, s int, d rnnDims) {
	H, G := d.H, d.G
	switch o.kind {
	case cellLSTM:
		if d.B == 1 && dw.p == nil && active(lens, s, 0) {
			kernel.LSTMStep(grow(&st.tmp2, G), c, h, dw.r, nil, g, H)
			return
		}
		mulPacked(g, h, dw.r, dw.rp, d.B, G, H, true)
	case cellRNN:
		mulPacked(g, h, dw.r, dw.rp, d.B, G, H, true)
	case cellGRU:
		o.gru(st, dw, g, h, lens, s, d)
		return
	}
	o.cells(dw, act, g, h, d.H, c, lens, s, d)
}

// cells applies the LSTM or RNN cell to every active row of g (W x + R h +
// bias); row b's h starts at h[b*hs].
func (o *recurrent) cells(dw *dirWeights, act unKind, g, h []float32, hs int, c []float32, lens []int64, s int, d rnnDims) {
	H, G := d.H, d.G
	for b := range d.B {
		hb := h[b*hs : b*hs+H]
		switch {
		case !active(lens, s, b):
		case o.kind == cellRNN:
			unaryFloats(act, hb, g[b*G:(b+1)*G])
		case dw.p != nil:
			peepholeCell(g[b*G:(b+1)*G], c[b*H:(b+1)*H], hb, dw.p, H)
		default:
			kernel.LSTMCell(g[b*G:(b+1)*G], c[b*H:(b+1)*H], hb, H)
		}
	}
}

// gru: z = σ(Wz x + Rz h + b), r = σ(Wr x + Rr h + b),
// h~ = tanh(Wh x + r ⊙ (Rh h + Rbh) + Wbh) with linear_before_reset,
// h~ = tanh(Wh x + Rh (r ⊙ h) + Rbh + Wbh) without; h = (1 - z) h~ + z h.
func (o *recurrent) gru(st *rnnState, dw *dirWeights, g, h []float32, lens []int64, s int, d rnnDims) {
	H, G, B := d.H, d.G, d.B
	if o.lbr {
		tmp := grow(&st.tmp, B*G)
		mulPacked(tmp, h, dw.r, dw.rp, B, G, H, false)
		for b := range B {
			if !active(lens, s, b) {
				continue
			}
			gb, tb, hb := g[b*G:(b+1)*G], tmp[b*G:(b+1)*G], h[b*H:(b+1)*H]
			for k := range 2 * H {
				gb[k] += tb[k]
			}
			kernel.Sigmoid(gb[:2*H], gb[:2*H])
			for k := range H {
				gb[2*H+k] += gb[H+k] * (tb[2*H+k] + dw.rbh[k])
			}
			gruOut(gb, hb, H)
		}
		return
	}
	zr := grow(&st.tmp, B*2*H)
	mulNT(zr, h, dw.r[:2*H*H], B, 2*H, H, false)
	rh := grow(&st.rh, B*H)
	for b := range B {
		gb, tb := g[b*G:(b+1)*G], zr[b*2*H:(b+1)*2*H]
		for k := range 2 * H {
			gb[k] += tb[k]
		}
		kernel.Sigmoid(gb[:2*H], gb[:2*H])
		for k := range H {
			rh[b*H+k] = gb[H+k] * h[b*H+k]
		}
	}
	hh := grow(&st.tmp2, B*H)
	mulNT(hh, rh, dw.r[2*H*H:], B, H, H, false)
	for b := range B {
		if !active(lens, s, b) {
			continue
		}
		gb := g[b*G : (b+1)*G]
		for k := range H {
			gb[2*H+k] += hh[b*H+k] + dw.rbh[k]
		}
		gruOut(gb, h[b*H:(b+1)*H], H)
	}
}

// gruOut sets h = (1 - z) tanh(gh) + z h from a row's gates (z already squashed).
func gruOut(gb, h []float32, H int) {
	gh := gb[2*H : 3*H]
	kernel.Tanh(gh, gh)
	for k := range H {
		z := gb[k]
		h[k] = (1-z)*gh[k] + z*h[k]
	}
}

// peepholeCell is the LSTM cell with peepholes p = [Pi, Po, Pf]:
// i = σ(gi + Pi c), f = σ(gf + Pf c), c' = f c + i tanh(gc), o = σ(go + Po c'), h = o tanh(c').
func peepholeCell(g, c, h, p []float32, H int) {
	gi, gO, gf, gc := g[:H], g[H:2*H], g[2*H:3*H], g[3*H:4*H]
	pi, pO, pf := p[:H], p[H:2*H], p[2*H:3*H]
	for k := range H {
		gi[k] += pi[k] * c[k]
		gf[k] += pf[k] * c[k]
	}
	kernel.Sigmoid(gi, gi)
	kernel.Sigmoid(gf, gf)
	kernel.Tanh(gc, gc)
	for k := range H {
		c[k] = gf[k]*c[k] + gi[k]*gc[k]
		gO[k] += pO[k] * c[k]
	}
	kernel.Sigmoid(gO, gO)
	kernel.Tanh(h, c[:H])
	for k := range H {
		h[k] *= gO[k]
	}
}

// mulPacked is mulNT with w also packed (wp) for the batched GEMM.
func mulPacked(c, a, w, wp []float32, m, n, k int, acc bool) {
	if m == 1 {
		mulNT(c, a, w, m, n, k, acc)
		return
	}
	kernel.GemmPacked(c, a, wp, m, n, k, acc)
}
