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
    xt = tf.transpose(x, [1, 0, 2])
    return tf.foldl(lambda s, x_t: lstm_step(s, x_t, kernel, recurrent, bias), xt, initializer=(h, c))


class KerasLSTMServing(tf.Module):
    """LSTM -> Dense softmax from Keras weights; stateful (x, h, c) or not (x)."""

    def __init__(self, lstm: LSTMWeights, dense: DenseWeights, time_dim: int | None, features: int, stateful: bool):
        super().__init__(name="rnnrun")
        self.kernel = tf.Variable(lstm.kernel, name="lstm_kernel", trainable=False)
        self.recurrent = tf.Variable(lstm.recurrent, name="lstm_recurrent_kernel", trainable=False)
        self.bias = tf.Variable(lstm.bias, name="lstm_bias", trainable=False)
        self.dense_kernel = tf.Variable(dense.kernel, name="dense_kernel", trainable=False)
        self.dense_bias = tf.Variable(dense.bias, name="dense_bias", trainable=False)
        units = lstm.units
        x_spec = tf.TensorSpec([None, time_dim, features], tf.float32, name="x")
        if stateful:
            state = tf.TensorSpec([None, units], tf.float32)
            self.serve = tf.function(
                self._serve_stateful,
                input_signature=[x_spec, tf.TensorSpec.from_spec(state, name="h"), tf.TensorSpec.from_spec(state, name="c")],
            )
        else:
            self.serve = tf.function(self._serve, input_signature=[x_spec])

    def _head(self, h):
        return tf.nn.softmax(tf.matmul(h, self.dense_kernel) + self.dense_bias, axis=-1)

    def _serve_stateful(self, x, h, c):
        h, c = lstm_final_state(x, h, c, self.kernel, self.recurrent, self.bias)
        return {"probs": self._head(h), "h_out": h, "c_out": c}

    def _serve(self, x):
        zeros = tf.zeros([tf.shape(x)[0], self.recurrent.shape[0]], tf.float32)
        h, _ = lstm_final_state(x, zeros, zeros, self.kernel, self.recurrent, self.bias)
        return {"probs": self._head(h)}


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
