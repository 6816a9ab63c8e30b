// Package parity holds the tests and benchmarks that run the native backend
// beside ONNX Runtime on the same models: the greedy text of char.onnx, the
// MNIST evaluation image by image, models exported by other tools, and the
// speed comparison. It has no code of its own; it needs libonnxruntime (make
// setup-ort) and cgo, which the native package's own tests do not: its test
// files build only with cgo.
package parity
