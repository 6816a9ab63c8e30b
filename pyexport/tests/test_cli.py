"""Bad input: one clear line on stderr, non-zero exit, no traceback, nothing left behind."""

import numpy as np
import pytest

from pyexport import export
from pyexport.errors import ExportError

from .conftest import run_cli, write_idx_gz


def assert_one_line_error(r, match: str, status: int = 1):
    assert r.returncode == status, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("pyexport: error: ") and match in lines[0], lines[0]
    assert "Traceback" not in r.stderr + r.stdout


def assert_empty(folder):
    assert not folder.exists() or list(folder.iterdir()) == []


def test_missing_text(tmp_path):
    out = tmp_path / "out"
    r = run_cli("export", "--only", "char", "--text", str(tmp_path / "nope.txt"), "--out", str(out))
    assert_one_line_error(r, "text file not found")
    assert_empty(out)


def test_empty_text(tmp_path):
    (tmp_path / "e.txt").write_text("")
    out = tmp_path / "out"
    r = run_cli("export", "--only", "char", "--text", str(tmp_path / "e.txt"), "--out", str(out))
    assert_one_line_error(r, "text file is empty")
    assert_empty(out)


def test_text_shorter_than_window(tmp_path):
    (tmp_path / "s.txt").write_text("To be, or not to be.\n")
    out = tmp_path / "out"
    r = run_cli("export", "--only", "char", "--text", str(tmp_path / "s.txt"), "--out", str(out))
    assert_one_line_error(r, "text too short")
    assert_empty(out)


def test_missing_mnist(tmp_path):
    out = tmp_path / "out"
    r = run_cli("export", "--only", "mnist", "--mnist-dir", str(tmp_path / "none"), "--out", str(out))
    assert_one_line_error(r, "MNIST folder not found")
    assert_empty(out)


def test_missing_mnist_file(tmp_path, tiny_mnist):
    (tiny_mnist / "t10k-labels-idx1-ubyte.gz").unlink()
    r = run_cli("export", "--only", "mnist_tf", "--mnist-dir", str(tiny_mnist), "--out", str(tmp_path / "out"))
    assert_one_line_error(r, "MNIST file not found")


@pytest.mark.parametrize("corrupt, match", [
    ("garbage", "not a readable gzip file"),
    ("magic", "wrong idx magic number 2049, want 2051"),
    ("truncated", "truncated idx data"),
])
def test_corrupt_mnist(tmp_path, tiny_mnist, corrupt, match):
    f = tiny_mnist / "train-images-idx3-ubyte.gz"
    if corrupt == "garbage":
        f.write_bytes(b"\x1f\x8b garbage")
    elif corrupt == "magic":
        write_idx_gz(f, np.zeros(20), 2049)
    else:
        import gzip
        raw = gzip.decompress(f.read_bytes())
        f.write_bytes(gzip.compress(raw[:-100]))
    out = tmp_path / "out"
    r = run_cli("export", "--only", "mnist", "--mnist-dir", str(tiny_mnist), "--out", str(out))
    assert_one_line_error(r, match)
    assert_empty(out)


def test_output_is_a_file(tmp_path, text_path):
    out = tmp_path / "file"
    out.write_text("x")
    r = run_cli("export", "--only", "char", "--no-pretrain", "--text", str(text_path), "--out", str(out))
    assert_one_line_error(r, "output folder is not a folder")
    assert out.read_text() == "x"


def test_output_not_writable(text_path):
    r = run_cli("export", "--only", "char", "--no-pretrain", "--text", str(text_path), "--out", "/proc/rnnrun-no-such-dir")
    assert_one_line_error(r, "output folder is not writable")


def test_missing_pretrain_text(tmp_path, text_path):
    out = tmp_path / "out"
    r = run_cli("export", "--only", "char", "--text", str(text_path), "--pretrain-text", str(tmp_path / "none.txt"),
                "--out", str(out))
    assert_one_line_error(r, f"text file not found: {tmp_path / 'none.txt'}")
    assert not out.exists()
    r = run_cli("export", "--only", "char_large", "--large-text", str(tmp_path / "none.txt"), "--out", str(out))
    assert_one_line_error(r, f"text file not found: {tmp_path / 'none.txt'}")


def test_bad_flags():
    r = run_cli("export", "--only", "char,nope")
    assert_one_line_error(r, "unknown model nope", status=2)
    r = run_cli("export", "--epochs", "0")
    assert_one_line_error(r, "--epochs must be at least 1", status=2)
    r = run_cli("export", "--epochs", "char_pretrain=2,nope=1")
    assert_one_line_error(r, "bad --epochs", status=2)


def test_fast_refuses_shipped_folder():
    r = run_cli("export", "--fast", "--only", "char")
    assert_one_line_error(r, "refusing to write --fast models")


def test_stage_install_and_cleanup(tmp_path):
    out = tmp_path / "out"
    (out / "m_savedmodel").mkdir(parents=True)
    (out / "m_savedmodel" / "old").write_text("old")
    (out / "a.onnx").write_text("old")
    st = export.Stage(out)
    st.path("a.onnx").write_text("new")
    st.path("m_savedmodel/new").write_text("new")
    st.path("testdata/a.json").write_text("{}")
    st.path("never.onnx").write_text("half")
    st.install(["a.onnx", "m_savedmodel", "testdata/a.json"])
    st.cleanup()
    assert (out / "a.onnx").read_text() == "new"
    assert [p.name for p in (out / "m_savedmodel").iterdir()] == ["new"]
    assert sorted(p.name for p in out.iterdir()) == ["a.onnx", "m_savedmodel", "testdata"]


def test_parity_failure_is_an_export_error():
    p = export.Parity("m")
    p.check("ok", [1.0], [1.0 + 1e-6])
    p.check("cell state", [80.0], [80.0003])  # relative above 1: 3.75e-6
    p.check("bad", [0.5, 0.2], [0.5, 0.201])  # absolute within [-1, 1]
    assert p.diffs["cell state"] == pytest.approx(0.0003 / 80.0003, rel=1e-3)
    with pytest.raises(ExportError, match=r"m: verification failed: bad differs by 0.001 > 1e-05 \(1 check"):
        p.verify()
