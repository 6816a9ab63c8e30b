#!/usr/bin/env bash
# The side-by-side benchmark behind docs/benchmarks.md (`make bench`): rnnrun's
# figures (`rnnrun bench --json`, pprof, go test -bench) and the Python figures
# (bench/sidebyside.py: Keras, TensorFlow, Python onnxruntime) on the same models,
# in one run, then bench/report.py writes docs/benchmarks.md and docs/benchmarks.svg.
# Takes a few minutes. BENCH_DURATION (default 3s) is the length of each timed
# loop; BENCH_QUICK=1 makes every loop short (to check the pipeline, not to publish).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

duration="${BENCH_DURATION:-3s}"
pyargs=()
gobenchtime=1s
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  duration=200ms
  pyargs=(--quick)
  gobenchtime=20x
fi
export_dir=models/export
out="${BENCH_RESULTS:-bench/results}"
docs="${BENCH_DOCS:-docs}"
for f in char.onnx mnist.onnx testdata/char.json testdata/char_rollout.json testdata/mnist.json; do
  [ -f "$export_dir/$f" ] || { echo "bench: $export_dir/$f is missing (make export writes it)" >&2; exit 1; }
done

bash scripts/setup-ort.sh
py="$(bash scripts/setup-python.sh)/bin/python"
mnist="$(bash scripts/mnist-dir.sh)"
images=(--images "$mnist/t10k-images-idx3-ubyte.gz") # the same test images as Python's
go build -o bin/rnnrun ./cmd/rnnrun
mkdir -p "$out" "$docs"
rm -f "$out"/*.json "$out"/*.txt "$out"/*.pprof

step() { echo "bench: $*" >&2; }
rn() { ./bin/rnnrun bench --duration "$duration" --backend onnx "$@"; } # ONNX Runtime (auto would pick native)
rnat() { ./bin/rnnrun bench --duration "$duration" --backend native "$@"; }

"$py" bench/report.py machine --out "$out/machine.json"
step "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# rnnrun: the figures of the table (default threads: 1 intra-op, 1 inter-op).
step "rnnrun bench char.onnx"
rn --model "$export_dir/char.onnx" --json >"$out/go_char.json"
step "rnnrun bench char.onnx, batched in 2 shards (one per core)"
rn --model "$export_dir/char.onnx" --only batched --shards 2 --json >"$out/go_char_shards2.json"
step "rnnrun bench mnist.onnx"
rn --model "$export_dir/mnist.onnx" --json "${images[@]}" >"$out/go_mnist.json"

# The native engine (pure Go) on the same models: the rows docs/benchmarks.md sets
# beside ONNX Runtime's (stateful, windowed, batched in 1 and 2 shards, MNIST batch 256).
step "rnnrun bench --backend native char.onnx"
rnat --model "$export_dir/char.onnx" --json >"$out/go_char_native.json"
rnat --model "$export_dir/char.onnx" --only batched --shards 2 --json >"$out/go_char_native_shards2.json"
step "rnnrun bench --backend native mnist.onnx"
rnat --model "$export_dir/mnist.onnx" --json --batch 1,32,256 "${images[@]}" >"$out/go_mnist_native.json"
# The larger model, where compute rather than call overhead dominates.
step "rnnrun bench char_large.onnx on ONNX Runtime and native"
rn --model "$export_dir/char_large.onnx" --only stateful,batched --shards 2 --json >"$out/go_char_large.json"
rnat --model "$export_dir/char_large.onnx" --only stateful,batched --shards 2 --json >"$out/go_char_large_native.json"
# The cgo-free route Go users have today: onnx-gomlx on GoMLX's simplego, in its own module.
step "onnx-gomlx (bench/gomlx)"
gxsteps=2000
[ "${BENCH_QUICK:-0}" = 1 ] && gxsteps=100
(cd bench/gomlx && go run . -model "$ROOT/$export_dir/char.onnx" -steps "$gxsteps") >"$out/gomlx_char.json"

# Python: Keras, TensorFlow and onnxruntime on the same models.
step "python side by side"
"$py" bench/sidebyside.py --export "$export_dir" --mnist-dir "$mnist" --out "$out/python.json" "${pyargs[@]}"

# MNIST at batch 256 with 1 thread runs the same kernels on both sides, so the
# comparison is within noise: repeat it interleaved, rnnrun then Python, three times
# (the report takes the best of each side over these and the runs above); rnnrun
# also runs once per repeat on the Python wheel's own libonnxruntime (same version
# on both sides).
wheel_lib="$("$py" -c 'import glob, os, onnxruntime as o; print((glob.glob(os.path.join(os.path.dirname(o.__file__), "capi", "libonnxruntime.so*")) or [""])[0])')"
for i in 1 2 3; do
  step "mnist batch 256, interleaved repeat $i"
  rn --model "$export_dir/mnist.onnx" --json --batch 256 "${images[@]}" >"$out/go_mnist_ab$i.json"
  rnat --model "$export_dir/mnist.onnx" --json --batch 256 "${images[@]}" >"$out/go_mnist_native_ab$i.json"
  "$py" bench/sidebyside.py --export "$export_dir" --mnist-dir "$mnist" --only ort-mnist --out "$out/python_mnist_ab$i.json" "${pyargs[@]}"
  if [ -n "$wheel_lib" ]; then
    rn --model "$export_dir/mnist.onnx" --json --batch 256 "${images[@]}" --ort-lib "$wheel_lib" >"$out/go_mnist_wheellib_ab$i.json"
  fi
done

# Native beside ONNX Runtime, batched in 1 and 2 shards (MNIST: in the loop
# above): noise here is larger than the differences, so each pair runs three
# more times interleaved and the report takes the best of each side.
for i in 1 2 3; do
  step "native beside ONNX Runtime, interleaved repeat $i"
  for s in 1 2; do
    rn --model "$export_dir/char.onnx" --only batched --streams 64 --shards "$s" --json >"$out/go_char_b64_onnx_s${s}_ab$i.json"
    rnat --model "$export_dir/char.onnx" --only batched --streams 64 --shards "$s" --json >"$out/go_char_b64_native_s${s}_ab$i.json"
  done
done

# Threading: 2 intra-op threads; 2 inter-op threads; 2 concurrent 1-thread calls.
step "threading"
rn --model "$export_dir/char.onnx" --json --threads 2 --only stateful,batched >"$out/go_char_t2.json"
rn --model "$export_dir/char.onnx" --json --inter-threads 2 --only stateful,batched --streams 64 >"$out/go_char_i2.json"
rn --model "$export_dir/mnist.onnx" --json --threads 2 "${images[@]}" >"$out/go_mnist_t2.json"
rn --model "$export_dir/mnist.onnx" --json --inter-threads 2 --batch 256 "${images[@]}" >"$out/go_mnist_i2.json"
rn --model "$export_dir/mnist.onnx" --json --workers 2 "${images[@]}" >"$out/go_mnist_w2.json"

# Where the time goes: pprof of the stateful loop and of 64 batched streams,
# perf (when available) across the cgo boundary, and the raw calls.
step "profiles"
rn --model "$export_dir/char.onnx" --only stateful --cpuprofile "$out/stateful.pprof" >/dev/null
rn --model "$export_dir/char.onnx" --only batched --streams 64 --cpuprofile "$out/batched64.pprof" >/dev/null
for p in stateful batched64; do
  go tool pprof -top -nodecount=20 bin/rnnrun "$out/$p.pprof" >"$out/pprof_$p.txt" 2>/dev/null
  go tool pprof -top -cum -nodecount=60 bin/rnnrun "$out/$p.pprof" >"$out/pprof_${p}_cum.txt" 2>/dev/null
done
if command -v perf >/dev/null && perf record -q -o /dev/null true 2>/dev/null; then
  perf record -q -F 4000 -o "$out/perf.data" ./bin/rnnrun bench --model "$export_dir/char.onnx" --only stateful --duration "$duration" >/dev/null 2>&1 &&
    perf report -i "$out/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -v '^#' | grep '%' >"$out/perf_stateful_dso.txt" || true
  rm -f "$out/perf.data" "$out/perf.data.old"
fi
rm -f "$out"/*.pprof
go test -run '^$' -bench 'CharStep|CharWindow|MNIST' -benchtime "$gobenchtime" ./runtime/onnx/ >"$out/gobench_onnx.txt"
go test -run '^$' -bench 'StatefulChar|WindowedChar|Sampler' -benchtime "$gobenchtime" ./runtime/textgen/ >"$out/gobench_textgen.txt"

"$py" bench/report.py machine --out "$out/machine.json" --end
step "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" bench/report.py report --results "$out" --md "$docs/benchmarks.md" --svg "$docs/benchmarks.svg" --readme "${BENCH_README:-README.md}"
