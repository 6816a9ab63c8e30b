#!/usr/bin/env bash
# Installs what regenerating the protobuf Go code needs (make gen-tfproto, make
# generate; a normal build and test need neither, the generated code is committed):
# Debian's protoc (protobuf-compiler) and ONNX's schema /usr/include/onnx/onnx.proto
# (libonnx-dev) when missing, and protoc-gen-go at the version go.mod pins for
# google.golang.org/protobuf, into $RNNRUN_CACHE. Prints protoc-gen-go's folder.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
need=()
command -v protoc >/dev/null || need+=(protobuf-compiler)
[ -f /usr/include/onnx/onnx.proto ] || need+=(libonnx-dev)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi
ver="$(cd "$ROOT" && go list -m -f '{{.Version}}' google.golang.org/protobuf)"
bin="$RNNRUN_CACHE/protoc-gen-go-$ver"
if [ ! -x "$bin/protoc-gen-go" ]; then
  (cd "$ROOT" && GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$ver") >&2
fi
echo "$bin"
