#!/usr/bin/env python3
"""Writes docs/benchmarks.md and docs/benchmarks.svg from one `make bench` run.

  report.py machine --out bench/results/machine.json [--end]
      records the machine (CPU, cores, memory, versions) and the load average at the
      start of the run (or, with --end, adds the load average at its end)
  report.py report --results bench/results --md docs/benchmarks.md --svg docs/benchmarks.svg
      reads the run's results and writes the table, the ratios against the issue's
      targets, the floor estimate, the profile summary, the threading measurements
      and the chart; with --readme FILE it also refreshes the block between
      <!-- bench:begin --> and <!-- bench:end --> in FILE, when both markers exist.

Standard library only, so it runs under any Python 3.9+.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# ------------------------------------------------------------------ machine


def read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cmd_out(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine(out: Path, end: bool) -> None:
    if end:
        m = json.loads(out.read_text())
        m["load_average_end"] = os.getloadavg()
        m["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        out.write_text(json.dumps(m, indent=2) + "\n")
        return
    cpuinfo = read("/proc/cpuinfo")

    def field(name: str) -> str:
        m = re.search(rf"^{name}\s*:\s*(.*)$", cpuinfo, re.M)
        return m.group(1).strip() if m else ""

    cores = {(a, b) for a, b in re.findall(r"physical id\s*:\s*(\d+).*?core id\s*:\s*(\d+)", cpuinfo, re.S)}
    flags = set(field("flags").split())
    mem = re.search(r"MemTotal:\s*(\d+)", read("/proc/meminfo"))
    osname = re.search(r'PRETTY_NAME="(.*)"', read("/etc/os-release"))
    ort = re.search(r"^ORT_VERSION=(\S+)", read(str(ROOT / "scripts" / "env.sh")), re.M)
    m = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": field("model name") or platform.processor(),
        "cpu_family": field("cpu family"),
        "cpu_model": field("model"),
        "cpu_mhz": field("cpu MHz"),
        "simd": " ".join(f for f in ("avx2", "fma", "avx512f") if f in flags),
        "logical_cpus": os.cpu_count(),
        "physical_cores": len(cores) or None,
        "memory_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "os": osname.group(1) if osname else platform.platform(),
        "kernel": platform.release(),
        "go": cmd_out(["go", "version"]),
        "onnxruntime_go_side": ort.group(1) if ort else "",
        "git_commit": cmd_out(["git", "rev-parse", "--short", "HEAD"]),
        "load_average_start": os.getloadavg(),
        "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "GOMAXPROCS") if k in os.environ},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(m, indent=2) + "\n")


# ------------------------------------------------------------------ helpers


def load(d: Path, name: str) -> dict:
    p = d / name
    return json.loads(p.read_text()) if p.exists() else {}


def text(d: Path, name: str) -> str:
    p = d / name
    return p.read_text() if p.exists() else ""


def num(v, digits: int = 0) -> str:
    if v is None:
        return "n/a"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def ratio(a, b, digits: int = 1) -> str:
    if not a or not b:
        return "n/a"
    r = a / b
    if r >= 100:
        return f"{r:,.0f}x"
    return f"{r:.{digits}f}x"


def per(v, scale: float = 1e6, digits: int = 1) -> str:
    return "n/a" if not v else f"{scale / v:,.{digits}f}"


def gobench(txt: str) -> dict:
    """name -> {ns_op, metrics...} from go test -bench output."""
    out = {}
    for line in txt.splitlines():
        if not line.startswith("Benchmark"):
            continue
        parts = line.split()
        name = re.sub(r"-\d+$", "", parts[0])
        vals = {}
        for i in range(2, len(parts) - 1, 2):
            try:
                vals[parts[i + 1]] = float(parts[i])
            except ValueError:
                pass
        out[name] = vals
    return out


def pprof_summary(txt: str) -> dict:
    """flat and cum percentages of the functions that matter, from pprof -top."""
    rows = {}
    for line in txt.splitlines():
        m = re.match(r"\s*([\d.]+)(m?s)?\s+([\d.]+)%\s+[\d.]+%\s+([\d.]+)(m?s)?\s+([\d.]+)%\s+(.*)$", line)
        if m:
            rows[m.group(7).strip()] = (float(m.group(3)), float(m.group(6)))
    total = re.search(r"Total samples = ([\d.]+m?s)", txt)

    def cum(pattern: str) -> float:
        return max((c for name, (_, c) in rows.items() if re.search(pattern, name)), default=0.0)

    def flat(pattern: str) -> float:
        return max((f for name, (f, _) in rows.items() if re.search(pattern, name)), default=0.0)

    return {
        "total": total.group(1) if total else "",
        "ort": flat(r"^runtime\.cgocall$"),
        "sampler": cum(r"textgen\.\(\*Sampler\)\.sample$"),
        "model_call": cum(r"onnx\.\(\*binding\)\.Run$"),
        "sample_all": cum(r"textgen\.\(\*loop\)\.sampleAll$"),
        "consumer": cum(r"textgen\.\(\*Batcher\)\.Generate$"),
        "prime": cum(r"textgen\.\(\*stream\)\.primeStateful$"),
        "scheduler": cum(r"^runtime\.(schedule|findRunnable)$"),
    }


def flops(model: dict) -> dict:
    """FLOPs of one LSTM step (a multiply-add counts 2) and of what follows it."""
    V, H = model["vocab"], model["units"]
    lstm_mm = 2 * 4 * H * (V + H)
    lstm_ew = 4 * H + 2 * 4 * H + 3 * H + H  # Wx + Rh, two biases, c = f*c + i*g, h = o*tanh(c)
    dense = 2 * H * V + V
    softmax = 3 * V
    return {"lstm_matmul": lstm_mm, "lstm_elementwise": lstm_ew, "dense": dense, "softmax": softmax,
            "transcendentals": 5 * H + V, "step": lstm_mm + lstm_ew + dense + softmax,
            "step_onehot": 2 * 4 * H * H + 4 * H + lstm_ew + dense + softmax}


# ------------------------------------------------------------------ chart


def svg_chart(text_rows, image_rows, floor_cps, title_note: str) -> str:
    """Two horizontal bar charts: characters/s (log scale) and images/s (linear)."""
    W, left, right = 980, 330, 150
    plot = W - left - right
    row_h, gap = 26, 8
    y = 58
    parts = []

    def esc(s):
        return html.escape(str(s))

    colors = {"python": "#c9771a", "rnnrun": "#1f5fbf", "batched": "#0b3275", "native": "#2a8a3e"}
    parts.append(f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="17" font-weight="bold">'
                 f'Character generation, char.onnx (LSTM 128): characters per second, log scale</text>')
    parts.append(f'<text x="{W / 2}" y="42" text-anchor="middle" font-size="12" fill="#555">{esc(title_note)}</text>')
    import math

    lo, hi = 1.0, 10 ** math.ceil(math.log10(max([r[1] for r in text_rows if r[1]] + [floor_cps or 1]) * 1.05))

    def lx(v):
        return left + plot * (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    top = y
    bottom = y + len(text_rows) * (row_h + gap) - gap
    d = 1.0
    while d <= hi:  # grid first, so the bars cover it
        x = lx(d)
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#ddd" stroke-width="1"/>')
        label = f"{d:,.0f}" if d < 1e6 else f"{d / 1e6:,.0f}M"
        parts.append(f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle" font-size="11" fill="#555">{label}</text>')
        d *= 10
    if floor_cps:
        x = lx(floor_cps)
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom + 24}" stroke="#c0392b" stroke-width="2" stroke-dasharray="6,4"/>')
        parts.append(f'<text x="{x - 6:.1f}" y="{bottom + 36}" text-anchor="end" font-size="11" fill="#c0392b">'
                     f'floor: single-core SGEMM rate / FLOPs per character = {num(floor_cps)}</text>')
    for label, v, kind in text_rows:
        parts.append(f'<text x="{left - 8}" y="{y + row_h * 0.68}" text-anchor="end" font-size="13">{esc(label)}</text>')
        if v:
            parts.append(f'<rect x="{left}" y="{y}" width="{lx(v) - left:.1f}" height="{row_h}" fill="{colors[kind]}"/>')
            parts.append(f'<text x="{lx(v) + 6:.1f}" y="{y + row_h * 0.68}" font-size="12" stroke="white" stroke-width="3" paint-order="stroke">{num(v)}</text>')
        y += row_h + gap
    y = bottom + 78
    parts.append(f'<text x="{W / 2}" y="{y}" text-anchor="middle" font-size="17" font-weight="bold">'
                 f'MNIST, mnist.onnx at batch 256: images per second</text>')
    y += 16
    hi2 = max([r[1] for r in image_rows if r[1]] + [1]) * 1.05

    def ix(v):
        return left + plot * v / hi2

    for label, v, kind in image_rows:
        parts.append(f'<text x="{left - 8}" y="{y + row_h * 0.68}" text-anchor="end" font-size="13">{esc(label)}</text>')
        if v:
            parts.append(f'<rect x="{left}" y="{y}" width="{ix(v) - left:.1f}" height="{row_h}" fill="{colors[kind]}"/>')
            parts.append(f'<text x="{ix(v) + 6:.1f}" y="{y + row_h * 0.68}" font-size="12" stroke="white" stroke-width="3" paint-order="stroke">{num(v)}</text>')
        y += row_h + gap
    y += 6
    parts.append(f'<rect x="{left}" y="{y}" width="14" height="14" fill="{colors["python"]}"/>'
                 f'<text x="{left + 20}" y="{y + 12}" font-size="12">Python (Keras / TensorFlow / onnxruntime)</text>')
    parts.append(f'<rect x="{left + 330}" y="{y}" width="14" height="14" fill="{colors["rnnrun"]}"/>'
                 f'<text x="{left + 350}" y="{y + 12}" font-size="12">rnnrun (Go)</text>')
    parts.append(f'<rect x="{left + 450}" y="{y}" width="14" height="14" fill="{colors["batched"]}"/>'
                 f'<text x="{left + 470}" y="{y + 12}" font-size="12">rnnrun, streams batched</text>')
    H = y + 30
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
            f'font-family="Helvetica, Arial, sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n'
            + "\n".join(parts) + "\n</svg>\n")


# ------------------------------------------------------------------ report


def report(d: Path, md_path: Path, svg_path: Path, readme: Path | None) -> None:
    mach = load(d, "machine.json")
    gc, gm, py = load(d, "go_char.json"), load(d, "go_mnist.json"), load(d, "python.json")
    gc2, gm2 = load(d, "go_char_t2.json"), load(d, "go_mnist_t2.json")
    gci2, gmi2, gmw2 = load(d, "go_char_i2.json"), load(d, "go_mnist_i2.json"), load(d, "go_mnist_w2.json")
    gb = {**gobench(text(d, "gobench_onnx.txt")), **gobench(text(d, "gobench_textgen.txt"))}
    if not gc or not py:
        raise SystemExit(f"report: {d} lacks go_char.json or python.json; run scripts/bench.sh")

    st, win = gc.get("stateful_chars_per_second"), gc.get("windowed_chars_per_second")
    batched = {int(k): v for k, v in gc.get("batched_chars_per_second", {}).items()}
    shards2 = {int(k): v for k, v in load(d, "go_char_shards2.json").get("batched_chars_per_second", {}).items()}
    kp, ks = py.get("keras_predict_window_chars_per_second"), py.get("keras_stateful_chars_per_second")
    po, pod, poi = (py.get("ort_stateful_chars_per_second"), py.get("ort_stateful_default_threads_chars_per_second"),
                    py.get("ort_stateful_iobinding_chars_per_second"))
    img = {int(k): v for k, v in gm.get("images_per_second", {}).items()}
    img2 = {int(k): v for k, v in gm2.get("images_per_second", {}).items()}
    imgw2 = {int(k): v for k, v in gmw2.get("images_per_second", {}).items()}
    pimg = py.get("ort_images_per_second", {})
    # The interleaved repeats of MNIST at batch 256, 1 thread: every run of each side.
    go256 = [x for x in [img.get(256)] + [load(d, f"go_mnist_ab{i}.json").get("images_per_second", {}).get("256") for i in (1, 2, 3)] if x]
    py256 = [x for x in [pimg.get("1")] + [load(d, f"python_mnist_ab{i}.json").get("ort_images_per_second", {}).get("1") for i in (1, 2, 3)] if x]
    wl256 = [x for x in [load(d, f"go_mnist_wheellib_ab{i}.json").get("images_per_second", {}).get("256") for i in (1, 2, 3)] if x]
    kimg = py.get("keras_predict_images_per_second")
    cm = py.get("char_model", {"vocab": 70, "units": 128, "window": 100})
    mm = py.get("mnist_model", {"units": 128, "rows": 28, "features": 28, "classes": 10})
    fl = flops(cm)
    peak = py.get("sgemm_gflops_1thread")
    floor_cps = peak * 1e9 / fl["step"] if peak else None
    W = cm["window"]
    win_flops = W * (fl["lstm_matmul"] + fl["lstm_elementwise"]) + fl["dense"] + fl["softmax"]
    Hm = mm["units"]
    mnist_flops = mm["rows"] * (2 * 4 * Hm * (mm["features"] + Hm) + 16 * Hm) + 2 * Hm * mm["classes"] + 4 * mm["classes"]
    la0, la1 = mach.get("load_average_start"), mach.get("load_average_end")

    def la(v):
        return "n/a" if not v else " / ".join(f"{x:.2f}" for x in v)

    L = []
    w = L.append
    w("# Benchmarks")
    w("")
    w("<!-- Generated by `make bench` (scripts/bench.sh, bench/report.py). Do not edit by hand: rerun it. -->")
    w("")
    w(f"Measured in one run of `make bench` on {mach.get('started', 'n/a')} (commit {mach.get('git_commit') or 'n/a'}): "
      "rnnrun's figures come from `rnnrun bench --json`, the Python figures from `bench/sidebyside.py`, "
      "on the same machine, the same model files and the same prompt. Every ratio below divides two figures of this run.")
    w("")
    w("![rnnrun against Keras, TensorFlow and Python onnxruntime](benchmarks.svg)")
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("| --- | --- |")
    w(f"| CPU | {mach.get('cpu', 'n/a')} (family {mach.get('cpu_family', '?')}, model {mach.get('cpu_model', '?')}; {mach.get('simd', '')}) |")
    w(f"| cores | {mach.get('logical_cpus', 'n/a')} logical, {mach.get('physical_cores') or 'n/a'} physical; no GPU |")
    w(f"| memory | {mach.get('memory_gib', 'n/a')} GiB |")
    w(f"| OS | {mach.get('os', 'n/a')}, Linux {mach.get('kernel', '')} |")
    w(f"| load average (1/5/15 min) | start {la(la0)}; end {la(la1)} |")
    w(f"| Go | {mach.get('go', 'n/a')}; ONNX Runtime {mach.get('onnxruntime_go_side', 'n/a')} (C library, via onnxruntime_go) |")
    v = py.get("versions", {})
    w(f"| Python | {v.get('python', 'n/a')}: tensorflow-cpu {v.get('tensorflow-cpu', v.get('tensorflow', 'n/a'))}, keras {v.get('keras', 'n/a')}, "
      f"onnxruntime {v.get('onnxruntime', 'n/a')}, numpy {v.get('numpy', 'n/a')} |")
    w(f"| threads | rnnrun: {gc.get('threads', 'n/a')} intra-op, {gc.get('inter_op_threads', 'n/a')} inter-op (the default); "
      "Python onnxruntime: 1 intra-op (as rnnrun) unless marked; TensorFlow: its default (all cores) |")
    if mach.get("env"):
        w(f"| environment | {', '.join(f'{k}={v}' for k, v in mach['env'].items())} |")
    w("")
    if la0 and la0[0] > 0.5 * (mach.get("logical_cpus") or 1):
        w(f"> The machine was not idle at the start of the run (1-minute load {la0[0]:.2f} on "
          f"{mach.get('logical_cpus')} CPUs): absolute figures are lower than on a quiet machine; "
          "ratios within the run are what the targets compare.")
        w("")

    w(f"## Text generation: char.onnx (LSTM {cm['units']}, vocabulary {cm['vocab']}, window {W})")
    w("")
    w("Every path generates characters from the same 193-character prompt (from the play) with temperature-1 sampling over the "
      "whole distribution; rates exclude loading, warm-up and priming. *Windowed* paths re-run the last "
      f"{W} characters from a zero state for every character (the tutorial's loop); *stateful* paths carry "
      "the LSTM state and run one step per character.")
    w("")
    w("| path | characters/s | µs per character | vs Keras `predict` (tutorial) |")
    w("| --- | ---: | ---: | ---: |")
    rows = [
        (f"Keras `model.predict` on the {W}-character window, per character (the tutorial; "
         f"{py.get('keras_predict_window_chars', '?')} characters)", kp),
        ("Keras/TensorFlow: the LSTM layer called on one step with the carried state (`tf.function`)", ks),
        ("Python onnxruntime, stateful loop (`InferenceSession.run`, 1 thread)", po),
        ("Python onnxruntime, stateful loop, onnxruntime's default threads", pod),
        ("Python onnxruntime, stateful loop with an IoBinding (no output allocation), 1 thread", poi),
        (f"rnnrun windowed: the tutorial's path in Go (`--mode windowed`, window {W})", win),
        ("**rnnrun stateful** (one stream)", st),
    ]
    for n in sorted(batched):
        rows.append((f"**rnnrun batched**, {n} concurrent stream{'s' if n > 1 else ''} (aggregate)", batched[n]))
    for n in sorted(shards2):
        rows.append((f"**rnnrun batched in 2 shards** (one call per shard per step, one shard per core), {n} stream{'s' if n > 1 else ''}", shards2[n]))
    for label, val in rows:
        w(f"| {label} | {num(val)} | {per(val, digits=1 if (val or 0) > 1000 else 0)} | {ratio(val, kp)} |")
    w("")
    if gc.get("allocs_per_char") is not None:
        w(f"Go heap allocations per generated character in the steady state of the stateful loop: "
          f"**{gc['allocs_per_char']:g}** ({gc.get('bytes_per_char', 0):g} bytes); windowed: "
          f"{gc.get('windowed_allocs_per_char', 'n/a')}.")
        w("")

    w("## MNIST: mnist.onnx (28 rows of 28 pixels, LSTM 128, 10 classes)")
    w("")
    same = gm.get("images_data", "").endswith("t10k-images-idx3-ubyte.gz")
    w(f"Keras `predict` runs the {py.get('mnist_data', 'test set')} at `batch_size=256`; Python onnxruntime and rnnrun "
      "run full batches of 256, "
      + ("both cycling through the same 39 batches of test images" if same else f"rnnrun on {gm.get('images_data', 'synthetic pixels')}")
      + " (rnnrun through zero-allocation bindings). rnnrun's default ONNX Runtime is the C library "
      f"{mach.get('onnxruntime_go_side', '')}; Python's wheel is {v.get('onnxruntime', '')}, so rnnrun also runs on the "
      "wheel's own library (`--ort-lib`), the same build on both sides.")
    w("")
    w("| path | images/s at batch 256 | vs Keras `predict` |")
    w("| --- | ---: | ---: |")
    mrows = [
        ("Keras `model.predict`, batch 256 (TensorFlow's default threads)", kimg),
        ("Python onnxruntime, 1 thread", pimg.get("1")),
        ("Python onnxruntime, 2 threads", pimg.get("2")),
        ("Python onnxruntime, default threads", pimg.get("default")),
        ("**rnnrun**, 1 thread (the default)", img.get(256)),
        (f"rnnrun, 1 thread, on the Python wheel's libonnxruntime {v.get('onnxruntime', '')} (best of {len(wl256)})", max(wl256) if wl256 else None),
        ("rnnrun, 2 intra-op threads", img2.get(256)),
        ("rnnrun, 2 concurrent calls of 1 thread", imgw2.get(256)),
    ]
    for label, val in mrows:
        w(f"| {label} | {num(val)} | {ratio(val, kimg)} |")
    w("")
    if img:
        w("rnnrun by batch size (1 thread): " + ", ".join(f"batch {b}: {num(img[b])} images/s" for b in sorted(img)) + ".")
        w("")

    native_section(w, d, fl, W, peak, st, win, batched, shards2, go256, mnist_flops)
    large_section(w, d, peak)

    w("## Targets")
    w("")
    w("| target | measured | met |")
    w("| --- | --- | :---: |")

    def target(desc, val, goal, fmt):
        ok = val is not None and val >= goal
        w(f"| {desc} | {fmt} | {'yes' if ok else '**no**'} |")

    target("stateful single stream ≥ 50x the windowed path in Go", st / win if st and win else None, 50, ratio(st, win))
    target("stateful single stream ≥ 1000x Keras `predict` per character", st / kp if st and kp else None, 1000, ratio(st, kp))
    target("≥ 1.5x Python onnxruntime's stateful loop (1 thread each)", st / po if st and po else None, 1.5,
           f"{ratio(st, po, 2)} (vs its default threads {ratio(st, pod, 2)}; vs its IoBinding loop {ratio(st, poi, 2)})")
    b64 = batched.get(64)
    best64 = max(b64 or 0, shards2.get(64) or 0) or None
    target("aggregate at 64 concurrent streams ≥ 8x a single stream", best64 / st if best64 and st else None, 8,
           f"{ratio(best64, st)} with the streams in 2 shards, one per core (`BatcherOptions.Shards`, serve's default on this machine); "
           f"in one shard, every stream in one call: {ratio(b64, st)} ({num(b64)} vs {num(st)} characters/s; vs the Batcher's own 1-stream figure "
           f"{ratio(b64, batched.get(1))}; with 2 intra-op threads "
           f"{ratio(gc2.get('batched_chars_per_second', {}).get('64'), st)})")
    best_py = max([x for x in pimg.values() if x] or [0]) or None
    g_best, p_best = max(go256 or [0]) or None, max(py256 or [0]) or None
    target("MNIST images/s ≥ Python onnxruntime at batch 256 (1 thread each)", g_best / p_best if g_best and p_best else None, 1,
           f"{ratio(g_best, p_best, 2)}: best of {len(go256)} runs each (the main run and the interleaved repeats), {num(g_best)} vs {num(p_best)} images/s "
           f"(rnnrun {' / '.join(num(x) for x in go256)}; Python {' / '.join(num(x) for x in py256)}); "
           + (f"on the same library as Python (the wheel's): {ratio(max(wl256), p_best, 2)}; " if wl256 else "")
           + f"best configurations (threads or concurrent calls): "
           f"{ratio(max([x for x in (g_best, img2.get(256), imgw2.get(256)) if x] or [0]) or None, best_py, 2)}")
    a = gc.get("allocs_per_char")
    w(f"| 0 allocations per generated character in the steady state | {a if a is not None else 'n/a'} | {'yes' if a == 0 else '**no**'} |")
    w("")

    w("## The limit")
    w("")
    w(f"One character of the stateful path is one LSTM step plus the dense layer and the softmax. Counting a "
      f"multiply-add as 2 FLOPs, with V = {cm['vocab']} and H = {cm['units']}:")
    w("")
    w("| part | FLOPs per character |")
    w("| --- | ---: |")
    w(f"| LSTM matrix products, 2·4H·(V+H) | {num(fl['lstm_matmul'])} |")
    w(f"| LSTM adds, biases and cell update | {num(fl['lstm_elementwise'])} |")
    w(f"| dense, 2·H·V + V | {num(fl['dense'])} |")
    w(f"| softmax | {num(fl['softmax'])} |")
    w(f"| **total** (plus {fl['transcendentals']} sigmoid/tanh/exp) | **{num(fl['step'])}** |")
    w("")
    ort_pk = max((py.get("sgemm_gflops_ort_1thread") or {"0": 0}).values())
    np_pk = max((py.get("sgemm_gflops_numpy_1thread") or {"0": 0}).values())
    w(f"The machine's single-core rate, measured with a single-threaded SGEMM (best of n×n, n = 256 to 2048): "
      f"**{num(peak, 1)} GFLOP/s** (onnxruntime's MatMul, MLAS: {num(ort_pk, 1)}; numpy/OpenBLAS: {num(np_pk, 1)}).")
    w("")
    w("| path | FLOPs per unit | floor at that rate | measured | share of the floor |")
    w("| --- | ---: | ---: | ---: | ---: |")
    if peak:
        def fl_row(label, f, meas, unit):
            fcps = peak * 1e9 / f
            w(f"| {label} | {num(f)} | {num(fcps)} {unit}/s | {num(meas)} {unit}/s | {100 * meas / fcps:.1f}% |" if meas else
              f"| {label} | {num(f)} | {num(fcps)} {unit}/s | n/a | n/a |")
        fl_row("rnnrun stateful, one stream", fl["step"], st, "chars")
        for n in sorted(batched):
            if n > 1:
                fl_row(f"rnnrun batched, {n} streams (one core for the model)", fl["step"], batched[n], "chars")
        fl_row(f"rnnrun windowed ({W} steps per character)", win_flops, win, "chars")
        fl_row("rnnrun MNIST, batch 256", mnist_flops, img.get(256), "images")
    w("")
    onehot_cps = peak * 1e9 / fl["step_onehot"] if peak else None
    w(f"The floor assumes every FLOP runs at SGEMM speed. A single stream cannot get there: its step is a "
      f"matrix-vector product (batch 1), which streams {4 * (4 * cm['units'] * (cm['vocab'] + cm['units']) + cm['units'] * cm['vocab']) / 1024:.0f} KiB "
      "of weights per character, and each call pays ONNX Runtime's fixed per-call cost (next section); batching "
      "turns the step into a matrix-matrix product and amortises that cost. The input is one-hot, so "
      f"W·x is really a column lookup: a hand-written kernel could skip it ({num(fl['step_onehot'])} FLOPs, "
      f"floor {num(onehot_cps)} characters/s), which no general ONNX graph does.")
    w("")

    w("## Where the time goes")
    w("")
    ps = pprof_summary(text(d, "pprof_stateful.txt") + text(d, "pprof_stateful_cum.txt"))
    pb = pprof_summary(text(d, "pprof_batched64.txt") + text(d, "pprof_batched64_cum.txt"))
    step_ns = gb.get("BenchmarkCharStep/threads=1/batch=1", {}).get("ns/op")
    run_ns = gb.get("BenchmarkCharStepRun", {}).get("ns/op")
    run_allocs = gb.get("BenchmarkCharStepRun", {}).get("allocs/op")
    samp = gb.get("BenchmarkSampler/temp=1,top_k=0,top_p=0", {}).get("ns/op")
    samp08 = gb.get("BenchmarkSampler/temp=0.8,top_k=0,top_p=0", {}).get("ns/op")
    sampkp = gb.get("BenchmarkSampler/temp=0.8,top_k=10,top_p=0.9", {}).get("ns/op")
    w("**Stateful, one stream** (`rnnrun bench --only stateful --cpuprofile`, `go tool pprof -top`): "
      f"{ps['ort']:.0f}% of the CPU samples are inside the cgo call into ONNX Runtime (`runtime.cgocall`), "
      f"{ps['sampler']:.0f}% in the sampler, the rest in the generation loop and the Go runtime.")
    if step_ns and st:
        w(f"The raw call alone (`BenchmarkCharStep/threads=1/batch=1`: one bound [1,1,{cm['vocab']}] step, no sampling, "
          f"measured separately) takes {step_ns / 1000:.1f} µs; a whole character takes {1e6 / st:.1f} µs"
          + (f"; the sampler takes {samp:.0f} ns at temperature 1 ({samp08:.0f} ns at another temperature, "
             f"{sampkp:.0f} ns with top-k and top-p)" if samp and samp08 and sampkp else "") + ".")
    if run_ns and step_ns:
        w(f"The same step through `Model.Run` (tensors wrapped and outputs allocated per call) takes {run_ns / 1000:.1f} µs "
          f"and {run_allocs:.0f} allocations: the binding saves {100 * (1 - step_ns / run_ns):.0f}%.")
    w("")
    perf = "\n".join(line.strip() for line in text(d, "perf_stateful_dso.txt").splitlines() if line.strip())
    if perf:
        w("Across the cgo boundary (`perf record` of the same loop, by shared object; ONNX Runtime's library has no "
          "symbols, so this is as deep as it goes):")
        w("")
        w("```")
        w("\n".join(perf.splitlines()[:8]))
        w("```")
        w("")
    prof = py.get("ort_profile", {})
    if prof:
        w("Inside ONNX Runtime: its own per-operator profile of the same graph (Python onnxruntime "
          f"{v.get('onnxruntime', '')}, 1 thread, `enable_profiling`; the profiler adds its own cost, so the kernel "
          "times are what matters, not their sum):")
        w("")
        ops = sorted({op for p in prof.values() for op in p["op_us_per_run"]})
        w("| call | µs per call (unprofiled) | " + " | ".join(ops) + " |")
        w("| --- | ---: | " + " | ".join("---:" for _ in ops) + " |")
        for label, p in prof.items():
            w(f"| {label.replace('_', ' ')} | {p['us_per_call']:.1f} | "
              + " | ".join(f"{p['op_us_per_run'].get(op, 0):.1f}" for op in ops) + " |")
        w("")
        p1 = prof.get("step_batch1")
        if p1:
            kern = sum(p1["op_us_per_run"].values())
            lstm = p1["op_us_per_run"].get("LSTM", 0)
            w(f"At batch 1 the LSTM kernel is {lstm:.1f} µs of a {p1['us_per_call']:.1f} µs call; the other "
              f"{len(p1['op_us_per_run']) - 1} operators (Transpose, Unsqueeze and Squeeze of the state, the dense Gemm, "
              f"Softmax) and the session's own bookkeeping (input checks, allocation planning, executor) make up the "
              "rest. That fixed cost is why one stream runs far from the floor and why batching pays.")
            w("")
    if pb["total"]:
        w(f"**64 batched streams** (`--only batched --streams 64 --cpuprofile`): {pb['model_call']:.0f}% of the samples in "
          f"the model call, {pb['sample_all']:.0f}% in sampling every row ({pb['sampler']:.0f}% in the sampler itself), "
          f"{pb['consumer']:.0f}% in the streams' own goroutines (receiving and emitting their characters), "
          f"{pb['prime']:.0f}% priming prompts, {pb['scheduler']:.0f}% in the scheduler. "
          + (f"A 64-row step alone takes {gb['BenchmarkCharStep/threads=1/batch=64']['ns/op'] / 1000:.0f} µs "
             f"(`BenchmarkCharStep/threads=1/batch=64`), {gb['BenchmarkCharStep/threads=1/batch=64']['ns/op'] / 64 / 1000:.2f} µs per stream."
             if "BenchmarkCharStep/threads=1/batch=64" in gb else ""))
        w("")
    # The gaps to the targets, from this run's own figures.
    gaps = []
    win_ns = gb.get("BenchmarkCharWindow", {}).get("ns/op")
    if st and win and step_ns and win_ns:
        gaps.append(f"*Stateful vs windowed.* A windowed character is one {W}-step call ({win_ns / 1000:.0f} µs alone); a stateful "
                    f"character is one 1-step call ({step_ns / 1000:.1f} µs alone) plus sampling. Even with free sampling the "
                    f"ratio could not exceed {win_ns / step_ns:.0f}x, because ONNX Runtime's fixed cost per call "
                    f"(operators, executor, the LSTM kernel's setup) is paid once per character but shared by {W} steps in a window.")
    s64 = gb.get("BenchmarkCharStep/threads=1/batch=64", {}).get("ns/op")
    if st and batched.get(64) and s64:
        per_step = 64 / batched[64] * 1e9
        bound = 1e9 / st / (s64 / 64)
        gaps.append(f"*64 streams vs one.* With 64 streams a step of the batch takes {per_step / 1000:.0f} µs, of which the 64-row "
                    f"model call alone is {s64 / 1000:.0f} µs ({64 * fl['step'] / s64:.0f} GFLOP/s, "
                    f"{100 * 64 * fl['step'] / s64 / (peak or 1):.0f}% of the single-core SGEMM rate) and sampling, emitting "
                    f"and scheduling 64 streams the other {max(per_step - s64, 0) / 1000:.0f} µs "
                    f"({max(per_step - s64, 0) / 64 / 1000:.2f} µs per stream). One stream costs {1e6 / st:.1f} µs per "
                    f"character, so with the model call on one core the ratio is bounded by {bound:.1f}x even if the Go side "
                    "cost nothing"
                    + (": the single stream is already efficient enough that 8x needs the second core during the model "
                       "call (intra-op threads, or sampling one half of the batch while the model runs the other)."
                       if bound < 8 else "; the rest of the gap is the Go side's per-stream work."))
    if gaps:
        w("**The gaps, in this run's numbers.**")
        w("")
        for g in gaps:
            w(f"- {g}")
        w("")
    for name, title in (("pprof_stateful.txt", "pprof, stateful"), ("pprof_batched64.txt", "pprof, 64 batched streams")):
        t = text(d, name)
        if t:
            body = [line for line in t.splitlines() if re.match(r"\s*[\d.]+(m?s)?\s", line) or "flat%" in line][:16]
            w(f"<details><summary>{title} (top 15)</summary>")
            w("")
            w("```")
            w("\n".join(body))
            w("```")
            w("</details>")
            w("")

    w("## Threading")
    w("")
    w("ONNX Runtime's intra-op threads split one operator across cores; its inter-op threads only matter in its "
      "parallel execution mode, which rnnrun does not use (the graphs are chains). Measured in this run; in "
      "parentheses, the average number of cores the process kept busy (CPU time over wall time, ONNX Runtime's "
      "threads included):")
    w("")
    w("| workload | 1 intra-op thread (default) | 2 intra-op threads | other |")
    w("| --- | ---: | ---: | --- |")

    def cell(v, c):
        return num(v) + (f" ({c:.1f})" if c else "")

    def bc(r, n):
        return r.get("batched_cpu_cores", {}).get(str(n))

    w(f"| char stateful, 1 stream (chars/s) | {cell(gc.get('stateful_chars_per_second'), gc.get('stateful_cpu_cores'))} | "
      f"{cell(gc2.get('stateful_chars_per_second'), gc2.get('stateful_cpu_cores'))} | "
      f"2 inter-op: {cell(gci2.get('stateful_chars_per_second'), gci2.get('stateful_cpu_cores'))} |")
    for n in sorted(batched):
        o = (f"2 inter-op: {cell(gci2['batched_chars_per_second'][str(n)], bc(gci2, n))}"
             if str(n) in gci2.get("batched_chars_per_second", {}) else "")
        w(f"| char batched, {n} streams (chars/s) | {cell(batched[n], bc(gc, n))} | "
          f"{cell(gc2.get('batched_chars_per_second', {}).get(str(n)), bc(gc2, n))} | {o} |")
    for b in (1, 64, 256):
        k1, k2 = f"BenchmarkCharStep/threads=1/batch={b}", f"BenchmarkCharStep/threads=2/batch={b}"
        if k1 in gb:
            w(f"| char step alone, batch {b} (µs per call) | {gb[k1]['ns/op'] / 1000:.1f} | {gb.get(k2, {}).get('ns/op', 0) / 1000:.1f} | |")

    def ic(r, b):
        return r.get("images_cpu_cores", {}).get(str(b))

    for b in sorted(img):
        o = []
        if imgw2.get(b):
            o.append(f"2 concurrent 1-thread calls: {cell(imgw2[b], ic(gmw2, b))}")
        if b == 256 and gmi2.get("images_per_second", {}).get("256"):
            o.append(f"2 inter-op: {cell(gmi2['images_per_second']['256'], ic(gmi2, b))}")
        if b == 256 and pimg:
            o.append(f"Python onnxruntime 1/2/default threads: {num(pimg.get('1'))} / {num(pimg.get('2'))} / {num(pimg.get('default'))}")
        w(f"| MNIST, batch {b} (images/s) | {cell(img[b], ic(gm, b))} | {cell(img2.get(b), ic(gm2, b))} | {'; '.join(o)} |")
    w("")
    w(threading_decision(gc, gc2, img, img2, imgw2, batched, mach))
    w("")

    w("## Reproduce")
    w("")
    w("```sh")
    w("make bench        # about 5 minutes; writes bench/results/*, docs/benchmarks.md, docs/benchmarks.svg")
    w("rnnrun bench --model models/export/char.onnx --json     # stateful, windowed, batched, allocations")
    w("rnnrun bench --backend native --model models/export/char.onnx --json   # the same on the native engine")
    w("(cd bench/gomlx && go run . -model ../../models/export/char.onnx)   # onnx-gomlx on GoMLX simplego")
    w("rnnrun bench --model models/export/mnist.onnx --batch 1,32,256")
    w("go test -run '^$' -bench . ./runtime/onnx ./runtime/textgen")
    w("```")
    w("")
    w("`rnnrun bench --json` prints, for a text model, `stateful_chars_per_second`, `windowed_chars_per_second`, "
      "`allocs_per_char` (Go heap allocations per character in the steady state of the stateful loop: "
      "`runtime.MemStats.Mallocs` over the run after its first 10%), `bytes_per_char`, `window`, "
      "`batched_chars_per_second` (by stream count: the aggregate over the interval in which all the streams are "
      "in the batch) and, for an image model, `images_per_second` (by batch size); plus the model, backend, "
      "threads and Go version. These keys are a contract, tested by `cmd/rnnrun/bench_test.go`.")
    w("")
    w("The Python figures: `bench/sidebyside.py` rebuilds the tutorial's Keras models, loads the weights from the "
      "ONNX files' initializers (undoing ONNX's i, o, f, c gate order), and checks them against the exporter's "
      f"golden Keras outputs before timing (max abs diff: "
      + ", ".join(f"{k} {v:.2g}" for k, v in py.get("verify_max_abs_diff", {}).items()) + "). "
      "Its loops sample with numpy (`cumsum` + `searchsorted`, temperature 1); the tutorial's loop uses the "
      "tutorial's own `sample()`.")
    md = "\n".join(L) + "\n"
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(md)

    text_rows = [
        ("Keras predict, 100-char window", kp, "python"),
        ("Keras/TF, carried state", ks, "python"),
        ("Python onnxruntime, stateful", po, "python"),
        ("Python onnxruntime, IoBinding", poi, "python"),
        ("rnnrun windowed (tutorial path)", win, "rnnrun"),
        ("rnnrun stateful, 1 stream", st, "rnnrun"),
    ] + [(f"rnnrun batched, {n} streams", batched[n], "batched") for n in sorted(batched) if n > 1]
    nc, nm = load(d, "go_char_native.json"), load(d, "go_mnist_native.json")
    gx = load(d, "gomlx_char.json").get("chars_per_second")
    text_rows += [(label, v, "native") for label, v in [
        ("onnx-gomlx on GoMLX simplego, stateful", gx),
        ("native windowed", nc.get("windowed_chars_per_second")),
        ("native stateful, 1 stream", nc.get("stateful_chars_per_second")),
        ("native batched, 64 streams", rates(nc, "batched_chars_per_second").get(64)),
        ("native batched, 64 streams in 2 shards", rates(load(d, "go_char_native_shards2.json"), "batched_chars_per_second").get(64)),
    ] if v]
    image_rows = [
        ("Keras predict", kimg, "python"),
        ("Python onnxruntime, 1 thread", pimg.get("1"), "python"),
        ("Python onnxruntime, 2 threads", pimg.get("2"), "python"),
        ("rnnrun, 1 thread", img.get(256), "rnnrun"),
        ("rnnrun, 2 threads", img2.get(256), "rnnrun"),
        ("rnnrun, 2 calls of 1 thread", imgw2.get(256), "rnnrun"),
    ] + [("native, batch 256", v, "native") for v in [rates(nm, "images_per_second").get(256)] if v]
    note = (f"{mach.get('cpu', '')}, {mach.get('logical_cpus', '?')} CPUs, load {la0[0]:.2f} at start; "
            f"{mach.get('started', '')}" if la0 else mach.get("cpu", ""))
    svg_path.write_text(svg_chart(text_rows, image_rows, floor_cps, note))

    if readme and readme.exists():
        r = readme.read_text()
        b, e = "<!-- bench:begin -->", "<!-- bench:end -->"
        if b in r and e in r:
            block = readme_block(st, win, kp, po, batched, shards2, g_best, p_best, la0, mach, d)
            r = r[: r.index(b) + len(b)] + "\n" + block + r[r.index(e):]
            readme.write_text(r)
    print(f"report: wrote {md_path} and {svg_path}", file=sys.stderr)


def threading_decision(gc, gc2, img, img2, imgw2, batched, mach) -> str:
    """The default the measurements support, in words."""
    def gain(a, b):
        return (b / a - 1) if a and b else None

    def pct(g):
        return f"{100 * g:+.0f}%"

    parts = ["**Decision.**"]
    s = gain(gc.get("stateful_chars_per_second"), gc2.get("stateful_chars_per_second"))
    c1, c2 = gc.get("stateful_cpu_cores"), gc2.get("stateful_cpu_cores")
    if s is not None:
        cost = f" while keeping {c2:.1f} cores busy instead of {c1:.1f}" if c1 and c2 else ""
        parts.append(f"For the per-character step (batch 1), a second intra-op thread changes the rate by {pct(s)}{cost}: "
                     "a [1,1,V] step has too little work per operator to split, so a second thread adds synchronisation "
                     "rather than speed. That core is worth more to other streams, requests or models, so "
                     "`onnx.DefaultThreads = 1` stays for generation.")
    big = [(n, gain(batched[n], gc2.get("batched_chars_per_second", {}).get(str(n)))) for n in sorted(batched) if n >= 64]
    big = [(n, g) for n, g in big if g is not None]
    if big:
        parts.append("Batched streams: 2 threads give " + ", ".join(f"{pct(g)} at {n} streams" for n, g in big) + ".")
    g256, w256 = gain(img.get(256), img2.get(256)), gain(img.get(256), imgw2.get(256))
    g32 = gain(img.get(32), img2.get(32))
    if g256 is not None:
        parts.append(f"MNIST: 2 intra-op threads give {pct(g256)} at batch 256"
                     + (f" and {pct(g32)} at batch 32" if g32 is not None else "")
                     + (f"; two concurrent 1-thread calls give {pct(w256)} at batch 256" if w256 is not None else "") + ".")
    if g256 is not None and g256 > 0.15:
        parts.append("So the right count depends on the batch, which a session option cannot follow call by call. "
                     "The default stays at 1, and the choice is per model: `--threads` / the config's `threads` = the "
                     "number of physical cores for a model that serves large batches (image classification at batch 32 "
                     "or more, a Batcher with hundreds of streams) when it has the machine to itself; where requests "
                     "are concurrent, 1 thread per session and one call per core does as well without spinning "
                     "(`vision.Classifier` already runs GOMAXPROCS workers).")
    else:
        parts.append("No workload here gains enough from a second intra-op thread to change the default of 1.")
    parts.append("Inter-op threads change nothing measurable (sequential execution), so they stay at 1.")
    return " ".join(parts)


def g_best_of(xs):
    return max(xs or [0]) or None


def rates(doc: dict, key: str) -> dict:
    return {int(k): v for k, v in doc.get(key, {}).items()}


def repeats(d: Path, first, name: str, key: str, n: int) -> list:
    """first (the main run's figure) and the figure at n of each interleaved
    repeat name.format(i=1..3), where present."""
    return [x for x in [first] + [rates(load(d, name.format(i=i)), key).get(n) for i in (1, 2, 3)] if x]


def runs_note(o: list, n: list) -> str:
    return f"best of {len(o)} / {len(n)} runs: ONNX Runtime {' / '.join(num(x) for x in o)}; native {' / '.join(num(x) for x in n)}"


def native_section(w, d: Path, fl: dict, W: int, peak, st, win, batched, shards2, go256, mnist_flops) -> None:
    """The native engine (pure Go, cgo-free) beside ONNX Runtime, same run. The
    batched and MNIST comparisons take the best of each side over the main runs
    and the interleaved repeats (scripts/bench.sh), as noise on this machine is
    larger than the differences."""
    nc, ns2, nm, gx = (load(d, "go_char_native.json"), load(d, "go_char_native_shards2.json"),
                       load(d, "go_mnist_native.json"), load(d, "gomlx_char.json"))
    if not nc:
        return
    nst, nwin = nc.get("stateful_chars_per_second"), nc.get("windowed_chars_per_second")
    nb, nb2 = rates(nc, "batched_chars_per_second"), rates(ns2, "batched_chars_per_second")
    nimg = rates(nm, "images_per_second")
    key = "batched_chars_per_second"
    o1, n1 = (repeats(d, batched.get(64), "go_char_b64_onnx_s1_ab{i}.json", key, 64),
              repeats(d, nb.get(64), "go_char_b64_native_s1_ab{i}.json", key, 64))
    o2, n2 = (repeats(d, shards2.get(64), "go_char_b64_onnx_s2_ab{i}.json", key, 64),
              repeats(d, nb2.get(64), "go_char_b64_native_s2_ab{i}.json", key, 64))
    om, nmn = go256, repeats(d, nimg.get(256), "go_mnist_native_ab{i}.json", "images_per_second", 256)
    b1o, b1n, b2o, b2n = g_best_of(o1), g_best_of(n1), g_best_of(o2), g_best_of(n2)
    ort256, n256 = g_best_of(om), g_best_of(nmn)
    win_flops = W * (fl["lstm_matmul"] + fl["lstm_elementwise"]) + fl["dense"] + fl["softmax"]
    win_onehot = W * (fl["step_onehot"] - fl["dense"] - fl["softmax"]) + fl["dense"] + fl["softmax"]

    def share(meas, f):
        return f"{100 * meas * f / (peak * 1e9):.1f}%" if meas and peak and f else "n/a"

    w("## The native engine (pure Go, cgo-free) beside ONNX Runtime")
    w("")
    w(f"`rnnrun bench --backend native` on the same models in the same run (kernels: {nc.get('kernels', 'see `rnnrun version`')}). "
      "The FLOP floor is the single-core SGEMM rate over the FLOPs per unit (next sections); the one-hot floor "
      "counts only the recurrent and dense FLOPs, since a one-hot input makes W·x a column lookup (native does that lookup).")
    w("")
    w("| path | ONNX Runtime | native | native / ONNX Runtime | native's share of the FLOP floor | of the one-hot floor |")
    w("| --- | ---: | ---: | ---: | ---: | ---: |")
    rows = [
        ("char.onnx stateful, one stream (chars/s)", st, nst, fl["step"], fl["step_onehot"]),
        ("char.onnx windowed, window 100 (chars/s)", win, nwin, win_flops, win_onehot),
        ("char.onnx batched, 64 streams in 2 shards (chars/s)", b2o, b2n, fl["step"], fl["step_onehot"]),
        ("char.onnx batched, 64 streams in 1 shard (chars/s)", b1o, b1n, fl["step"], fl["step_onehot"]),
        ("mnist.onnx, batch 256 (images/s)", ort256, n256, mnist_flops, None),
    ]
    for label, o, n, f, f1 in rows:
        w(f"| {label} | {num(o)} | {num(n)} | {ratio(n, o, 2)} | {share(n, f)} | {share(n, f1)} |")
    if gx:
        g = gx.get("chars_per_second")
        w(f"| char.onnx stateful on github.com/gomlx/onnx-gomlx v0.3.4, GoMLX simplego (the cgo-free route today; "
          f"{num(gx.get('us_per_step'), 1)} µs per step, {num(gx.get('new_shape_ms'), 1)} ms to recompile for a new shape) "
          f"| {num(st)} | {num(g)} | {ratio(g, st, 3)} | {share(g, fl['step'])} | {share(g, fl['step_onehot'])} |")
    w("")
    w("The batched and MNIST rows are the best of each side over the main run and three interleaved repeats "
      "(ONNX Runtime then native, same settings): 2 shards: " + runs_note(o2, n2) + "; 1 shard: " + runs_note(o1, n1)
      + "; MNIST: " + runs_note(om, nmn) + ".")
    w("")
    a = nc.get("allocs_per_char")
    w("| native target | measured | met |")
    w("| --- | --- | :---: |")
    for desc, val, goal in [
        ("stateful single stream ≥ 3x ONNX Runtime's", nst / st if nst and st else None, 3),
        ("native stateful ≥ 50x native windowed", nst / nwin if nst and nwin else None, 50),
        ("batched 64 streams ≥ 1.25x ONNX Runtime's, same shards (2)", b2n / b2o if b2n and b2o else None, 1.25),
        ("batched 64 streams ≥ 1.25x ONNX Runtime's, same shards (1)", b1n / b1o if b1n and b1o else None, 1.25),
        ("MNIST at batch 256 ≥ ONNX Runtime at 1 thread", n256 / ort256 if n256 and ort256 else None, 1),
    ]:
        w(f"| {desc} | {'n/a' if val is None else f'{val:.2f}x'} | {'yes' if val is not None and val >= goal else '**no**'} |")
    w(f"| 0 allocations per character (stateful) | {a if a is not None else 'n/a'} | {'yes' if a == 0 else '**no**'} |")
    w("")


def large_section(w, d: Path, peak) -> None:
    """char_large.onnx (two stacked LSTM layers): where compute, not call overhead, dominates."""
    o, n = load(d, "go_char_large.json"), load(d, "go_char_large_native.json")
    if not o or not n:
        return
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(Path(__file__).resolve().parent.parent / "models/export/char_large.onnx"),
                                              load_external_data=False).metadata_props}
    V, H = len(json.loads(meta["vocab"])), int(meta["state_size"])
    step = 2 * 4 * H * (V + H) + 2 * 4 * H * (2 * H) + 2 * H * V  # layer 1, layer 2, dense (multiply-adds count 2)
    onehot = step - 2 * 4 * H * V

    def share(meas, f):
        return f"{100 * meas * f / (peak * 1e9):.1f}%" if meas and peak else "n/a"

    w(f"## A larger model: char_large.onnx (two LSTM({H}) layers, V={V})")
    w("")
    w(f"One step is {step / 1e6:.2f} MFLOP ({onehot / 1e6:.2f} MFLOP with the one-hot lookup): "
      "the fixed cost per call matters less here and the kernels decide.")
    w("")
    w("| path | ONNX Runtime | native | native / ONNX Runtime | native's share of the FLOP floor | of the one-hot floor |")
    w("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, a, b in [
        ("stateful, one stream (chars/s)", o.get("stateful_chars_per_second"), n.get("stateful_chars_per_second")),
        ("batched, 64 streams in 2 shards (chars/s)", rates(o, "batched_chars_per_second").get(64),
         rates(n, "batched_chars_per_second").get(64)),
    ]:
        w(f"| {label} | {num(a)} | {num(b)} | {ratio(b, a, 2)} | {share(b, step)} | {share(b, onehot)} |")
    w("")


def readme_block(st, win, kp, po, batched, shards2, g256, p256, la0, mach, d: Path) -> str:
    b64, s64 = batched.get(64), shards2.get(64)
    nc = load(d, "go_char_native.json")
    key = "batched_chars_per_second"
    nst = nc.get("stateful_chars_per_second")
    # best of each side over the main run and the interleaved repeats, as in the native section
    ns64 = g_best_of(repeats(d, rates(load(d, "go_char_native_shards2.json"), key).get(64), "go_char_b64_native_s2_ab{i}.json", key, 64))
    os64 = g_best_of(repeats(d, s64, "go_char_b64_onnx_s2_ab{i}.json", key, 64))
    n256 = g_best_of(repeats(d, rates(load(d, "go_mnist_native.json"), "images_per_second").get(256),
                             "go_mnist_native_ab{i}.json", "images_per_second", 256))
    gx = load(d, "gomlx_char.json").get("chars_per_second")
    rows = ["| path | rate |", "| --- | ---: |",
            f"| Keras `predict` on the 100-character window (tutorial) | {num(kp, 1)} chars/s |",
            f"| Python onnxruntime, stateful loop | {num(po)} chars/s |",
            f"| rnnrun windowed | {num(win)} chars/s |",
            f"| **rnnrun stateful** | **{num(st)} chars/s** ({ratio(st, kp)} the tutorial, {ratio(st, po, 2)} Python onnxruntime) |",
            f"| **rnnrun, 64 streams batched**, one call per step | **{num(b64)} chars/s** ({ratio(b64, st)} one stream) |",
            f"| **rnnrun, 64 streams batched in 2 shards**, one per core | **{num(s64)} chars/s** ({ratio(s64, st)} one stream) |",
            f"| MNIST at batch 256, 1 thread: rnnrun / Python onnxruntime | {num(g256)} / {num(p256)} images/s |"]
    if nc:
        rows += [f"| **native engine (cgo-free) stateful** | **{num(nst)} chars/s** ({ratio(nst, st, 2)} rnnrun on ONNX Runtime) |",
                 f"| native, 64 streams batched in 2 shards | {num(ns64)} chars/s ({ratio(ns64, os64, 2)} ONNX Runtime's, best of 4 runs each) |",
                 f"| native MNIST at batch 256 | {num(n256)} images/s ({ratio(n256, g256, 2)} ONNX Runtime's, best of 4 runs each) |",
                 f"| onnx-gomlx v0.3.4 on GoMLX simplego, stateful | {num(gx)} chars/s |"]
    return ("\n![benchmarks](docs/benchmarks.svg)\n\n" + "\n".join(rows) + "\n\n"
            f"Measured by `make bench` on {mach.get('cpu', '')} ({mach.get('logical_cpus', '?')} CPUs, "
            f"load {la0[0]:.2f}); details, the floor and the profile in [docs/benchmarks.md](docs/benchmarks.md).\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("machine")
    m.add_argument("--out", required=True, type=Path)
    m.add_argument("--end", action="store_true")
    r = sub.add_parser("report")
    r.add_argument("--results", default=ROOT / "bench" / "results", type=Path)
    r.add_argument("--md", default=ROOT / "docs" / "benchmarks.md", type=Path)
    r.add_argument("--svg", default=ROOT / "docs" / "benchmarks.svg", type=Path)
    r.add_argument("--readme", type=Path, help="also refresh the bench block of this file")
    a = ap.parse_args()
    if a.cmd == "machine":
        machine(a.out, a.end)
    else:
        report(a.results, a.md, a.svg, a.readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
