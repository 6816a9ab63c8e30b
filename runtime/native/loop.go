package native

import (
	"fmt"
)

// loop is ONNX's Loop: inputs M (trip count, optional), cond (optional) and
// N loop-carried values; the body graph takes (iteration, cond, carried...)
// and returns (cond, carried..., scan outputs...); the outputs are the final
// carried values and each scan output stacked along a new first axis. The
// body is planned once at load, with its own frame, and reads outer values.
type loop struct {
	body     *graph
	nCarried int
	nScans   int
	fixed    []bool // carried values the body passes on unchanged from a constant: constants of the body
}

type loopState struct {
	f     *frame
	iter  [1]int64
	cond  [1]bool
	carry []value
	scans []value
}

func (o *loop) newState() any {
	return &loopState{f: newFrame(o.body), carry: make([]value, o.nCarried), scans: make([]value, o.nScans)}
}

func buildLoop(c *nodeCtx) (op, error) {
	if c.numIn() < 2 {
		return nil, c.invalid("needs the inputs M and cond (either may be empty)")
	}
	gp := c.attrs.graph("body")
	if gp == nil {
		return nil, c.invalid("has no body graph")
	}
	o := &loop{nCarried: c.numIn() - 2}
	preset := map[string]*value{}
	o.fixed = make([]bool, o.nCarried)
	ins, outs := gp.GetInput(), gp.GetOutput()
	for k := range o.nCarried {
		// tf2onnx carries the weights of a Keras RNN cell through the loop
		// unchanged: as constants, the body's MatMuls lay them out once at load.
		if v := c.constant(2 + k); v != nil && 2+k < len(ins) && 1+k < len(outs) && ins[2+k].GetName() == outs[1+k].GetName() {
			preset[ins[2+k].GetName()] = v
			o.fixed[k] = true
		}
	}
	body, err := c.s.b.graph(gp, c.s, preset)
	if err != nil {
		return nil, err
	}
	o.body = body
	if len(body.inputs) != 2+o.nCarried {
		return nil, c.invalid("body takes %d inputs, the node gives %d carried values (+ iteration and cond)", len(body.inputs), o.nCarried)
	}
	o.nScans = len(body.outputs) - 1 - o.nCarried
	if o.nScans < 0 || len(c.np.GetOutput()) != o.nCarried+o.nScans {
		return nil, c.invalid("body returns %d outputs, the node has %d outputs and %d carried values", len(body.outputs), len(c.np.GetOutput()), o.nCarried)
	}
	return o, nil
}

func (o *loop) run(f *frame, n *node) error {
	st := f.state[n.slot].(*loopState)
	bf := st.f
	trips := int64(-1)
	if m := f.in(n, 0); m != nil {
		v, err := m.scalarInt()
		if err != nil {
			return fmt.Errorf("trip count M: %v", err)
		}
		trips = v
	}
	st.cond[0] = true
	if c := f.in(n, 1); c != nil {
		v, err := c.scalarInt()
		if err != nil || c.et != boolean {
			return fmt.Errorf("cond must be one bool, is %s%v", c.et, c.shape)
		}
		st.cond[0] = v != 0
	}
	if trips < 0 && f.in(n, 1) == nil {
		return fmt.Errorf("has neither a trip count nor a condition: it would never end")
	}
	for k := range st.carry {
		setCopy(&st.carry[k], f.in(n, 2+k))
	}
	for _, cp := range o.body.captures {
		bf.vals[cp.inner] = f.vals[cp.outer]
	}
	in := o.body.inputs
	iters := 0
	for ; (trips < 0 || int64(iters) < trips) && st.cond[0]; iters++ {
		if err := f.ctx.Err(); err != nil {
			return err
		}
		st.iter[0] = int64(iters)
		bf.vals[in[0].index].alias(&value{et: i64, i: st.iter[:]}, nil)
		bf.vals[in[1].index].alias(&value{et: boolean, b: st.cond[:]}, nil)
		for k := range st.carry {
			if !o.fixed[k] {
				bf.vals[in[2+k].index].alias(&st.carry[k], st.carry[k].shape)
			}
		}
		if err := bf.exec(f.ctx); err != nil {
			return fmt.Errorf("iteration %d: %w", iters, err)
		}
		if err := o.collect(st, iters); err != nil {
			return fmt.Errorf("iteration %d: %w", iters, err)
		}
	}
	for k := range st.carry {
		setCopy(f.out(n, k), &st.carry[k])
	}
	for j := range st.scans {
		out := f.out(n, o.nCarried+j)
		if out == nil {
			continue
		}
		if iters == 0 {
			out.floats([]int{0})
			continue
		}
		acc := &st.scans[j]
		var dims [maxRank]int
		dims[0] = iters
		r := 1 + copy(dims[1:], acc.shape)
		out.like(acc, dims[:r])
		copyElems(out, 0, acc, 0, iters*acc.size())
	}
	return nil
}

// collect reads the body's outputs after one iteration: the condition, the
// carried values and the scan outputs (appended to their accumulators).
func (o *loop) collect(st *loopState, iter int) error {
	bf, outs := st.f, o.body.outputs
	c, err := bf.vals[outs[0].index].scalarInt()
	if err != nil {
		return fmt.Errorf("body condition: %v", err)
	}
	st.cond[0] = c != 0
	for k := range st.carry {
		if o.fixed[k] {
			continue
		}
		v := &bf.vals[outs[1+k].index]
		if v.et == noElem {
			return fmt.Errorf("body output %q was not computed", outs[1+k].name)
		}
		setCopy(&st.carry[k], v)
	}
	for j := range st.scans {
		v := &bf.vals[outs[1+o.nCarried+j].index]
		acc := &st.scans[j]
		if iter == 0 {
			acc.like(v, v.shape)
		} else if !sameShape(acc.shape, v.shape) || acc.et != v.et {
			return fmt.Errorf("scan output %q changes from %s%v to %s%v", outs[1+o.nCarried+j].name, acc.et, acc.shape, v.et, v.shape)
		}
		appendElems(acc, iter, v)
	}
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// setCopy makes dst an owned copy of src (safe when dst's view is src itself).
func setCopy(dst, src *value) {
	if dst == src {
		return
	}
	n := src.size()
	switch src.et {
	case f32:
		copy(grow(&dst.fbuf, n), src.f)
	case i64:
		copy(grow(&dst.ibuf, n), src.i)
	case boolean:
		copy(grow(&dst.bbuf, n), src.b)
	}
	dst.like(src, src.shape)
}

// appendElems stores src as element iter of the accumulator acc (whose shape
// is one element's), growing its buffer geometrically.
func appendElems(acc *value, iter int, src *value) {
	switch src.et {
	case f32:
		acc.f = appendAt(&acc.fbuf, iter, src.f)
	case i64:
		acc.i = appendAt(&acc.ibuf, iter, src.i)
	case boolean:
		acc.b = appendAt(&acc.bbuf, iter, src.b)
	}
}

// appendAt writes elem as the iter-th block of *buf and returns the blocks so far.
func appendAt[T any](buf *[]T, iter int, elem []T) []T {
	n := len(elem)
	need := (iter + 1) * n
	if cap(*buf) < need {
		*buf = append((*buf)[:iter*n], make([]T, need)...)
	}
	out := (*buf)[:need]
	copy(out[iter*n:], elem)
	return out
}
