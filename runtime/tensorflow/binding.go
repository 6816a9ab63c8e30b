//go:build tensorflow && cgo

package tensorflow

/*
#include <stdlib.h>
#include <string.h>
#include <tensorflow/c/c_api.h>
*/
import "C"

import (
	"context"
	"fmt"
	"path/filepath"
	"unsafe"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Bind prepares a call over fixed tensors (model.Binder): the TensorFlow input
// tensors and the C arrays TF_SessionRun takes are allocated once, so each Run
// copies the inputs' Data in, runs, and copies the requested outputs into the
// outputs' Data, with no Go allocation. outputs may name a subset of the
// signature's outputs; only those are computed. model.Model has checked the
// tensors, tracks the Binding and closes it before the backend.
func (m *savedModel) Bind(inputs, outputs map[string]*model.Tensor) (model.Binding, error) {
	b := &binding{m: m, nin: len(m.ins), nout: len(outputs)}
	outSize := C.size_t(unsafe.Sizeof(C.TF_Output{}))
	ptrSize := C.size_t(unsafe.Sizeof((*C.TF_Tensor)(nil)))
	b.cIns = (*C.TF_Output)(C.calloc(C.size_t(b.nin), outSize))
	b.cVals = (**C.TF_Tensor)(C.calloc(C.size_t(b.nin), ptrSize))
	b.cOuts = (*C.TF_Output)(C.calloc(C.size_t(b.nout), outSize))
	b.cFetched = (**C.TF_Tensor)(C.calloc(C.size_t(b.nout), ptrSize))
	b.status = newStatus()
	ins, vals := unsafe.Slice(b.cIns, b.nin), unsafe.Slice(b.cVals, b.nin)
	for i, p := range m.ins {
		src := inputs[p.key]
		t, err := toTF(src)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("input %q: %w", p.key, err)
		}
		ins[i], vals[i] = p.out.c(), t
		b.src = append(b.src, src)
	}
	outs := unsafe.Slice(b.cOuts, b.nout)
	k := 0
	for _, p := range m.outs { // signature order, so the binding is deterministic
		if dst, ok := outputs[p.key]; ok {
			outs[k] = p.out.c()
			b.dst = append(b.dst, dst)
			b.dstKey = append(b.dstKey, p.key)
			k++
		}
	}
	return b, nil
}

type binding struct {
	m         *savedModel
	nin, nout int
	cIns      *C.TF_Output
	cVals     **C.TF_Tensor
	cOuts     *C.TF_Output
	cFetched  **C.TF_Tensor
	status    *C.TF_Status
	src, dst  []*model.Tensor
	dstKey    []string
	freed     bool
}

// Run copies the inputs in, runs the session and copies the outputs out.
func (b *binding) Run(ctx context.Context) error {
	m := b.m
	if b.freed {
		return model.ErrClosed
	}
	vals := unsafe.Slice(b.cVals, b.nin)
	for i, src := range b.src {
		p, n := dataPointer(src)
		if n != int(C.TF_TensorByteSize(vals[i])) {
			return fmt.Errorf("%w: input %q changed size since Bind", model.ErrBadInput, m.ins[i].key)
		}
		if n > 0 {
			C.memcpy(C.TF_TensorData(vals[i]), p, C.size_t(n))
		}
	}
	if _, ok := ctx.Deadline(); ok {
		// Rare on the hot path: the allocating call passes the deadline to TensorFlow.
		return b.runWithDeadline(ctx)
	}
	fetched := unsafe.Slice(b.cFetched, b.nout)
	C.TF_SessionRun(m.session, nil, b.cIns, b.cVals, C.int(b.nin), b.cOuts, b.cFetched, C.int(b.nout), nil, 0, nil, b.status)
	for _, t := range fetched {
		if t != nil {
			live.tensors.Add(1)
		}
	}
	if err := statusErr(b.status); err != nil {
		b.drop(fetched)
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("%s: %w", filepath.Base(m.path), err)
	}
	return b.copyOut(fetched)
}

func (b *binding) runWithDeadline(ctx context.Context) error {
	ins := unsafe.Slice(b.cIns, b.nin)
	vals := unsafe.Slice(b.cVals, b.nin)
	outs := unsafe.Slice(b.cOuts, b.nout)
	fetched := unsafe.Slice(b.cFetched, b.nout)
	if err := b.m.sessionRun(ctx, ins, vals, outs, fetched); err != nil {
		b.drop(fetched)
		return err
	}
	return b.copyOut(fetched)
}

// copyOut copies the fetched tensors into the bound outputs and deletes them.
func (b *binding) copyOut(fetched []*C.TF_Tensor) error {
	defer b.drop(fetched)
	for i, t := range fetched {
		dst := b.dst[i]
		if DataType(C.TF_TensorType(t)).DType() != dst.DType() || !sameShape(t, dst.Shape) {
			return fmt.Errorf("%w: output %q is %s%v, bound tensor is %s%v", model.ErrBadInput, b.dstKey[i],
				DataType(C.TF_TensorType(t)), shapeOf(t), dst.DType(), dst.Shape)
		}
		if err := copyInto(dst, t); err != nil {
			return err
		}
	}
	return nil
}

// drop deletes the fetched tensors.
func (b *binding) drop(fetched []*C.TF_Tensor) {
	for i, t := range fetched {
		deleteTensor(t)
		fetched[i] = nil
	}
}

// Close releases the binding's TensorFlow tensors and C arrays (not the Go
// tensors). Closing twice is harmless.
func (b *binding) Close() error {
	if b.freed {
		return nil
	}
	b.freed = true
	if b.cVals != nil {
		for _, t := range unsafe.Slice(b.cVals, b.nin) {
			deleteTensor(t)
		}
	}
	C.free(unsafe.Pointer(b.cIns))
	C.free(unsafe.Pointer(b.cVals))
	C.free(unsafe.Pointer(b.cOuts))
	C.free(unsafe.Pointer(b.cFetched))
	b.cIns, b.cVals, b.cOuts, b.cFetched = nil, nil, nil, nil
	deleteStatus(b.status)
	b.status = nil
	return nil
}
