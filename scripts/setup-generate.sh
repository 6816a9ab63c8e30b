#!/usr/bin/env bash
# Installs what `make generate` needs when missing: protoc (Debian's protobuf-compiler),
# ONNX's schema /usr/include/onnx/onnx.proto (libonnx-dev) and the pinned protoc-gen-go.
set -euo pipefail
if ! command -v protoc >/dev/null || [ ! -f /usr/include/onnx/onnx.proto ]; then
	SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -q >&2
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q protobuf-compiler libonnx-dev >&2
fi
# The version matches google.golang.org/protobuf in go.mod.
go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
