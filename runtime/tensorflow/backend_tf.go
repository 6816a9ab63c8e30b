//go:build tensorflow && cgo

package tensorflow

/*
#include <stdlib.h>
#include <tensorflow/c/c_api.h>
*/
import "C"

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"github.com/rnnrun/rnnrun/runtime/model"
)

func init() { model.Register(Open, "tf", "tensorflow") }

// Open loads the SavedModel folder at path with tag "serve" and its
// serving_default signature. It satisfies model.Opener: model.Open wraps the
// backend in a model.Model, which checks inputs and holds the lifecycle.
// opts.Threads and opts.InterOpThreads set TensorFlow's thread pools (0:
// TensorFlow's default); opts.LibraryPath is ignored: libtensorflow is linked
// at build time.
func Open(ctx context.Context, path string, opts model.Options) (model.Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return load(path, []string{DefaultTag}, opts)
}

// Output is one tensor of the graph: an operation's output by index, as in
// tfgo's Model.Op. A zero op means the operation was not found; Exec reports it.
type Output struct {
	Op    string
	Index int
	op    *C.TF_Operation
}

func (o Output) String() string { return fmt.Sprintf("%s:%d", o.Op, o.Index) }

func (o Output) c() C.TF_Output { return C.TF_Output{oper: o.op, index: C.int(o.Index)} }

// port is a signature tensor resolved in the graph.
type port struct {
	key  string // signature key: x, h, probs...
	info TensorInfo
	out  Output
}

// savedModel is the backend: a TensorFlow session over a SavedModel's graph,
// the chosen signature and the metadata asset. It checks nothing a
// model.Model checks (context, inputs, closed): it is only reached through one.
type savedModel struct {
	path    string
	tags    []string
	session *C.TF_Session
	graph   *C.TF_Graph
	sigs    map[string]SignatureDef
	sigKey  string
	sig     model.Signature
	ins     []port
	outs    []port
	meta    map[string]string
}

// Model is a loaded SavedModel with tfgo's surface (LoadModel, Op, Exec) on
// top of a model.Model, whose Run, Bind, Signature, Metadata and Close it has.
// Every call, Exec included, goes through the model.Model's lifecycle: safe
// for concurrent use, failing with model.ErrClosed after Close, and Close
// waits for running calls and releases every TensorFlow object.
type Model struct {
	*model.Model
	sm *savedModel
}

// LoadModel loads the SavedModel folder at path with the MetaGraphDef tags
// (nil means "serve") and selects its serving_default signature. It is
// shaped like tfgo.LoadModel but returns an error instead of panicking. opts
// may be nil; see Open for the fields it uses.
//
// Errors wrap model.ErrBadModel when path is not a SavedModel folder, the tags
// or the serving_default signature are missing, or the signature names
// tensors the graph lacks.
func LoadModel(path string, tags []string, opts *model.Options) (*Model, error) {
	if opts == nil {
		opts = &model.Options{}
	}
	sm, err := load(path, tags, *opts)
	if err != nil {
		return nil, err
	}
	m, err := model.New(path, "tf", sm)
	if err != nil {
		sm.Close()
		return nil, err
	}
	return &Model{Model: m, sm: sm}, nil
}

// load opens the session and resolves the serving_default signature.
func load(path string, tags []string, opts model.Options) (*savedModel, error) {
	if len(tags) == 0 {
		tags = []string{DefaultTag}
	}
	if err := checkDir(path); err != nil {
		return nil, err
	}
	meta, err := readMetadata(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	quiet()
	session, graph, mg, err := loadSession(path, tags, opts.Threads, opts.InterOpThreads)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: loading SavedModel with tags %s: %v", model.ErrBadModel, path, strings.Join(tags, ","), err)
	}
	sm := &savedModel{path: path, tags: tags, session: session, graph: graph, meta: meta}
	if err := sm.init(mg); err != nil {
		sm.Close()
		return nil, err
	}
	return sm, nil
}

// checkDir explains why path is not a SavedModel folder.
func checkDir(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %v", model.ErrBadModel, err)
	}
	if !st.IsDir() {
		hint := ""
		if strings.EqualFold(filepath.Ext(path), ".onnx") {
			hint = "; for an ONNX file use --backend onnx"
		}
		return fmt.Errorf("%w: %s is a file, not a SavedModel folder (a folder holding saved_model.pb)%s", model.ErrBadModel, path, hint)
	}
	for _, name := range []string{"saved_model.pb", "saved_model.pbtxt"} {
		if _, err := os.Stat(filepath.Join(path, name)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not a SavedModel folder: it has no saved_model.pb", model.ErrBadModel, path)
}

// init decodes the signatures and resolves serving_default in the graph.
func (m *savedModel) init(metaGraph []byte) error {
	sigs, err := parseSignatures(metaGraph)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", model.ErrBadModel, m.path, err)
	}
	m.sigs = sigs
	return m.useSignature(DefaultSignature)
}

// useSignature makes key the signature Signature, Run and Bind use.
func (m *savedModel) useSignature(key string) error {
	sd, ok := m.sigs[key]
	if !ok {
		return fmt.Errorf("%w: %s has no %q signature (signatures found: %s)", model.ErrBadModel, m.path, key, signatureNames(m.sigs))
	}
	if len(sd.Inputs) == 0 || len(sd.Outputs) == 0 {
		return fmt.Errorf("%w: %s: signature %q has %d inputs and %d outputs", model.ErrBadModel, m.path, key, len(sd.Inputs), len(sd.Outputs))
	}
	input, stateIn, output, stateOut := metadataOrder(m.meta)
	ins, err := m.ports(key, "input", sd.Inputs, orderKeys(sd.Inputs, input, stateIn))
	if err != nil {
		return err
	}
	outs, err := m.ports(key, "output", sd.Outputs, orderKeys(sd.Outputs, output, stateOut))
	if err != nil {
		return err
	}
	m.sigKey, m.ins, m.outs = key, ins, outs
	m.sig = model.Signature{}
	for _, p := range ins {
		m.sig.Inputs = append(m.sig.Inputs, tensorInfo(p))
	}
	for _, p := range outs {
		m.sig.Outputs = append(m.sig.Outputs, tensorInfo(p))
	}
	return nil
}

func tensorInfo(p port) model.TensorInfo {
	return model.TensorInfo{Name: p.key, Type: p.info.DType.DType(), Shape: p.info.Shape}
}

// ports resolves each signature tensor to a graph operation output.
func (m *savedModel) ports(sigKey, kind string, infos map[string]TensorInfo, keys []string) ([]port, error) {
	list := make([]port, 0, len(keys))
	for _, k := range keys {
		info := infos[k]
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s: signature %q %s %q: %s", model.ErrBadModel, m.path, sigKey, kind, k, fmt.Sprintf(format, args...))
		}
		if info.Sparse {
			return nil, bad("is a sparse or composite tensor; rnnrun feeds dense tensors only")
		}
		if info.DType.DType() == model.Unknown {
			return nil, bad("has element type %s, which rnnrun does not support", info.DType)
		}
		name, idx, err := splitTensorName(info.Name)
		if err != nil {
			return nil, bad("%v", err)
		}
		out := m.op(name, idx)
		if out.op == nil {
			return nil, bad("names tensor %q, but the graph has no operation %q", info.Name, name)
		}
		if n := int(C.TF_OperationNumOutputs(out.op)); idx >= n {
			return nil, bad("names tensor %q, but operation %q has %d outputs", info.Name, name, n)
		}
		list = append(list, port{key: k, info: info, out: out})
	}
	return list, nil
}

// SignatureKey is the signature Signature and Run use (serving_default).
func (m *Model) SignatureKey() string { return m.sm.sigKey }

// Signatures returns every signature of the loaded MetaGraphDef by key.
func (m *Model) Signatures() map[string]SignatureDef {
	out := make(map[string]SignatureDef, len(m.sm.sigs))
	for k, v := range m.sm.sigs {
		out[k] = v
	}
	return out
}

// Signature lists the inputs and outputs named by their signature keys, the
// metadata's main and state tensors first (x, h, c / probs, h_out, c_out).
func (m *savedModel) Signature() model.Signature { return m.sig }

// Metadata is the JSON object of assets/rnnrun.json (empty when absent).
func (m *savedModel) Metadata() map[string]string { return m.meta }

// Op returns output idx of the graph operation name, as tfgo's Model.Op. For
// a Keras SavedModel the signature's inputs are operations like
// "serving_default_x" and its outputs "StatefulPartitionedCall" (see
// Signatures for the exact tensor names). After Close, or for an operation
// the graph lacks, the Output names no operation and Exec reports it.
func (m *Model) Op(name string, idx int) Output {
	out := Output{Op: name, Index: idx}
	m.Do(context.Background(), func() error {
		out = m.sm.op(name, idx)
		return nil
	})
	return out
}

func (m *savedModel) op(name string, idx int) Output {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return Output{Op: name, Index: idx, op: C.TF_GraphOperationByName(m.graph, cname)}
}

// Exec runs the graph as tfgo's Model.Exec: it feeds feeds and returns the
// outputs in order. Unlike tfgo it returns an error instead of panicking.
func (m *Model) Exec(outputs []Output, feeds map[Output]*model.Tensor) ([]*model.Tensor, error) {
	return m.ExecContext(context.Background(), outputs, feeds)
}

// ExecContext is Exec with a context (see Run for how it is honoured).
func (m *Model) ExecContext(ctx context.Context, outputs []Output, feeds map[Output]*model.Tensor) ([]*model.Tensor, error) {
	var res []*model.Tensor
	err := m.Do(ctx, func() error {
		var err error
		res, err = m.sm.exec(ctx, outputs, feeds)
		return err
	})
	return res, err
}

// exec feeds and fetches graph tensors by operation output.
func (m *savedModel) exec(ctx context.Context, outputs []Output, feeds map[Output]*model.Tensor) ([]*model.Tensor, error) {
	ins := make([]C.TF_Output, 0, len(feeds))
	vals := make([]*C.TF_Tensor, 0, len(feeds))
	defer func() {
		for _, t := range vals {
			deleteTensor(t)
		}
	}()
	for o, t := range feeds {
		if o.op == nil {
			return nil, fmt.Errorf("%w: feed %s: no such operation in the graph", model.ErrBadInput, o)
		}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("%w: feed %s: %v", model.ErrBadInput, o, err)
		}
		tt, err := toTF(t)
		if err != nil {
			return nil, fmt.Errorf("feed %s: %w", o, err)
		}
		ins = append(ins, o.c())
		vals = append(vals, tt)
	}
	outs := make([]C.TF_Output, len(outputs))
	for i, o := range outputs {
		if o.op == nil {
			return nil, fmt.Errorf("%w: output %s: no such operation in the graph", model.ErrBadInput, o)
		}
		outs[i] = o.c()
	}
	return m.run(ctx, ins, vals, outs)
}

// run calls TF_SessionRun and copies the fetched tensors into Go memory.
func (m *savedModel) run(ctx context.Context, ins []C.TF_Output, vals []*C.TF_Tensor, outs []C.TF_Output) ([]*model.Tensor, error) {
	fetched := make([]*C.TF_Tensor, len(outs))
	defer func() {
		for _, t := range fetched {
			deleteTensor(t)
		}
	}()
	if err := m.sessionRun(ctx, ins, vals, outs, fetched); err != nil {
		return nil, err
	}
	result := make([]*model.Tensor, len(outs))
	for i, t := range fetched {
		gt, err := fromTF(t)
		if err != nil {
			return nil, err
		}
		result[i] = gt
	}
	return result, nil
}

// sessionRun runs the session. The fetched tensors are counted as live and
// belong to the caller. A deadline on ctx becomes RunOptions.timeout_in_ms;
// other cancellation is noticed when the call returns (TensorFlow's C API
// cannot interrupt a running step).
func (m *savedModel) sessionRun(ctx context.Context, ins []C.TF_Output, vals []*C.TF_Tensor, outs []C.TF_Output, fetched []*C.TF_Tensor) error {
	var opts *C.TF_Buffer
	if dl, ok := ctx.Deadline(); ok {
		ms := time.Until(dl).Milliseconds()
		if ms <= 0 {
			return context.DeadlineExceeded
		}
		opts = newBufferFrom(runOptions(ms))
		defer deleteBuffer(opts)
	}
	st := newStatus()
	defer deleteStatus(st)
	var pIns *C.TF_Output
	var pVals **C.TF_Tensor
	if len(ins) > 0 {
		pIns, pVals = &ins[0], &vals[0]
	}
	var pOuts *C.TF_Output
	var pFetched **C.TF_Tensor
	if len(outs) > 0 {
		pOuts, pFetched = &outs[0], &fetched[0]
	}
	C.TF_SessionRun(m.session, opts, pIns, pVals, C.int(len(ins)), pOuts, pFetched, C.int(len(outs)), nil, 0, nil, st)
	for _, t := range fetched {
		if t != nil {
			live.tensors.Add(1)
		}
	}
	if err := statusErr(st); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("%s: %w", filepath.Base(m.path), err)
	}
	return ctx.Err()
}

// Run feeds every input by signature key and returns every output by key
// (model.Model has checked the inputs and the context). A deadline on ctx
// bounds the call itself.
func (m *savedModel) Run(ctx context.Context, inputs map[string]*model.Tensor) (map[string]*model.Tensor, error) {
	ins := make([]C.TF_Output, len(m.ins))
	vals := make([]*C.TF_Tensor, len(m.ins))
	defer func() {
		for _, t := range vals {
			deleteTensor(t)
		}
	}()
	for i, p := range m.ins {
		t, err := toTF(inputs[p.key])
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", p.key, err)
		}
		ins[i], vals[i] = p.out.c(), t
	}
	outs := make([]C.TF_Output, len(m.outs))
	for i, p := range m.outs {
		outs[i] = p.out.c()
	}
	res, err := m.run(ctx, ins, vals, outs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*model.Tensor, len(res))
	for i, t := range res {
		out[m.outs[i].key] = t
	}
	return out, nil
}

// Close deletes the session and graph (model.Model has closed the Bindings
// and waited for running calls).
func (m *savedModel) Close() error {
	var err error
	if m.session != nil {
		err = deleteSession(m.session)
		m.session = nil
	}
	deleteGraph(m.graph)
	m.graph = nil
	if err != nil {
		return fmt.Errorf("%s: closing: %w", m.path, err)
	}
	return nil
}
