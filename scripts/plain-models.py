"""Exports recurrent models the way a user would, with NO rnnrun metadata, and the
reference outputs the exporting framework itself computes, for the end-to-end tests of
"bring your own model" (cmd/rnnrun/plain_models_test.go).

    python  scripts/plain-models.py keras OUT MNIST_DIR   # the project's venv (+ tf2onnx)
    python3 scripts/plain-models.py torch OUT             # Debian's python3 with torch

Routes: Keras 3 model.export(path, format="onnx") ("keras_*"); Keras' SavedModel
export then `python -m tf2onnx.convert --saved-model` ("tf2onnx_*"); torch.onnx.export
("torch_*"). Every OUT/<route>_<name>.onnx has OUT/<route>_<name>.refs.json:

- text models: vocab, prompt, "text" (the framework's own greedy loop, 200 characters),
  "mode" ("windowed": the tutorial's loop over the last `window` characters of a
  fixed-window model, left-padded with all-zero vectors while shorter; "stateful": the
  whole text so far from the zero state, which is what a stateful loop computes),
  "last" (the model's output for the prompt, last step, as the model outputs it:
  probabilities or logits), "output_kind", "input_encoding";
- the MNIST model: "predictions", Keras' predicted label of each of the 10,000 test
  images (pixels / 255, the tutorial's preprocessing), and "accuracy".

The tutorial's two models get the trained weights of models/export/char_window.onnx and
models/export/mnist.onnx (asserted to reproduce those files' outputs before exporting).
The other text models are trained briefly here, seeded, on a slice of
../shared/data/pg1514.txt when present (never committed), else on a short text below.
"""
import gzip
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENGTH = 200
TUTORIAL_PROMPT = ("Now, fair Hippolyta, our nuptial hour draws on apace; four happy day bring in another moon: but O, m")
FALLBACK_TEXT = (
    "The quick brown fox jumps over the lazy dog, and the dog sleeps on.\n"
    "A small boat sails at dawn; the sea is calm, the wind is low.\n"
    "She sings a song of the moon and the stars, and the night is long.\n"
)


def play_text(chars=12000):
    """A slice of the play (Gutenberg header and footer stripped), or the fallback."""
    path = os.path.join(ROOT, "..", "shared", "data", "pg1514.txt")
    if not os.path.exists(path):
        return FALLBACK_TEXT * 40
    text = open(path, encoding="utf-8").read()
    start = text.index("\n", text.index("*** START OF THE PROJECT GUTENBERG EBOOK")) + 1
    end = text.index("*** END OF THE PROJECT GUTENBERG EBOOK")
    return text[start:end].strip()[:chars]


def text_prompt(text):
    """40 characters of the text from the start of a line (the training window's length)."""
    start = text.index("\n", len(text) // 4) + 1
    return text[start : start + 40]


def write(out, name, doc):
    with open(os.path.join(out, name + ".refs.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)
    print("exported", name, file=sys.stderr)


def one_hot(ids, v):
    x = np.zeros((1, len(ids), v), np.float32)
    x[0, np.arange(len(ids)), ids] = 1
    return x


def greedy(step, prompt_ids, special):
    """The framework's greedy loop: step(ids) is the model's last-step output for the
    text so far; special ids ("[UNK]") are never picked. Returns (ids, first output)."""
    ids, first = list(prompt_ids), None
    for _ in range(LENGTH):
        y = np.asarray(step(ids), np.float64).reshape(-1)
        if first is None:
            first = y
        y = y.copy()
        y[special] = -np.inf
        ids.append(int(np.argmax(y)))
    return ids[len(prompt_ids):], first


def text_doc(vocab, prompt, gen, first, mode, kind, encoding, window=None):
    doc = {"vocab": vocab, "prompt": prompt, "text": "".join(vocab[i] for i in gen), "mode": mode,
           "last": [float(v) for v in first], "output_kind": kind, "input_encoding": encoding}
    if window:
        doc["window"] = window
    return doc


def char_windows(ids, t, stride):
    starts = range(0, len(ids) - t - 1, stride)
    return np.array([ids[s : s + t] for s in starts]), np.array([ids[s + t] for s in starts])


# ---------------------------------------------------------------- Keras


def keras_lstm_weights(path):
    """The Keras LSTM(u) and Dense weights of a pyexport ONNX file: ONNX gates i,o,f,c
    with W [1,4u,in], R [1,4u,u], B [1,8u]; Keras i,f,c,o with kernel [in,4u],
    recurrent_kernel [u,4u], bias [4u] (ONNX's two biases summed)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    w = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    u = w["lstm_R"].shape[2]

    def keras_order(a):  # a: [4u, ...] in i,o,f,c -> i,f,c,o
        i, o, f, c = (a[k * u : (k + 1) * u] for k in range(4))
        return np.concatenate([i, f, c, o])

    kernel = keras_order(w["lstm_W"][0]).T
    recurrent = keras_order(w["lstm_R"][0]).T
    bias = keras_order(w["lstm_B"][0][: 4 * u] + w["lstm_B"][0][4 * u :])
    meta = {p.key: p.value for p in m.metadata_props}
    return [kernel, recurrent, bias, w["dense_kernel"], w["dense_bias"]], meta, u


def onnx_outputs(path, x):
    import onnxruntime as ort

    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def keras_routes(out, name, model):
    """The two Keras routes: model.export(format="onnx"), and SavedModel + tf2onnx."""
    model.export(os.path.join(out, "keras_" + name + ".onnx"), format="onnx", verbose=False)
    sm = os.path.join(out, "savedmodel_" + name)
    model.export(sm, format="tf_saved_model", verbose=False)
    subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", sm, "--opset", "17",
                    "--output", os.path.join(out, "tf2onnx_" + name + ".onnx")],
                   check=True, stdout=sys.stderr, stderr=sys.stderr)


def tutorial_char(out):
    import keras
    from keras import layers

    weights, meta, u = keras_lstm_weights(os.path.join(ROOT, "models/export/char_window.onnx"))
    vocab = json.loads(meta["vocab"])
    v, window = len(vocab), int(meta["window_length"])
    # The tutorial's model, as the tutorial builds it.
    model = keras.Sequential()
    model.add(layers.LSTM(u, input_shape=(window, v)))
    model.add(layers.Dense(v, activation="softmax"))
    model.set_weights(weights)
    index = {ch: i for i, ch in enumerate(vocab)}
    prompt_ids = [index[ch] for ch in TUTORIAL_PROMPT]
    assert len(prompt_ids) == window, len(prompt_ids)
    check = np.concatenate([one_hot(prompt_ids, v), one_hot(prompt_ids[::-1], v)])
    want = onnx_outputs(os.path.join(ROOT, "models/export/char_window.onnx"), check)
    got = np.asarray(model(check))
    assert np.abs(got - want).max() < 1e-5, np.abs(got - want).max()

    def step(ids):  # the tutorial's loop: the last `window` characters, zero-padded in front
        x = one_hot(ids[-window:], v)
        pad = np.zeros((1, window - x.shape[1], v), np.float32)
        return model(np.concatenate([pad, x], axis=1))[0]

    gen, first = greedy(step, prompt_ids, [])
    keras_routes(out, "tutorial_char", model)
    doc = text_doc(vocab, TUTORIAL_PROMPT, gen, first, "windowed", "probabilities", "one_hot", window)
    for route in ("keras", "tf2onnx"):
        write(out, route + "_tutorial_char", doc)
    with open(os.path.join(out, "tutorial_char.vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def tutorial_mnist(out, mnist_dir):
    import keras
    from keras import layers

    weights, _, u = keras_lstm_weights(os.path.join(ROOT, "models/export/mnist.onnx"))
    model = keras.Sequential()
    model.add(layers.LSTM(u, input_shape=(28, 28)))
    model.add(layers.Dense(10, activation="softmax"))
    model.set_weights(weights)
    images = read_idx(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 255
    labels = read_idx(os.path.join(mnist_dir, "t10k-labels-idx1-ubyte.gz"))
    probs = model.predict(images, batch_size=500, verbose=0)
    want = onnx_outputs(os.path.join(ROOT, "models/export/mnist.onnx"), images[:500])
    assert np.abs(probs[:500] - want).max() < 1e-5, np.abs(probs[:500] - want).max()
    pred = probs.argmax(axis=1)
    keras_routes(out, "tutorial_mnist", model)
    doc = {"predictions": pred.tolist(), "labels": labels.tolist(), "accuracy": float((pred == labels).mean())}
    for route in ("keras", "tf2onnx"):
        write(out, route + "_tutorial_mnist", doc)


def keras_text(out):
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    text = play_text()
    vocab = sorted(set(text))
    ids = np.array([vocab.index(ch) for ch in text])
    v = len(vocab)
    prompt = text_prompt(text)
    x, y = char_windows(ids, 40, 5)
    xo = np.eye(v, dtype=np.float32)[x]
    special = []

    def stateful(model, kind):
        def step(seq):  # the whole text so far from the zero state (a dynamic-time model)
            return model(one_hot(seq, v))[0]

        gen, first = greedy(step, [vocab.index(ch) for ch in prompt], special)
        return text_doc(vocab, prompt, gen, first, "stateful", kind, "one_hot")

    models = {
        "gru_char": (keras.Sequential([keras.Input((None, v)), layers.GRU(64), layers.Dense(v, activation="softmax")]),
                     "probabilities"),
        "lstm2": (keras.Sequential([keras.Input((None, v)), layers.LSTM(48, return_sequences=True), layers.LSTM(48),
                                    layers.Dense(v)]), "logits"),
    }
    for name, (model, kind) in models.items():
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=kind == "logits")
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
        model.fit(xo, y, batch_size=128, epochs=3, verbose=0, shuffle=True)
        model.export(os.path.join(out, "keras_" + name + ".onnx"), format="onnx", verbose=False)
        write(out, "keras_" + name, stateful(model, kind))

    # TensorFlow's text-generation tutorial: StringLookup ids ("[UNK]" at 0), Embedding,
    # GRU(return_sequences), Dense(V) logits at every step.
    import tensorflow as tf

    lookup = keras.layers.StringLookup(vocabulary=sorted(set(text)), mask_token=None)
    tvocab = lookup.get_vocabulary()
    tids = np.asarray(lookup(tf.strings.unicode_split(text, "UTF-8")), np.int64)
    tv = len(tvocab)
    seqs = np.array([tids[s : s + 51] for s in range(0, len(tids) - 51, 25)])
    model = keras.Sequential([keras.Input((None,), dtype="int64"), layers.Embedding(tv, 16),
                              layers.GRU(64, return_sequences=True), layers.Dense(tv)])
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(seqs[:, :-1], seqs[:, 1:], batch_size=64, epochs=6, verbose=0, shuffle=True)

    def step(seq):
        return model(np.array([seq], np.int64))[0, -1]

    prompt_ids = [int(i) for i in np.asarray(lookup(tf.strings.unicode_split(prompt, "UTF-8")))]
    gen, first = greedy(step, prompt_ids, [0])
    keras_routes(out, "embed_gru", model)
    doc = text_doc(tvocab, prompt, gen, first, "stateful", "logits", "token_ids")
    for route in ("keras", "tf2onnx"):
        write(out, route + "_embed_gru", doc)


def keras_models(out, mnist_dir):
    tutorial_char(out)
    tutorial_mnist(out, mnist_dir)
    keras_text(out)


# ---------------------------------------------------------------- torch


def torch_models(out):
    import torch
    from torch import nn

    torch.manual_seed(0)
    text = play_text()
    vocab = sorted(set(text))
    v = len(vocab)
    ids = np.array([vocab.index(ch) for ch in text])
    x, y = char_windows(ids, 40, 5)
    xo = torch.from_numpy(np.eye(v, dtype=np.float32)[x])
    yt = torch.from_numpy(y)

    class Char(nn.Module):
        """One-hot characters -> recurrent stack -> last step -> Linear (-> softmax)."""

        def __init__(self, rnn, units, softmax):
            super().__init__()
            self.rnn, self.head, self.softmax = rnn, nn.Linear(units, v), softmax

        def forward(self, x, state=None):
            seq, state = self.rnn(x, state)
            y = self.head(seq[:, -1, :])
            return (torch.softmax(y, dim=-1) if self.softmax else y), state

    class Export(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x)[0]

    models = {
        "gru_char": (Char(nn.GRU(v, 64, batch_first=True), 64, True), "probabilities"),
        "lstm2": (Char(nn.LSTM(v, 48, num_layers=2, batch_first=True), 48, False), "logits"),
    }
    prompt = text_prompt(text)
    for name, (m, kind) in models.items():
        opt = torch.optim.Adam(m.parameters(), lr=0.01)
        for _ in range(3):
            perm = torch.randperm(len(yt))
            for s in range(0, len(yt), 128):
                b = perm[s : s + 128]
                out_b, _ = m(xo[b])
                logits = torch.log(out_b) if m.softmax else out_b
                loss = nn.functional.cross_entropy(logits, yt[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
        m.eval()
        # torch's own stateful loop: the prompt from the zero state, then one step per character.
        with torch.no_grad():
            prompt_ids = [vocab.index(ch) for ch in prompt]
            y_out, state = m(torch.from_numpy(one_hot(prompt_ids, v)))
            first, gen = y_out[0].numpy().astype(np.float64), []
            for _ in range(LENGTH):
                gen.append(int(np.argmax(y_out[0].numpy())))
                y_out, state = m(torch.from_numpy(one_hot(gen[-1:], v)), state)
        dummy = torch.from_numpy(one_hot(prompt_ids * 5, v))
        torch.onnx.export(Export(m), (dummy,), os.path.join(out, "torch_" + name + ".onnx"), input_names=["x"],
                          output_names=["y"], opset_version=17,
                          dynamic_axes={"x": {0: "batch", 1: "time"}, "y": {0: "batch"}})
        write(out, "torch_" + name, text_doc(vocab, prompt, gen, first, "stateful", kind, "one_hot"))


if __name__ == "__main__":
    tool, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if tool == "keras":
        keras_models(out, sys.argv[3])
    else:
        torch_models(out)
