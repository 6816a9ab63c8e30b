// Package tfproto holds generated Go types for the few TensorFlow protobuf
// messages the TensorFlow backend reads and writes: SavedModel, MetaGraphDef,
// SignatureDef, TensorInfo, TensorShapeProto, DataType, ConfigProto and
// RunOptions, with only the fields rnnrun uses (others survive decoding as
// unknown fields). tf.proto is derived from the schemas the tensorflow-cpu
// wheel embeds in its *_pb2.py modules (the wheel ships no .proto text), under
// its own package name so these types never clash with another TensorFlow
// binding; field numbers and types are TensorFlow's.
//
// Regenerate with make gen-tfproto (Debian's protoc and protoc-gen-go at
// go.mod's google.golang.org/protobuf version; scripts/gen-tfproto.sh).
package tfproto

//go:generate bash ../../../../scripts/gen-tfproto.sh
