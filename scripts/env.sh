# Shared settings for the project's scripts. Source it; it prints nothing.
# RNNRUN_CACHE holds everything installed from outside the tree (ONNX Runtime,
# the Python virtualenv); it survives fresh clones, so setup runs once per machine.
RNNRUN_CACHE="${RNNRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rnnrun}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The version pins (ORT_VERSION, ORT_SHA256, GOMNIST_MODULE, GOMNIST_VERSION) are
# written once, in internal/versions/versions.env, which Go embeds too.
source "$ROOT/internal/versions/versions.env"
ORT_DIR="$RNNRUN_CACHE/onnxruntime-$ORT_VERSION"
ORT_LIB="$ORT_DIR/libonnxruntime.so.1"
REQ_HASH="$(cat "$ROOT/pyexport/requirements.lock" | sha256sum | cut -c1-12)"
VENV="$RNNRUN_CACHE/venv-$REQ_HASH"
export RNNRUN_CACHE
# MNIST's four idx .gz files come from this Go module's data/ folder (scripts/mnist-dir.sh).
GOMNIST="$GOMNIST_MODULE@$GOMNIST_VERSION"
