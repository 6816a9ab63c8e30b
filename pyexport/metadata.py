"""The metadata map of models/export/README.md: string keys, string values, the same map
in an ONNX file's metadata_props and in a SavedModel's assets/rnnrun.json."""

from __future__ import annotations

import json
import platform

FORMAT = "1"
PRODUCER = "rnnrun-pyexport"

COMMON_KEYS = ["rnnrun_format", "name", "task", "framework", "input", "output", "output_kind", "training_data",
               "training_data_sha256", "training", "producer", "producer_versions"]
TEXT_KEYS = ["vocab", "window_length", "case_policy", "heldout_loss_nats", "heldout_chars", "heldout_method"]
STATE_KEYS = ["state_inputs", "state_outputs", "state_size"]
IMAGE_KEYS = ["labels", "image_height", "image_width", "input_mean", "input_std", "ink", "eval_accuracy",
              "eval_correct", "eval_total", "eval_data", "eval_correct_onnxruntime"]


def jdump(v) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"), sort_keys=isinstance(v, dict))


def tool_versions() -> dict[str, str]:
    import keras
    import numpy
    import onnx
    import onnxruntime
    import tensorflow

    return {
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def common(*, name, task, framework, output, output_kind, training_data, sha256, training: dict) -> dict[str, str]:
    return {
        "rnnrun_format": FORMAT,
        "name": name,
        "task": task,
        "framework": framework,
        "input": "x",
        "output": output,
        "output_kind": output_kind,
        "training_data": training_data,
        "training_data_sha256": sha256,
        "training": jdump(training),
        "producer": PRODUCER,
        "producer_versions": jdump(tool_versions()),
    }


def text_keys(*, vocab, window, case_policy, heldout_loss, heldout_chars, heldout_method) -> dict[str, str]:
    return {
        "vocab": jdump(vocab),
        "window_length": str(window),
        "case_policy": case_policy,
        "heldout_loss_nats": f"{heldout_loss:.4f}",
        "heldout_chars": str(heldout_chars),
        "heldout_method": heldout_method,
    }


def state_keys(units: int, inputs=("h", "c"), outputs=("h_out", "c_out")) -> dict[str, str]:
    return {"state_inputs": jdump(list(inputs)), "state_outputs": jdump(list(outputs)), "state_size": str(units)}


def image_keys(*, correct, total, correct_ort, eval_data) -> dict[str, str]:
    return {
        "labels": jdump([str(i) for i in range(10)]),
        "image_height": "28",
        "image_width": "28",
        "input_mean": "0",
        "input_std": "255",
        "ink": "light-on-dark",
        "eval_accuracy": repr(correct / total),
        "eval_correct": str(correct),
        "eval_total": str(total),
        "eval_data": eval_data,
        "eval_correct_onnxruntime": str(correct_ort),
    }
