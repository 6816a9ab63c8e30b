"""The character models' building blocks: vocabulary mapping, speech seeds, and the two
held-out loss definitions checked against a direct computation."""

import numpy as np
import pytest

from pyexport import chartrain


def test_map_onto_vocab_maps_then_drops():
    index = {ch: i for i, ch in enumerate(sorted(set("ab’x\n")))}
    enc, dropped = chartrain.map_onto_vocab("a'b$X3\n", index, {"'": "’", "X": "x"})
    assert "".join(sorted(index)[i] for i in enc) == "a’bx\n"
    assert dropped == {"$": 1, "3": 1}


def test_speech_starts():
    text = "x" * 120 + "\n\nTHESEUS.\nNow, fair.\n\n   verse\n\n [_Exit._]\n\nHERMIA.\nO me!\n"
    starts = chartrain.speech_starts(text, 0, len(text), 100)
    assert [text[p : p + 7] for p in starts] == ["THESEUS", "HERMIA."]
    assert chartrain.speech_starts(text, starts[0] + 1, len(text), 100) == starts[1:]


@pytest.fixture(scope="module")
def tiny():
    import keras

    keras.utils.set_random_seed(3)
    V, W = 7, 5
    seq = chartrain.sequence_model(V, (6, 4), 0.0, "tiny")
    enc = np.random.RandomState(1).randint(0, V, 60).astype(np.int32)
    return seq, enc, V, W


def direct_loss(seq, enc, V, contexts):
    """Sum over targets t of -log p(enc[t] | enc[t - k : t]) from the zero state, k = contexts[t]."""
    total = 0.0
    for t, k in contexts.items():
        p = np.asarray(seq(chartrain.one_hot(enc[None, t - k : t], V)))[0, -1]
        total -= np.log(p[enc[t]])
    return total


def test_windowed_loss_is_the_windowed_definition(tiny):
    seq, enc, V, W = tiny
    lo, hi = 40, 60
    want = direct_loss(seq, enc, V, {t: W for t in range(lo, hi)}) / (hi - lo)
    assert chartrain.windowed_loss(seq, enc, lo, hi, W, V, batch=7) == pytest.approx(want, rel=1e-5)
    wm = chartrain.windowed_model(seq, (6, 4), V, W, "w")
    x = chartrain.one_hot(chartrain.windows(enc, np.arange(lo, hi) - W, W), V)
    assert np.max(np.abs(np.asarray(wm(x)) - np.asarray(seq(x))[:, -1])) < 1e-6


def test_chunked_loss_contexts(tiny):
    """Chunk k starts at lo + k*W; a target at offset j in its chunk sees W + j characters."""
    seq, enc, V, W = tiny
    lo, hi = 37, 60  # 23 targets: chunks of 5, 5, 5, 5, 3
    want = direct_loss(seq, enc, V, {t: W + (t - lo) % W for t in range(lo, hi)}) / (hi - lo)
    assert chartrain.chunked_loss(seq, enc, lo, hi, W, V, batch=2) == pytest.approx(want, rel=1e-5)


def test_stateful_model_carries_state(tiny):
    seq, enc, V, W = tiny
    st = chartrain.stateful_model(seq, (6, 4), V, "s")
    zeros = [np.zeros((1, u), np.float32) for u in (6, 6, 4, 4)]
    x = chartrain.one_hot(enc[None, :12], V)
    whole = st([x, *zeros])
    first = st([x[:, :7], *zeros])
    rest = st([x[:, 7:], *(np.asarray(t) for t in first[1:])])
    assert np.max(np.abs(np.asarray(rest[0]) - np.asarray(whole[0]))) < 1e-5
    assert np.max(np.abs(np.asarray(whole[0]) - np.asarray(seq(x))[:, -1])) < 1e-5
    assert chartrain.state_names(2) == (["h0", "c0", "h1", "c1"], ["h0_out", "c0_out", "h1_out", "c1_out"])
