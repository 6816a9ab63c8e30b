#!/usr/bin/env bash
# Regenerates runtime/tensorflow/internal/tfproto (make gen-tfproto): tf.proto from
# the schemas the tensorflow-cpu wheel in the project's virtualenv embeds
# (scripts/gen-tfproto.py), then tf.pb.go with Debian's protoc and the pinned
# protoc-gen-go (scripts/setup-protoc.sh). Both outputs are committed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
gobin="$(bash "$here/setup-protoc.sh")"
venv="$(bash "$here/setup-python.sh")"
site="$(ls -d "$venv"/lib/python3*/site-packages | head -n 1)"
out="$ROOT/runtime/tensorflow/internal/tfproto"
"$venv/bin/python" "$here/gen-tfproto.py" "$site" >"$out/tf.proto.tmp"
mv "$out/tf.proto.tmp" "$out/tf.proto"
PATH="$gobin:$PATH" protoc -I "$out" --go_out="$out" --go_opt=paths=source_relative "$out/tf.proto"
