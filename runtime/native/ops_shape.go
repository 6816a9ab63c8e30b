package native

import (
	"fmt"

	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// identity passes its input on (no copy).
type identity struct{}

func buildIdentity(c *nodeCtx) (op, error) {
	if err := c.inputs(1, 1); err != nil {
		return nil, err
	}
	return identity{}, nil
}

func (identity) run(f *frame, n *node) error {
	x := f.in(n, 0)
	f.out(n, 0).alias(x, x.shape)
	return nil
}

// reshape, flatten, squeeze and unsqueeze only change the shape: the output
// points at the input's data.
type reshape struct{ allowZero bool }

func buildReshape(c *nodeCtx) (op, error) {
	if err := c.inputs(2, 2); err != nil {
		return nil, err
	}
	return reshape{allowZero: c.attrs.int("allowzero", 0) != 0}, nil
}

func (o reshape) run(f *frame, n *node) error {
	x, sv := f.in(n, 0), f.in(n, 1)
	spec, err := sv.intList()
	if err != nil {
		return fmt.Errorf("shape input: %v", err)
	}
	if len(spec) > maxRank {
		return fmt.Errorf("shape %v has rank above %d", spec, maxRank)
	}
	var dims [maxRank]int
	infer, known := -1, 1
	for k, d := range spec {
		switch {
		case d == 0 && !o.allowZero:
			if k >= x.rank() {
				return fmt.Errorf("shape %v copies dimension %d, the input %v has none", spec, k, x.shape)
			}
			dims[k] = x.shape[k]
		case d == -1:
			if infer >= 0 {
				return fmt.Errorf("shape %v has more than one -1", spec)
			}
			infer = k
			continue
		case d < 0:
			return fmt.Errorf("shape %v has a negative dimension", spec)
		default:
			dims[k] = int(d)
		}
		known *= dims[k]
	}
	size := x.size()
	if infer >= 0 {
		if known == 0 || size%known != 0 {
			return fmt.Errorf("cannot reshape %v into %v", x.shape, spec)
		}
		dims[infer] = size / known
		known *= dims[infer]
	}
	if known != size {
		return fmt.Errorf("cannot reshape %v (%d elements) into %v", x.shape, size, spec)
	}
	f.out(n, 0).alias(x, dims[:len(spec)])
	return nil
}

type flatten struct{ axis int64 }

func buildFlatten(c *nodeCtx) (op, error) {
	if err := c.inputs(1, 1); err != nil {
		return nil, err
	}
	return flatten{axis: c.attrs.int("axis", 1)}, nil
}

func (o flatten) run(f *frame, n *node) error {
	x := f.in(n, 0)
	axis := int(o.axis)
	if axis < 0 {
		axis += x.rank()
	}
	if axis < 0 || axis > x.rank() {
		return fmt.Errorf("axis %d is out of range for shape %v", o.axis, x.shape)
	}
	outer := 1
	for _, d := range x.shape[:axis] {
		outer *= d
	}
	inner := 1
	for _, d := range x.shape[axis:] {
		inner *= d
	}
	f.out(n, 0).alias(x, []int{outer, inner})
	return nil
}

// axesOp reads its axes from an attribute (older opsets) or an input.
type axesOp struct {
	attr    []int64
	fromIn  bool
	squeeze bool
}

func buildAxes(squeeze bool) func(*nodeCtx) (op, error) {
	return func(c *nodeCtx) (op, error) {
		o := axesOp{squeeze: squeeze}
		if c.opset() >= 13 {
			if err := c.inputs(1, 2); err != nil {
				return nil, err
			}
			o.fromIn = c.has(1)
			if !squeeze && !o.fromIn {
				return nil, c.invalid("needs the axes input")
			}
		} else {
			if err := c.inputs(1, 1); err != nil {
				return nil, err
			}
			var ok bool
			o.attr, ok = c.attrs.ints("axes")
			if !ok && !squeeze {
				return nil, c.invalid("needs the axes attribute")
			}
		}
		return o, nil
	}
}

func (o axesOp) run(f *frame, n *node) error {
	x := f.in(n, 0)
	axes := o.attr
	if o.fromIn {
		var err error
		if axes, err = f.in(n, 1).intList(); err != nil {
			return fmt.Errorf("axes input: %v", err)
		}
	}
	var dims [maxRank]int
	var mark [maxRank]bool
	if o.squeeze {
		r := 0
		for _, a := range axes {
			k, err := normAxis(a, x.rank())
			if err != nil {
				return err
			}
			if x.shape[k] != 1 {
				return fmt.Errorf("cannot squeeze axis %d of shape %v (size %d)", a, x.shape, x.shape[k])
			}
			mark[k] = true
		}
		for k, d := range x.shape {
			if mark[k] || (len(axes) == 0 && d == 1) {
				continue
			}
			dims[r] = d
			r++
		}
		f.out(n, 0).alias(x, dims[:r])
		return nil
	}
	r := x.rank() + len(axes)
	if r > maxRank {
		return fmt.Errorf("rank %d is above the limit of %d", r, maxRank)
	}
	for _, a := range axes {
		k, err := normAxis(a, r)
		if err != nil {
			return err
		}
		if mark[k] {
			return fmt.Errorf("axis %d repeats", a)
		}
		mark[k] = true
	}
	src := 0
	for k := 0; k < r; k++ {
		if mark[k] {
			dims[k] = 1
		} else {
			dims[k] = x.shape[src]
			src++
		}
	}
	f.out(n, 0).alias(x, dims[:r])
	return nil
}

// gatherStrided copies into dst (shape dims, row-major) the elements of src at
// offset base + sum(idx[d] * st[d]).
func gatherStrided(dst, src *value, dims []int, base int, st *[maxRank]int) {
	r := len(dims)
	total := 1
	for _, d := range dims {
		total *= d
	}
	if total == 0 {
		return
	}
	if r == 0 {
		copyElems(dst, 0, src, base, 1)
		return
	}
	w, ws := dims[r-1], st[r-1]
	var idx [maxRank]int
	off := base
	for o := 0; o < total; o += w {
		if ws == 1 {
			copyElems(dst, o, src, off, w)
		} else {
			stridedRow(dst, o, src, off, ws, w)
		}
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			off += st[d]
			if idx[d] < dims[d] {
				break
			}
			off -= st[d] * dims[d]
			idx[d] = 0
		}
	}
}

func stridedRow(dst *value, o int, src *value, off, step, w int) {
	switch src.et {
	case f32:
		for k := range w {
			dst.f[o+k] = src.f[off+k*step]
		}
	case i64:
		for k := range w {
			dst.i[o+k] = src.i[off+k*step]
		}
	case boolean:
		for k := range w {
			dst.b[o+k] = src.b[off+k*step]
		}
	}
}

type transpose struct{ perm []int64 }

func buildTranspose(c *nodeCtx) (op, error) {
	if err := c.inputs(1, 1); err != nil {
		return nil, err
	}
	perm, _ := c.attrs.ints("perm")
	return transpose{perm: perm}, nil
}

func (o transpose) run(f *frame, n *node) error {
	x, out := f.in(n, 0), f.out(n, 0)
	r := x.rank()
	var perm [maxRank]int
	var seen [maxRank]bool
	for k := 0; k < r; k++ {
		perm[k] = r - 1 - k
		if o.perm != nil {
			if len(o.perm) != r {
				return fmt.Errorf("perm %v does not fit shape %v", o.perm, x.shape)
			}
			p, err := normAxis(o.perm[k], r)
			if err != nil || seen[p] {
				return fmt.Errorf("perm %v is not a permutation of %d axes", o.perm, r)
			}
			perm[k], seen[p] = p, true
		}
	}
	var in, st [maxRank]int
	strides(&in, x.shape)
	var dims [maxRank]int
	moved, last := false, -1
	for k := 0; k < r; k++ {
		dims[k], st[k] = x.shape[perm[k]], in[perm[k]]
		if dims[k] != 1 {
			if perm[k] < last {
				moved = true
			}
			last = perm[k]
		}
	}
	if !moved { // only size-1 axes move: the data order is unchanged
		out.alias(x, dims[:r])
		return nil
	}
	out.like(x, dims[:r])
	gatherStrided(out, x, dims[:r], 0, &st)
	return nil
}

// slice: starts/ends/axes/steps from inputs (opset 10+) or attributes.
type slice struct {
	starts, ends, axes []int64
	fromIn             bool
}

func buildSlice(c *nodeCtx) (op, error) {
	if c.opset() >= 10 {
		if err := c.inputs(3, 5); err != nil {
			return nil, err
		}
		return slice{fromIn: true}, nil
	}
	if err := c.inputs(1, 1); err != nil {
		return nil, err
	}
	o := slice{}
	o.starts, _ = c.attrs.ints("starts")
	o.ends, _ = c.attrs.ints("ends")
	o.axes, _ = c.attrs.ints("axes")
	if len(o.starts) != len(o.ends) {
		return nil, c.invalid("starts and ends differ in length")
	}
	return o, nil
}

func (o slice) run(f *frame, n *node) error {
	x, out := f.in(n, 0), f.out(n, 0)
	starts, ends, axes := o.starts, o.ends, o.axes
	var steps []int64
	if o.fromIn {
		var err error
		if starts, err = f.in(n, 1).intList(); err != nil {
			return fmt.Errorf("starts: %v", err)
		}
		if ends, err = f.in(n, 2).intList(); err != nil {
			return fmt.Errorf("ends: %v", err)
		}
		if v := f.in(n, 3); v != nil {
			if axes, err = v.intList(); err != nil {
				return fmt.Errorf("axes: %v", err)
			}
		}
		if v := f.in(n, 4); v != nil {
			if steps, err = v.intList(); err != nil {
				return fmt.Errorf("steps: %v", err)
			}
		}
	}
	if len(starts) != len(ends) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return fmt.Errorf("starts, ends, axes and steps differ in length")
	}
	r := x.rank()
	var in, st, dims [maxRank]int
	strides(&in, x.shape)
	copy(dims[:r], x.shape)
	st = in
	base := 0
	for k := range starts {
		axis := k
		if axes != nil {
			var err error
			if axis, err = normAxis(axes[k], r); err != nil {
				return err
			}
		}
		step := int64(1)
		if steps != nil {
			step = steps[k]
		}
		if step == 0 {
			return fmt.Errorf("step 0 on axis %d", axis)
		}
		start, count := sliceRange(starts[k], ends[k], step, int64(x.shape[axis]))
		dims[axis] = int(count)
		base += int(start) * in[axis]
		st[axis] = in[axis] * int(step)
	}
	out.like(x, dims[:r])
	gatherStrided(out, x, dims[:r], base, &st)
	return nil
}

// sliceRange clamps one axis's start and end as ONNX Slice does and returns
// the first index and the number of elements taken.
func sliceRange(start, end, step, dim int64) (int64, int64) {
	clamp := func(v, lo, hi int64) int64 { return min(max(v, lo), hi) }
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	if step > 0 {
		start, end = clamp(start, 0, dim), clamp(end, 0, dim)
		if end <= start {
			return 0, 0
		}
		return start, (end - start + step - 1) / step
	}
	start, end = clamp(start, 0, dim-1), clamp(end, -1, dim-1)
	if end >= start {
		return 0, 0
	}
	return start, (start - end + (-step) - 1) / (-step)
}

type gather struct{ axis int64 }

func buildGather(c *nodeCtx) (op, error) {
	if err := c.inputs(2, 2); err != nil {
		return nil, err
	}
	return gather{axis: c.attrs.int("axis", 0)}, nil
}

func (o gather) run(f *frame, n *node) error {
	x, idx, out := f.in(n, 0), f.in(n, 1), f.out(n, 0)
	if idx.et != i64 {
		return fmt.Errorf("indices have element type %s, need int64 or int32", idx.et)
	}
	axis, err := normAxis(o.axis, x.rank())
	if err != nil {
		return err
	}
	r := x.rank() - 1 + idx.rank()
	if r > maxRank {
		return fmt.Errorf("output rank %d is above the limit of %d", r, maxRank)
	}
	var dims [maxRank]int
	k := copy(dims[:], x.shape[:axis])
	k += copy(dims[k:], idx.shape)
	copy(dims[k:], x.shape[axis+1:])
	out.like(x, dims[:r])
	outer, inner := 1, 1
	for _, d := range x.shape[:axis] {
		outer *= d
	}
	for _, d := range x.shape[axis+1:] {
		inner *= d
	}
	a := int64(x.shape[axis])
	pos := 0
	for o := range outer {
		for _, j := range idx.i {
			if j < 0 {
				j += a
			}
			if j < 0 || j >= a {
				return fmt.Errorf("index %d is out of range for axis %d of size %d", j, axis, a)
			}
			copyElems(out, pos, x, (o*int(a)+int(j))*inner, inner)
			pos += inner
		}
	}
	return nil
}

type concat struct{ axis int64 }

func buildConcat(c *nodeCtx) (op, error) {
	if err := c.inputs(1, -1); err != nil {
		return nil, err
	}
	if !c.attrs.has("axis") {
		return nil, c.invalid("needs the axis attribute")
	}
	return concat{axis: c.attrs.int("axis", 0)}, nil
}

func (o concat) run(f *frame, n *node) error {
	first := f.in(n, 0)
	r := first.rank()
	axis, err := normAxis(o.axis, r)
	if err != nil {
		return err
	}
	var dims [maxRank]int
	copy(dims[:], first.shape)
	dims[axis] = 0
	for k := range n.in {
		x := f.in(n, k)
		if x.rank() != r || x.et != first.et {
			return fmt.Errorf("input %d (%s%v) does not match input 0 (%s%v)", k, x.et, x.shape, first.et, first.shape)
		}
		for d := range r {
			if d != axis && x.shape[d] != first.shape[d] {
				return fmt.Errorf("input %d has shape %v, input 0 %v: only axis %d may differ", k, x.shape, first.shape, axis)
			}
		}
		dims[axis] += x.shape[axis]
	}
	out := f.out(n, 0)
	out.like(first, dims[:r])
	outer, inner := 1, 1
	for _, d := range dims[:axis] {
		outer *= d
	}
	for _, d := range dims[axis+1 : r] {
		inner *= d
	}
	pos := 0
	for o := range outer {
		for k := range n.in {
			x := f.in(n, k)
			w := x.shape[axis] * inner
			copyElems(out, pos, x, o*w, w)
			pos += w
		}
	}
	return nil
}

type split struct {
	axis   int64
	sizes  []int64
	fromIn bool
}

func buildSplit(c *nodeCtx) (op, error) {
	o := split{axis: c.attrs.int("axis", 0)}
	if c.opset() >= 13 {
		if err := c.inputs(1, 2); err != nil {
			return nil, err
		}
		o.fromIn = c.has(1)
	} else {
		if err := c.inputs(1, 1); err != nil {
			return nil, err
		}
		o.sizes, _ = c.attrs.ints("split")
	}
	if c.opset() >= 18 {
		if k := c.attrs.int("num_outputs", int64(len(c.np.GetOutput()))); k != int64(len(c.np.GetOutput())) {
			return nil, c.invalid("num_outputs is %d, the node has %d outputs", k, len(c.np.GetOutput()))
		}
	}
	return o, nil
}

func (o split) run(f *frame, n *node) error {
	x := f.in(n, 0)
	axis, err := normAxis(o.axis, x.rank())
	if err != nil {
		return err
	}
	sizes := o.sizes
	if o.fromIn {
		if sizes, err = f.in(n, 1).intList(); err != nil {
			return fmt.Errorf("split input: %v", err)
		}
	}
	parts, dim := len(n.out), x.shape[axis]
	if sizes != nil && len(sizes) != parts {
		return fmt.Errorf("split %v has %d sizes for %d outputs", sizes, len(sizes), parts)
	}
	outer, inner := 1, 1
	for _, d := range x.shape[:axis] {
		outer *= d
	}
	for _, d := range x.shape[axis+1:] {
		inner *= d
	}
	var dims [maxRank]int
	copy(dims[:], x.shape)
	at, chunk := 0, (dim+parts-1)/parts
	for k := range parts {
		size := min(chunk, dim-at)
		if sizes != nil {
			size = int(sizes[k])
		}
		if size < 0 || at+size > dim {
			return fmt.Errorf("split sizes %v do not fit axis %d of size %d", sizes, axis, dim)
		}
		if out := f.out(n, k); out != nil {
			dims[axis] = size
			out.like(x, dims[:x.rank()])
			for o := range outer {
				copyElems(out, o*size*inner, x, (o*dim+at)*inner, size*inner)
			}
		}
		at += size
	}
	if at != dim {
		return fmt.Errorf("split sizes %v add up to %d, axis %d has %d", sizes, at, axis, dim)
	}
	return nil
}

type shapeOp struct{ start, end int64 }

func buildShape(c *nodeCtx) (op, error) {
	if err := c.inputs(1, 1); err != nil {
		return nil, err
	}
	return shapeOp{start: c.attrs.int("start", 0), end: c.attrs.int("end", maxRank+1)}, nil
}

func (o shapeOp) run(f *frame, n *node) error {
	x := f.in(n, 0)
	r := int64(x.rank())
	lo, hi := o.start, o.end
	if lo < 0 {
		lo += r
	}
	if hi < 0 {
		hi += r
	}
	lo, hi = min(max(lo, 0), r), min(max(hi, 0), r)
	hi = max(hi, lo)
	dst := f.out(n, 0).ints([]int{int(hi - lo)})
	for k := range dst {
		dst[k] = int64(x.shape[int(lo)+k])
	}
	return nil
}

// cast converts between float32, int64/int32 and bool.
type cast struct {
	to     elem
	narrow bool // to int32: wrap to 32 bits
}

func buildCast(c *nodeCtx) (op, error) {
	if err := c.inputs(1, 1); err != nil {
		return nil, err
	}
	to := int32(c.attrs.int("to", 0))
	c.attrs.ignore("saturate")
	e, ok := elemOf(to)
	if !ok {
		return nil, c.unsupportedAttr("to", "casting to %s is not supported (float, int32, int64 and bool are)", dataTypeName(to))
	}
	return cast{to: e, narrow: onnxpb.TensorProto_DataType(to) == onnxpb.TensorProto_INT32}, nil
}

func (o cast) run(f *frame, n *node) error {
	x, out := f.in(n, 0), f.out(n, 0)
	if x.et == o.to && !o.narrow {
		out.alias(x, x.shape)
		return nil
	}
	switch o.to {
	case f32:
		dst := out.floats(x.shape)
		for k := range dst {
			switch x.et {
			case f32:
				dst[k] = x.f[k]
			case i64:
				dst[k] = float32(x.i[k])
			default:
				dst[k] = b2f(x.b[k])
			}
		}
	case i64:
		dst := out.ints(x.shape)
		for k := range dst {
			var v int64
			switch x.et {
			case f32:
				v = int64(x.f[k])
			case i64:
				v = x.i[k]
			default:
				v = int64(b2f(x.b[k]))
			}
			if o.narrow {
				v = int64(int32(v))
			}
			dst[k] = v
		}
	default:
		dst := out.bools(x.shape)
		for k := range dst {
			switch x.et {
			case f32:
				dst[k] = x.f[k] != 0
			case i64:
				dst[k] = x.i[k] != 0
			default:
				dst[k] = x.b[k]
			}
		}
	}
	return nil
}

func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

// buildConstant folds a Constant node into a load-time value.
func buildConstant(c *nodeCtx) (op, error) {
	if err := c.inputs(0, 0); err != nil {
		return nil, err
	}
	if len(c.np.GetOutput()) != 1 {
		return nil, c.invalid("needs one output")
	}
	var t *onnxpb.TensorProto
	switch {
	case c.attrs.has("value"):
		t = c.attrs.tensor("value")
	case c.attrs.has("value_float"):
		t = &onnxpb.TensorProto{DataType: ptr(int32(onnxpb.TensorProto_FLOAT)), FloatData: []float32{c.attrs.float("value_float", 0)}}
	case c.attrs.has("value_floats"):
		v, _ := c.attrs.floats("value_floats")
		t = &onnxpb.TensorProto{DataType: ptr(int32(onnxpb.TensorProto_FLOAT)), Dims: []int64{int64(len(v))}, FloatData: v}
	case c.attrs.has("value_int"):
		t = &onnxpb.TensorProto{DataType: ptr(int32(onnxpb.TensorProto_INT64)), Int64Data: []int64{c.attrs.int("value_int", 0)}}
	case c.attrs.has("value_ints"):
		v, _ := c.attrs.ints("value_ints")
		t = &onnxpb.TensorProto{DataType: ptr(int32(onnxpb.TensorProto_INT64)), Dims: []int64{int64(len(v))}, Int64Data: v}
	}
	if t == nil {
		for _, a := range c.np.GetAttribute() {
			return nil, c.unsupportedAttr(a.GetName(), "is not supported (value, value_float(s) and value_int(s) are)")
		}
		return nil, c.invalid("has no value")
	}
	name := c.np.GetOutput()[0]
	if err := c.s.addConst(name, t); err != nil {
		return nil, err
	}
	return nil, nil
}

func ptr[T any](v T) *T { return &v }

// constantOfShape fills a tensor of the given shape with one value.
type constantOfShape struct{ fill *value }

func buildConstantOfShape(c *nodeCtx) (op, error) {
	if err := c.inputs(1, 1); err != nil {
		return nil, err
	}
	o := constantOfShape{fill: &value{et: f32, f: []float32{0}, shape: []int{1}}}
	if tp := c.attrs.tensor("value"); tp != nil {
		t, err := TensorFromProto(tp)
		if err != nil {
			return nil, c.unsupportedAttr("value", "%v", err)
		}
		if o.fill, err = constValue(t); err != nil || o.fill.size() != 1 {
			return nil, c.unsupportedAttr("value", "needs one float, int32, int64 or bool element")
		}
	}
	return o, nil
}

func (o constantOfShape) run(f *frame, n *node) error {
	spec, err := f.in(n, 0).intList()
	if err != nil {
		return fmt.Errorf("shape input: %v", err)
	}
	if len(spec) > maxRank {
		return fmt.Errorf("shape %v has rank above %d", spec, maxRank)
	}
	var dims [maxRank]int
	for k, d := range spec {
		if d < 0 {
			return fmt.Errorf("shape %v has a negative dimension", spec)
		}
		dims[k] = int(d)
	}
	out := f.out(n, 0)
	out.like(o.fill, dims[:len(spec)])
	fillFrom(out, o.fill)
	return nil
}

func fillFrom(out, one *value) {
	switch one.et {
	case f32:
		for k := range out.f {
			out.f[k] = one.f[0]
		}
	case i64:
		for k := range out.i {
			out.i[k] = one.i[0]
		}
	case boolean:
		for k := range out.b {
			out.b[k] = one.b[0]
		}
	}
}

// expand broadcasts its input to a shape.
type expand struct{}

func buildExpand(c *nodeCtx) (op, error) {
	if err := c.inputs(2, 2); err != nil {
		return nil, err
	}
	return expand{}, nil
}

func (expand) run(f *frame, n *node) error {
	x := f.in(n, 0)
	spec, err := f.in(n, 1).intList()
	if err != nil {
		return fmt.Errorf("shape input: %v", err)
	}
	if len(spec) > maxRank {
		return fmt.Errorf("shape %v has rank above %d", spec, maxRank)
	}
	var want [maxRank]int
	for k, d := range spec {
		if d < 0 {
			return fmt.Errorf("shape %v has a negative dimension", spec)
		}
		want[k] = int(d)
	}
	var p bcast
	if err := p.init(x.shape, want[:len(spec)]); err != nil {
		return err
	}
	out := f.out(n, 0)
	dims := p.shape()
	out.like(x, dims)
	gatherStrided(out, x, dims, 0, &p.sa)
	return nil
}
