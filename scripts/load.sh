#!/usr/bin/env bash
# Bounded load run against `rnnrun serve` on 127.0.0.1 (not part of `make test`).
# Starts the server with configs/rnnrun.yaml on a free loopback port, runs the
# Go load generator (cmd/loadgen) for classify and generate at 1 and 4
# concurrent clients, prints Markdown table rows for docs/load.md, then stops
# the server with SIGTERM.
#
#   bash scripts/load.sh                  # 15 s per run, at most 20000 requests each
#   DURATION=30s MAX=50000 bash scripts/load.sh
#   RNNRUN_EXPORT_DIR=/other/export bash scripts/load.sh   # other model files, same names
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/serve-lib.sh
DURATION="${DURATION:-15s}"
MAX="${MAX:-20000}"
CONFIG="${CONFIG:-configs/rnnrun.yaml}"
DIGIT=runtime/vision/testdata/mnist/t10k-00000.png

bash scripts/setup-ort.sh
mkdir -p bin
go build -o bin/rnnrun ./cmd/rnnrun
go build -o bin/loadgen ./cmd/loadgen

tmp="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ -n "${RNNRUN_EXPORT_DIR:-}" ]; then
  export RNNRUN_MODELS_CHAR_PATH="$RNNRUN_EXPORT_DIR/char.onnx" RNNRUN_MODELS_CHAR_WINDOW_PATH="$RNNRUN_EXPORT_DIR/char_window.onnx" \
         RNNRUN_MODELS_MNIST_PATH="$RNNRUN_EXPORT_DIR/mnist.onnx" RNNRUN_MODELS_MNIST_TF_PATH="$RNNRUN_EXPORT_DIR/mnist_tf.onnx"
fi
start_serve --config "$CONFIG"

echo "## Machine"
echo
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "- $(go version | cut -d' ' -f3-), ONNX Runtime $ORT_VERSION, $(uname -sr)"
echo "- load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- models: $(curl -s "$base/api/v1/models" | grep -o '"sha256":"[0-9a-f]\{12\}' | sed 's/"sha256":"//' | paste -sd' ')"
echo "- command: DURATION=$DURATION MAX=$MAX bash scripts/load.sh"
echo
echo "| run | clients | requests | errors | seconds | req/s | p50 ms | p90 ms | p99 ms | max ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
lg() { bin/loadgen -d "$DURATION" -n "$MAX" -format md "$@"; }
for c in 1 4; do
  lg -name "classify mnist, 1 PNG" -c "$c" -url "$base/api/v1/models/mnist/classify" -type image/png -file "$DIGIT"
done
for c in 1 4; do
  lg -name "classify mnist-tf, 1 PNG" -c "$c" -url "$base/api/v1/models/mnist-tf/classify" -type image/png -file "$DIGIT"
done
for c in 1 4; do
  lg -name "generate char, 100 chars" -c "$c" -url "$base/api/v1/models/char/generate" \
     -body '{"prompt": "HERMIA.", "max_length": 100, "temperature": 0.8, "seed": 1}'
done
for c in 1 4; do
  lg -name "generate char, 100 chars, stream" -c "$c" -url "$base/api/v1/models/char/generate" \
     -body '{"prompt": "HERMIA.", "max_length": 100, "temperature": 0.8, "seed": 1, "stream": true}'
done
for c in 1 2; do
  lg -name "generate char-window, 20 chars" -c "$c" -url "$base/api/v1/models/char-window/generate" \
     -body '{"prompt": "HERMIA.", "max_length": 20, "temperature": 0.8, "seed": 1}'
done
echo
echo "- load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- server: $(curl -s "$base/metrics" | grep -E '^rnnrun_generated_characters_total|^rnnrun_images_classified_total' | paste -sd' ')"
