"""SavedModels for the TensorFlow C API (TF_LoadSessionFromSavedModel, tag "serve").

Each is a tf.Module whose `serve` tf.function has keyword inputs named like the ONNX
inputs (x, and h, c for the stateful char model) and returns a dict keyed like the
ONNX outputs, saved as the `serving_default` signature. The Keras models' weights are
copied into plain tf.Variables and run by the plain-TensorFlow LSTM below, so the
graph holds only core TensorFlow ops; the export then checks it against Keras.
The metadata map is the asset `assets/rnnrun.json`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from .onnx_export import DenseWeights, LSTMWeights

SIGNATURE = "serving_default"
METADATA_ASSET = "rnnrun.json"


def lstm_step(state, x_t, kernel, recurrent, bias):
    """One LSTM step, Keras gate order i, f, c, o; sigmoid gates, tanh cell and output."""
    h, c = state
    z = tf.matmul(x_t, kernel) + tf.matmul(h, recurrent) + bias
    i, f, g, o = tf.split(z, 4, axis=1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    h = tf.sigmoid(o) * tf.tanh(c)
    return h, c


def lstm_final_state(x, h, c, kernel, recurrent, bias):
    """Runs x [batch, time, in] (time may be unknown) from (h, c); returns the final (h, c)."""
    (h, c), = stacked_final_state(x, [(h, c)], [(kernel, recurrent, bias)])
    return h, c


def stacked_final_state(x, states, weights):
    """Runs x [batch, time, in] through stacked LSTM layers (each step's h feeds the next
    layer), from states [(h, c) per layer]; returns the final [(h, c) per layer]."""

    def step(st, x_t):
        out = []
        for (h, c), (k, r, b) in zip(st, weights):
            h, c = lstm_step((h, c), x_t, k, r, b)
            out.append((h, c))
            x_t = h
        return tuple(out)

    xt = tf.transpose(x, [1, 0, 2])
    return list(tf.foldl(step, xt, initializer=tuple(tuple(s) for s in states)))


class KerasLSTMServing(tf.Module):
    """Stacked LSTM layers -> Dense softmax from Keras weights; stateful (x, state...) or
    not (x). The state of one layer is named h, c -> h_out, c_out unless state_names
    (inputs, outputs: h and c of each layer in order) says otherwise."""

    def __init__(self, lstm: LSTMWeights | list[LSTMWeights], dense: DenseWeights, time_dim: int | None, features: int,
                 stateful: bool, state_names: tuple[list[str], list[str]] | None = None):
        super().__init__(name="rnnrun")
        layers = lstm if isinstance(lstm, list) else [lstm]
        n = len(layers)
        self.layers = []
        for i, lw in enumerate(layers):
            p = "lstm" if n == 1 else f"lstm{i}"
            self.layers.append((tf.Variable(lw.kernel, name=f"{p}_kernel", trainable=False),
                                tf.Variable(lw.recurrent, name=f"{p}_recurrent_kernel", trainable=False),
                                tf.Variable(lw.bias, name=f"{p}_bias", trainable=False)))
        self.units = [lw.units for lw in layers]
        self.dense_kernel = tf.Variable(dense.kernel, name="dense_kernel", trainable=False)
        self.dense_bias = tf.Variable(dense.bias, name="dense_bias", trainable=False)
        if state_names is None:
            state_names = (["h", "c"], ["h_out", "c_out"]) if n == 1 else (
                [f"{k}{i}" for i in range(n) for k in ("h", "c")], [f"{k}{i}_out" for i in range(n) for k in ("h", "c")])
        self.state_in, self.state_out = state_names
        x_spec = tf.TensorSpec([None, time_dim, features], tf.float32, name="x")
        if stateful:
            specs = [tf.TensorSpec([None, self.units[k // 2]], tf.float32, name=nm) for k, nm in enumerate(self.state_in)]
            self.serve = tf.function(self._serve_stateful, input_signature=[x_spec, *specs])
        else:
            self.serve = tf.function(self._serve, input_signature=[x_spec])

    def _head(self, h):
        return tf.nn.softmax(tf.matmul(h, self.dense_kernel) + self.dense_bias, axis=-1)

    def _serve_stateful(self, x, *state):
        pairs = [(state[2 * i], state[2 * i + 1]) for i in range(len(self.layers))]
        final = stacked_final_state(x, pairs, self.layers)
        out = {"probs": self._head(final[-1][0])}
        for i, (h, c) in enumerate(final):
            out[self.state_out[2 * i]], out[self.state_out[2 * i + 1]] = h, c
        return out

    def _serve(self, x):
        b = tf.shape(x)[0]
        zeros = [(tf.zeros([b, u]), tf.zeros([b, u])) for u in self.units]
        return {"probs": self._head(stacked_final_state(x, zeros, self.layers)[-1][0])}


def save(module: tf.Module, serve_fn, path: Path, metadata: dict[str, str]) -> None:
    """Saves module with serve_fn as serving_default and the metadata as assets/rnnrun.json."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        meta_file = Path(tmp) / METADATA_ASSET
        meta_file.write_text(json.dumps(metadata, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        module.rnnrun_metadata = tf.saved_model.Asset(str(meta_file))
        tf.saved_model.save(module, str(path), signatures={SIGNATURE: serve_fn.get_concrete_function()})
    if not (path / "assets" / METADATA_ASSET).is_file():
        raise RuntimeError(f"SavedModel {path} has no assets/{METADATA_ASSET}")


def load_signature(path: Path):
    """The serving_default function of a SavedModel on disk (keeps the loaded object alive)."""
    loaded = tf.saved_model.load(str(path))
    fn = loaded.signatures[SIGNATURE]
    fn._rnnrun_loaded = loaded  # the signature needs its object alive
    return fn


def run_signature(fn, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    out = fn(**{k: tf.constant(v, tf.float32) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in out.items()}


def read_metadata(path: Path) -> dict[str, str]:
    return json.loads((Path(path) / "assets" / METADATA_ASSET).read_text(encoding="utf-8"))
