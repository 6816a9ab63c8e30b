"""The hand-built ONNX graphs against Keras and plain TensorFlow, on random weights."""

import json

import numpy as np
import pytest

from pyexport import golden
from pyexport.onnx_export import DenseWeights, LSTMWeights, build_lstm_model, keras_to_onnx_gates, read_metadata


def test_gate_permutation():
    w = np.array([[0, 0, 1, 1, 2, 2, 3, 3]])  # Keras i, f, c, o with 2 units
    assert keras_to_onnx_gates(w, 2).tolist() == [[0, 0, 3, 3, 1, 1, 2, 2]]  # ONNX i, o, f, c


def test_float32_round_trip(tmp_path):
    rs = np.random.RandomState(0)
    a = np.concatenate([rs.randn(1000) * 10.0 ** rs.randint(-30, 30, 1000), [0, 1, -1, 1e-45, 3.4e38]]).astype(np.float32)
    p = tmp_path / "g.json"
    golden.write_json(p, {"t": golden.tensor(a.reshape(5, -1))})
    b = golden.from_tensor(golden.read_json(p)["t"])
    assert b.shape == (5, 201) and np.array_equal(b.view(np.uint32).ravel(), a.view(np.uint32))
    with pytest.raises(ValueError):
        golden.tensor(np.array([np.nan]))


@pytest.fixture(scope="module")
def keras_models():
    import keras

    keras.utils.set_random_seed(7)
    V, H = 9, 128
    x = keras.Input((None, V))
    h = keras.Input((H,))
    c = keras.Input((H,))
    lstm = keras.layers.LSTM(H, return_state=True, bias_initializer="random_normal")
    dense = keras.layers.Dense(V, activation="softmax")
    seq, ho, co = lstm(x, initial_state=[h, c])
    model = keras.Model([x, h, c], [dense(seq), ho, co])
    k, r, b = lstm.get_weights()
    dk, db = dense.get_weights()
    return model, LSTMWeights(k, r, b), DenseWeights(dk, db), V, H


def ort(model):
    import onnxruntime

    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_stateful_graph_matches_keras(keras_models):
    model, lw, dw, V, H = keras_models
    m = build_lstm_model(name="t", lstm=lw, dense=dw, time_dim="time", features=V, output="probs", stateful=True,
                         metadata={"a": "1", "vocab": json.dumps(["x"])})
    assert read_metadata(m) == {"a": "1", "vocab": '["x"]'}
    assert m.opset_import[0].version == 17 and m.ir_version == 8
    s = ort(m)
    rs = np.random.RandomState(1)
    for b, t in ((1, 1), (3, 7), (2, 30)):
        x = np.eye(V, dtype=np.float32)[rs.randint(0, V, (b, t))]
        h = rs.randn(b, H).astype(np.float32) * 0.5
        c = rs.randn(b, H).astype(np.float32)
        want = model.predict([x, h, c], verbose=0)
        got = s.run(["probs", "h_out", "c_out"], {"x": x, "h": h, "c": c})
        for g, w in zip(got, want):
            assert np.max(np.abs(g - w)) <= 1e-5


def test_window_graph_and_logits(keras_models):
    model, lw, dw, V, H = keras_models
    m = build_lstm_model(name="t", lstm=lw, dense=dw, time_dim=5, features=V, output="logits")
    assert [o.name for o in m.graph.output] == ["logits"]
    x = np.eye(V, dtype=np.float32)[np.random.RandomState(2).randint(0, V, (4, 5))]
    logits = ort(m).run(["logits"], {"x": x})[0]
    zeros = np.zeros((4, H), np.float32)
    probs = model.predict([x, zeros, zeros], verbose=0)[0]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert np.max(np.abs(e / e.sum(axis=1, keepdims=True) - probs)) <= 1e-5


def test_projection_graph_matches_tensorflow():
    from pyexport.train import MnistTF

    mod = MnistTF(seed=3)
    proj, lw, dw = mod.weights()
    m = build_lstm_model(name="t", lstm=lw, dense=dw, projection=proj, time_dim=28, features=28, output="logits")
    x = np.random.RandomState(4).rand(6, 28, 28).astype(np.float32)
    want = mod.serve(x)["logits"].numpy()
    assert np.max(np.abs(ort(m).run(["logits"], {"x": x})[0] - want)) <= 1e-5
