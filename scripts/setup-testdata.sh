#!/usr/bin/env bash
# Installs the Debian packages the tests read when missing: ONNX's conformance test
# data (libonnx-testdata) and PyTorch (python3-torch), whose torch.onnx.export makes
# some of the models the native backend is tested on (scripts/foreign-models.sh).
set -euo pipefail
dir=/usr/share/libonnx-testdata/data/node
need=()
[ -d "$dir/test_lstm_defaults" ] || need+=(libonnx-testdata)
/usr/bin/python3 -c 'import torch' 2>/dev/null || need+=(python3-torch)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -q >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
