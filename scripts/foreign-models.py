"""Exports small random-weight recurrent models with other tools, for the native
backend's tests (runtime/native/parity): torch.onnx.export (Debian's python3-torch)
and Keras 3 model.export(format="onnx") (the project's venv, with tf2onnx).

    python3 scripts/foreign-models.py torch OUT   # system python with torch
    python  scripts/foreign-models.py keras OUT   # the project's venv

Each model goes to OUT/<tool>_<name>.onnx with OUT/<tool>_<name>.json holding the
inputs fed and the outputs the framework itself computed (lists in the graph's
input and output order). scripts/foreign-models.sh runs both, cached by hash.
"""
import json
import os
import sys

import numpy as np

T_CHAR, V_CHAR, H = 7, 20, 24


def record(out, name, inputs, outputs):
    def tensor(a):
        a = np.asarray(a)
        dtype = {"f": "float32", "i": "int64" if a.dtype.itemsize == 8 else "int32"}[a.dtype.kind]
        return {"shape": list(a.shape), "dtype": dtype, "data": a.reshape(-1).tolist()}

    doc = {"model": name + ".onnx", "inputs": [tensor(a) for a in inputs], "outputs": [tensor(a) for a in outputs]}
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(doc, f)
    print("exported", name, file=sys.stderr)


def samples(rng):
    onehot = np.zeros((2, T_CHAR, V_CHAR), np.float32)
    onehot[np.arange(2)[:, None], np.arange(T_CHAR)[None, :], rng.integers(0, V_CHAR, (2, T_CHAR))] = 1
    return {
        "gru_char": onehot,
        "lstm2": rng.standard_normal((2, 9, 5)).astype(np.float32),
        "bilstm": rng.standard_normal((3, 8, 6)).astype(np.float32),
        "embed_lstm": rng.integers(0, 50, (2, 9)).astype(np.int64),
        "mnist_lstm": rng.random((3, 28, 28)).astype(np.float32),
    }


def torch_models(out):
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Last(nn.Module):
        """A recurrent stack, its last time step, a dense head."""

        def __init__(self, rnn, head, softmax=False, embed=None):
            super().__init__()
            self.rnn, self.head, self.softmax, self.embed = rnn, head, softmax, embed

        def forward(self, x):
            if self.embed is not None:
                x = self.embed(x)
            y, _ = self.rnn(x)
            y = self.head(y[:, -1, :])
            return torch.softmax(y, dim=-1) if self.softmax else y

    class BiLSTM(nn.Module):
        """A bidirectional LSTM classifier over both final states."""

        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(6, 12, batch_first=True, bidirectional=True)
            self.head = nn.Linear(24, 3)

        def forward(self, x):
            _, (h, _) = self.rnn(x)
            return torch.softmax(self.head(torch.cat([h[0], h[1]], dim=-1)), dim=-1)

    models = {
        "gru_char": Last(nn.GRU(V_CHAR, H, batch_first=True), nn.Linear(H, V_CHAR), softmax=True),
        "lstm2": Last(nn.LSTM(5, 16, num_layers=2, batch_first=True), nn.Linear(16, 3)),
        "bilstm": BiLSTM(),
        "embed_lstm": Last(nn.LSTM(8, 16, batch_first=True), nn.Linear(16, 4), embed=nn.Embedding(50, 8)),
        "mnist_lstm": Last(nn.LSTM(28, 32, batch_first=True), nn.Linear(32, 10)),
    }
    for name, x in samples(np.random.default_rng(1)).items():
        m = models[name].eval()
        xt = torch.from_numpy(x)
        with torch.no_grad():
            y = m(xt).numpy()
        path = os.path.join(out, "torch_" + name + ".onnx")
        torch.onnx.export(m, (xt,), path, input_names=["x"], output_names=["y"], opset_version=17,
                          dynamic_axes={"x": {0: "batch", 1: "time"}, "y": {0: "batch"}})
        record(out, "torch_" + name, [x], [y])


def keras_models(out):
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    models = {
        "gru_char": keras.Sequential([keras.Input((T_CHAR, V_CHAR)), layers.GRU(H), layers.Dense(V_CHAR, activation="softmax")]),
        "lstm2": keras.Sequential([keras.Input((9, 5)), layers.LSTM(16, return_sequences=True), layers.LSTM(16), layers.Dense(3)]),
        "bilstm": keras.Sequential([keras.Input((8, 6)), layers.Bidirectional(layers.LSTM(12)), layers.Dense(3, activation="softmax")]),
        "embed_lstm": keras.Sequential([keras.Input((9,), dtype="int64"), layers.Embedding(50, 8), layers.LSTM(16), layers.Dense(4)]),
        "mnist_lstm": keras.Sequential([keras.Input((28, 28)), layers.LSTM(32), layers.Dense(10, activation="softmax")]),
    }
    for name, x in samples(np.random.default_rng(1)).items():
        m = models[name]
        y = np.asarray(m(x))
        m.export(os.path.join(out, "keras_" + name + ".onnx"), format="onnx", verbose=False)
        record(out, "keras_" + name, [x], [y])


if __name__ == "__main__":
    tool, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    {"torch": torch_models, "keras": keras_models}[tool](out)
