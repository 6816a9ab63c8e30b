#!/usr/bin/env bash
# Bounded soak of `rnnrun serve` on 127.0.0.1 (not part of `make test`): mixed
# load (classify, generate, streaming generate) from cmd/loadgen, aborted
# streams (curl cut off mid-stream) and hot swaps of the image model (its file
# alternates between mnist.onnx and mnist_tf.onnx), then the server's RSS, open
# files and goroutines before and after, for docs/load.md.
#
#   bash scripts/soak.sh                   # 20 s of load
#   DURATION=2m bash scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/serve-lib.sh
DURATION="${DURATION:-20s}"
DIGIT=runtime/vision/testdata/mnist/t10k-00000.png
EXPORT="${RNNRUN_EXPORT_DIR:-models/export}"

bash scripts/setup-ort.sh >/dev/null
mkdir -p bin
go build -o bin/rnnrun ./cmd/rnnrun
go build -o bin/loadgen ./cmd/loadgen

tmp="$(mktemp -d)"
pid="" jobs_pids=()
cleanup() {
  for p in "${jobs_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

cp "$EXPORT/char.onnx" "$tmp/char.onnx"
cp "$EXPORT/mnist.onnx" "$tmp/mnist.onnx"
cat >"$tmp/rnnrun.yaml" <<YAML
playground: false
server:
  watch: true
models:
  - name: char
    path: char.onnx
    concurrency: 8
  - name: mnist
    path: mnist.onnx
    concurrency: 8
YAML
start_serve --config "$tmp/rnnrun.yaml"

figures() {
  local rss fds gor
  rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status)
  fds=$(ls /proc/$pid/fd | wc -l)
  gor=$(curl -s "$base/metrics" | awk '/^go_goroutines / {print $2}')
  echo "| $1 | $rss | $fds | $gor |"
}
# warm every route once so "before" counts what a serving process holds
curl -s -o /dev/null "$base/api/v1/models/mnist/classify" -H 'Content-Type: image/png' --data-binary @"$DIGIT"
curl -s -o /dev/null "$base/api/v1/models/char/generate" -d '{"prompt": "a", "max_length": 5}'
sleep 1
echo "| when | RSS MB | open files | goroutines |"
echo "| --- | ---: | ---: | ---: |"
figures before

lg() { bin/loadgen -d "$DURATION" -n 1000000 -warmup 0 -format md "$@" >"$tmp/lg.$1.$RANDOM" 2>&1; }
lg -c 2 -url "$base/api/v1/models/mnist/classify" -type image/png -file "$DIGIT" -name classify & jobs_pids+=($!)
lg -c 2 -url "$base/api/v1/models/char/generate" -body '{"prompt": "ROMEO:", "max_length": 50}' -name generate & jobs_pids+=($!)
lg -c 1 -url "$base/api/v1/models/char/generate" -body '{"prompt": "ROMEO:", "max_length": 50, "stream": true}' -name stream & jobs_pids+=($!)
end=$((SECONDS + ${DURATION%s}))
[[ "$DURATION" == *m ]] && end=$((SECONDS + ${DURATION%m} * 60))
swaps=0 aborted=0
while [ $SECONDS -lt $end ]; do
  for _ in 1 2 3 4 5; do # streams cut off after 50 ms
    curl -s -o /dev/null --max-time 0.05 "$base/api/v1/models/char/generate" -d '{"prompt": "a", "max_length": 2000, "stream": true}' || true
    aborted=$((aborted + 1))
  done
  if [ $((swaps % 2)) -eq 0 ]; then src="$EXPORT/mnist_tf.onnx"; else src="$EXPORT/mnist.onnx"; fi
  cp "$src" "$tmp/mnist.new" && mv "$tmp/mnist.new" "$tmp/mnist.onnx"
  swaps=$((swaps + 1))
  sleep 1
done
for p in "${jobs_pids[@]}"; do wait "$p" || true; done
jobs_pids=()
sleep 3
figures "after ($swaps swaps, $aborted aborted streams)"
echo
echo "| run | clients | requests | errors | seconds | req/s | p50 ms | p90 ms | p99 ms | max ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
cat "$tmp"/lg.* | grep '^|' || cat "$tmp"/lg.*
loads=$(curl -s "$base/api/v1/models/mnist" | grep -o '"loads":[0-9]*')
echo
echo "mnist $loads; server errors logged: $(grep -c 'level=ERROR' "$tmp/err" || true)"
