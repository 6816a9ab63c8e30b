"""`python -m pyexport export --fast` end to end into a temporary folder, then the contract
and the parity checks on what it wrote; and the same contract checks on the shipped files."""

import json

import numpy as np
import pytest

from pyexport import contract, data, golden
from pyexport.export import ort_run, ort_session

from .conftest import run_cli

SHIPPED = data.REPO_ROOT / "models" / "export"


@pytest.fixture(scope="module")
def fast_export(tmp_path_factory, text_path, corpus_args):
    out = tmp_path_factory.mktemp("export")
    r = run_cli("export", "--fast", "--out", str(out), "--text", str(text_path), *corpus_args)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    return out, r.stdout


def test_files_written(fast_export):
    out, _ = fast_export
    names = {p.name for p in out.iterdir()}
    assert names == {"char.onnx", "char_window.onnx", "char_large.onnx", "mnist.onnx", "mnist_tf.onnx", "char_savedmodel",
                     "char_large_savedmodel", "mnist_savedmodel", "mnist_tf_savedmodel", "testdata", "export-report.json"}
    assert {p.name for p in (out / "testdata").iterdir()} == {
        "char.json", "char_rollout.json", "char_window.json", "char_large.json", "char_large_rollout.json", "mnist.json",
        "mnist_tf.json"}
    for sm in ("char_savedmodel", "char_large_savedmodel", "mnist_savedmodel", "mnist_tf_savedmodel"):
        assert (out / sm / "saved_model.pb").is_file() and (out / sm / "assets" / "rnnrun.json").is_file()


def test_contract_and_golden_vectors(fast_export):
    out, _ = fast_export
    assert contract.check_dir(out, log=print) == []


def test_export_log(fast_export):
    _, log = fast_export
    for t in ("0.2", "0.6", "1.2"):
        assert log.count(f"----- temperature {t}\n") == 2  # char and char_large
    assert "char pretrain: epoch 1/1" in log and "char fine-tune: epoch 1/1" in log
    assert "export finished" in log


def test_report_curves_and_cost(fast_export):
    """The report records each training phase's loss curve and cost, and the samples."""
    out, _ = fast_export
    rep = json.loads((out / "export-report.json").read_text())["models"]
    for name, phases in (("char", {"pretrain", "fine-tune"}), ("char_large", {"train"})):
        r = rep[name]
        assert set(r["training"]) == phases
        for ph in r["training"].values():
            (point,) = ph["curve"]
            assert point["epoch"] == 1 and point["train_loss"] > 0 and point["validation_loss"] > 0
            assert ph["train_seconds"] > 0
        assert set(r["samples"]) == {"0.2", "0.6", "1.2"} and r["heldout_loss_nats"] > 0
        assert r["sample_seed"].endswith("\n\n") or len(r["sample_seed"]) == 100
    assert rep["char"]["heldout_method"] == "windowed" and rep["char_large"]["heldout_method"] == "chunked"


def test_golden_cases_and_fields(fast_export):
    out, _ = fast_export
    g = golden.read_json(out / "testdata" / "char.json")
    assert g["model"] == "char.onnx" and g["tolerance"] == 1e-5
    by_name = {c["name"]: c for c in g["cases"]}
    assert {"one_step", "window_zero_state", "window_nonzero_state", "batch3"} <= set(by_name)
    assert by_name["one_step"]["inputs"]["x"]["shape"][:2] == [1, 1]
    assert by_name["window_zero_state"]["inputs"]["x"]["shape"][:2] == [1, 100]
    assert set(by_name["window_zero_state"]["outputs"]) == {"probs", "h_out", "c_out"}
    assert any(v != 0 for v in by_name["window_nonzero_state"]["inputs"]["h"]["data"])
    assert by_name["batch3"]["inputs"]["x"]["shape"][0] == 3
    r = golden.read_json(out / "testdata" / "char_rollout.json")
    V = r["probs"]["shape"][1]
    assert len(r["indices"]) == 50 and r["probs"]["shape"] == [50, V] and r["h_out"]["shape"] == [1, 128]
    lg = golden.read_json(out / "testdata" / "char_large.json")
    assert lg["model"] == "char_large.onnx" and [c["name"] for c in lg["cases"]] == [c["name"] for c in g["cases"]]
    for c in lg["cases"]:
        assert set(c["inputs"]) == {"x", "h0", "c0", "h1", "c1"}
        assert set(c["outputs"]) == {"probs", "h0_out", "c0_out", "h1_out", "c1_out"}
        assert c["inputs"]["h1"]["shape"][1] == 512
    lr = golden.read_json(out / "testdata" / "char_large_rollout.json")
    assert len(lr["indices"]) == 50 and {k for k in lr if k.endswith("_out")} == {"h0_out", "c0_out", "h1_out", "c1_out"}
    assert lr["h1_out"]["shape"] == [1, 512]
    w = golden.read_json(out / "testdata" / "char_window.json")
    assert [c["inputs"]["x"]["shape"][:2] for c in w["cases"]] == [[1, 100], [2, 100]]
    for name, output in (("mnist", "probs"), ("mnist_tf", "logits")):
        m = golden.read_json(out / "testdata" / f"{name}.json")
        (case,) = m["cases"]
        assert case["inputs"]["x"]["shape"] == [32, 28, 28] and case["outputs"][output]["shape"] == [32, 10]
        assert len(m["labels"]) == 32
        mn = data.load_mnist(data.find_mnist_dir())
        assert m["labels"] == mn.y_test[:32].tolist()
        assert np.array_equal(golden.from_tensor(case["inputs"]["x"]), data.scale_pixels(mn.x_test[:32]))


def test_stateful_equals_window(fast_export):
    """char.onnx: one call over a window == the same characters one at a time == char_window.onnx."""
    out, _ = fast_export
    meta = json.loads((out / "char_savedmodel" / "assets" / "rnnrun.json").read_text())
    V = len(json.loads(meta["vocab"]))
    idx = np.random.RandomState(5).randint(0, V, 100)
    x = np.eye(V, dtype=np.float32)[idx][None]
    z = np.zeros((1, 128), np.float32)
    s, sw = ort_session(out / "char.onnx"), ort_session(out / "char_window.onnx")
    once = ort_run(s, {"x": x, "h": z, "c": z})
    h, c = z, z
    for t in range(100):
        o = ort_run(s, {"x": x[:, t : t + 1], "h": h, "c": c})
        h, c = o["h_out"], o["c_out"]
    assert np.max(np.abs(o["probs"] - once["probs"])) <= 1e-5
    assert np.max(np.abs(h - once["h_out"])) <= 1e-5
    assert np.max(np.abs(ort_run(sw, {"x": x})["probs"] - once["probs"])) <= 1e-5


def test_metadata_values(fast_export, text_path):
    out, _ = fast_export
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(out / "char.onnx")).metadata_props}
    text = data.truncate_text(data.load_text(text_path), 5000)
    assert json.loads(meta["vocab"]) == sorted(set(text.text))
    assert meta["training_data_sha256"] == text.sha256
    assert meta["case_policy"] == "preserve" and meta["window_length"] == "100"
    assert json.loads(meta["training"])["fast"] is True
    mm = {p.key: p.value for p in onnx.load(str(out / "mnist.onnx")).metadata_props}
    assert int(mm["eval_total"]) == 1000 and float(mm["eval_accuracy"]) == int(mm["eval_correct"]) / 1000
    assert not list(out.glob(".pyexport-*"))


def test_shipped_models():
    """The committed models follow the contract, match their golden vectors, and were fully trained."""
    assert contract.check_dir(SHIPPED, log=print) == []
    import onnx

    for name in ("char", "char_window", "char_large", "mnist", "mnist_tf"):
        meta = {p.key: p.value for p in onnx.load(str(SHIPPED / f"{name}.onnx")).metadata_props}
        assert json.loads(meta["training"])["fast"] is False
        if name.startswith("char"):  # the figure the report records
            rep = json.loads((SHIPPED / "export-report.json").read_text())["models"][name.removesuffix("_window")]
            assert float(meta["heldout_loss_nats"]) == rep["heldout_loss_nats"]
            assert meta["heldout_method"] == rep["heldout_method"]
        if name in ("char", "char_window"):  # issue 16's target (char_large's 1.50 is not met: README)
            assert float(meta["heldout_loss_nats"]) <= 1.70 and meta["heldout_chars"] == "9678"
        if name == "mnist":
            assert float(meta["eval_accuracy"]) >= 0.988 and meta["eval_total"] == "10000"
        if name == "mnist_tf":
            assert float(meta["eval_accuracy"]) >= 0.98


def test_cache_reuses_trained_weights(tmp_path, text_path, corpus_args):
    """A second export with the same settings and --cache loads the weights instead of
    training, logs the recorded curve, and writes the same golden vectors."""
    cache = tmp_path / "cache"
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        r = run_cli("export", "--fast", "--only", "char", "--out", str(out), "--text", str(text_path), *corpus_args,
                    "--cache", str(cache))
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        outs.append((out, r.stdout))
    assert "reusing the weights" not in outs[0][1] and "char fine-tune: epoch 1/1 train_loss" in outs[0][1]
    assert "char: reusing the weights trained earlier" in outs[1][1] and "char fine-tune: epoch 1/1 train_loss" in outs[1][1]
    assert len(list(cache.iterdir())) == 1
    for f in ("char.json", "char_window.json", "char_rollout.json"):
        assert (outs[0][0] / "testdata" / f).read_bytes() == (outs[1][0] / "testdata" / f).read_bytes()
