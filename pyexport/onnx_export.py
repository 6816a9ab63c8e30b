"""ONNX graphs built by hand with onnx.helper from trained LSTM weights.

Every graph is: [optional input projection] -> Transpose to time-major -> ONNX LSTM
-> Squeeze the final hidden state -> MatMul + Add -> [Softmax]. Weights come in
Keras layout (kernel [in, 4H], recurrent kernel [H, 4H], bias [4H], gates in the
order i, f, c, o) and are permuted here to ONNX's i, o, f, c.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # loadable by ONNX Runtime 1.30 (the Go side) and newer


@dataclass
class LSTMWeights:
    kernel: np.ndarray  # [in, 4H], Keras gate order i, f, c, o
    recurrent: np.ndarray  # [H, 4H]
    bias: np.ndarray  # [4H]

    @property
    def units(self) -> int:
        return self.recurrent.shape[0]


@dataclass
class DenseWeights:
    kernel: np.ndarray  # [in, out]
    bias: np.ndarray  # [out]


def keras_to_onnx_gates(w: np.ndarray, units: int) -> np.ndarray:
    """Reorders the last axis of a Keras LSTM weight from i, f, c, o to ONNX i, o, f, c."""
    i, f, c, o = (w[..., k * units : (k + 1) * units] for k in range(4))
    return np.concatenate([i, o, f, c], axis=-1)


def onnx_lstm_params(lw: LSTMWeights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """W [1, 4H, in], R [1, 4H, H], B [1, 8H] (Keras bias, then zeros for the recurrent bias)."""
    h = lw.units
    W = keras_to_onnx_gates(lw.kernel, h).T[None]
    R = keras_to_onnx_gates(lw.recurrent, h).T[None]
    B = np.concatenate([keras_to_onnx_gates(lw.bias, h), np.zeros(4 * h, np.float32)])[None]
    return (np.ascontiguousarray(a, dtype=np.float32) for a in (W, R, B))


def _init(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(arr), name)


def _vi(name: str, dims: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def build_lstm_model(
    *,
    name: str,
    lstm: LSTMWeights | list[LSTMWeights],
    dense: DenseWeights,
    time_dim,  # int (static) or str (dynamic dimension name)
    features: int,
    output: str,  # "probs" (softmax in the graph) or "logits"
    stateful: bool = False,
    state_names: tuple[list[str], list[str]] | None = None,  # (inputs, outputs): h, c of each layer in order
    projection: DenseWeights | None = None,
    metadata: dict[str, str] | None = None,
    doc: str = "",
    producer_version: str = "",
) -> onnx.ModelProto:
    """Builds x [batch, time, features] (+ the state [batch, H] of each layer when stateful)
    -> output [batch, classes] (+ the state after the last step). One layer's state is
    h, c -> h_out, c_out unless state_names says otherwise; stacked layers feed each
    layer's whole output sequence into the next."""
    layers = lstm if isinstance(lstm, list) else [lstm]
    n = len(layers)
    if state_names is None:
        state_names = (["h", "c"], ["h_out", "c_out"]) if n == 1 else (
            [f"{k}{i}" for i in range(n) for k in ("h", "c")], [f"{k}{i}_out" for i in range(n) for k in ("h", "c")])
    s_in, s_out = state_names
    classes = dense.kernel.shape[1]
    inits = [
        _init("dense_kernel", dense.kernel.astype(np.float32)),
        _init("dense_bias", dense.bias.astype(np.float32)),
        _init("axis0", np.array([0], np.int64)),
    ]
    if n > 1:
        inits.append(_init("axis1", np.array([1], np.int64)))
    nodes = []
    seq = "x"
    if projection is not None:
        inits += [_init("proj_kernel", projection.kernel.astype(np.float32)), _init("proj_bias", projection.bias.astype(np.float32))]
        nodes += [
            helper.make_node("MatMul", ["x", "proj_kernel"], ["proj_mm"], name="input_projection_matmul"),
            helper.make_node("Add", ["proj_mm", "proj_bias"], ["proj"], name="input_projection_bias"),
        ]
        seq = "proj"
    nodes.append(helper.make_node("Transpose", [seq], ["x_time_major"], perm=[1, 0, 2], name="to_time_major"))
    seq = "x_time_major"
    h_last = "h_last"
    for i, lw in enumerate(layers):
        p = "lstm" if n == 1 else f"lstm{i}"
        W, R, B = onnx_lstm_params(lw)
        inits += [_init(f"{p}_W", W), _init(f"{p}_R", R), _init(f"{p}_B", B)]
        lstm_inputs = [seq, f"{p}_W", f"{p}_R", f"{p}_B"]
        sfx = "" if n == 1 else str(i)
        if stateful:
            nodes += [
                helper.make_node("Unsqueeze", [s_in[2 * i], "axis0"], [f"initial_h{sfx}"], name=f"h{sfx}_to_3d"),
                helper.make_node("Unsqueeze", [s_in[2 * i + 1], "axis0"], [f"initial_c{sfx}"], name=f"c{sfx}_to_3d"),
            ]
            lstm_inputs += ["", f"initial_h{sfx}", f"initial_c{sfx}"]
        last = i == n - 1
        y = "" if last else f"Y{sfx}"
        nodes.append(helper.make_node("LSTM", lstm_inputs, [y, f"Y_h{sfx}", f"Y_c{sfx}"], hidden_size=lw.units, name=p))
        if not last:  # Y [time, 1, batch, H] -> [time, batch, H], the next layer's input
            seq = f"{p}_sequence"
            nodes.append(helper.make_node("Squeeze", [y, "axis1"], [seq], name=f"squeeze_{p}_sequence"))
        if stateful:
            nodes.append(helper.make_node("Squeeze", [f"Y_h{sfx}", "axis0"], [s_out[2 * i]], name=f"squeeze_h{sfx}"))
            nodes.append(helper.make_node("Squeeze", [f"Y_c{sfx}", "axis0"], [s_out[2 * i + 1]], name=f"squeeze_c{sfx}"))
            h_last = s_out[2 * i]
        elif last:
            nodes.append(helper.make_node("Squeeze", [f"Y_h{sfx}", "axis0"], [h_last], name="squeeze_h"))
    nodes += [
        helper.make_node("MatMul", [h_last, "dense_kernel"], ["dense_mm"], name="dense_matmul"),
        helper.make_node("Add", ["dense_mm", "dense_bias"], ["logits" if output == "logits" else "dense_out"], name="dense_bias_add"),
    ]
    if output == "probs":
        nodes.append(helper.make_node("Softmax", ["dense_out"], ["probs"], axis=-1, name="softmax"))
    elif output != "logits":
        raise ValueError(f"output must be probs or logits, not {output}")

    inputs = [_vi("x", ["batch", time_dim, features])]
    outputs = [_vi(output, ["batch", classes])]
    if stateful:
        for i, lw in enumerate(layers):
            inputs += [_vi(s_in[2 * i], ["batch", lw.units]), _vi(s_in[2 * i + 1], ["batch", lw.units])]
            outputs += [_vi(s_out[2 * i], ["batch", lw.units]), _vi(s_out[2 * i + 1], ["batch", lw.units])]
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits, doc_string=doc)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="rnnrun-pyexport",
        producer_version=producer_version,
        doc_string=doc,
    )
    model.ir_version = IR_VERSION
    model.model_version = 1
    if metadata:
        set_metadata(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    return model


def set_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> None:
    del model.metadata_props[:]
    for k in sorted(metadata):
        if not isinstance(metadata[k], str):
            raise TypeError(f"metadata {k} must be a string")
        model.metadata_props.add(key=k, value=metadata[k])


def read_metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}
