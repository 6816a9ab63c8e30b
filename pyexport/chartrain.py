"""The character models: sequence training, windowed evaluation, samples.

Both models are trained as sequence models: the network reads a window of W + 1
characters and predicts every next character (return_sequences), which costs one
pass per window instead of one pass per predicted character. The trained layers are
then copied into the tutorial's windowed model (one prediction after W characters)
and into a stateful model (x, state) -> (probs, state out); the three share weights,
so they compute the same function.

char:       one LSTM(128) -> Dense(V, softmax) over one-hot characters of the play.
            Pretrained on tinyshakespeare.txt (mapped onto the play's vocabulary),
            then fine-tuned on the play's training part; the epoch is chosen on a
            validation slice at the end of the training part, never on the held-out
            last 10% (that is only measured).
char_large: LSTM(512) -> LSTM(512) -> Dense(V, softmax) over tinyshakespeare.txt's own
            vocabulary, trained on its first 90% and measured on its last 10%.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf
import keras

from .data import Text, heldout_split
from .onnx_export import DenseWeights, LSTMWeights
from .train import Settings, keras_dense_weights, keras_lstm_weights, log, seed_everything

UNITS = 128
LARGE_UNITS = (512, 512)

# tinyshakespeare.txt's characters that the play's vocabulary lacks: the apostrophe is
# the play's typographic one, the two capitals are lower-cased; '$' (once) and '3'
# (27 times) are dropped.
PRETRAIN_MAP = {"'": "\u2019", "X": "x", "Z": "z"}


# ---------------------------------------------------------------- encoding


def one_hot(idx: np.ndarray, v: int) -> np.ndarray:
    out = np.zeros(idx.shape + (v,), np.float32)
    np.put_along_axis(out, idx[..., None], 1.0, axis=-1)
    return out


def windows(encoded: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    return encoded[starts[:, None] + np.arange(window)[None, :]]


def encode(s: str, index: dict[str, int]) -> np.ndarray:
    return np.fromiter((index[ch] for ch in s), dtype=np.int32, count=len(s))


def map_onto_vocab(s: str, index: dict[str, int], mapping: dict[str, str]) -> tuple[np.ndarray, dict[str, int]]:
    """Encodes s with index after applying mapping; characters still outside the
    vocabulary are dropped. Returns the indices and the dropped characters' counts."""
    s = s.translate(str.maketrans(mapping))
    dropped: dict[str, int] = {}
    for ch in set(s) - set(index):
        dropped[ch] = s.count(ch)
    if dropped:
        s = "".join(ch for ch in s if ch in index)
    return encode(s, index), dict(sorted(dropped.items()))


# ---------------------------------------------------------------- models


def sequence_model(v: int, units: tuple[int, ...], dropout: float, name: str) -> keras.Model:
    """One-hot x [b, t, V] -> LSTM layers (return_sequences) -> Dense softmax at every step.
    Layers are named lstm (one layer) or lstm0, lstm1, ... and dense."""
    x = keras.Input((None, v), name="x")
    y = x
    for i, u in enumerate(units):
        y = keras.layers.LSTM(u, return_sequences=True, name=lstm_name(i, len(units)))(y)
        if dropout:
            y = keras.layers.Dropout(dropout, name=f"dropout{i}")(y)
    return keras.Model(x, keras.layers.Dense(v, activation="softmax", name="dense")(y), name=name)


def lstm_name(i: int, n: int) -> str:
    return "lstm" if n == 1 else f"lstm{i}"


def state_names(n_layers: int) -> tuple[list[str], list[str]]:
    """State inputs and outputs in pairing order: h, c (one layer) or h0, c0, h1, c1, ..."""
    if n_layers == 1:
        return ["h", "c"], ["h_out", "c_out"]
    ins = [f"{k}{i}" for i in range(n_layers) for k in ("h", "c")]
    return ins, [f"{n}_out" for n in ins]


def windowed_model(seq: keras.Model, units: tuple[int, ...], v: int, window: int, name: str) -> keras.Model:
    """The tutorial's model with seq's weights: x [b, window, V] -> probs [b, V] after the last step."""
    x = keras.Input((window, v), name="x")
    y = x
    for i, u in enumerate(units):
        nm = lstm_name(i, len(units))
        layer = keras.layers.LSTM(u, return_sequences=i < len(units) - 1, name=nm)
        y = layer(y)
        layer.set_weights(seq.get_layer(nm).get_weights())
    dense = keras.layers.Dense(v, activation="softmax", name="dense")
    model = keras.Model(x, dense(y), name=name)
    dense.set_weights(seq.get_layer("dense").get_weights())
    return model


def stateful_model(seq: keras.Model, units: tuple[int, ...], v: int, name: str) -> keras.Model:
    """(x [b, t, V], state...) -> (probs [b, V], state out...), state names of state_names()."""
    x = keras.Input((None, v), name="x")
    ins, _ = state_names(len(units))
    states = [keras.Input((units[k // 2],), name=n) for k, n in enumerate(ins)]
    y, outs = x, []
    for i, u in enumerate(units):
        nm = lstm_name(i, len(units))
        layer = keras.layers.LSTM(u, return_sequences=i < len(units) - 1, return_state=True, name=nm)
        y, h, c = layer(y, initial_state=states[2 * i : 2 * i + 2])
        layer.set_weights(seq.get_layer(nm).get_weights())
        outs += [h, c]
    dense = keras.layers.Dense(v, activation="softmax", name="dense")
    model = keras.Model([x, *states], [dense(y), *outs], name=name)
    dense.set_weights(seq.get_layer("dense").get_weights())
    return model


def exported_weights(seq: keras.Model, n_layers: int) -> tuple[list[LSTMWeights], DenseWeights]:
    return ([keras_lstm_weights(seq.get_layer(lstm_name(i, n_layers))) for i in range(n_layers)],
            keras_dense_weights(seq.get_layer("dense")))


# ---------------------------------------------------------------- losses


def last_step_fn(seq: keras.Model):
    """x [b, t, V] -> probs after the last step, compiled once."""
    fn = getattr(seq, "_rnnrun_last_step", None)
    if fn is None:
        fn = tf.function(lambda x: seq(x, training=False)[:, -1], reduce_retracing=True)
        seq._rnnrun_last_step = fn
    return lambda x: fn(tf.constant(x))


def windowed_loss(seq: keras.Model, encoded: np.ndarray, lo: int, hi: int, window: int, v: int, batch: int = 512) -> float:
    """Mean cross-entropy (nats) of each character encoded[lo:hi] predicted from the
    `window` characters before it, from the zero state (the tutorial's windowed model)."""
    predict = last_step_fn(seq)
    targets = np.arange(lo, hi)
    total = 0.0
    for i in range(0, len(targets), batch):
        t = targets[i : i + batch]
        p = np.asarray(predict(one_hot(windows(encoded, t - window, window), v)), np.float64)
        total += float(-np.sum(np.log(np.maximum(p[np.arange(len(t)), encoded[t]], 1e-300))))
    return total / len(targets)


def chunked_loss(seq: keras.Model, encoded: np.ndarray, lo: int, hi: int, window: int, v: int, batch: int = 256) -> float:
    """Mean cross-entropy (nats) of each character encoded[lo:hi], read in chunks of
    `window` characters: chunk k covers targets lo + k*window ... and the model reads,
    from the zero state, the `window` characters before the chunk and the chunk itself,
    so each target is predicted from between `window` and 2*window - 1 characters
    before it. Cheaper than windowed_loss by a factor of about window / 2."""
    fn = getattr(seq, "_rnnrun_all_steps", None)
    if fn is None:
        fn = tf.function(lambda x: seq(x, training=False), reduce_retracing=True)
        seq._rnnrun_all_steps = fn
    starts = np.arange(lo, hi, window)
    total = 0.0
    for i in range(0, len(starts), batch):
        s = starts[i : i + batch]
        length = np.minimum(window, hi - s)
        x = windows(np.concatenate([encoded, np.zeros(window, encoded.dtype)]), s - window, 2 * window)
        p = np.asarray(fn(tf.constant(one_hot(x[:, :-1], v))), np.float64)[:, window - 1 :]  # predicts x[:, window:]
        y = x[:, window:]
        lp = np.log(np.maximum(np.take_along_axis(p, y[..., None], -1)[..., 0], 1e-300))
        mask = np.arange(window)[None, :] < length[:, None]
        total += float(-np.sum(lp * mask))
    return total / (hi - lo)


# ---------------------------------------------------------------- training


@dataclass
class Phase:
    """One training run over windows of `window + 1` characters of `encoded`."""

    name: str
    encoded: np.ndarray
    starts: np.ndarray  # window start offsets
    epochs: int
    lr: float
    batch: int
    evaluate: dict  # name -> fn(seq) -> loss; the first one chooses the epoch when choose_best
    choose_best: bool
    random_offset: int = 0  # each epoch shifts all starts by a random offset in [0, random_offset)
    curve: list = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def sequence_dataset(encoded: np.ndarray, starts: np.ndarray, window: int, v: int, batch: int, seed: int):
    idx = windows(encoded, starts, window + 1)
    return (
        tf.data.Dataset.from_tensor_slices(idx)
        .shuffle(len(idx), seed=seed)
        .batch(batch)
        .map(lambda a: (tf.one_hot(a[:, :-1], v), a[:, 1:]))
        .prefetch(2)
    )


def run_phase(seq: keras.Model, ph: Phase, window: int, v: int, seed: int) -> None:
    steps = ph.epochs * math.ceil(len(ph.starts) / ph.batch)
    opt = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(ph.lr, steps, alpha=0.01), clipnorm=1.0)
    seq.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    rs = np.random.RandomState(seed)
    n_max = len(ph.encoded) - window - 1
    log(f"{ph.name}: {len(ph.starts)} windows of {window + 1} characters, {ph.epochs} epochs, batch {ph.batch}, "
        f"Adam lr {ph.lr} cosine decay to 1%")
    best, t0 = (math.inf, 0, None), time.time()
    for ep in range(ph.epochs):
        t = time.time()
        starts = ph.starts
        if ph.random_offset:
            starts = np.minimum(starts + rs.randint(ph.random_offset), n_max)
        ds = sequence_dataset(ph.encoded, starts, window, v, ph.batch, seed + ep)
        hist = seq.fit(ds, epochs=1, verbose=0, shuffle=False)
        train_s = time.time() - t
        point = {"epoch": ep + 1, "train_loss": round(float(hist.history["loss"][-1]), 4)}
        for k, fn in ph.evaluate.items():
            point[k] = round(fn(seq), 4)
        point["seconds"] = round(train_s, 1)
        ph.curve.append(point)
        first = next(iter(ph.evaluate), None)
        if first and point[first] < best[0]:
            best = (point[first], ep + 1, seq.get_weights())
        log(f"{ph.name}: epoch {ep + 1}/{ph.epochs} " + " ".join(f"{k} {v_}" for k, v_ in point.items() if k != "epoch")
            + f" (train {train_s:.0f}s, {time.time() - t:.0f}s with evaluation)")
    ph.seconds = time.time() - t0
    ph.best_epoch = ph.epochs
    if ph.choose_best and best[2] is not None:
        seq.set_weights(best[2])
        ph.best_epoch = best[1]
        log(f"{ph.name}: kept epoch {best[1]} ({first} {best[0]})")


def phase_report(ph: Phase) -> dict:
    return {"epochs": ph.epochs, "kept_epoch": ph.best_epoch, "windows": int(len(ph.starts)), "batch_size": ph.batch,
            "learning_rate": ph.lr, "train_seconds": round(ph.seconds, 1), "curve": ph.curve}


# ---------------------------------------------------------------- weight cache


def cache_key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def load_cached(cache: Path | None, name: str, spec: dict, seq: keras.Model):
    """The cached weights and training record of an identical earlier run, if any."""
    if cache is None:
        return None
    p = Path(cache) / f"{name}-{cache_key(spec)}"
    if not (p / "weights.npz").is_file():
        return None
    w = np.load(p / "weights.npz")
    seq.set_weights([w[f"w{i}"] for i in range(len(w.files))])
    record = json.loads((p / "record.json").read_text(encoding="utf-8"))
    log(f"{name}: reusing the weights trained earlier with the same settings ({p}); the training it recorded:")
    for phase, rep in record["phases"].items():
        for point in rep["curve"]:
            log(f"{name} {phase}: epoch {point['epoch']}/{rep['epochs']} "
                + " ".join(f"{k} {v}" for k, v in point.items() if k != "epoch"))
        log(f"{name} {phase}: kept epoch {rep['kept_epoch']}, {rep['train_seconds']}s of training")
    return record


def store_cached(cache: Path | None, name: str, spec: dict, seq: keras.Model, record: dict) -> None:
    if cache is None:
        return
    p = Path(cache) / f"{name}-{cache_key(spec)}"
    p.mkdir(parents=True, exist_ok=True)
    np.savez(p / "weights.npz", **{f"w{i}": w for i, w in enumerate(seq.get_weights())})
    (p / "record.json").write_text(json.dumps(record), encoding="utf-8")


# ---------------------------------------------------------------- sampling


def sample(preds: np.ndarray, temperature: float, rs: np.random.RandomState) -> int:
    """The tutorial's sampler, in float64."""
    preds = np.asarray(preds).astype("float64")
    with np.errstate(divide="ignore"):
        preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = rs.multinomial(1, preds, 1)
    return int(np.argmax(probas))


def generate(predict, seed_idx: np.ndarray, vocab: list[str], v: int, temperature: float, length: int, rs) -> str:
    """The tutorial's generation loop: slide the window, predict, sample, append."""
    sentence = list(seed_idx)
    out = []
    for _ in range(length):
        preds = np.asarray(predict(one_hot(np.asarray(sentence, np.int64)[None], v)))[0]
        nxt = sample(preds, temperature, rs)
        out.append(vocab[nxt])
        sentence = sentence[1:] + [nxt]
    return "".join(out)


def speech_starts(text: str, lo: int, hi: int, window: int) -> list[int]:
    """Offsets p in [lo, hi) where a speech begins at text[p] (a speaker's name in
    capitals at the start of a line, after a blank line) with window characters before it."""
    out = []
    i = text.find("\n\n", max(lo, window))
    while 0 <= i < hi:
        p = i + 2
        line = text[p : text.find("\n", p)]
        name = line.rstrip(".:")
        if 1 < len(name) and name.upper() == name and any(ch.isalpha() for ch in name) and p - window >= 0:
            out.append(p)
        i = text.find("\n\n", p)
    return out


def samples_for(seq: keras.Model, text: str, encoded: np.ndarray, vocab: list[str], lo: int, hi: int, window: int,
                s: Settings, name: str) -> tuple[dict[float, str], str]:
    """The tutorial's three temperatures from the same seed: the window of text that
    ends where a speech begins (chosen at random among those in [lo, hi))."""
    rs = np.random.RandomState(s.seed)
    starts = speech_starts(text, lo, hi, window) or [max(window, lo)]
    p = starts[rs.randint(len(starts))]
    seed_idx = encoded[p - window : p]
    sample_seed = "".join(vocab[i] for i in seed_idx)
    length = 60 if s.fast else 400
    predict = last_step_fn(seq)
    samples = {}
    log(f'{name}: samples, seeded with "{sample_seed}"')
    for temp in (0.2, 0.6, 1.2):
        samples[temp] = generate(predict, seed_idx, vocab, len(vocab), temp, length, rs)
        log(f"----- temperature {temp}\n{samples[temp]}\n-----")
    return samples, sample_seed


# ---------------------------------------------------------------- char


@dataclass
class CharResult:
    name: str
    units: tuple[int, ...]
    model: keras.Model  # the windowed model (the tutorial's)
    stateful: keras.Model  # (x, state...) -> (probs, state out...)
    lstm: list[LSTMWeights]
    dense: DenseWeights
    vocab: list[str]
    encoded: np.ndarray  # the whole text as vocabulary indices
    split: int  # the held-out part starts here
    heldout_loss: float  # nats per character
    heldout_chars: int
    heldout_method: str
    epochs: int
    best_epoch: int
    train_seconds: float
    config: dict
    report: dict  # loss curves and per-phase costs, for export-report.json
    samples: dict[float, str]
    sample_seed: str
    training_data: str


def finish(name: str, seq: keras.Model, units, vocab, encoded, split, text: str, window: int, s: Settings,
           loss: float, method: str, record: dict, training_data: str) -> CharResult:
    v = len(vocab)
    samples, sample_seed = samples_for(seq, text, encoded, vocab, split, len(encoded), window, s, name)
    lw, dw = exported_weights(seq, len(units))
    return CharResult(
        name=name, units=tuple(units), model=windowed_model(seq, units, v, window, name + "_window"),
        stateful=stateful_model(seq, units, v, name + "_stateful"), lstm=lw, dense=dw, vocab=vocab, encoded=encoded,
        split=split, heldout_loss=loss, heldout_chars=len(encoded) - split, heldout_method=method,
        epochs=record["epochs"], best_epoch=record["kept_epoch"], train_seconds=record["train_seconds"],
        config=record["config"], report=record["phases"], samples=samples, sample_seed=sample_seed,
        training_data=training_data)


def prepare(text: Text, s: Settings) -> tuple[int, list[str], dict[str, int], np.ndarray, int]:
    """Seeds everything; returns the window, the vocabulary (the text's sorted
    characters), its index, the encoded text and where its held-out last 10% starts."""
    seed_everything(s.seed)
    vocab = sorted(set(text.text))
    index = {ch: i for i, ch in enumerate(vocab)}
    encoded = encode(text.text, index)
    return s.window, vocab, index, encoded, heldout_split(len(encoded))


def train_char(text: Text, pretrain: Text | None, s: Settings, cache: Path | None = None) -> CharResult:
    """The tutorial's LSTM(128): pretrained on `pretrain` (mapped onto the play's
    vocabulary), fine-tuned on the play's training part, measured on its held-out part."""
    W, vocab, index, encoded, split = prepare(text, s)
    V = len(vocab)
    val_lo = heldout_split(split)  # the validation slice: the last 10% of the training part
    seq = sequence_model(V, (UNITS,), 0.0, "char_sequence")
    fine_epochs = s.n_epochs("char", 7)
    pre_epochs = 0 if pretrain is None else s.n_epochs("char_pretrain", 20)
    fine_step, pre_step, pre_batch, batch, lr = 5, W, 32, 64, 2e-3
    ptext = pretrain.text if pretrain is not None else ""
    if s.fast:
        ptext = ptext[:20000]
    p_enc, dropped = map_onto_vocab(ptext, index, PRETRAIN_MAP) if pretrain is not None else (np.zeros(0, np.int32), {})
    spec = {"model": "char", "text": text.sha256, "pretrain": pretrain.sha256 if pretrain else None, "seed": s.seed,
            "fast": s.fast, "W": W, "epochs": [pre_epochs, fine_epochs], "steps": [pre_step, fine_step], "lr": lr,
            "batch": [pre_batch, batch], "version": 2}
    val = lambda m: windowed_loss(m, encoded, val_lo, split, W, V)  # noqa: E731
    held = lambda m: windowed_loss(m, encoded, split, len(encoded), W, V)  # noqa: E731
    log(f"char: {len(encoded)} characters, V={V}; fine-tuning on [0, {val_lo}), choosing the epoch on "
        f"[{val_lo}, {split}), held out [{split}, {len(encoded)}) ({len(encoded) - split} characters)")
    record = load_cached(cache, "char", spec, seq)
    if record is None:
        phases = []
        if pre_epochs:
            log(f"char: pretraining on {pretrain.description}: {len(p_enc)} characters after mapping "
                f"{PRETRAIN_MAP} and dropping {dropped}")
            phases.append(Phase("char pretrain", p_enc, np.arange(0, len(p_enc) - W - 1, pre_step), pre_epochs, lr,
                                pre_batch, {"validation_loss": val, "heldout_loss": held}, choose_best=False,
                                random_offset=pre_step))
        fine_starts = np.arange(0, val_lo - W - 1, fine_step)
        if s.fast:
            fine_starts = fine_starts[:256]
        phases.append(Phase("char fine-tune", encoded, fine_starts, fine_epochs, lr, batch,
                            {"validation_loss": val, "heldout_loss": held}, choose_best=True))
        for k, ph in enumerate(phases):
            run_phase(seq, ph, W, V, s.seed + 1000 * k)
        config = {"architecture": f"one-hot -> LSTM({UNITS}) -> Dense({V}, softmax)",
                  "objective": "next character at every position of each window (return_sequences); "
                               "weights copied into the windowed model",
                  "optimizer": "Adam", "learning_rate": lr, "schedule": "cosine decay to 1% per phase", "clipnorm": 1.0,
                  "window": W, "seed": s.seed, "fast": s.fast,
                  "pretrain": None if pretrain is None else {
                      "data": pretrain.description, "data_sha256": pretrain.sha256, "chars": int(len(p_enc)),
                      "mapped": PRETRAIN_MAP, "dropped": dropped, "batch_size": pre_batch,
                      "window_step": f"{pre_step}, shifted by a random offset each epoch", "epochs": pre_epochs},
                  "fine_tune": {"batch_size": batch, "window_step": fine_step, "epochs": fine_epochs, "kept_epoch": phases[-1].best_epoch,
                                "chosen_on": f"validation slice [{val_lo}, {split}) of the training part"},
                  "train_seconds": round(sum(p.seconds for p in phases), 1)}
        record = {"epochs": sum(p.epochs for p in phases), "kept_epoch": phases[-1].best_epoch,
                  "train_seconds": config["train_seconds"], "config": config,
                  "phases": {p.name.split(" ", 1)[1]: phase_report(p) for p in phases}}
        store_cached(cache, "char", spec, seq, record)
    loss = held(seq)
    log(f"char: held-out loss {loss:.4f} nats/char ({len(encoded) - split} characters, each from the {W} before it)")
    desc = text.description + ("" if text.case_policy == "preserve" else ", lower-cased") + \
        f": first {split} characters trained on, last {len(encoded) - split} held out"
    if pretrain is not None:
        desc += f"; pretrained on {pretrain.description}"
    return finish("char", seq, (UNITS,), vocab, encoded, split, text.text, W, s, loss, "windowed", record, desc)


def train_char_large(text: Text, s: Settings, cache: Path | None = None) -> CharResult:
    """LSTM(512) -> LSTM(512) over `text`'s own vocabulary: first 90% trained on (its
    last 5% choosing the epoch), last 10% held out."""
    W, vocab, index, encoded, split = prepare(text, s)
    V = len(vocab)
    val_lo = int(split * 0.95)
    units = LARGE_UNITS
    dropout = 0.3
    epochs = s.n_epochs("char_large", 20)
    step, batch, lr = W, 64, 2e-3
    seq = sequence_model(V, units, dropout, "char_large_sequence")
    starts = np.arange(0, val_lo - W - 1, step)
    if s.fast:
        starts = starts[:128]
    val = lambda m: chunked_loss(m, encoded, val_lo, split, W, V)  # noqa: E731
    spec = {"model": "char_large", "text": text.sha256, "seed": s.seed, "fast": s.fast, "W": W, "epochs": epochs,
            "step": step, "lr": lr, "batch": batch, "units": units, "dropout": dropout, "version": 2}
    log(f"char_large: {len(encoded)} characters, V={V}; training on [0, {val_lo}), choosing the epoch on "
        f"[{val_lo}, {split}), held out [{split}, {len(encoded)}) ({len(encoded) - split} characters)")
    record = load_cached(cache, "char_large", spec, seq)
    if record is None:
        ph = Phase("char_large train", encoded, starts, epochs, lr, batch, {"validation_loss": val}, choose_best=True,
                   random_offset=step)
        run_phase(seq, ph, W, V, s.seed)
        config = {"architecture": f"one-hot -> LSTM({units[0]}) -> LSTM({units[1]}) -> Dense({V}, softmax)",
                  "objective": "next character at every position of each window (return_sequences)",
                  "dropout": f"{dropout} after each LSTM layer (training only)",
                  "optimizer": "Adam", "learning_rate": lr, "schedule": "cosine decay to 1%", "clipnorm": 1.0,
                  "batch_size": batch, "window": W, "window_step": f"{step}, shifted by a random offset each epoch",
                  "epochs": epochs, "kept_epoch": ph.best_epoch,
                  "chosen_on": f"validation slice [{val_lo}, {split}) of the training part",
                  "seed": s.seed, "fast": s.fast, "train_seconds": round(ph.seconds, 1)}
        record = {"epochs": epochs, "kept_epoch": ph.best_epoch, "train_seconds": round(ph.seconds, 1),
                  "config": config, "phases": {"train": phase_report(ph)}}
        store_cached(cache, "char_large", spec, seq, record)
    loss = chunked_loss(seq, encoded, split, len(encoded), W, V)
    log(f"char_large: held-out loss {loss:.4f} nats/char ({len(encoded) - split} characters, each from "
        f"{W} to {2 * W - 1} characters before it)")
    desc = text.description + f": first {split} characters trained on, last {len(encoded) - split} held out"
    return finish("char_large", seq, units, vocab, encoded, split, text.text, W, s, loss, "chunked", record, desc)
