//go:build tensorflow && cgo

// Command tfsmoke is the minimal evidence that the TensorFlow C API in the pip
// wheel works from cgo: it loads a character SavedModel (tag "serve"), feeds one
// step of a one-hot x and zero h, c to serving_default, and prints the outputs'
// shapes and sums. It uses the C API directly, not the tensorflow package.
//
//	source scripts/tf-env.sh
//	TF_CPP_MIN_LOG_LEVEL=2 go run -tags tensorflow ./runtime/tensorflow/internal/tfsmoke models/export/char_savedmodel
package main

/*
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <tensorflow/c/c_api.h>

static TF_Tensor* zeros(int64_t d0, int64_t d1, int64_t d2, int rank) {
	int64_t dims[3] = {d0, d1, d2};
	int64_t n = d0 * d1 * (rank == 3 ? d2 : 1);
	TF_Tensor* t = TF_AllocateTensor(TF_FLOAT, dims, rank, n * sizeof(float));
	memset(TF_TensorData(t), 0, n * sizeof(float));
	return t;
}

// smoke runs one step; it fills sums[i] and shapes[i*2..] for the 3 outputs.
static int smoke(const char* dir, char* err, size_t errlen, float* sums, int64_t* shapes, int64_t* vocab, int64_t* mgsize) {
	TF_Status* st = TF_NewStatus();
	TF_Graph* g = TF_NewGraph();
	TF_SessionOptions* so = TF_NewSessionOptions();
	TF_Buffer* mg = TF_NewBuffer();
	const char* tags[1] = {"serve"};
	TF_Session* s = TF_LoadSessionFromSavedModel(so, NULL, dir, tags, 1, g, mg, st);
	int rc = 0;
	if (TF_GetCode(st) != TF_OK) { snprintf(err, errlen, "%s", TF_Message(st)); rc = 1; goto done; }
	*mgsize = (int64_t)mg->length;
	TF_Output x = {TF_GraphOperationByName(g, "serving_default_x"), 0};
	TF_Output h = {TF_GraphOperationByName(g, "serving_default_h"), 0};
	TF_Output c = {TF_GraphOperationByName(g, "serving_default_c"), 0};
	TF_Operation* call = TF_GraphOperationByName(g, "StatefulPartitionedCall");
	if (!x.oper || !h.oper || !c.oper || !call) { snprintf(err, errlen, "signature operations not found"); rc = 1; goto done; }
	int64_t xs[3]; TF_GraphGetTensorShape(g, x, xs, 3, st);
	int64_t hs[2]; TF_GraphGetTensorShape(g, h, hs, 2, st);
	*vocab = xs[2];
	TF_Tensor* in[3] = {zeros(1, 1, xs[2], 3), zeros(1, hs[1], 0, 2), zeros(1, hs[1], 0, 2)};
	((float*)TF_TensorData(in[0]))[0] = 1;
	TF_Output ins[3] = {x, h, c};
	TF_Output outs[3] = {{call, 0}, {call, 1}, {call, 2}};
	TF_Tensor* out[3] = {NULL, NULL, NULL};
	TF_SessionRun(s, NULL, ins, in, 3, outs, out, 3, NULL, 0, NULL, st);
	for (int i = 0; i < 3; i++) TF_DeleteTensor(in[i]);
	if (TF_GetCode(st) != TF_OK) { snprintf(err, errlen, "%s", TF_Message(st)); rc = 1; goto done; }
	for (int i = 0; i < 3; i++) {
		float* d = TF_TensorData(out[i]);
		int64_t n = TF_TensorElementCount(out[i]);
		sums[i] = 0;
		for (int64_t k = 0; k < n; k++) sums[i] += d[k];
		shapes[2*i] = TF_Dim(out[i], 0); shapes[2*i+1] = TF_Dim(out[i], 1);
		TF_DeleteTensor(out[i]);
	}
done:
	if (s) { TF_CloseSession(s, st); TF_DeleteSession(s, st); }
	TF_DeleteBuffer(mg);
	TF_DeleteSessionOptions(so);
	TF_DeleteGraph(g);
	TF_DeleteStatus(st);
	return rc;
}
*/
import "C"

import (
	"fmt"
	"os"
	"unsafe"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tfsmoke SAVEDMODEL_DIR")
		os.Exit(2)
	}
	dir := C.CString(os.Args[1])
	defer C.free(unsafe.Pointer(dir))
	var errbuf [1024]C.char
	var sums [3]C.float
	var shapes [6]C.int64_t
	var vocab, mgsize C.int64_t
	fmt.Printf("TF_Version() = %s\n", C.GoString(C.TF_Version()))
	if C.smoke(dir, &errbuf[0], C.size_t(len(errbuf)), &sums[0], &shapes[0], &vocab, &mgsize) != 0 {
		fmt.Fprintf(os.Stderr, "tfsmoke: %s\n", C.GoString(&errbuf[0]))
		os.Exit(1)
	}
	fmt.Printf("loaded %s (tag serve): MetaGraphDef %d bytes, vocab %d\n", os.Args[1], mgsize, vocab)
	for i := range 3 {
		fmt.Printf("StatefulPartitionedCall:%d shape [%d %d] sum %.6f\n", i, shapes[2*i], shapes[2*i+1], sums[i])
	}
}
