#!/usr/bin/env bash
# Exports the tutorial's models and a few others the way a user would, with no rnnrun
# metadata (scripts/plain-models.py: Keras 3 model.export(format="onnx"), SavedModel
# then tf2onnx, torch.onnx.export), with the frameworks' own reference outputs, into
# $RNNRUN_CACHE/plain-<hash>, keyed by the hash of both scripts (and whether
# ../shared/data's play is there to train on), and prints that folder. A second run
# finds it complete and does nothing.
set -euo pipefail
source "$(dirname "$0")/env.sh"
# 1.17.0, not foreign-models' 1.16.1: 1.16's SavedModel converter calls np.cast,
# which NumPy 2 removed.
TF2ONNX_VERSION=1.17.0
data=fallback
[ -f "$ROOT/../shared/data/pg1514.txt" ] && data=play
hash="$( (cat "$ROOT/scripts/plain-models.py" "$ROOT/scripts/plain-models.sh"; echo "$data") | sha256sum | cut -c1-12)"
out="$RNNRUN_CACHE/plain-$hash"
if [ ! -f "$out/.complete" ]; then
  /usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "plain-models: Debian's python3-torch is missing (run scripts/setup-testdata.sh)" >&2; exit 1; }
  venv="$(bash "$ROOT/scripts/setup-python.sh")"
  mnist="$(bash "$ROOT/scripts/mnist-dir.sh")"
  # tf2onnx is not in the exporter's lock file: install it beside the venv (its
  # dependencies are already in the venv).
  deps="$RNNRUN_CACHE/tf2onnx-$TF2ONNX_VERSION"
  if [ ! -f "$deps/.complete" ]; then
    rm -rf "$deps"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --target "$deps" "tf2onnx==$TF2ONNX_VERSION" >&2
    touch "$deps/.complete"
  fi
  rm -rf "$out.tmp"
  /usr/bin/python3 "$ROOT/scripts/plain-models.py" torch "$out.tmp" 2>"$out.torch.log" || { cat "$out.torch.log" >&2; exit 1; }
  PYTHONPATH="$deps" TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" "$ROOT/scripts/plain-models.py" keras "$out.tmp" "$mnist" 2>"$out.keras.log" || { cat "$out.keras.log" >&2; exit 1; }
  touch "$out.tmp/.complete"
  rm -rf "$out"
  mv "$out.tmp" "$out"
  echo "plain-models: exported into $out" >&2
fi
echo "$out"
