"""The image models of the tutorial, trained with fixed seeds, and what all models share
(the character models are in chartrain.py).

mnist:    Input(28, 28) -> LSTM(128) -> Dense(10, softmax), Keras.
mnist_tf: the tutorial's low-level TensorFlow model as a tf.Module: a dense input
          projection 28 -> 128, an LSTM cell of 128 unrolled over the 28 rows, the final
          hidden state projected to 10 logits. No Keras anywhere in it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
import keras

from .data import Mnist, scale_pixels
from .onnx_export import DenseWeights, LSTMWeights

UNITS = 128


def log(msg: str) -> None:
    print(msg, flush=True)


@dataclass
class Settings:
    fast: bool = False
    seed: int = 1234
    window: int = 100
    epochs: dict[str, int] = field(default_factory=dict)  # per-model override

    def n_epochs(self, model: str, full: int, fast: int = 1) -> int:
        return self.epochs.get(model, fast if self.fast else full)


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)  # Python, NumPy and TensorFlow


def keras_lstm_weights(layer) -> LSTMWeights:
    k, r, b = (np.asarray(w, dtype=np.float32) for w in layer.get_weights())
    return LSTMWeights(k, r, b)


def keras_dense_weights(layer) -> DenseWeights:
    k, b = (np.asarray(w, dtype=np.float32) for w in layer.get_weights())
    return DenseWeights(k, b)


# ---------------------------------------------------------------- MNIST (Keras)


@dataclass
class MnistResult:
    model: keras.Model
    x_eval: np.ndarray  # float32 [n, 28, 28]
    y_eval: np.ndarray
    eval_data: str
    correct: int
    total: int
    accuracy: float
    epochs: int
    train_seconds: float
    config: dict


def mnist_eval_set(mn: Mnist, fast: bool) -> tuple[np.ndarray, np.ndarray, str]:
    if fast:
        return scale_pixels(mn.x_test[:1000]), mn.y_test[:1000], "MNIST t10k (first 1000 images, fast mode)"
    return scale_pixels(mn.x_test), mn.y_test, "MNIST t10k"


MAX_SHIFT = 2  # training images are shifted by up to this many pixels each way (augmentation)


def shift_images(x: np.ndarray, rs: np.random.RandomState, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """Each image moved by a random whole-pixel offset in [-max_shift, max_shift]^2, zero-filled."""
    m = max_shift
    padded = np.pad(x, ((0, 0), (m, m), (m, m)))
    views = np.lib.stride_tricks.sliding_window_view(padded, x.shape[1:], axis=(1, 2))  # [n, 2m+1, 2m+1, 28, 28]
    dy, dx = rs.randint(0, 2 * m + 1, len(x)), rs.randint(0, 2 * m + 1, len(x))
    return views[np.arange(len(x)), dy, dx]


def train_mnist(mn: Mnist, s: Settings) -> MnistResult:
    seed_everything(s.seed)
    epochs = s.n_epochs("mnist", 15)
    n_train = 1024 if s.fast else len(mn.x_train)
    x, y = scale_pixels(mn.x_train[:n_train]), mn.y_train[:n_train].astype(np.int32)
    x_eval, y_eval, eval_data = mnist_eval_set(mn, s.fast)
    batch, lr = 128, 2e-3
    steps = epochs * math.ceil(n_train / batch)
    model = keras.Sequential(
        [keras.Input((28, 28), name="x"), keras.layers.LSTM(UNITS, name="lstm"), keras.layers.Dense(10, activation="softmax", name="dense")],
        name="mnist",
    )
    opt = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.01), clipnorm=1.0)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    log(f"mnist: training on {n_train} images shifted up to {MAX_SHIFT} px, {epochs} epochs, batch {batch}, "
        f"Adam lr {lr} cosine decay")
    rs = np.random.RandomState(s.seed)
    t0 = time.time()
    for ep in range(epochs):
        t = time.time()
        hist = model.fit(shift_images(x, rs), y, batch_size=batch, epochs=1, verbose=0, shuffle=True)
        correct = count_correct(model.predict(x_eval, batch_size=500, verbose=0), y_eval)
        log(f"mnist: epoch {ep + 1}/{epochs} loss {hist.history['loss'][-1]:.4f} "
            f"eval {correct}/{len(y_eval)} = {correct / len(y_eval):.4f} ({time.time() - t:.1f}s)")
    train_seconds = time.time() - t0
    correct = count_correct(model.predict(x_eval, batch_size=500, verbose=0), y_eval)
    config = {"optimizer": "Adam", "learning_rate": lr, "schedule": "cosine decay to 1%", "clipnorm": 1.0,
              "augmentation": f"random shift up to {MAX_SHIFT} px",
              "batch_size": batch, "epochs": epochs, "train_images": n_train, "seed": s.seed, "fast": s.fast}
    return MnistResult(model, x_eval, y_eval, eval_data, correct, len(y_eval), correct / len(y_eval), epochs, train_seconds, config)


def count_correct(scores: np.ndarray, labels: np.ndarray) -> int:
    return int(np.sum(np.argmax(scores, axis=1) == labels))


# ---------------------------------------------------------------- mnist_tf (plain TensorFlow)


class MnistTF(tf.Module):
    """x [batch, 28, 28] -> dense projection 28 -> 128 -> LSTM cell (128) over the 28 rows
    -> final hidden state -> 10 logits. Gate order i, f, c, o as in Keras, so the exporter
    treats its weights like a Keras LSTM; the forget-gate bias starts at 1 (the tutorial's
    forget_bias=1.0, kept as a trainable bias)."""

    def __init__(self, seed: int):
        super().__init__(name="mnist_tf")
        g = tf.random.Generator.from_seed(seed)

        def glorot(shape, name):
            lim = math.sqrt(6.0 / (shape[0] + shape[1]))
            return tf.Variable(g.uniform(shape, -lim, lim), name=name)

        H = UNITS
        self.proj_kernel = glorot([28, H], "proj_kernel")
        self.proj_bias = tf.Variable(tf.zeros([H]), name="proj_bias")
        self.kernel = glorot([H, 4 * H], "lstm_kernel")
        self.recurrent = glorot([H, 4 * H], "lstm_recurrent_kernel")
        self.bias = tf.Variable(tf.concat([tf.zeros([H]), tf.ones([H]), tf.zeros([2 * H])], 0), name="lstm_bias")
        self.out_kernel = glorot([H, 10], "out_kernel")
        self.out_bias = tf.Variable(tf.zeros([10]), name="out_bias")

    def logits(self, x):
        proj = tf.matmul(tf.reshape(x, [-1, 28]), self.proj_kernel) + self.proj_bias
        proj = tf.reshape(proj, [-1, 28, UNITS])
        h = c = tf.zeros([tf.shape(x)[0], UNITS])
        for t in range(28):  # unrolled over the rows, as in the tutorial
            z = tf.matmul(proj[:, t, :], self.kernel) + tf.matmul(h, self.recurrent) + self.bias
            i, f, g, o = tf.split(z, 4, axis=1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
        return tf.matmul(h, self.out_kernel) + self.out_bias

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name="x")])
    def serve(self, x):
        return {"logits": self.logits(x)}

    def weights(self) -> tuple[DenseWeights, LSTMWeights, DenseWeights]:
        n = lambda v: np.asarray(v.numpy(), np.float32)  # noqa: E731
        return (DenseWeights(n(self.proj_kernel), n(self.proj_bias)),
                LSTMWeights(n(self.kernel), n(self.recurrent), n(self.bias)),
                DenseWeights(n(self.out_kernel), n(self.out_bias)))


class Adam:
    """Plain-TensorFlow Adam (no Keras), with global-norm gradient clipping."""

    def __init__(self, variables, lr, b1=0.9, b2=0.999, eps=1e-7, clipnorm=5.0):
        self.vars, self.lr, self.b1, self.b2, self.eps, self.clip = list(variables), lr, b1, b2, eps, clipnorm
        self.m = [tf.Variable(tf.zeros_like(v)) for v in self.vars]
        self.v = [tf.Variable(tf.zeros_like(v)) for v in self.vars]
        self.t = tf.Variable(0.0)

    def apply(self, grads, lr):
        grads, _ = tf.clip_by_global_norm(grads, self.clip)
        self.t.assign_add(1.0)
        corr = tf.sqrt(1.0 - self.b2**self.t) / (1.0 - self.b1**self.t)
        for var, g, m, v in zip(self.vars, grads, self.m, self.v):
            m.assign(self.b1 * m + (1.0 - self.b1) * g)
            v.assign(self.b2 * v + (1.0 - self.b2) * g * g)
            var.assign_sub(lr * corr * m / (tf.sqrt(v) + self.eps))


@dataclass
class MnistTFResult:
    module: MnistTF
    x_eval: np.ndarray
    y_eval: np.ndarray
    eval_data: str
    correct: int
    total: int
    accuracy: float
    epochs: int
    train_seconds: float
    config: dict


def train_mnist_tf(mn: Mnist, s: Settings) -> MnistTFResult:
    seed_everything(s.seed)
    epochs = s.n_epochs("mnist_tf", 12)
    n_train = 1024 if s.fast else len(mn.x_train)
    x, y = scale_pixels(mn.x_train[:n_train]), mn.y_train[:n_train].astype(np.int32)
    x_eval, y_eval, eval_data = mnist_eval_set(mn, s.fast)
    batch, lr0 = 128, 2e-3
    steps_per_epoch = math.ceil(n_train / batch)
    total_steps = epochs * steps_per_epoch
    module = MnistTF(s.seed)
    opt = Adam(module.trainable_variables, lr0)

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28]), tf.TensorSpec([None], tf.int32), tf.TensorSpec([])])
    def step(xb, yb, lr):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=module.logits(xb)))
        opt.apply(tape.gradient(loss, opt.vars), lr)
        return loss

    predict = tf.function(module.logits, input_signature=[tf.TensorSpec([None, 28, 28])])

    def evaluate():
        logits = np.concatenate([predict(x_eval[i : i + 1000]).numpy() for i in range(0, len(x_eval), 1000)])
        return count_correct(logits, y_eval)

    log(f"mnist_tf: training on {n_train} images shifted up to {MAX_SHIFT} px, {epochs} epochs, batch {batch}, Adam lr {lr0} cosine decay (plain TensorFlow)")
    rs = np.random.RandomState(s.seed)
    t0, k = time.time(), 0
    for ep in range(epochs):
        t, losses = time.time(), []
        order = rs.permutation(n_train)
        xs = shift_images(x, rs)
        for i in range(0, n_train, batch):
            lr = lr0 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * k / total_steps)))
            b = order[i : i + batch]
            losses.append(float(step(xs[b], y[b], lr)))
            k += 1
        correct = evaluate()
        log(f"mnist_tf: epoch {ep + 1}/{epochs} loss {np.mean(losses):.4f} eval {correct}/{len(y_eval)} "
            f"= {correct / len(y_eval):.4f} ({time.time() - t:.1f}s)")
    train_seconds = time.time() - t0
    correct = evaluate()
    config = {"optimizer": "Adam (plain TensorFlow)", "learning_rate": lr0, "schedule": "cosine decay to 1%", "clipnorm": 5.0,
              "augmentation": f"random shift up to {MAX_SHIFT} px",
              "batch_size": batch, "epochs": epochs, "train_images": n_train, "seed": s.seed, "fast": s.fast}
    return MnistTFResult(module, x_eval, y_eval, eval_data, correct, len(y_eval), correct / len(y_eval), epochs, train_seconds, config)
