"""Golden vectors: JSON tensors {"shape": [...], "data": [row-major float32]} that the Go
tests read without Python. Every float is written as the shortest decimal that reads
back as the same float32, so the files round-trip exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def f32_list(a: np.ndarray) -> list[float]:
    a = np.asarray(a, dtype=np.float32).ravel()
    if not np.all(np.isfinite(a)):
        raise ValueError("golden tensor holds a non-finite value")
    # str(np.float32) is the shortest decimal that parses back to this float32.
    return [float(str(v)) for v in a]


def tensor(a: np.ndarray) -> dict:
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": f32_list(a)}


def from_tensor(t: dict) -> np.ndarray:
    return np.asarray(t["data"], dtype=np.float32).reshape(t["shape"])


def case(name: str, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray], **extra) -> dict:
    c = {"name": name}
    c.update(extra)
    c["inputs"] = {k: tensor(v) for k, v in inputs.items()}
    c["outputs"] = {k: tensor(v) for k, v in outputs.items()}
    return c


def cases_file(model: str, cases: list[dict], tolerance: float = 1e-5, **extra) -> dict:
    d = {"model": model, "tolerance": tolerance}
    d.update(extra)
    d["cases"] = cases
    return d


def write_json(path: Path, obj: dict) -> None:
    """Compact JSON on one line, ending in a newline."""
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        f.write("\n")


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
