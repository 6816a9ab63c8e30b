#!/usr/bin/env python3
"""The Python side of `make bench`: the same models, timed the ways Python runs them.

Text (char.onnx, its weights loaded into the tutorial's Keras model):
  keras_predict_window  the tutorial's loop: model.predict on the 100-character window
                        for every generated character, then the tutorial's sample()
  keras_stateful        the LSTM layer called directly on one step with the carried
                        state (initial_state) inside a tf.function
  ort_stateful          onnxruntime's InferenceSession.run on char.onnx, one step per
                        character, h and c fed back (1 intra-op thread, as rnnrun);
                        also with onnxruntime's default threads and with an IoBinding
MNIST (mnist.onnx, its weights loaded into the tutorial's Keras model):
  keras_predict         model.predict on the 10,000 test images at batch 256
  ort                   InferenceSession.run at batch 256 (1 and 2 intra-op threads, default)
Also: the machine's single-core SGEMM rate (numpy/OpenBLAS and onnxruntime MatMul, one
thread) for the floor estimate, and onnxruntime's per-operator profile of the char step.

Before timing, the Keras models rebuilt from the ONNX initializers are checked against
the exporter's golden vectors (models/export/testdata, Keras outputs) to 1e-5.

Every generation loop samples at temperature 1 over the whole distribution, as rnnrun's
bench does. Usage: python bench/sidebyside.py --out results/python.json [--quick]
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# The same prompt as `rnnrun bench`: longer than the 100-character window.
PROMPT = (
    "LYSANDER.\nHow now, my love! Why is your cheek so pale?\n"
    "How chance the roses there do fade so fast?\n\nHERMIA.\n"
    "Belike for want of rain, which I could well\nBeteem them from the tempest of my eyes.\n"
)


def log(msg: str) -> None:
    print(f"sidebyside: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ weights


def onnx_weights(path: Path):
    """The LSTM and dense weights of an rnnrun ONNX model, in Keras layout, and its metadata."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    meta = {p.key: p.value for p in m.metadata_props}
    lstm = next(n for n in m.graph.node if n.op_type == "LSTM")
    W, R, B = (init[name] for name in lstm.input[1:4])
    H = R.shape[2]

    def to_keras(a):  # ONNX gate order i, o, f, c -> Keras i, f, c, o, along axis 0
        i, o, f, c = (a[k * H : (k + 1) * H] for k in range(4))
        return np.concatenate([i, f, c, o], axis=0)

    kernel = to_keras(W[0]).T  # [features, 4H]
    recurrent = to_keras(R[0]).T  # [H, 4H]
    bias = to_keras(B[0, : 4 * H] + B[0, 4 * H :])
    mm = [n for n in m.graph.node if n.op_type == "MatMul" and n.input[1] in init][-1]
    add = [n for n in m.graph.node if n.op_type == "Add" and any(i in init for i in n.input)][-1]
    dense_k = init[mm.input[1]]
    dense_b = init[next(i for i in add.input if i in init)]
    return [kernel, recurrent, bias], [dense_k, dense_b], meta


def golden(export: Path, name: str) -> dict:
    with open(export / "testdata" / name) as f:
        return json.load(f)


def tensor(t: dict) -> np.ndarray:
    return np.asarray(t["data"], np.float32).reshape(t["shape"])


def check(what: str, got, want, tol: float = 1e-5) -> float:
    d = float(np.max(np.abs(np.asarray(got, np.float32) - np.asarray(want, np.float32))))
    log(f"verify {what}: max abs diff {d:.3g}")
    if not d <= tol:
        raise SystemExit(f"sidebyside: {what}: max abs diff {d} > {tol}; the rebuilt Keras model is wrong")
    return d


# ------------------------------------------------------------------ sampling


def sample_tutorial(preds, temperature, rs) -> int:
    """The tutorial's sample(), verbatim."""
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = rs.multinomial(1, preds, 1)
    return int(np.argmax(probas))


def sample_fast(p, rng) -> int:
    """Temperature 1 over the whole distribution (the same draw rnnrun makes), with
    numpy's fastest primitives: a cumulative sum and a binary search."""
    cs = np.cumsum(p, dtype=np.float64)
    return min(int(np.searchsorted(cs, rng.random() * cs[-1], side="right")), len(cs) - 1)


def timed_loop(step, duration: float, min_n: int = 20):
    """Calls step() until duration has passed (and at least min_n times); returns calls/s."""
    n, start = 0, time.perf_counter()
    while True:
        step()
        n += 1
        el = time.perf_counter() - start
        if n >= min_n and el >= duration:
            return n / el, n


# ------------------------------------------------------------------ text


def bench_text(export: Path, args, out: dict) -> None:
    import keras
    import onnxruntime as ort
    import tensorflow as tf

    path = export / "char.onnx"
    lstm_w, dense_w, meta = onnx_weights(path)
    vocab = json.loads(meta["vocab"])
    V, W, H = len(vocab), int(meta["window_length"]), lstm_w[1].shape[0]
    index = {c: i for i, c in enumerate(vocab)}
    prompt = [index[c] for c in PROMPT]
    assert len(prompt) >= W
    out["char_model"] = {"vocab": V, "units": H, "window": W}

    def onehot(idx):
        x = np.zeros((1, len(idx), V), np.float32)
        x[0, np.arange(len(idx)), idx] = 1
        return x

    # The tutorial's model: Input(W, V) -> LSTM(128) -> Dense(V, softmax).
    model = keras.Sequential([keras.Input((W, V)), keras.layers.LSTM(H), keras.layers.Dense(V, activation="softmax")])
    model.layers[0].set_weights(lstm_w)
    model.layers[1].set_weights(dense_w)
    verify = {}
    g = golden(export, "char.json")
    for case in g["cases"]:
        x = tensor(case["inputs"]["x"])
        if x.shape[1] == W and not np.any(tensor(case["inputs"]["h"])):
            verify[f"keras window model vs golden {case['name']}"] = check(
                f"keras window model, golden {case['name']}", model.predict(x, verbose=0), tensor(case["outputs"]["probs"]))

    # One step of the same weights with the state carried (Keras 3 LSTM with initial_state).
    lstm = keras.layers.LSTM(H, return_state=True)
    dense = keras.layers.Dense(V, activation="softmax")
    lstm(np.zeros((1, 1, V), np.float32), initial_state=[np.zeros((1, H), np.float32)] * 2)
    dense(np.zeros((1, H), np.float32))
    lstm.set_weights(lstm_w)
    dense.set_weights(dense_w)

    @tf.function(reduce_retracing=True)
    def step(x, h, c):
        y, h2, c2 = lstm(x, initial_state=[h, c])
        return dense(y), h2, c2

    roll = golden(export, "char_rollout.json")
    h = c = tf.zeros((1, H))
    got = []
    for i in roll["indices"]:
        p, h, c = step(tf.constant(onehot([i])), h, c)
        got.append(p.numpy()[0])
    verify["keras carried state vs golden 50-step rollout"] = check("keras carried state, golden rollout", np.stack(got), tensor(roll["probs"]))
    check("keras carried state, rollout final c", c.numpy(), tensor(roll["c_out"]))
    out["verify_max_abs_diff"] = verify

    # (a) The tutorial's loop: predict on the whole window for every character.
    log(f"keras predict on the {W}-character window, {args.keras_chars} characters")
    rs = np.random.RandomState(1)
    window = list(prompt[-W:])
    for _ in range(3):
        model.predict(onehot(window), verbose=0)
    t = time.perf_counter()
    for _ in range(args.keras_chars):
        preds = model.predict(onehot(window), verbose=0)[0]
        window = window[1:] + [sample_tutorial(preds, 1.0, rs)]
    el = time.perf_counter() - t
    out["keras_predict_window_chars_per_second"] = args.keras_chars / el
    out["keras_predict_window_chars"] = args.keras_chars

    # (b) TF/Keras called directly, state carried.
    log("keras direct call with carried state")
    rng = np.random.default_rng(1)
    p, h, c = step(tf.constant(onehot(prompt)), tf.zeros((1, H)), tf.zeros((1, H)))
    st = {"p": p.numpy()[0], "h": h, "c": c}
    x1 = np.zeros((1, 1, V), np.float32)

    def keras_char():
        i = sample_fast(st["p"], rng)
        x1[:] = 0
        x1[0, 0, i] = 1
        p, st["h"], st["c"] = step(x1, st["h"], st["c"])
        st["p"] = p.numpy()[0]

    for _ in range(50):
        keras_char()
    out["keras_stateful_chars_per_second"], out["keras_stateful_chars"] = timed_loop(keras_char, args.duration)

    # (c) onnxruntime, one step per character, h and c fed back.
    def session(threads: int | None, profile: str | None = None):
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        if profile:
            so.enable_profiling = True
            so.profile_file_prefix = profile
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def ort_loop(sess):
        rng = np.random.default_rng(1)
        zero = np.zeros((1, H), np.float32)
        p, h, c = sess.run(["probs", "h_out", "c_out"], {"x": onehot(prompt), "h": zero, "c": zero})
        st = {"p": p[0], "h": h, "c": c}
        x1 = np.zeros((1, 1, V), np.float32)

        def one():
            i = sample_fast(st["p"], rng)
            x1[:] = 0
            x1[0, 0, i] = 1
            p, st["h"], st["c"] = sess.run(["probs", "h_out", "c_out"], {"x": x1, "h": st["h"], "c": st["c"]})
            st["p"] = p[0]

        return one

    sess = session(1)
    for case in g["cases"]:
        got = sess.run(["probs"], {k: tensor(v) for k, v in case["inputs"].items()})[0]
        check(f"python onnxruntime, golden {case['name']}", got, tensor(case["outputs"]["probs"]))
    for key, threads in (("ort_stateful", 1), ("ort_stateful_default_threads", None)):
        log(f"python onnxruntime stateful loop ({threads or 'default'} threads)")
        one = ort_loop(session(threads))
        for _ in range(200):
            one()
        out[key + "_chars_per_second"], out[key + "_chars"] = timed_loop(one, args.duration)

    # (c') onnxruntime with an IoBinding over fixed numpy buffers (no output allocation).
    log("python onnxruntime stateful loop with IoBinding")
    sess = session(1)
    x1 = np.zeros((1, 1, V), np.float32)
    probs = np.zeros((1, V), np.float32)
    hs = [np.zeros((1, H), np.float32) for _ in range(2)]
    cs = [np.zeros((1, H), np.float32) for _ in range(2)]
    binds = []
    for k in range(2):
        io = sess.io_binding()
        for name, arr in (("x", x1), ("h", hs[k]), ("c", cs[k])):
            io.bind_input(name, "cpu", 0, np.float32, list(arr.shape), arr.ctypes.data)
        for name, arr in (("probs", probs), ("h_out", hs[1 - k]), ("c_out", cs[1 - k])):
            io.bind_output(name, "cpu", 0, np.float32, list(arr.shape), arr.ctypes.data)
        binds.append(io)
    p, h, c = sess.run(["probs", "h_out", "c_out"], {"x": onehot(prompt), "h": hs[0], "c": cs[0]})
    probs[:], hs[0][:], cs[0][:] = p, h, c
    rng = np.random.default_rng(1)
    cur = [0, 0]

    def io_char():
        i = sample_fast(probs[0], rng)
        x1[0, 0, cur[1]] = 0
        x1[0, 0, i] = 1
        cur[1] = i
        sess.run_with_iobinding(binds[cur[0]])
        cur[0] = 1 - cur[0]

    for _ in range(200):
        io_char()
    out["ort_stateful_iobinding_chars_per_second"], out["ort_stateful_iobinding_chars"] = timed_loop(io_char, args.duration)

    # Where onnxruntime's time goes in one call: its per-operator profile.
    out["ort_profile"] = {}
    for label, batch, steps in (("step_batch1", 1, 1), ("step_batch64", 64, 1), ("window_batch1", 1, W)):
        out["ort_profile"][label] = ort_profile(session, batch, steps, V, H, args)


def ort_profile(session, batch: int, steps: int, V: int, H: int, args) -> dict:
    x = np.zeros((batch, steps, V), np.float32)
    x[:, :, 3] = 1
    z = np.zeros((batch, H), np.float32)
    feeds = {"x": x, "h": z, "c": z}
    plain = session(1)
    for _ in range(50):
        plain.run(None, feeds)
    rate, _ = timed_loop(lambda: plain.run(None, feeds), args.duration / 4)
    with tempfile.TemporaryDirectory() as d:
        sess = session(1, profile=os.path.join(d, "ort"))
        n = 50 if steps > 1 else 2000
        for _ in range(n):
            sess.run(None, feeds)
        f = sess.end_profiling()
        with open(f) as fh:
            events = json.load(fh)
    ops, runs = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            ops[e["args"]["op_name"]] += e["dur"]
        elif e.get("cat") == "Session" and e["name"] == "model_run":
            runs["model_run"] += e["dur"]
            runs["n"] += 1
    n = max(runs["n"], 1)
    return {
        "batch": batch, "steps": steps,
        "us_per_call": 1e6 / rate,
        "profiled_us_per_run": runs["model_run"] / n,
        "op_us_per_run": {k: v / n for k, v in ops.most_common()},
    }


# ------------------------------------------------------------------ MNIST


def read_idx_images(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n, h, w = (int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(3))
    return np.frombuffer(raw, np.uint8, n * h * w, 16).reshape(n, h, w)


def mnist_images(export: Path, args, out: dict) -> np.ndarray:
    """The test images, scaled as the model's metadata says."""
    from onnx import load

    meta = {p.key: p.value for p in load(str(export / "mnist.onnx")).metadata_props}
    images = None
    if args.mnist_dir:
        p = Path(args.mnist_dir) / "t10k-images-idx3-ubyte.gz"
        if p.exists():
            images = read_idx_images(p)
            out["mnist_data"] = "MNIST t10k (10,000 test images)"
    if images is None:
        images = np.random.default_rng(0).integers(0, 256, (10000, 28, 28), dtype=np.uint8)
        out["mnist_data"] = "random pixels (MNIST t10k not found)"
    mean, std = float(meta.get("input_mean", 0)), float(meta.get("input_std", 255))
    x = ((images.astype(np.float32) - np.float32(mean)) / np.float32(std)).astype(np.float32)
    return x[: args.mnist_images or len(x)]


def bench_mnist(export: Path, args, out: dict) -> None:
    import keras

    path = export / "mnist.onnx"
    lstm_w, dense_w, meta = onnx_weights(path)
    H = lstm_w[1].shape[0]
    out["mnist_model"] = {"units": H, "rows": 28, "features": 28, "classes": 10}
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.LSTM(H), keras.layers.Dense(10, activation="softmax")])
    model.layers[0].set_weights(lstm_w)
    model.layers[1].set_weights(dense_w)
    g = golden(export, "mnist.json")
    for case in g["cases"]:
        out.setdefault("verify_max_abs_diff", {})[f"keras mnist model vs golden {case['name']}"] = check(
            f"keras mnist model, golden {case['name']}", model.predict(tensor(case["inputs"]["x"]), verbose=0), tensor(case["outputs"]["probs"]))
    x = mnist_images(export, args, out)
    n = len(x)
    log(f"keras predict on {n} images at batch 256")
    model.predict(x[:512], batch_size=256, verbose=0)
    best = 0.0
    for _ in range(2):
        t = time.perf_counter()
        model.predict(x, batch_size=256, verbose=0)
        best = max(best, n / (time.perf_counter() - t))
    out["keras_predict_images_per_second"] = best
    bench_ort_mnist(export, args, out, (("1", 1), ("2", 2), ("default", None)), x)


def bench_ort_mnist(export: Path, args, out: dict, configs, x=None) -> None:
    """Python onnxruntime on mnist.onnx at batch 256, cycling through the test set."""
    import onnxruntime as ort

    if x is None:
        x = mnist_images(export, args, out)
    g = golden(export, "mnist.json")
    out["ort_images_per_second"] = {}
    for label, threads in configs:
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(export / "mnist.onnx"), so, providers=["CPUExecutionProvider"])
        got = sess.run(["probs"], {"x": tensor(g["cases"][0]["inputs"]["x"])})[0]
        check(f"python onnxruntime mnist ({label} threads), golden", got, tensor(g["cases"][0]["outputs"]["probs"]))
        batches = [x[i : i + 256] for i in range(0, len(x) - 255, 256)]
        sess.run(["probs"], {"x": batches[0]})
        k = [0]

        def one():
            sess.run(["probs"], {"x": batches[k[0] % len(batches)]})
            k[0] += 1

        log(f"python onnxruntime mnist, batch 256, {label} threads")
        # Three rounds, the best counts (as rnnrun bench does for images).
        rate = max(timed_loop(one, args.duration / 3, min_n=2)[0] for _ in range(3))
        out["ort_images_per_second"][label] = rate * 256


# ------------------------------------------------------------------ floor


NUMPY_SGEMM = r"""
import json, sys, time, numpy as np
best = {}
for n in (256, 512, 1024, 2048):
    a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)
    a @ b
    t_best = 1e9
    for _ in range(int(sys.argv[1])):
        t = time.perf_counter(); a @ b; t_best = min(t_best, time.perf_counter() - t)
    best[n] = 2 * n**3 / t_best / 1e9
print(json.dumps(best))
"""


def bench_flops(args, out: dict) -> None:
    """Single-thread SGEMM GFLOP/s: numpy (OpenBLAS) in a subprocess limited to one
    thread, and onnxruntime's MatMul (MLAS, the kernels rnnrun runs) with one thread."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    reps = 3 if args.quick else 8
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", NUMPY_SGEMM, str(reps)], env=env, capture_output=True, text=True, check=True)
    out["sgemm_gflops_numpy_1thread"] = {k: v for k, v in json.loads(r.stdout).items()}
    res = {}
    for n in (256, 512, 1024, 2048):
        g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "mm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        a = np.random.rand(n, n).astype(np.float32)
        b = np.random.rand(n, n).astype(np.float32)
        sess.run(None, {"a": a, "b": b})
        best = 1e9
        for _ in range(reps):
            t = time.perf_counter()
            sess.run(None, {"a": a, "b": b})
            best = min(best, time.perf_counter() - t)
        res[str(n)] = 2 * n**3 / best / 1e9
    out["sgemm_gflops_ort_1thread"] = res
    out["sgemm_gflops_1thread"] = max(max(res.values()), max(out["sgemm_gflops_numpy_1thread"].values()))


# ------------------------------------------------------------------ main


def versions() -> dict:
    import importlib.metadata as md

    v = {"python": platform.python_version()}
    for p in ("numpy", "tensorflow-cpu", "tensorflow", "keras", "onnx", "onnxruntime"):
        try:
            v[p] = md.version(p)
        except md.PackageNotFoundError:
            pass
    return v


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--export", default="models/export", help="folder with char.onnx, mnist.onnx and testdata/")
    ap.add_argument("--mnist-dir", default=os.environ.get("RNNRUN_MNIST_DIR", ""), help="folder with t10k-images-idx3-ubyte.gz")
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per timed loop")
    ap.add_argument("--keras-chars", type=int, default=50, help="characters generated by the tutorial's predict loop")
    ap.add_argument("--mnist-images", type=int, default=0, help="test images for Keras predict (0: all)")
    ap.add_argument("--only", default="text,mnist,flops",
                    help="comma-separated: text, mnist, flops; or ort-mnist alone (onnxruntime at batch 256, 1 thread)")
    ap.add_argument("--quick", action="store_true", help="short loops (for checking the script)")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.keras_chars, args.mnist_images = 0.2, 5, args.mnist_images or 1024
    export = Path(args.export)
    only = set(args.only.split(","))
    out: dict = {"load_average_start": list(os.getloadavg()), "versions": versions()}
    if only == {"ort-mnist"}:  # the quick repeat interleaved with rnnrun's (no TensorFlow import)
        bench_ort_mnist(export, args, out, (("1", 1),))
        Path(args.out).write_text(json.dumps(out, indent=2))
        return 0
    import onnxruntime as ort
    import tensorflow as tf

    out["tensorflow_threads"] = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                                 "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                                 "note": "0 means TensorFlow's default: all cores"}
    out["ort_device"] = ort.get_device()
    t0 = time.time()
    if "text" in only:
        bench_text(export, args, out)
    if "mnist" in only:
        bench_mnist(export, args, out)
    if "flops" in only:
        bench_flops(args, out)
    out["seconds"] = time.time() - t0
    out["load_average_end"] = list(os.getloadavg())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    log(f"wrote {args.out} in {out['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
