#!/usr/bin/env bash
# Installs ONNX Runtime's shared library into the cache, from the npm package
# onnxruntime-node (npm pack runs no install scripts), and checks its sha256.
# Idempotent: a second run finds the checked library and does nothing.
set -euo pipefail
source "$(dirname "$0")/env.sh"
if [ -f "$ORT_LIB" ] && echo "$ORT_SHA256  $ORT_LIB" | sha256sum -c --status; then
  exit 0
fi
command -v npm >/dev/null || { echo "setup-ort: npm is needed to fetch onnxruntime-node@$ORT_VERSION" >&2; exit 1; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
echo "setup-ort: fetching onnxruntime-node@$ORT_VERSION with npm pack" >&2
(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
got="$(sha256sum "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" | cut -d' ' -f1)"
if [ "$got" != "$ORT_SHA256" ]; then
  echo "setup-ort: sha256 mismatch for libonnxruntime.so.1: got $got, want $ORT_SHA256" >&2
  exit 1
fi
mkdir -p "$ORT_DIR"
install -m 0644 "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ORT_LIB.tmp"
mv "$ORT_LIB.tmp" "$ORT_LIB"
echo "setup-ort: installed $ORT_LIB" >&2
