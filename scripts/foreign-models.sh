#!/usr/bin/env bash
# Exports the models other tools make (scripts/foreign-models.py: PyTorch's
# torch.onnx.export and Keras 3's model.export(format="onnx")) with their reference
# outputs into $RNNRUN_CACHE/foreign-<hash>, keyed by the hash of both scripts, and
# prints that folder. A second run finds it complete and does nothing.
set -euo pipefail
source "$(dirname "$0")/env.sh"
TF2ONNX_VERSION=1.16.1
hash="$(cat "$ROOT/scripts/foreign-models.py" "$ROOT/scripts/foreign-models.sh" | sha256sum | cut -c1-12)"
out="$RNNRUN_CACHE/foreign-$hash"
if [ ! -f "$out/.complete" ]; then
  /usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "foreign-models: Debian's python3-torch is missing (run scripts/setup-testdata.sh)" >&2; exit 1; }
  venv="$(bash "$ROOT/scripts/setup-python.sh")"
  # Keras exports to ONNX through tf2onnx, which the exporter's lock file does not
  # pin: install it beside the venv (its dependencies are already in the venv).
  deps="$RNNRUN_CACHE/tf2onnx-$TF2ONNX_VERSION"
  if [ ! -f "$deps/.complete" ]; then
    rm -rf "$deps"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --target "$deps" "tf2onnx==$TF2ONNX_VERSION" >&2
    touch "$deps/.complete"
  fi
  rm -rf "$out.tmp"
  /usr/bin/python3 "$ROOT/scripts/foreign-models.py" torch "$out.tmp" 2>"$out.torch.log" || { cat "$out.torch.log" >&2; exit 1; }
  PYTHONPATH="$deps" TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" "$ROOT/scripts/foreign-models.py" keras "$out.tmp" 2>"$out.keras.log" || { cat "$out.keras.log" >&2; exit 1; }
  touch "$out.tmp/.complete"
  rm -rf "$out"
  mv "$out.tmp" "$out"
  echo "foreign-models: exported into $out" >&2
fi
echo "$out"
