package native

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// ErrUnsupported marks a model the native backend cannot run (an op, an
// attribute, an input or an element type it does not implement); ONNX Runtime
// may still run it. Such errors are *UnsupportedError, and also match
// model.ErrBadModel.
var ErrUnsupported = errors.New("not supported by the native backend")

// UnsupportedError says what in a model file the native backend does not
// support: the node, op and attribute when it is one node's.
type UnsupportedError struct {
	File   string // the model file's base name
	Node   string // the node's name (or first output), if a node's
	Op     string // the node's op type
	Attr   string // the attribute, if one
	Reason string
}

func (e *UnsupportedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %s", model.ErrBadModel, e.File)
	if e.Op != "" {
		fmt.Fprintf(&b, ": node %q (%s)", e.Node, e.Op)
	}
	if e.Attr != "" {
		fmt.Fprintf(&b, ": attribute %q", e.Attr)
	}
	fmt.Fprintf(&b, ": %s; %v (run this model with --backend onnx)", e.Reason, ErrUnsupported)
	return b.String()
}

// Is matches ErrUnsupported and model.ErrBadModel.
func (e *UnsupportedError) Is(target error) bool {
	return target == ErrUnsupported || target == model.ErrBadModel
}

func unsupported(file, format string, args ...any) error {
	return &UnsupportedError{File: file, Reason: fmt.Sprintf(format, args...)}
}

// op is one node's computation. run reads the node's inputs from f and
// writes its outputs into f; it must not allocate once the frame's buffers
// have grown to the call's shapes.
type op interface {
	run(f *frame, n *node) error
}

// stateful ops keep per-frame scratch (buffers sized at the first call).
type stateful interface {
	newState() any
}

// node is one scheduled node of a plan.
type node struct {
	name   string
	opType string
	in     []int // value slots; -1 for an omitted optional input
	out    []int // value slots; -1 for an omitted optional output
	op     op
	slot   int // index into frame.state
}

// slot describes a graph input or output.
type slot struct {
	name  string
	index int
	info  model.TensorInfo
}

// capture copies an outer graph's value into a subgraph's slot (Loop bodies
// read outer names).
type capture struct{ outer, inner int }

// graph is a static plan: value slots, constants, topologically sorted nodes.
type graph struct {
	nvals    int
	names    []string
	consts   map[int]*value
	inputs   []slot
	outputs  []slot
	nodes    []*node
	captures []capture
}

// frame holds the values and per-node scratch of one execution context. A
// frame is used by one goroutine at a time and is reused across calls.
type frame struct {
	g     *graph
	vals  []value
	state []any
	ctx   context.Context // of the running call, for ops that loop (Loop)
}

func newFrame(g *graph) *frame {
	f := &frame{g: g, vals: make([]value, g.nvals), state: make([]any, len(g.nodes))}
	for k, c := range g.consts {
		f.vals[k] = *c
	}
	for _, n := range g.nodes {
		if s, ok := n.op.(stateful); ok {
			f.state[n.slot] = s.newState()
		}
	}
	return f
}

// in returns the node's k-th input value, or nil when it is omitted.
func (f *frame) in(n *node, k int) *value {
	if k >= len(n.in) || n.in[k] < 0 {
		return nil
	}
	return &f.vals[n.in[k]]
}

// out returns the node's k-th output value, or nil when it is not wanted.
func (f *frame) out(n *node, k int) *value {
	if k >= len(n.out) || n.out[k] < 0 {
		return nil
	}
	return &f.vals[n.out[k]]
}

// exec runs every node in order.
func (f *frame) exec(ctx context.Context) error {
	f.ctx = ctx
	defer func() { f.ctx = nil }()
	for _, n := range f.g.nodes {
		if err := n.op.run(f, n); err != nil {
			return fmt.Errorf("%w: node %q (%s): %v", model.ErrBadInput, n.name, n.opType, err)
		}
	}
	return ctx.Err()
}
