#!/usr/bin/env bash
# Exports the tutorial's models and a few others the way a user would, with no rnnrun
# metadata (scripts/plain-models.py: Keras 3 model.export(format="onnx"), SavedModel
# then tf2onnx, torch.onnx.export), with the frameworks' own reference outputs, into
# $RNNRUN_CACHE/plain-<hash> (scripts/framework-exports.sh; the key also says whether
# ../shared/data's play is there to train on), and prints that folder.
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$ROOT/scripts/framework-exports.sh"
# 1.17.0, not foreign-models' 1.16.1: 1.16's SavedModel converter calls np.cast,
# which NumPy 2 removed.
TF2ONNX_VERSION=1.17.0
data=fallback
[ -f "$ROOT/../shared/data/pg1514.txt" ] && data=play
keras_args() { bash "$ROOT/scripts/mnist-dir.sh"; }
framework_exports plain "$ROOT/scripts/plain-models.py" "$TF2ONNX_VERSION" "$data"
