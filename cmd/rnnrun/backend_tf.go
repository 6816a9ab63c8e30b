package main

// The TensorFlow backend ("tf", "tensorflow"). Without -tags tensorflow this
// registers a stub whose error says how to rebuild (see docs/tensorflow.md).
import _ "github.com/rnnrun/rnnrun/runtime/tensorflow"
