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

MODELS = ("char", "char_large", "mnist", "mnist_tf")
TOLERANCE = 1e-5
MNIST_TARGET = 0.988
MNIST_TF_TARGET = 0.98
REPORT = "export-report.json"
FAST_TEXT_CHARS = 5000
FAST_LARGE_TEXT_CHARS = 20000


def log(msg: str) -> None:
    print(msg, flush=True)


@dataclass
class Request:
    out: Path
    only: tuple[str, ...] = MODELS
    text: Path | None = None
    pretrain_text: Path | None = None  # char's pretraining text (default data.PRETRAIN_TEXT)
    no_pretrain: bool = False
    large_text: Path | None = None  # char_large's text (default data.PRETRAIN_TEXT)
    cache: Path | None = None  # trained weights are kept here and reused by an identical run
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


def max_diff(got, want) -> float:
    """The golden files' comparison: max |got - want| / max(1, |want|): the absolute
    difference within [-1, 1], the relative one above (LSTM cell states grow past 80,
    where one float32 step is already about 1e-5)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)))) if got.size else 0.0


class Parity:
    """Records max differences (max_diff); any above the tolerance fails the export."""

    def __init__(self, model: str):
        self.model = model
        self.diffs: dict[str, float] = {}

    def check(self, name: str, got, want) -> float:
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        if got.shape != want.shape:
            raise ExportError(f"{self.model}: {name}: shape {list(got.shape)}, want {list(want.shape)}")
        d = max_diff(got, want)
        self.diffs[name] = max(d, self.diffs.get(name, 0.0))
        return d

    def verify(self) -> None:
        for name, d in self.diffs.items():
            log(f"{self.model}: parity {name}: max diff {d:.3g}")
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
    text = pretrain = large = mnist = None
    window = 100
    if "char" in req.only:
        path = req.text or data.DEFAULT_TEXT
        text = data.load_text(path, lower=req.lower, min_chars=data.min_text_chars(window))
        if req.fast:
            text = data.truncate_text(text, FAST_TEXT_CHARS)
        if not req.no_pretrain:
            pretrain = data.load_text(req.pretrain_text or data.PRETRAIN_TEXT, lower=req.lower, min_chars=window + 2)
    if "char_large" in req.only:
        large = data.load_text(req.large_text or data.PRETRAIN_TEXT, lower=req.lower, min_chars=data.min_text_chars(window))
        if req.fast:
            large = data.truncate_text(large, FAST_LARGE_TEXT_CHARS)
    if "mnist" in req.only or "mnist_tf" in req.only:
        mnist = data.load_mnist(req.mnist_dir or data.find_mnist_dir())
    stage = Stage(out)
    try:
        from . import train  # imports TensorFlow

        settings = train.Settings(fast=req.fast, seed=req.seed, window=window, epochs=req.epochs)
        report = {}
        if "char" in req.only:
            report["char"] = export_char(text, pretrain, settings, stage, req.cache)
        if "char_large" in req.only:
            report["char_large"] = export_char_large(large, settings, stage, req.cache)
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


# ---------------------------------------------------------------- char, char_large


def export_char(text: data.Text, pretrain: data.Text | None, s, stage: Stage, cache: Path | None) -> dict:
    from . import chartrain

    res = chartrain.train_char(text, pretrain, s, cache)
    return export_text_model(res, text, s, stage, windowed=True, rollout=True)


def export_char_large(text: data.Text, s, stage: Stage, cache: Path | None) -> dict:
    from . import chartrain

    res = chartrain.train_char_large(text, s, cache)
    return export_text_model(res, text, s, stage, windowed=False, rollout=True)


def export_text_model(res, text: data.Text, s, stage: Stage, windowed: bool, rollout: bool) -> dict:
    """Writes res.name.onnx (stateful), its SavedModel, [name_window.onnx] and their golden
    vectors, after checking ONNX Runtime and the SavedModel against Keras."""
    import onnx

    from . import chartrain, golden, metadata, savedmodel
    from .onnx_export import build_lstm_model

    name = res.name
    W, V = s.window, len(res.vocab)
    s_in, s_out = chartrain.state_names(len(res.units))
    sizes = [u for u in res.units for _ in (0, 1)]  # the width of each state tensor, in s_in order
    training = res.config
    base = dict(task="text-generation", framework="keras", output="probs", output_kind="probabilities",
                training_data=res.training_data, sha256=text.sha256, training=training)
    tkeys = metadata.text_keys(vocab=res.vocab, window=W, case_policy=text.case_policy,
                               heldout_loss=res.heldout_loss, heldout_chars=res.heldout_chars,
                               heldout_method=res.heldout_method)
    meta = {**metadata.common(name=name, **base), **tkeys, **metadata.state_keys(res.units[-1], s_in, s_out)}
    arch = " -> ".join(f"LSTM({u})" for u in res.units)
    doc = f"Character-level {arch} text generator, rnnrun contract: see metadata_props."
    ver = metadata.tool_versions()["keras"]
    lw = res.lstm if len(res.lstm) > 1 else res.lstm[0]
    m_state = build_lstm_model(name=name, lstm=lw, dense=res.dense, time_dim="time", features=V, output="probs",
                               stateful=True, state_names=(s_in, s_out), metadata=meta, doc=doc, producer_version=ver)
    onnx.save(m_state, stage.path(f"{name}.onnx"))
    files = [f"{name}.onnx", f"{name}_savedmodel", f"testdata/{name}.json"]
    if windowed:
        meta_win = {**metadata.common(name=f"{name}_window", **base), **tkeys}
        m_win = build_lstm_model(name=f"{name}_window", lstm=lw, dense=res.dense, time_dim=W, features=V,
                                 output="probs", metadata=meta_win, doc=doc, producer_version=ver)
        onnx.save(m_win, stage.path(f"{name}_window.onnx"))
        files += [f"{name}_window.onnx", f"testdata/{name}_window.json"]

    # Fixed inputs from the real text: the window of `length` characters starting at
    # fraction `at` of the text (away from the front matter and the end).
    enc = res.encoded
    n = len(enc)

    def win(at: float, length: int) -> np.ndarray:
        start = int((n - length - 1) * at)
        return enc[start : start + length]

    oh = lambda idx: chartrain.one_hot(np.asarray(idx, np.int64), V)  # noqa: E731

    def zeros(b: int) -> dict:
        return {k: np.zeros((b, u), np.float32) for k, u in zip(s_in, sizes)}

    def carried(out: dict) -> dict:  # the state outputs of one call as the state inputs of the next
        return {i: out[o] for i, o in zip(s_in, s_out)}

    def keras_state(x, **state):
        outs = res.stateful.predict([x, *(state[k] for k in s_in)], verbose=0)
        return dict(zip(["probs", *s_out], outs))

    cases = []
    a = win(0.45, W + 20)  # a window of W, then 20 more characters
    cases.append(("one_step", {"x": oh(a[None, :1]), **zeros(1)}))
    xa = oh(a[None, :W])
    cases.append(("window_zero_state", {"x": xa, **zeros(1)}))
    ka = keras_state(xa, **zeros(1))
    cases.append(("window_nonzero_state", {"x": oh(a[None, W:]), **carried(ka)}))
    xb = oh(np.stack([win(at, W) for at in (0.2, 0.5, 0.8)]))
    cases.append(("batch3", {"x": xb, **zeros(3)}))
    kb = keras_state(xb, **zeros(3))
    xb2 = oh(np.stack([win(at, W + 10)[W:] for at in (0.2, 0.5, 0.8)]))
    cases.append(("batch3_nonzero_state", {"x": xb2, **carried(kb)}))
    state_cases = [(cn, inp, keras_state(**inp)) for cn, inp in cases]

    # 50-step rollout, one character at a time, state carried, in Keras.
    roll = win(0.62, 50)
    st = zeros(1)
    roll_probs = []
    for i in roll:
        o = keras_state(oh([[i]]), **st)
        roll_probs.append(o["probs"][0])
        st = carried(o)
    roll_probs = np.stack(roll_probs)
    roll_state = st

    par = Parity(name)
    # Keras stateful model (zero state) == the trained windowed model.
    xv = oh(np.stack([win(k / 31, W) for k in range(32)]))
    kv = res.model.predict(xv, verbose=0)
    par.check("keras stateful vs keras window (32 windows)", keras_state(xv, **zeros(32))["probs"], kv)
    s_onnx = ort_session(stage.path(f"{name}.onnx"))
    onnx_run = lambda inp: ort_run(s_onnx, inp)  # noqa: E731
    sm_dir = stage.path(f"{name}_savedmodel")
    module = savedmodel.KerasLSTMServing(lw, res.dense, time_dim=None, features=V, stateful=True, state_names=(s_in, s_out))
    savedmodel.save(module, module.serve, sm_dir, meta)
    fn = savedmodel.load_signature(sm_dir)
    sm_run = lambda inp: savedmodel.run_signature(fn, **inp)  # noqa: E731
    for label, run in ((f"{name}.onnx", onnx_run), (f"{name}_savedmodel", sm_run)):
        for cn, inp, want in state_cases:
            got = run(inp)
            for k in want:
                par.check(f"{label} vs keras ({k}, golden cases)", got[k], want[k])
        par.check(f"{label} vs keras (32 windows, zero state)", run({"x": xv, **zeros(32)})["probs"], kv)
        # Stateful rollout vs Keras, and one call over the 50 characters vs the rollout.
        st = zeros(1)
        for t, i in enumerate(roll):
            o = run({"x": oh([[i]]), **st})
            par.check(f"{label} rollout vs keras rollout (50 steps)", o["probs"][0], roll_probs[t])
            st = carried(o)
        for k in s_in:
            par.check(f"{label} rollout vs keras rollout (50 steps)", st[k], roll_state[k])
        once = run({"x": oh(roll[None]), **zeros(1)})
        par.check(f"{label} one call vs one step at a time (50 chars)", once["probs"][0], roll_probs[-1])
    # W characters one at a time through the ONNX file vs Keras predict on the window.
    st = zeros(1)
    for i in a[:W]:
        o = onnx_run({"x": oh([[i]]), **st})
        st = carried(o)
    par.check(f"{name}.onnx one step at a time vs keras window predict ({W} chars)", o["probs"], res.model.predict(xa, verbose=0))
    win_cases = []
    if windowed:
        s_win = ort_session(stage.path(f"{name}_window.onnx"))
        xw1 = oh(win(0.3, W)[None])
        xw2 = oh(np.stack([win(0.7, W), win(0.9, W)]))
        win_cases = [(cn, {"x": x}, {"probs": res.model.predict(x, verbose=0)}) for cn, x in (("batch1", xw1), ("batch2", xw2))]
        par.check(f"{name}_window.onnx vs keras (32 windows)", ort_run(s_win, {"x": xv})["probs"], kv)
        for cn, inp, want in win_cases:
            par.check(f"{name}_window.onnx vs keras (golden cases)", ort_run(s_win, inp)["probs"], want["probs"])
    if savedmodel.read_metadata(sm_dir) != meta:
        raise ExportError(f"{name}: SavedModel metadata differs from {name}.onnx metadata")
    par.verify()

    def texts(x):  # the characters of each batch row, for readers of the golden files
        return ["".join(res.vocab[j] for j in row) for row in x.argmax(-1)]

    golden.write_json(stage.path(f"testdata/{name}.json"), golden.cases_file(
        f"{name}.onnx", [golden.case(cn, i, o, text=texts(i["x"])) for cn, i, o in state_cases], TOLERANCE))
    if rollout:
        golden.write_json(stage.path(f"testdata/{name}_rollout.json"), {
            "model": f"{name}.onnx", "tolerance": TOLERANCE, "indices": [int(i) for i in roll],
            "text": "".join(res.vocab[i] for i in roll), "probs": golden.tensor(roll_probs),
            **{o: golden.tensor(roll_state[i]) for i, o in zip(s_in, s_out)}})
        files.append(f"testdata/{name}_rollout.json")
    if windowed:
        golden.write_json(stage.path(f"testdata/{name}_window.json"), golden.cases_file(
            f"{name}_window.onnx", [golden.case(cn, i, o, text=texts(i["x"])) for cn, i, o in win_cases], TOLERANCE))
    stage.install(files)
    return {
        "architecture": res.config["architecture"], "vocab_size": V, "text_chars": int(n),
        "heldout_chars": res.heldout_chars, "heldout_loss_nats": round(res.heldout_loss, 4),
        "heldout_method": res.heldout_method, "epochs": res.epochs, "kept_epoch": res.best_epoch,
        "train_seconds": round(res.train_seconds, 1), "case_policy": text.case_policy,
        "training": res.report,
        "file_bytes": {f: file_bytes(stage.out / f) for f in files if not f.startswith("testdata/")},
        "parity_max_abs_diff": {k: float(f"{v:.3g}") for k, v in par.diffs.items()},
        "sample_seed": res.sample_seed, "samples": {str(k): v for k, v in res.samples.items()},
    }


def file_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size


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
