package model

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Backend runs one loaded model. Run must be safe for concurrent use.
type Backend interface {
	// Signature lists the inputs and outputs.
	Signature() Signature
	// Metadata returns the model's raw metadata map (may be empty).
	Metadata() map[string]string
	// Run feeds every input by name and returns every output by name.
	Run(ctx context.Context, inputs map[string]*Tensor) (map[string]*Tensor, error)
	// Close releases every native resource.
	Close() error
}

// Binding is a call prepared over fixed tensors: each Run reads the inputs'
// Data and writes the outputs' Data in place, allocating nothing. A Binding is
// for one goroutine at a time; Close releases it (not the tensors).
type Binding interface {
	Run(ctx context.Context) error
	Close() error
}

// Binder is implemented by backends that can prepare Bindings natively.
type Binder interface {
	Bind(inputs, outputs map[string]*Tensor) (Binding, error)
}

// Options tune how a model is loaded. The zero value works.
type Options struct {
	// Backend is "native", "onnx" or "tf"; "" or "auto" chooses (see Choose):
	// a folder is a SavedModel, an ONNX file goes to native when it supports
	// every node, else to ONNX Runtime.
	Backend string
	// Threads is the intra-op thread count; 0 uses the backend's default.
	Threads int
	// InterOpThreads is the inter-op thread count; 0 uses the backend's default.
	InterOpThreads int
	// LibraryPath points at the backend's shared library; empty searches for it.
	LibraryPath string
	// Resolve turns the file's own metadata into the Metadata the model
	// reports, given its signature (package runtime/model/infer adds the
	// sidecar, overrides and what the signature implies); nil: ParseMetadata.
	Resolve Resolver
	// Data, when set, is the ONNX model itself, loaded instead of reading
	// the file (path still names it in messages): a graph rewritten in
	// memory, as OpenStateful's. The ONNX backends honor it.
	Data []byte
}

// Resolver computes a model's Metadata from its path, signature and the raw
// map the file stores.
type Resolver func(path string, sig Signature, raw map[string]string) (Metadata, error)

// BackendName maps the names users write for a backend (tf, tensorflow, ort,
// onnxruntime, onnx, native, auto, in any case) to the names Open knows:
// "tf", "onnx", "native" and "auto".
// Other names come back unchanged.
func BackendName(name string) string {
	switch strings.ToLower(name) {
	case "tensorflow", "tf":
		return "tf"
	case "ort", "onnxruntime", "onnx":
		return "onnx"
	case "native", "auto":
		return strings.ToLower(name)
	}
	return name
}

// Opener loads a model file into a Backend.
type Opener func(ctx context.Context, path string, opts Options) (Backend, error)

var (
	backendsMu sync.RWMutex
	backends   = map[string]Opener{}
)

// Register makes a backend available to Open under each of names. Backend
// packages call it from init, so importing one (for its side effect) enables it.
func Register(open Opener, names ...string) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	for _, n := range names {
		backends[n] = open
	}
}

// Backends lists the registered backend names.
func Backends() []string {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	var list []string
	for n := range backends {
		list = append(list, n)
	}
	sort.Strings(list)
	return list
}

// Model is a loaded model: its backend, signature and parsed metadata.
// It is safe for concurrent use; Close waits for running calls to finish.
type Model struct {
	path    string
	backend string
	opts    Options
	b       Backend
	sig     Signature
	meta    Metadata

	mu     sync.RWMutex // held shared by calls, exclusively by Close
	closed bool

	bmu      sync.Mutex // guards bindings
	bindings map[*guardedBinding]struct{}
}

// Open loads the model at path with the backend opts names (or the one its path implies).
func Open(ctx context.Context, path string, opts Options) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadModel, err)
	}
	if !st.IsDir() && st.Size() == 0 {
		return nil, fmt.Errorf("%w: model file %s is empty", ErrBadModel, path)
	}
	if st.IsDir() && (opts.Backend == "" || opts.Backend == "auto") { // a folder is taken for a SavedModel: say when it is not one
		if _, err := os.Stat(filepath.Join(path, "saved_model.pb")); err != nil {
			return nil, fmt.Errorf("%w: %s is a folder without saved_model.pb: give an .onnx file or a SavedModel folder", ErrBadModel, path)
		}
	}
	if opts.Threads < 0 || opts.InterOpThreads < 0 {
		return nil, fmt.Errorf("%w: threads %d, inter-op threads %d: must not be negative (0: the backend's default)", ErrBadModel, opts.Threads, opts.InterOpThreads)
	}
	name, err := resolve(path, opts.Backend)
	if err != nil {
		return nil, err
	}
	backendsMu.RLock()
	open, ok := backends[name]
	backendsMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q (compiled in: %s)", ErrNoBackend, name, strings.Join(Backends(), ", "))
	}
	b, err := open(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	resolveMeta := opts.Resolve
	if resolveMeta == nil {
		resolveMeta = func(_ string, _ Signature, raw map[string]string) (Metadata, error) { return ParseMetadata(raw) }
	}
	meta, err := resolveMeta(path, b.Signature(), b.Metadata())
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Model{path: path, backend: name, opts: opts, b: b, sig: b.Signature(), meta: meta}, nil
}

// New wraps an already opened Backend (for backends not registered with Open).
func New(path, backendName string, b Backend) (*Model, error) {
	meta, err := ParseMetadata(b.Metadata())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Model{path: path, backend: backendName, b: b, sig: b.Signature(), meta: meta}, nil
}

// Path is the file or folder the model was loaded from.
func (m *Model) Path() string { return m.path }

// BackendName is the name of the backend running the model.
func (m *Model) BackendName() string { return m.backend }

// Signature lists the model's inputs and outputs.
func (m *Model) Signature() Signature { return m.sig }

// Metadata is the model's parsed metadata.
func (m *Model) Metadata() Metadata { return m.meta }

// Run checks the inputs against the signature and runs the model.
func (m *Model) Run(ctx context.Context, inputs map[string]*Tensor) (map[string]*Tensor, error) {
	if err := m.sig.CheckInputs(inputs); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(m.path), err)
	}
	var out map[string]*Tensor
	err := m.Do(ctx, func() error {
		var err error
		out, err = m.b.Run(ctx, inputs)
		return err
	})
	return out, err
}

// Do runs fn while the model is held open: it fails with ctx's error when ctx
// is done, with ErrClosed after Close, and otherwise Close waits for fn to
// return. Backends use it for calls of their own beyond Run and Bind (the
// TensorFlow backend's Exec), so every call shares this one lifecycle.
func (m *Model) Do(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return fn()
}

// checkOutputs checks tensors to bind as outputs: signature outputs, valid,
// of the signature's element type.
func (m *Model) checkOutputs(outputs map[string]*Tensor) error {
	if len(outputs) == 0 {
		return fmt.Errorf("%w: no outputs to bind (model outputs: %s)", ErrBadInput, names(m.sig.Outputs))
	}
	for name, t := range outputs {
		info, ok := m.sig.Output(name)
		if !ok {
			return fmt.Errorf("%w: unknown output %q (model outputs: %s)", ErrBadInput, name, names(m.sig.Outputs))
		}
		if err := t.Validate(); err != nil {
			return fmt.Errorf("%w: output %q: %v", ErrBadInput, name, err)
		}
		if info.Type != Unknown && t.DType() != info.Type {
			return fmt.Errorf("%w: output %q: element type %s, model gives %s", ErrBadInput, name, t.DType(), info.Type)
		}
	}
	return nil
}

// Bind prepares a zero-allocation call over fixed tensors. Inputs and outputs
// are named as in the signature; outputs must be allocated with their exact
// shapes and types, and may be a subset of the signature's outputs.
// Backends without native bindings get one that runs Run and copies outputs.
func (m *Model) Bind(inputs, outputs map[string]*Tensor) (Binding, error) {
	if err := m.sig.CheckInputs(inputs); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(m.path), err)
	}
	if err := m.checkOutputs(outputs); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	var b Binding
	if binder, ok := m.b.(Binder); ok {
		nb, err := binder.Bind(inputs, outputs)
		if err != nil {
			return nil, err
		}
		b = nb
	} else {
		b = &copyBinding{b: m.b, inputs: inputs, outputs: outputs}
	}
	g := &guardedBinding{m: m, b: b}
	m.bmu.Lock()
	if m.bindings == nil {
		m.bindings = map[*guardedBinding]struct{}{}
	}
	m.bindings[g] = struct{}{}
	m.bmu.Unlock()
	return g, nil
}

// Close releases the backend after running calls finish. Closing twice is harmless.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	// Bindings hold backend objects that must go before the backend itself.
	m.bmu.Lock()
	var errs []error
	for g := range m.bindings {
		errs = append(errs, g.b.Close())
	}
	m.bindings = nil
	m.bmu.Unlock()
	return errors.Join(append(errs, m.b.Close())...)
}

// guardedBinding holds the model's read lock during each Run, so Close waits.
type guardedBinding struct {
	m *Model
	b Binding
}

func (g *guardedBinding) Run(ctx context.Context) error {
	return g.m.Do(ctx, func() error { return g.b.Run(ctx) })
}

// Close releases the binding; after the model's Close it does nothing.
func (g *guardedBinding) Close() error {
	g.m.bmu.Lock()
	defer g.m.bmu.Unlock()
	if _, live := g.m.bindings[g]; !live {
		return nil
	}
	delete(g.m.bindings, g)
	return g.b.Close()
}

// copyBinding serves backends without native bindings.
type copyBinding struct {
	b       Backend
	inputs  map[string]*Tensor
	outputs map[string]*Tensor
}

func (c *copyBinding) Run(ctx context.Context) error {
	out, err := c.b.Run(ctx, c.inputs)
	if err != nil {
		return err
	}
	for name, dst := range c.outputs {
		src, ok := out[name]
		if !ok {
			return fmt.Errorf("backend returned no output %q", name)
		}
		if err := CopyInto(dst, src); err != nil {
			return fmt.Errorf("output %q: %w", name, err)
		}
	}
	return nil
}

func (c *copyBinding) Close() error { return nil }

// CopyInto copies src's data into dst; both must have the same type and size.
func CopyInto(dst, src *Tensor) error {
	if dst.DType() != src.DType() || dst.Len() != src.Len() {
		return fmt.Errorf("%w: cannot copy %s%v into %s%v", ErrBadInput, src.DType(), src.Shape, dst.DType(), dst.Shape)
	}
	switch d := dst.Data.(type) {
	case []float32:
		copy(d, src.Data.([]float32))
	case []float64:
		copy(d, src.Data.([]float64))
	case []int32:
		copy(d, src.Data.([]int32))
	case []int64:
		copy(d, src.Data.([]int64))
	case []uint8:
		copy(d, src.Data.([]uint8))
	case []int8:
		copy(d, src.Data.([]int8))
	case []bool:
		copy(d, src.Data.([]bool))
	default:
		return errors.New("unsupported tensor type")
	}
	return nil
}
