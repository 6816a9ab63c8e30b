"""Checks a folder of exported models against models/export/README.md: file names, tensor
names and shapes, metadata keys and their types, the SavedModel signatures and metadata,
and the golden vectors run through ONNX Runtime (and TensorFlow for SavedModels)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from . import golden
from .metadata import COMMON_KEYS, IMAGE_KEYS, STATE_KEYS, TEXT_KEYS

# ONNX files: name -> (inputs, outputs) as {name: [dims]}; str dims are dynamic, None means V.
SPECS = {
    "char": ({"x": ["batch", "time", None], "h": ["batch", 128], "c": ["batch", 128]},
             {"probs": ["batch", None], "h_out": ["batch", 128], "c_out": ["batch", 128]}),
    "char_window": ({"x": ["batch", 100, None]}, {"probs": ["batch", None]}),
    "char_large": ({"x": ["batch", "time", None], **{f"{k}{i}": ["batch", 512] for i in (0, 1) for k in "hc"}},
                   {"probs": ["batch", None], **{f"{k}{i}_out": ["batch", 512] for i in (0, 1) for k in "hc"}}),
    "mnist": ({"x": ["batch", 28, 28]}, {"probs": ["batch", 10]}),
    "mnist_tf": ({"x": ["batch", 28, 28]}, {"logits": ["batch", 10]}),
}
GROUPS = {"char": ["char", "char_window"], "char_large": ["char_large"], "mnist": ["mnist"], "mnist_tf": ["mnist_tf"]}
SAVEDMODELS = {g: f"{g}_savedmodel" for g in GROUPS}
GOLDEN = {"char": ["char.json", "char_rollout.json", "char_window.json"], "char_large": ["char_large.json", "char_large_rollout.json"],
          "mnist": ["mnist.json"], "mnist_tf": ["mnist_tf.json"]}
# The state tensors of the stateful text models, in pairing order.
STATES = {"char": (["h", "c"], ["h_out", "c_out"]),
          "char_large": (["h0", "c0", "h1", "c1"], ["h0_out", "c0_out", "h1_out", "c1_out"])}

INT_KEYS = {"rnnrun_format", "window_length", "state_size", "heldout_chars", "image_height", "image_width",
            "eval_correct", "eval_total", "eval_correct_onnxruntime"}
FLOAT_KEYS = {"heldout_loss_nats", "input_mean", "input_std", "eval_accuracy"}
JSON_ARRAY_KEYS = {"vocab", "state_inputs", "state_outputs", "labels"}
JSON_OBJECT_KEYS = {"training", "producer_versions"}
ENUMS = {"task": {"text-generation", "image-classification"}, "output_kind": {"probabilities", "logits"},
         "case_policy": {"preserve", "lower"}, "heldout_method": {"windowed", "chunked"}, "ink": {"light-on-dark", "dark-on-light"}, "framework": {"keras", "tensorflow"}}


def required_keys(name: str) -> list[str]:
    keys = list(COMMON_KEYS)
    if name.startswith("char"):
        keys += TEXT_KEYS
    if name in STATES:
        keys += STATE_KEYS
    if name.startswith("mnist"):
        keys += IMAGE_KEYS
    return keys


def check_metadata(name: str, meta: dict[str, str]) -> list[str]:
    p = []
    for k in required_keys(name):
        if k not in meta:
            p.append(f"{name}: metadata key {k} missing")
    for k, v in meta.items():
        try:
            if k in INT_KEYS:
                int(v)
            elif k in FLOAT_KEYS:
                float(v)
            elif k in JSON_ARRAY_KEYS:
                if not isinstance(json.loads(v), list):
                    raise ValueError
            elif k in JSON_OBJECT_KEYS:
                if not isinstance(json.loads(v), dict):
                    raise ValueError
            elif k in ENUMS and v not in ENUMS[k]:
                raise ValueError
        except ValueError:
            p.append(f"{name}: metadata {k}={v[:60]!r} is not a valid value")
    if not p and name.startswith("char"):
        vocab = json.loads(meta["vocab"])
        if len(vocab) != len(set(vocab)) or any(len(ch) != 1 for ch in vocab):
            p.append(f"{name}: vocab entries must be distinct single characters")
    if not p and name in STATES:
        ins, outs = STATES[name]
        if json.loads(meta["state_inputs"]) != ins or json.loads(meta["state_outputs"]) != outs:
            p.append(f"{name}: state_inputs/state_outputs must be {ins}/{outs}")
    if meta.get("output") not in ("probs", "logits") or (meta.get("output_kind") == "logits") != (meta.get("output") == "logits"):
        p.append(f"{name}: output {meta.get('output')!r} does not match output_kind {meta.get('output_kind')!r}")
    return p


def _dims(vi) -> list:
    return [d.dim_param if d.HasField("dim_param") else d.dim_value for d in vi.type.tensor_type.shape.dim]


def check_onnx(path: Path, name: str) -> tuple[list[str], dict[str, str]]:
    import onnx

    p: list[str] = []
    model = onnx.load(str(path))
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001 (report any checker failure as a problem)
        p.append(f"{path.name}: onnx checker: {str(e).splitlines()[0]}")
    opset = {o.domain: o.version for o in model.opset_import}.get("", 0)
    if opset < 17:
        p.append(f"{path.name}: opset {opset} < 17")
    if model.ir_version not in (8, 9):
        p.append(f"{path.name}: ir_version {model.ir_version}, want 8 or 9 (ONNX Runtime 1.30)")
    meta = {m.key: m.value for m in model.metadata_props}
    p += check_metadata(name, meta)
    V = len(json.loads(meta["vocab"])) if "vocab" in meta and not p else None
    want_in, want_out = SPECS[name]
    for kind, vis, want in (("input", model.graph.input, want_in), ("output", model.graph.output, want_out)):
        got = {vi.name: _dims(vi) for vi in vis if vi.name not in {i.name for i in model.graph.initializer}}
        want = {k: [V if d is None else d for d in dims] for k, dims in want.items()}
        if got != want:
            p.append(f"{path.name}: {kind}s {got}, want {want}")
        for vi in vis:
            if vi.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
                p.append(f"{path.name}: {kind} {vi.name} is not float32")
    return p, meta


def check_dir(out: Path, only=tuple(GROUPS), savedmodel: bool = True,
              log: Callable[[str], None] = lambda s: None) -> list[str]:
    """Returns the problems found (empty when the folder follows the contract)."""
    from .export import ort_run, ort_session

    out = Path(out)
    problems: list[str] = []
    for group in only:
        metas = {}
        for name in GROUPS[group]:
            path = out / f"{name}.onnx"
            if not path.is_file():
                problems.append(f"{path}: missing")
                continue
            p, metas[name] = check_onnx(path, name)
            problems += p
        if problems:
            continue
        sessions = {name: ort_session(out / f"{name}.onnx") for name in GROUPS[group]}
        runners = {n: (lambda s: lambda inp: ort_run(s, inp))(s) for n, s in sessions.items()}
        for gname in GOLDEN[group]:
            gpath = out / "testdata" / gname
            if not gpath.is_file():
                problems.append(f"{gpath}: missing")
                continue
            problems += check_golden(gpath, runners, f"{gname} (onnxruntime)", log)
        if savedmodel:
            problems += check_savedmodel(out, group, metas, log)
    return problems


def check_golden(gpath: Path, runners: dict, label: str, log) -> list[str]:
    from .export import max_diff

    g = golden.read_json(gpath)
    name = g["model"].removesuffix(".onnx")
    if name not in runners:
        return []
    run = runners[name]
    tol = float(g["tolerance"])
    worst = 0.0
    p = []
    if "cases" in g:
        for case in g["cases"]:
            got = run({k: golden.from_tensor(v) for k, v in case["inputs"].items()})
            for k, t in case["outputs"].items():
                worst = max(worst, max_diff(got[k], golden.from_tensor(t)))
        if "labels" in g:
            x = golden.from_tensor(g["cases"][0]["inputs"]["x"])
            if len(g["labels"]) != x.shape[0]:
                p.append(f"{gpath.name}: {len(g['labels'])} labels for {x.shape[0]} images")
    else:  # the stateful rollout: every *_out key is a final state, fed back as its input
        probs = golden.from_tensor(g["probs"])
        V = probs.shape[1]
        final = {k: golden.from_tensor(v) for k, v in g.items() if k.endswith("_out")}
        state = {k.removesuffix("_out"): np.zeros_like(v) for k, v in final.items()}
        for t, i in enumerate(g["indices"]):
            x = np.zeros((1, 1, V), np.float32)
            x[0, 0, i] = 1
            o = run({"x": x, **state})
            state = {k: o[k + "_out"] for k in state}
            worst = max(worst, max_diff(o["probs"][0], probs[t]))
        worst = max(worst, *(max_diff(state[k.removesuffix("_out")], v) for k, v in final.items()))
    log(f"{label}: max diff {worst:.3g} (tolerance {tol:g})")
    if not worst <= tol:
        p.append(f"{gpath.name}: {label}: max diff {worst:.3g} > {tol:g}")
    return p


def check_savedmodel(out: Path, group: str, metas: dict, log) -> list[str]:
    from . import savedmodel

    path = out / SAVEDMODELS[group]
    if not (path / "saved_model.pb").is_file():
        return [f"{path}: missing saved_model.pb"]
    p = []
    name = GROUPS[group][0]
    try:
        meta = savedmodel.read_metadata(path)
    except (OSError, ValueError) as e:
        return [f"{path}: cannot read assets/{savedmodel.METADATA_ASSET}: {e}"]
    if meta != metas.get(name):
        p.append(f"{path.name}: assets/{savedmodel.METADATA_ASSET} differs from {name}.onnx metadata_props")
    fn = savedmodel.load_signature(path)
    want_in, want_out = SPECS[name]
    got_in = sorted(fn.structured_input_signature[1])
    got_out = sorted(fn.structured_outputs)
    if got_in != sorted(want_in) or got_out != sorted(want_out):
        p.append(f"{path.name}: serving_default {got_in} -> {got_out}, want {sorted(want_in)} -> {sorted(want_out)}")
        return p
    runner = {name: lambda inp: savedmodel.run_signature(fn, **inp)}
    for gname in GOLDEN[group]:
        gpath = out / "testdata" / gname
        if gpath.is_file():
            p += check_golden(gpath, runner, f"{gname} ({path.name})", log)
    return p
