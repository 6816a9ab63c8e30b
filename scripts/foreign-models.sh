#!/usr/bin/env bash
# Exports the models other tools make (scripts/foreign-models.py: PyTorch's
# torch.onnx.export and Keras 3's model.export(format="onnx")) with their reference
# outputs into $RNNRUN_CACHE/foreign-<hash> (scripts/framework-exports.sh) and
# prints that folder.
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$ROOT/scripts/framework-exports.sh"
TF2ONNX_VERSION=1.16.1
framework_exports foreign "$ROOT/scripts/foreign-models.py" "$TF2ONNX_VERSION" ""
