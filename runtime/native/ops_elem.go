package native

import (
	"fmt"
	"math"

	"github.com/rnnrun/rnnrun/runtime/internal/avx"
	"github.com/rnnrun/rnnrun/runtime/native/kernel"
)

type binKind uint8

const (
	opAdd binKind = iota
	opSub
	opMul
	opDiv
	opLess
	opLessEq
	opGreater
	opGreaterEq
	opEqual
	opAnd
	opOr
	opXor
)

func (k binKind) compares() bool { return k >= opLess && k <= opEqual }
func (k binKind) logical() bool  { return k >= opAnd }

// binop is an elementwise op with numpy broadcasting.
type binop struct{ kind binKind }

func newBinary(kind binKind) func(*nodeCtx) (op, error) {
	return func(c *nodeCtx) (op, error) {
		if err := c.inputs(2, 2); err != nil {
			return nil, err
		}
		return &binop{kind: kind}, nil
	}
}

func (o *binop) run(f *frame, n *node) error {
	a, b, out := f.in(n, 0), f.in(n, 1), f.out(n, 0)
	if a.et != b.et {
		return fmt.Errorf("inputs have element types %s and %s", a.et, b.et)
	}
	var p bcast
	if err := p.init(a.shape, b.shape); err != nil {
		return err
	}
	w, sa, sb := p.inner()
	switch {
	case o.kind.logical():
		if a.et != boolean {
			return fmt.Errorf("needs bool inputs, has %s", a.et)
		}
		dst := out.bools(p.shape())
		p.each(func(k, ia, ib int) { logicRow(o.kind, dst[k:k+w], a.b, b.b, ia, ib, sa, sb) })
	case o.kind.compares():
		dst := out.bools(p.shape())
		switch a.et {
		case f32:
			p.each(func(k, ia, ib int) { compareRow(o.kind, dst[k:k+w], a.f, b.f, ia, ib, sa, sb) })
		case i64:
			p.each(func(k, ia, ib int) { compareRow(o.kind, dst[k:k+w], a.i, b.i, ia, ib, sa, sb) })
		default:
			if o.kind != opEqual {
				return fmt.Errorf("cannot compare bool tensors")
			}
			p.each(func(k, ia, ib int) { equalBools(dst[k:k+w], a.b, b.b, ia, ib, sa, sb) })
		}
	case a.et == f32:
		dst := out.floats(p.shape())
		if o.kind == opAdd && sa == 1 && sb == 1 && len(a.f) == len(dst) && len(b.f) == w && w > 0 {
			// x + a bias row (a Dense layer's MatMul then Add): every row adds all of b.
			copy(dst, a.f)
			kernel.AddBias(dst, b.f, len(dst)/w, w)
			return nil
		}
		p.each(func(k, ia, ib int) { arithRow(o.kind, dst[k:k+w], a.f, b.f, ia, ib, sa, sb) })
	case a.et == i64:
		if o.kind == opDiv && hasZero(b.i) {
			return fmt.Errorf("integer division by zero")
		}
		dst := out.ints(p.shape())
		p.each(func(k, ia, ib int) { arithRow(o.kind, dst[k:k+w], a.i, b.i, ia, ib, sa, sb) })
	default:
		return fmt.Errorf("arithmetic on %s tensors is not supported", a.et)
	}
	return nil
}

func hasZero(x []int64) bool {
	for _, v := range x {
		if v == 0 {
			return true
		}
	}
	return false
}

type number interface{ ~float32 | ~int64 }

func arithRow[T number](kind binKind, dst, a, b []T, ia, ib, sa, sb int) {
	if sa == 1 && sb == 1 {
		a, b = a[ia:ia+len(dst)], b[ib:ib+len(dst)]
		switch kind {
		case opAdd:
			for k := range dst {
				dst[k] = a[k] + b[k]
			}
		case opSub:
			for k := range dst {
				dst[k] = a[k] - b[k]
			}
		case opMul:
			for k := range dst {
				dst[k] = a[k] * b[k]
			}
		case opDiv:
			for k := range dst {
				dst[k] = a[k] / b[k]
			}
		}
		return
	}
	for k := range dst {
		x, y := a[ia+k*sa], b[ib+k*sb]
		switch kind {
		case opAdd:
			dst[k] = x + y
		case opSub:
			dst[k] = x - y
		case opMul:
			dst[k] = x * y
		case opDiv:
			dst[k] = x / y
		}
	}
}

func compareRow[T number](kind binKind, dst []bool, a, b []T, ia, ib, sa, sb int) {
	for k := range dst {
		x, y := a[ia+k*sa], b[ib+k*sb]
		switch kind {
		case opLess:
			dst[k] = x < y
		case opLessEq:
			dst[k] = x <= y
		case opGreater:
			dst[k] = x > y
		case opGreaterEq:
			dst[k] = x >= y
		case opEqual:
			dst[k] = x == y
		}
	}
}

func equalBools(dst, a, b []bool, ia, ib, sa, sb int) {
	for k := range dst {
		dst[k] = a[ia+k*sa] == b[ib+k*sb]
	}
}

func logicRow(kind binKind, dst, a, b []bool, ia, ib, sa, sb int) {
	for k := range dst {
		x, y := a[ia+k*sa], b[ib+k*sb]
		switch kind {
		case opAnd:
			dst[k] = x && y
		case opOr:
			dst[k] = x || y
		default:
			dst[k] = x != y
		}
	}
}

type unKind uint8

const (
	opSigmoid unKind = iota
	opTanh
	opRelu
	opNeg
	opExp
	opLog
	opAbs
	opSqrt
	opNot
)

// unary is an elementwise op of one input.
type unary struct{ kind unKind }

func newUnary(kind unKind) func(*nodeCtx) (op, error) {
	return func(c *nodeCtx) (op, error) {
		if err := c.inputs(1, 1); err != nil {
			return nil, err
		}
		return &unary{kind: kind}, nil
	}
}

func (o *unary) run(f *frame, n *node) error {
	x, out := f.in(n, 0), f.out(n, 0)
	switch {
	case o.kind == opNot:
		if x.et != boolean {
			return fmt.Errorf("needs a bool input, has %s", x.et)
		}
		dst := out.bools(x.shape)
		for k, v := range x.b {
			dst[k] = !v
		}
	case x.et == i64 && (o.kind == opNeg || o.kind == opAbs || o.kind == opRelu):
		dst := out.ints(x.shape)
		for k, v := range x.i {
			switch {
			case o.kind == opNeg:
				v = -v
			case v < 0 && o.kind == opAbs:
				v = -v
			case v < 0:
				v = 0
			}
			dst[k] = v
		}
	case x.et == f32:
		unaryFloats(o.kind, out.floats(x.shape), x.f)
	default:
		return fmt.Errorf("input has element type %s, needs float32", x.et)
	}
	return nil
}

func unaryFloats(kind unKind, dst, src []float32) {
	switch kind {
	case opSigmoid:
		kernel.Sigmoid(dst, src)
		return
	case opTanh:
		kernel.Tanh(dst, src)
		return
	}
	avx.ClearUpper() // math.Exp, Log and Sqrt below: see package avx
	for k, v := range src {
		switch kind {
		case opRelu:
			v = max(v, 0)
		case opNeg:
			v = -v
		case opExp:
			v = float32(math.Exp(float64(v)))
		case opLog:
			v = float32(math.Log(float64(v)))
		case opAbs:
			v = float32(math.Abs(float64(v)))
		case opSqrt:
			v = float32(math.Sqrt(float64(v)))
		}
		dst[k] = v
	}
}
