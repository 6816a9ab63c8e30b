//go:build tensorflow && cgo

package tensorflow

// The cgo binding: only the C API functions the backend needs. Flags come from
// the environment (scripts/tf-env.sh sets CGO_CFLAGS to -I the headers and
// CGO_LDFLAGS to -L/-rpath the libraries and -l:libtensorflow_cc.so.2
// -l:libtensorflow_framework.so.2, or -l:libtensorflow.so.2 for the C library
// tarball), so no path is hard-coded here.

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tensorflow/c/c_api.h>

// rnnrun_loaded_objects writes the paths of the shared objects loaded in the
// process into p, one a line, and returns the bytes written.
struct rnnrun_names { char* p; size_t n, cap; };
static int rnnrun_add_object(struct dl_phdr_info* info, size_t size, void* data) {
	struct rnnrun_names* b = data;
	size_t len = strlen(info->dlpi_name);
	if (len > 0 && b->n + len + 1 <= b->cap) {
		memcpy(b->p + b->n, info->dlpi_name, len);
		b->p[b->n + len] = '\n';
		b->n += len + 1;
	}
	return 0;
}
static size_t rnnrun_loaded_objects(char* p, size_t cap) {
	struct rnnrun_names b = {p, 0, cap};
	dl_iterate_phdr(rnnrun_add_object, &b);
	return b.n;
}

// rnnrun_call_int_fn calls the function void name(int) of the loaded
// libraries with level; it returns 0 when no such symbol is loaded.
static int rnnrun_call_int_fn(const char* name, int level) {
	void (*fn)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, name);
	if (!fn) return 0;
	fn(level);
	return 1;
}

static size_t rnnrun_buffer_length(TF_Buffer* b) { return b->length; }
static const void* rnnrun_buffer_data(TF_Buffer* b) { return b->data; }
*/
import "C"

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Enabled reports whether the TensorFlow backend is compiled in.
const Enabled = true

// Version is the version of the linked TensorFlow library (TF_Version).
func Version() string { return C.GoString(C.TF_Version()) }

// live counts the TensorFlow objects this package holds, by kind. Every
// constructor below increments it and every destructor decrements it, so the
// leak test can check that load/close cycles return to zero.
var live struct {
	sessions, graphs, options, buffers, statuses, tensors atomic.Int64
}

// LiveObjects reports how many TensorFlow objects of each kind the package
// currently holds (sessions, graphs, session options, buffers, statuses,
// tensors). With every Model and Binding closed, all are zero.
func LiveObjects() map[string]int64 {
	return map[string]int64{
		"sessions": live.sessions.Load(), "graphs": live.graphs.Load(), "options": live.options.Load(),
		"buffers": live.buffers.Load(), "statuses": live.statuses.Load(), "tensors": live.tensors.Load(),
	}
}

var quietOnce sync.Once

// quiet keeps TensorFlow's INFO and WARNING logs off stderr unless the user set
// TF_CPP_MIN_LOG_LEVEL themselves (TensorFlow then honours it on its own).
// One INFO line about oneDNN is printed while the library loads, before any
// Go code runs; only TF_CPP_MIN_LOG_LEVEL in the environment at start can hide it.
//
// Setting the variable now is too late for most of TensorFlow: it reads it
// once, while the library initialises, before Go runs. Since 2.14 TensorFlow
// logs through Abseil, and the C API has no call for the log level, so quiet
// calls absl::SetMinLogLevel, which the library exports. Its linker name
// carries Abseil's versioned inline namespace (absl::lts_20250814::...),
// which changes with every TensorFlow release, so it is not written here:
// abslSymbol reads it from the dynamic symbol table of the loaded library.
func quiet() {
	quietOnce.Do(func() {
		if _, set := os.LookupEnv("TF_CPP_MIN_LOG_LEVEL"); set {
			return
		}
		os.Setenv("TF_CPP_MIN_LOG_LEVEL", "2") // for TensorFlow builds that read it lazily
		if name, err := abslSymbol("SetMinLogLevel", setMinLogLevel); err == nil {
			cname := C.CString(name)
			defer C.free(unsafe.Pointer(cname))
			C.rnnrun_call_int_fn(cname, 2) // absl::LogSeverityAtLeast::kError
		}
	})
}

// setMinLogLevel matches the Itanium C++ ABI name of
// absl::SetMinLogLevel(absl::LogSeverityAtLeast), with or without Abseil's
// inline namespace (lts_YYYYMMDD).
var setMinLogLevel = regexp.MustCompile(`^_ZN4absl(\d+lts_\d+)?14SetMinLogLevelENS(0_|_)18LogSeverityAtLeastE$`)

// abslSymbol finds the name of a symbol containing hint and matching re in the dynamic string
// table of a loaded TensorFlow library (a shared object whose file name
// contains "tensorflow"), smallest file first: libtensorflow_framework defines
// Abseil and is a tenth of libtensorflow_cc's size. dlsym then resolves the
// name wherever it is defined.
func abslSymbol(hint string, re *regexp.Regexp) (string, error) {
	buf := make([]byte, 1<<16)
	n := C.rnnrun_loaded_objects((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	var libs []string
	size := map[string]int64{}
	for _, path := range strings.Split(string(buf[:n]), "\n") {
		if st, err := os.Stat(path); err == nil && strings.Contains(filepath.Base(path), "tensorflow") {
			libs, size[path] = append(libs, path), st.Size()
		}
	}
	sort.Slice(libs, func(i, j int) bool { return size[libs[i]] < size[libs[j]] })
	for _, path := range libs {
		if sym, ok := dynamicString(path, hint, re); ok {
			return sym, nil
		}
	}
	return "", fmt.Errorf("no loaded TensorFlow library names a symbol matching %s (looked in: %s)", re, strings.Join(libs, ", "))
}

// dynamicString is the first string of the ELF file's dynamic string table
// (the names of the symbols it defines or uses) that contains hint and that
// re matches. Searching for hint first scans a large table in milliseconds.
func dynamicString(path, hint string, re *regexp.Regexp) (string, bool) {
	if hint == "" {
		return "", false
	}
	f, err := elf.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sec := f.Section(".dynstr")
	if sec == nil {
		return "", false
	}
	tab, err := sec.Data()
	if err != nil {
		return "", false
	}
	for rest := tab; ; {
		i := bytes.Index(rest, []byte(hint))
		if i < 0 {
			return "", false
		}
		start := bytes.LastIndexByte(rest[:i], 0) + 1
		end := bytes.IndexByte(rest[i:], 0)
		if end < 0 {
			end = len(rest) - i
		}
		if name := rest[start : i+end]; re.Match(name) {
			return string(name), true
		}
		rest = rest[i+end:]
	}
}

func newStatus() *C.TF_Status {
	live.statuses.Add(1)
	return C.TF_NewStatus()
}

func deleteStatus(s *C.TF_Status) {
	if s != nil {
		C.TF_DeleteStatus(s)
		live.statuses.Add(-1)
	}
}

// statusErr is nil when s is OK, else TensorFlow's code and message.
func statusErr(s *C.TF_Status) error {
	code := C.TF_GetCode(s)
	if code == C.TF_OK {
		return nil
	}
	return &Error{Code: int(code), Message: strings.TrimSpace(C.GoString(C.TF_Message(s)))}
}

// Error is a failed TensorFlow call: its status code and message.
type Error struct {
	Code    int
	Message string
}

// TensorFlow status codes (TF_Code) this package tests for.
const (
	CodeDeadlineExceeded = int(C.TF_DEADLINE_EXCEEDED)
	CodeNotFound         = int(C.TF_NOT_FOUND)
	CodeInvalidArgument  = int(C.TF_INVALID_ARGUMENT)
)

var codeNames = map[int]string{
	0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
	6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
	10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
	15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}

func (e *Error) Error() string {
	name, ok := codeNames[e.Code]
	if !ok {
		name = fmt.Sprintf("code %d", e.Code)
	}
	// TensorFlow appends graph debug context after the first line; keep it short.
	msg := e.Message
	if i := strings.Index(msg, "\n\t [["); i >= 0 {
		msg = msg[:i]
	}
	return fmt.Sprintf("tensorflow %s: %s", name, msg)
}

func newGraph() *C.TF_Graph {
	live.graphs.Add(1)
	return C.TF_NewGraph()
}

func deleteGraph(g *C.TF_Graph) {
	if g != nil {
		C.TF_DeleteGraph(g)
		live.graphs.Add(-1)
	}
}

func newBuffer() *C.TF_Buffer {
	live.buffers.Add(1)
	return C.TF_NewBuffer()
}

// newBufferFrom copies b into a new TF_Buffer (nil when b is empty).
func newBufferFrom(b []byte) *C.TF_Buffer {
	if len(b) == 0 {
		return nil
	}
	live.buffers.Add(1)
	return C.TF_NewBufferFromString(unsafe.Pointer(&b[0]), C.size_t(len(b)))
}

func deleteBuffer(b *C.TF_Buffer) {
	if b != nil {
		C.TF_DeleteBuffer(b)
		live.buffers.Add(-1)
	}
}

func bufferBytes(b *C.TF_Buffer) []byte {
	n := C.rnnrun_buffer_length(b)
	if n == 0 {
		return nil
	}
	return C.GoBytes(C.rnnrun_buffer_data(b), C.int(n))
}

// newSessionOptions makes session options with the thread counts set (0: default).
func newSessionOptions(intra, inter int) (*C.TF_SessionOptions, error) {
	o := C.TF_NewSessionOptions()
	live.options.Add(1)
	if cfg := configProto(intra, inter); len(cfg) > 0 {
		st := newStatus()
		defer deleteStatus(st)
		C.TF_SetConfig(o, unsafe.Pointer(&cfg[0]), C.size_t(len(cfg)), st)
		if err := statusErr(st); err != nil {
			deleteSessionOptions(o)
			return nil, fmt.Errorf("tensorflow: thread options: %w", err)
		}
	}
	return o, nil
}

func deleteSessionOptions(o *C.TF_SessionOptions) {
	if o != nil {
		C.TF_DeleteSessionOptions(o)
		live.options.Add(-1)
	}
}

// loadSession runs TF_LoadSessionFromSavedModel and returns the session, the
// populated graph and the serialized MetaGraphDef.
func loadSession(dir string, tags []string, intra, inter int) (*C.TF_Session, *C.TF_Graph, []byte, error) {
	opts, err := newSessionOptions(intra, inter)
	if err != nil {
		return nil, nil, nil, err
	}
	defer deleteSessionOptions(opts)
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	ctags := C.malloc(C.size_t(len(tags)) * C.size_t(unsafe.Sizeof((*C.char)(nil))))
	defer C.free(ctags)
	tagv := unsafe.Slice((**C.char)(ctags), len(tags))
	for i, t := range tags {
		tagv[i] = C.CString(t)
		defer C.free(unsafe.Pointer(tagv[i]))
	}
	g := newGraph()
	mg := newBuffer()
	defer deleteBuffer(mg)
	st := newStatus()
	defer deleteStatus(st)
	s := C.TF_LoadSessionFromSavedModel(opts, nil, cdir, (**C.char)(ctags), C.int(len(tags)), g, mg, st)
	if err := statusErr(st); err != nil {
		if s != nil {
			deleteSession(s)
		}
		deleteGraph(g)
		return nil, nil, nil, err
	}
	live.sessions.Add(1)
	return s, g, bufferBytes(mg), nil
}

// deleteSession closes and deletes a session.
func deleteSession(s *C.TF_Session) error {
	st := newStatus()
	defer deleteStatus(st)
	C.TF_CloseSession(s, st)
	err := statusErr(st)
	C.TF_DeleteSession(s, st)
	live.sessions.Add(-1)
	return errors.Join(err, statusErr(st))
}

// allocTensor allocates an uninitialised TensorFlow tensor.
func allocTensor(dt DataType, shape model.Shape, nbytes int) *C.TF_Tensor {
	var dims *C.int64_t
	if len(shape) > 0 {
		dims = (*C.int64_t)(unsafe.Pointer(&shape[0]))
	}
	t := C.TF_AllocateTensor(C.TF_DataType(dt), dims, C.int(len(shape)), C.size_t(nbytes))
	if t != nil {
		live.tensors.Add(1)
	}
	return t
}

func deleteTensor(t *C.TF_Tensor) {
	if t != nil {
		C.TF_DeleteTensor(t)
		live.tensors.Add(-1)
	}
}

// elemSize is the byte size of one element of a model.DType.
func elemSize(d model.DType) int {
	switch d {
	case model.Float64, model.Int64:
		return 8
	case model.Float32, model.Int32:
		return 4
	case model.Uint8, model.Int8, model.Bool:
		return 1
	}
	return 0
}

// dataPointer is the address of t's first element and t's size in bytes.
func dataPointer(t *model.Tensor) (unsafe.Pointer, int) {
	var p unsafe.Pointer
	switch d := t.Data.(type) {
	case []float32:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []float64:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []int32:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []int64:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []uint8:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []int8:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []bool:
		p = unsafe.Pointer(unsafe.SliceData(d))
	}
	return p, t.Len() * elemSize(t.DType())
}

// toTF copies a Go tensor into a new TensorFlow tensor.
func toTF(t *model.Tensor) (*C.TF_Tensor, error) {
	dt := dataTypeOf(t.DType())
	if dt == 0 {
		return nil, fmt.Errorf("%w: unsupported tensor data %T", model.ErrBadInput, t.Data)
	}
	p, n := dataPointer(t)
	tt := allocTensor(dt, t.Shape, n)
	if tt == nil {
		return nil, fmt.Errorf("tensorflow: cannot allocate a %s tensor of shape %v", dt, t.Shape)
	}
	if n > 0 {
		C.memcpy(C.TF_TensorData(tt), p, C.size_t(n))
	}
	return tt, nil
}

// shapeOf reads a TensorFlow tensor's shape.
func shapeOf(t *C.TF_Tensor) model.Shape {
	n := int(C.TF_NumDims(t))
	s := make(model.Shape, n)
	for i := range n {
		s[i] = int64(C.TF_Dim(t, C.int(i)))
	}
	return s
}

// sameShape reports whether t's dimensions equal s, without allocating.
func sameShape(t *C.TF_Tensor, s model.Shape) bool {
	if int(C.TF_NumDims(t)) != len(s) {
		return false
	}
	for i, d := range s {
		if int64(C.TF_Dim(t, C.int(i))) != d {
			return false
		}
	}
	return true
}

// fromTF copies a TensorFlow tensor into a new Go tensor.
func fromTF(t *C.TF_Tensor) (*model.Tensor, error) {
	dt := DataType(C.TF_TensorType(t))
	shape := shapeOf(t)
	n := int(shape.Size())
	p := C.TF_TensorData(t)
	nbytes := int(C.TF_TensorByteSize(t))
	var data any
	switch dt.DType() {
	case model.Float32:
		data = copyOut[float32](p, n)
	case model.Float64:
		data = copyOut[float64](p, n)
	case model.Int32:
		data = copyOut[int32](p, n)
	case model.Int64:
		data = copyOut[int64](p, n)
	case model.Uint8:
		data = copyOut[uint8](p, n)
	case model.Int8:
		data = copyOut[int8](p, n)
	case model.Bool:
		data = copyOut[bool](p, n)
	default:
		return nil, fmt.Errorf("tensorflow: output of type %s is not supported", dt)
	}
	out := &model.Tensor{Shape: shape, Data: data}
	if want := n * elemSize(out.DType()); nbytes != want {
		return nil, fmt.Errorf("tensorflow: output %s%v holds %d bytes, want %d", dt, shape, nbytes, want)
	}
	return out, nil
}

func copyOut[T any](p unsafe.Pointer, n int) []T {
	s := make([]T, n)
	if n > 0 {
		copy(s, unsafe.Slice((*T)(p), n))
	}
	return s
}

// copyInto copies a TensorFlow tensor's bytes into dst, whose type and shape
// the caller has checked.
func copyInto(dst *model.Tensor, t *C.TF_Tensor) error {
	p, n := dataPointer(dst)
	if int(C.TF_TensorByteSize(t)) != n {
		return fmt.Errorf("tensorflow: output holds %d bytes, destination %d", int(C.TF_TensorByteSize(t)), n)
	}
	if n > 0 {
		C.memcpy(p, C.TF_TensorData(t), C.size_t(n))
	}
	return nil
}
