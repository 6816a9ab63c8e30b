// Package tensorflow is rnnrun's TensorFlow backend: it loads a Keras/TensorFlow
// SavedModel folder through TensorFlow's C API (a small cgo binding of its own,
// linked against libtensorflow) and runs its serving_default signature.
//
// The backend is compiled only with the build tag "tensorflow", so the default
// build needs no TensorFlow. Without the tag, importing the package registers
// the backend names "tf" and "tensorflow" with an opener that fails with an
// error wrapping model.ErrNoBackend and saying how to rebuild.
//
// With the tag, cgo needs TensorFlow's headers and libraries: source
// scripts/tf-env.sh, which finds them in the project's virtualenv (the
// tensorflow-cpu wheel ships the C API inside libtensorflow_cc.so.2) or where
// TF_LIB_DIR and TF_INCLUDE_DIR point, and sets CGO_CFLAGS, CGO_LDFLAGS and
// LD_LIBRARY_PATH:
//
//	source scripts/tf-env.sh
//	go build -tags tensorflow -o bin/rnnrun ./cmd/rnnrun
//	bin/rnnrun --backend tf --model models/export/char_savedmodel --temp 1.2
//
// The main product is the model.Backend implementation (Open, registered as
// "tf" and "tensorflow"): Signature names the tensors by their signature keys
// (x, h, c / probs, h_out, c_out), Metadata reads assets/rnnrun.json, Run feeds
// and fetches by those keys, Bind prepares allocation-free calls, and Close
// releases every TensorFlow object. The checks and the lifecycle (context,
// inputs, closed, open Bindings) are model.Model's, shared with every backend.
// For users who know github.com/galeone/tfgo, Model (a model.Model with the
// SavedModel's graph) also has a tfgo-shaped surface (LoadModel, Op, Exec)
// that returns errors instead of panicking. TensorFlow's protobufs are read
// and written through generated types (internal/tfproto).
//
// See docs/tensorflow.md for the evidence behind the route, setup on other
// machines, and measurements.
package tensorflow
