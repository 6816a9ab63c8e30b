"""`python -m pyexport export`: train, build, verify, then install the files.

Everything is written into a staging folder inside the output folder
(`.pyexport-*.tmp`, ignored by git) and moved into place with a rename only after
it passed verification, so a failed or interrupted export never leaves a half-written
model where a shipped one should be.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import data
from .errors import ExportError

MODELS = ("char", "mnist", "mnist_tf")
TOLERANCE = 1e-5
MNIST_TARGET = 0.988
MNIST_TF_TARGET = 0.98
REPORT = "export-report.json"
FAST_TEXT_CHARS = 5000


def log(msg: str) -> None:
    print(msg, flush=True)


@dataclass
class Request:
    out: Path
    only: tuple[str, ...] = MODELS
    text: Path | None = None
    mnist_dir: Path | None = None
    fast: bool = False
    lower: bool = False
    seed: int = 1234
    epochs: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------- staging


class Stage:
    """A temporary folder inside the output folder; install() renames its entries into place."""

    def __init__(self, out: Path):
        self.out = out
        try:
            out.mkdir(parents=True, exist_ok=True)
            self.dir = Path(tempfile.mkdtemp(prefix=".pyexport-", suffix=".tmp", dir=out))
        except FileExistsError:
            raise ExportError(f"output folder is not a folder: {out}") from None
        except OSError as e:
            raise ExportError(f"output folder is not writable: {out}: {e.strerror or e}") from None

    def path(self, rel: str) -> Path:
        p = self.dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def install(self, rels: list[str]) -> None:
        try:
            for rel in rels:
                src, dst = self.dir / rel, self.out / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                if src.is_dir():
                    old = None
                    if dst.exists():
                        old = self.dir / (".old-" + rel.replace("/", "_"))
                        os.replace(dst, old)
                    os.replace(src, dst)
                    if old is not None:
                        shutil.rmtree(old)
                else:
                    os.replace(src, dst)
                log(f"wrote {dst} ({size(dst)})")
        except OSError as e:
            raise ExportError(f"cannot install into {self.out}: {e.strerror or e}") from None

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def size(p: Path) -> str:
    n = sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


# ---------------------------------------------------------------- parity


class Parity:
    """Records max abs differences; any above the tolerance fails the export."""

    def __init__(self, model: str):
        self.model = model
        self.diffs: dict[str, float] = {}

    def check(self, name: str, got, want) -> float:
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        if got.shape != want.shape:
            raise ExportError(f"{self.model}: {name}: shape {list(got.shape)}, want {list(want.shape)}")
        d = float(np.max(np.abs(got - want))) if got.size else 0.0
        self.diffs[name] = max(d, self.diffs.get(name, 0.0))
        return d

    def verify(self) -> None:
        for name, d in self.diffs.items():
            log(f"{self.model}: parity {name}: max abs diff {d:.3g}")
        bad = {k: v for k, v in self.diffs.items() if not v <= TOLERANCE}
        if bad:
            worst = max(bad, key=bad.get)
            raise ExportError(f"{self.model}: verification failed: {worst} differs by {bad[worst]:.3g} > {TOLERANCE} "
                              f"({len(bad)} check(s) over tolerance)")


# ---------------------------------------------------------------- entry


def run(req: Request) -> int:
    t_start = time.time()
    out = Path(req.out)
    # Inputs are checked before TensorFlow is imported: bad input fails fast and quietly.
    text = mnist = None
    window = 100
    if "char" in req.only:
        path = req.text or data.DEFAULT_TEXT
        text = data.load_text(path, lower=req.lower, min_chars=data.min_text_chars(window))
        if req.fast:
            text = data.truncate_text(text, FAST_TEXT_CHARS)
    if "mnist" in req.only or "mnist_tf" in req.only:
        mnist = data.load_mnist(req.mnist_dir or data.find_mnist_dir())
    stage = Stage(out)
    try:
        from . import train  # imports TensorFlow

        settings = train.Settings(fast=req.fast, seed=req.seed, window=window, epochs=req.epochs)
        report = {}
        if "char" in req.only:
            report["char"] = export_char(text, settings, stage)
        if "mnist" in req.only:
            report["mnist"] = export_mnist(mnist, settings, stage)
        if "mnist_tf" in req.only:
            report["mnist_tf"] = export_mnist_tf(mnist, settings, stage)
        wall = time.time() - t_start
        write_report(stage, report, req, wall)
        log(f"export finished in {wall:.0f}s")
    finally:
        stage.cleanup()
    return 0


def write_report(stage: Stage, report: dict, req: Request, wall: float) -> None:
    from .metadata import tool_versions

    old = {}
    prev = stage.out / REPORT
    if prev.is_file():
        try:
            old = json.loads(prev.read_text(encoding="utf-8")).get("models", {})
        except (OSError, ValueError):
            old = {}
    models = {**{k: v for k, v in old.items() if k not in report}, **report}
    doc = {"models": models, "last_run": {"models": list(report), "wall_seconds": round(wall, 1), "fast": req.fast,
                                          "cpus": os.cpu_count(), "versions": tool_versions()}}
    with open(stage.path(REPORT), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    stage.install([REPORT])


# ---------------------------------------------------------------- char


def export_char(text: data.Text, s, stage: Stage) -> dict:
    import onnx

    from . import golden, metadata, savedmodel, train
    from .onnx_export import build_lstm_model

    res = train.train_char(text, s)
    W, V, H = s.window, len(res.vocab), train.UNITS
    lw = train.keras_lstm_weights(res.model.get_layer("lstm"))
    dw = train.keras_dense_weights(res.model.get_layer("dense"))
    base = dict(
        task="text-generation", framework="keras", output="probs", output_kind="probabilities",
        training_data=text.description + ("" if text.case_policy == "preserve" else ", lower-cased")
        + f": first {res.split} characters trained on, last {res.heldout_chars} held out",
        sha256=text.sha256, training=res.config,
    )
    tkeys = metadata.text_keys(vocab=res.vocab, window=W, case_policy=text.case_policy,
                               heldout_loss=res.heldout_loss, heldout_chars=res.heldout_chars)
    meta_char = {**metadata.common(name="char", **base), **tkeys, **metadata.state_keys(H)}
    meta_win = {**metadata.common(name="char_window", **base), **tkeys}
    doc = "Character-level LSTM(128) text generator, rnnrun contract: see metadata_props."
    ver = metadata.tool_versions()["keras"]
    m_char = build_lstm_model(name="char", lstm=lw, dense=dw, time_dim="time", features=V, output="probs",
                              stateful=True, metadata=meta_char, doc=doc, producer_version=ver)
    m_win = build_lstm_model(name="char_window", lstm=lw, dense=dw, time_dim=W, features=V, output="probs",
                             metadata=meta_win, doc=doc, producer_version=ver)
    onnx.save(m_char, stage.path("char.onnx"))
    onnx.save(m_win, stage.path("char_window.onnx"))

    # Fixed inputs from the real text: the window of `length` characters starting at
    # fraction `at` of the text (away from the front matter and the end).
    enc = res.encoded
    n = len(enc)

    def win(at: float, length: int) -> np.ndarray:
        start = int((n - length - 1) * at)
        return enc[start : start + length]

    oh = lambda idx: train.one_hot(np.asarray(idx, np.int64), V)  # noqa: E731
    zeros = lambda b: np.zeros((b, H), np.float32)  # noqa: E731
    stateful = res.stateful

    def keras_state(x, h, c):
        p, ho, co = stateful.predict([x, h, c], verbose=0)
        return {"probs": p, "h_out": ho, "c_out": co}

    cases = []
    a = win(0.45, W + 20)  # a window of W, then 20 more characters
    x = oh(a[None, :1])
    cases.append(("one_step", {"x": x, "h": zeros(1), "c": zeros(1)}))
    xa = oh(a[None, :W])
    cases.append(("window_zero_state", {"x": xa, "h": zeros(1), "c": zeros(1)}))
    ka = keras_state(xa, zeros(1), zeros(1))
    cases.append(("window_nonzero_state", {"x": oh(a[None, W:]), "h": ka["h_out"], "c": ka["c_out"]}))
    xb = oh(np.stack([win(at, W) for at in (0.2, 0.5, 0.8)]))
    cases.append(("batch3", {"x": xb, "h": zeros(3), "c": zeros(3)}))
    kb = keras_state(xb, zeros(3), zeros(3))
    xb2 = oh(np.stack([win(at, W + 10)[W:] for at in (0.2, 0.5, 0.8)]))
    cases.append(("batch3_nonzero_state", {"x": xb2, "h": kb["h_out"], "c": kb["c_out"]}))
    char_cases = [(name, inp, keras_state(**inp)) for name, inp in cases]

    # 50-step rollout, one character at a time, state carried, in Keras.
    roll = win(0.62, 50)
    h, c = zeros(1), zeros(1)
    roll_probs = []
    for i in roll:
        o = keras_state(oh([[i]]), h, c)
        roll_probs.append(o["probs"][0])
        h, c = o["h_out"], o["c_out"]
    roll_probs = np.stack(roll_probs)
    roll_h, roll_c = h, c

    # The windowed model, in Keras.
    xw1 = oh(win(0.3, W)[None])
    xw2 = oh(np.stack([win(0.7, W), win(0.9, W)]))
    win_cases = [(name, {"x": x}, {"probs": res.model.predict(x, verbose=0)}) for name, x in (("batch1", xw1), ("batch2", xw2))]

    par = Parity("char")
    # Keras stateful model (zero state) == the trained windowed model.
    xv = oh(np.stack([win(k / 31, W) for k in range(32)]))
    kv = res.model.predict(xv, verbose=0)
    par.check("keras stateful vs keras window (32 windows)", keras_state(xv, zeros(32), zeros(32))["probs"], kv)
    # ONNX Runtime.
    s_char = ort_session(stage.path("char.onnx"))
    s_win = ort_session(stage.path("char_window.onnx"))
    for name, inp, want in char_cases:
        got = ort_run(s_char, inp)
        for k in want:
            par.check(f"char.onnx vs keras ({k}, golden cases)", got[k], want[k])
    par.check("char.onnx vs keras (32 windows, zero state)", ort_run(s_char, {"x": xv, "h": zeros(32), "c": zeros(32)})["probs"], kv)
    par.check("char_window.onnx vs keras (32 windows)", ort_run(s_win, {"x": xv})["probs"], kv)
    for name, inp, want in win_cases:
        par.check("char_window.onnx vs keras (golden cases)", ort_run(s_win, inp)["probs"], want["probs"])
    # Stateful rollout in ONNX vs Keras, and one call over the 50 characters vs the rollout.
    h, c = zeros(1), zeros(1)
    for t, i in enumerate(roll):
        o = ort_run(s_char, {"x": oh([[i]]), "h": h, "c": c})
        par.check("char.onnx rollout vs keras rollout (50 steps)", o["probs"][0], roll_probs[t])
        h, c = o["h_out"], o["c_out"]
    par.check("char.onnx rollout vs keras rollout (50 steps)", h, roll_h)
    par.check("char.onnx rollout vs keras rollout (50 steps)", c, roll_c)
    once = ort_run(s_char, {"x": oh(roll[None]), "h": zeros(1), "c": zeros(1)})
    par.check("char.onnx one call vs one step at a time (50 chars)", once["probs"][0], roll_probs[-1])
    # 100 characters one at a time through char.onnx vs Keras predict on the window.
    h, c = zeros(1), zeros(1)
    for i in a[:W]:
        o = ort_run(s_char, {"x": oh([[i]]), "h": h, "c": c})
        h, c = o["h_out"], o["c_out"]
    par.check("char.onnx one step at a time vs keras window predict (100 chars)", o["probs"], res.model.predict(xa, verbose=0))

    # SavedModel: same inputs and outputs as char.onnx.
    module = savedmodel.KerasLSTMServing(lw, dw, time_dim=None, features=V, stateful=True)
    savedmodel.save(module, module.serve, stage.path("char_savedmodel"), meta_char)
    fn = savedmodel.load_signature(stage.path("char_savedmodel"))
    for name, inp, want in char_cases:
        got = savedmodel.run_signature(fn, **inp)
        for k in want:
            par.check(f"char_savedmodel vs keras ({k}, golden cases)", got[k], want[k])
    par.check("char_savedmodel vs keras (32 windows, zero state)", savedmodel.run_signature(fn, x=xv, h=zeros(32), c=zeros(32))["probs"], kv)
    h, c = zeros(1), zeros(1)
    for t, i in enumerate(roll):
        o = savedmodel.run_signature(fn, x=oh([[i]]), h=h, c=c)
        par.check("char_savedmodel rollout vs keras rollout (50 steps)", o["probs"][0], roll_probs[t])
        h, c = o["h_out"], o["c_out"]
    if savedmodel.read_metadata(stage.path("char_savedmodel")) != meta_char:
        raise ExportError("char: SavedModel metadata differs from char.onnx metadata")
    par.verify()

    def texts(x):  # the characters of each batch row, for readers of the golden files
        return ["".join(res.vocab[j] for j in row) for row in x.argmax(-1)]

    golden.write_json(stage.path("testdata/char.json"), golden.cases_file(
        "char.onnx", [golden.case(n, i, o, text=texts(i["x"])) for n, i, o in char_cases], TOLERANCE))
    golden.write_json(stage.path("testdata/char_rollout.json"), {
        "model": "char.onnx", "tolerance": TOLERANCE, "indices": [int(i) for i in roll],
        "text": "".join(res.vocab[i] for i in roll),
        "probs": golden.tensor(roll_probs), "h_out": golden.tensor(roll_h), "c_out": golden.tensor(roll_c)})
    golden.write_json(stage.path("testdata/char_window.json"), golden.cases_file(
        "char_window.onnx", [golden.case(n, i, o, text=texts(i["x"])) for n, i, o in win_cases], TOLERANCE))
    stage.install(["char.onnx", "char_window.onnx", "char_savedmodel",
                   "testdata/char.json", "testdata/char_rollout.json", "testdata/char_window.json"])
    return {
        "vocab_size": V, "text_chars": int(n), "heldout_chars": res.heldout_chars,
        "heldout_loss_nats": round(res.heldout_loss, 4), "epochs": res.epochs, "kept_epoch": res.best_epoch,
        "train_seconds": round(res.train_seconds, 1), "case_policy": text.case_policy,
        "parity_max_abs_diff": {k: float(f"{v:.3g}") for k, v in par.diffs.items()},
        "sample_seed": res.sample_seed, "samples": {str(k): v for k, v in res.samples.items()},
    }


# ---------------------------------------------------------------- ONNX Runtime


def ort_session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def ort_run(sess, inputs: dict) -> dict:
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, {k: np.asarray(v, np.float32) for k, v in inputs.items()})
    return dict(zip(names, outs))


def batched(fn, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    return np.concatenate([fn(x[i : i + batch]) for i in range(0, len(x), batch)])


# ---------------------------------------------------------------- mnist


def export_mnist(mn: data.Mnist, s, stage: Stage) -> dict:
    import onnx

    from . import metadata, savedmodel, train
    from .onnx_export import build_lstm_model, set_metadata

    res = train.train_mnist(mn, s)
    if not s.fast and res.accuracy < MNIST_TARGET:
        raise ExportError(f"mnist: test accuracy {res.accuracy:.4f} is below the target {MNIST_TARGET}")
    lw = train.keras_lstm_weights(res.model.get_layer("lstm"))
    dw = train.keras_dense_weights(res.model.get_layer("dense"))
    model = build_lstm_model(name="mnist", lstm=lw, dense=dw, time_dim=28, features=28, output="probs",
                             doc="MNIST LSTM(128) classifier, rnnrun contract: see metadata_props.",
                             producer_version=metadata.tool_versions()["keras"])
    par = Parity("mnist")
    keras_probs = res.model.predict(res.x_eval, batch_size=500, verbose=0)
    sess = ort_session_bytes(model)
    ort_probs = batched(lambda x: ort_run(sess, {"x": x})["probs"], res.x_eval)
    par.check("mnist.onnx vs keras (eval set)", ort_probs, keras_probs)
    ort_correct = train.count_correct(ort_probs, res.y_eval)
    meta = {**metadata.common(name="mnist", task="image-classification", framework="keras", output="probs",
                              output_kind="probabilities", training_data=f"MNIST train ({res.config['train_images']} images)",
                              sha256=mn.train_images_sha256, training=res.config),
            **metadata.image_keys(correct=res.correct, total=res.total, correct_ort=ort_correct, eval_data=res.eval_data)}
    set_metadata(model, meta)
    onnx.save(model, stage.path("mnist.onnx"))

    x32 = res.x_eval[:32]
    want32 = res.model.predict(x32, verbose=0)
    sess = ort_session(stage.path("mnist.onnx"))
    par.check("mnist.onnx vs keras (golden 32)", ort_run(sess, {"x": x32})["probs"], want32)

    module = savedmodel.KerasLSTMServing(lw, dw, time_dim=28, features=28, stateful=False)
    return finish_image_export("mnist", "keras", "probs", module, stage, par, meta, res, keras_probs, ort_correct, want32)


def ort_session_bytes(model):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------- mnist_tf


def export_mnist_tf(mn: data.Mnist, s, stage: Stage) -> dict:
    import onnx

    from . import metadata, train
    from .onnx_export import build_lstm_model, set_metadata

    res = train.train_mnist_tf(mn, s)
    if not s.fast and res.accuracy < MNIST_TF_TARGET:
        raise ExportError(f"mnist_tf: test accuracy {res.accuracy:.4f} is below the target {MNIST_TF_TARGET}")
    proj, lw, dw = res.module.weights()
    model = build_lstm_model(name="mnist_tf", lstm=lw, dense=dw, projection=proj, time_dim=28, features=28,
                             output="logits", doc="The tutorial's low-level TensorFlow MNIST LSTM, rnnrun contract: see metadata_props.",
                             producer_version=metadata.tool_versions()["tensorflow"])
    par = Parity("mnist_tf")
    tf_logits = batched(lambda x: res.module.serve(x)["logits"].numpy(), res.x_eval)
    sess = ort_session_bytes(model)
    ort_logits = batched(lambda x: ort_run(sess, {"x": x})["logits"], res.x_eval)
    par.check("mnist_tf.onnx vs tensorflow (eval set)", ort_logits, tf_logits)
    ort_correct = train.count_correct(ort_logits, res.y_eval)
    meta = {**metadata.common(name="mnist_tf", task="image-classification", framework="tensorflow", output="logits",
                              output_kind="logits", training_data=f"MNIST train ({res.config['train_images']} images)",
                              sha256=mn.train_images_sha256, training=res.config),
            **metadata.image_keys(correct=res.correct, total=res.total, correct_ort=ort_correct, eval_data=res.eval_data)}
    set_metadata(model, meta)
    onnx.save(model, stage.path("mnist_tf.onnx"))

    x32 = res.x_eval[:32]
    want32 = res.module.serve(x32)["logits"].numpy()
    sess = ort_session(stage.path("mnist_tf.onnx"))
    par.check("mnist_tf.onnx vs tensorflow (golden 32)", ort_run(sess, {"x": x32})["logits"], want32)

    return finish_image_export("mnist_tf", "tensorflow", "logits", res.module, stage, par, meta, res, tf_logits, ort_correct, want32)


def finish_image_export(name: str, ref: str, out: str, module, stage: Stage, par: "Parity", meta: dict, res,
                        ref_outputs, ort_correct: int, want32) -> dict:
    """The shared end of an image model's export: the SavedModel (reloaded and
    compared with the reference framework `ref`), the golden vectors of the
    first 32 test images, and the report."""
    from . import golden, savedmodel, train

    sm_dir = stage.path(f"{name}_savedmodel")
    savedmodel.save(module, module.serve, sm_dir, meta)
    fn = savedmodel.load_signature(sm_dir)
    sm_out = batched(lambda x: savedmodel.run_signature(fn, x=x)[out], res.x_eval)
    x32, y32 = res.x_eval[:32], res.y_eval[:32]
    par.check(f"{name}_savedmodel vs {ref} (eval set)", sm_out, ref_outputs)
    par.check(f"{name}_savedmodel vs {ref} (golden 32)", savedmodel.run_signature(fn, x=x32)[out], want32)
    sm_correct = train.count_correct(sm_out, res.y_eval)
    if savedmodel.read_metadata(sm_dir) != meta:
        raise ExportError(f"{name}: SavedModel metadata differs from {name}.onnx metadata")
    par.verify()
    log(f"{name}: correct on {res.eval_data}: {ref} {res.correct}, onnxruntime {ort_correct}, savedmodel {sm_correct} "
        f"of {res.total} (accuracy {res.accuracy:.4f})")
    eval_counts = {"data": res.eval_data, "total": res.total, f"correct_{ref}": res.correct,
                   "correct_onnxruntime": ort_correct, "correct_savedmodel": sm_correct}
    golden.write_json(stage.path(f"testdata/{name}.json"), golden.cases_file(
        f"{name}.onnx", [golden.case("t10k_first32", {"x": x32}, {out: want32})], TOLERANCE,
        labels=[int(v) for v in y32], eval=eval_counts))
    stage.install([f"{name}.onnx", f"{name}_savedmodel", f"testdata/{name}.json"])
    return {"accuracy": res.accuracy, **eval_counts, "epochs": res.epochs, "train_seconds": round(res.train_seconds, 1),
            "parity_max_abs_diff": {k: float(f"{v:.3g}") for k, v in par.diffs.items()}}
