// Package kernel holds the float32 compute kernels of the native engine: the
// recurrent mat-vec, a GEMM for batched steps, and the vectorised nonlinearities.
//
// Every function has a portable pure-Go implementation (kernel_generic.go) that is
// correct on every GOARCH; faster paths for amd64 are chosen at run time by CPU
// feature. Slices are row-major and are never retained; no function allocates.
package kernel

// MatVec sets y[i] = b[i] + sum_j w[i*cols+j] * x[j] for i < rows.
// b may be nil (no bias). w holds rows*cols values; x at least cols; y at least rows.
func MatVec(y, w, x, b []float32, rows, cols int) { matVec(y, w, x, b, rows, cols) }

// MatVecAdd adds W x to y: y[i] += sum_j w[i*cols+j] * x[j].
func MatVecAdd(y, w, x []float32, rows, cols int) { matVecAdd(y, w, x, rows, cols) }

// GemmNT sets C = A * B^T (+ C when acc): A is m x k, B is n x k (each row of B
// one output unit, as a weight matrix [out, in]), C is m x n, all row-major.
func GemmNT(c, a, b []float32, m, n, k int, acc bool) { gemmNT(c, a, b, m, n, k, acc) }

// AddBias adds b to each of the m rows of x (n values each).
func AddBias(x, b []float32, m, n int) { addBias(x, b, m, n) }

// Sigmoid sets dst[i] = 1 / (1 + exp(-src[i])); dst and src may be the same slice.
func Sigmoid(dst, src []float32) { sigmoid(dst, src) }

// Tanh sets dst[i] = tanh(src[i]); dst and src may be the same slice.
func Tanh(dst, src []float32) { tanh(dst, src) }

// Softmax replaces x by its softmax (one row), subtracting the maximum first.
func Softmax(x []float32) { softmax(x) }

// LSTMCell applies the ONNX LSTM cell with the default activations (sigmoid,
// tanh, tanh) and no peepholes to one row: g holds the 4H pre-activations in
// ONNX gate order i, o, f, c (W x + R h + Wb + Rb); c is updated in place to
// f*c + i*tanh(gc) and h is set to o*tanh(c). g is used as scratch.
func LSTMCell(g, c, h []float32, hidden int) { lstmCell(g, c, h, hidden) }
