// Package onnxpb holds the Go types of ONNX's protobuf schema, generated from
// the onnx.proto of Debian's libonnx-dev (ONNX 1.x, proto2) with protoc and
// protoc-gen-go v1.36.12 (the google.golang.org/protobuf version in go.mod).
//
// Regenerate with `make generate`: scripts/setup-protoc.sh installs protoc
// (protobuf-compiler), libonnx-dev and the pinned protoc-gen-go, which must be
// on PATH when go generate runs the line below.
package onnxpb

//go:generate protoc --proto_path=/usr/include/onnx --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=github.com/rnnrun/rnnrun/runtime/native/onnxpb onnx.proto
