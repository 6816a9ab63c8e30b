import gzip
import struct

import numpy as np
import pytest

from pyexport import data
from pyexport.errors import ExportError

from .conftest import write_idx_gz


def idx_bytes(arr, magic):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.astype(np.uint8).tobytes()


def test_parse_idx_images_and_labels():
    imgs = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    got = data.parse_idx(idx_bytes(imgs, 2051), 2051)
    assert got.shape == (2, 3, 4) and np.array_equal(got, imgs)
    assert np.array_equal(data.parse_idx(idx_bytes(np.array([7, 1, 9]), 2049), 2049), [7, 1, 9])


@pytest.mark.parametrize(
    "raw, match",
    [
        (b"", "truncated idx file"),
        (idx_bytes(np.zeros(3), 2049), "wrong idx magic number 2049, want 2051"),
        (idx_bytes(np.zeros((2, 2, 2)), 2051)[:10], "truncated idx header"),
        (idx_bytes(np.zeros((2, 2, 2)), 2051)[:-1], "truncated idx data: 7 bytes"),
        (idx_bytes(np.zeros((2, 2, 2)), 2051) + b"x", "1 trailing bytes"),
    ],
)
def test_parse_idx_errors(raw, match):
    with pytest.raises(ExportError, match=match):
        data.parse_idx(raw, 2051)


def test_read_idx_gz_errors(tmp_path):
    with pytest.raises(ExportError, match="MNIST file not found"):
        data.read_idx_gz(tmp_path / "nope.gz", 2051)
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(ExportError, match="not a readable gzip file"):
        data.read_idx_gz(bad, 2051)
    cut = tmp_path / "cut.gz"
    write_idx_gz(cut, np.zeros((5, 28, 28)), 2051)
    cut.write_bytes(cut.read_bytes()[:-20])
    with pytest.raises(ExportError, match="not a readable gzip file"):
        data.read_idx_gz(cut, 2051)


def test_load_mnist(tiny_mnist):
    m = data.load_mnist(tiny_mnist)
    assert m.x_train.shape == (20, 28, 28) and m.y_test.shape == (10,)
    assert m.train_images_sha256 == data.sha256_file(tiny_mnist / "train-images-idx3-ubyte.gz")
    x = data.scale_pixels(np.array([[0, 1, 255]], np.uint8))
    assert x.dtype == np.float32 and x[0, 2] == 1.0 and x[0, 1] == np.float32(1) / np.float32(255)


def test_load_mnist_label_count_mismatch(tiny_mnist):
    write_idx_gz(tiny_mnist / "t10k-labels-idx1-ubyte.gz", np.zeros(9), 2049)
    with pytest.raises(ExportError, match="10 images but labels of shape"):
        data.load_mnist(tiny_mnist)


def test_strip_gutenberg_crlf_and_bom(tmp_path):
    raw = ("\ufeffheader\r\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\r\n"
           "Line one.\r\nLine two!\r\n    *** END OF THE PROJECT GUTENBERG EBOOK X ***\r\nfooter\r\n")
    p = tmp_path / "t.txt"
    p.write_bytes(raw.encode("utf-8"))
    t = data.load_text(p)
    assert t.text == "Line one.\nLine two!\n"
    assert t.case_policy == "preserve"
    assert t.sha256 == data.sha256_bytes(b"Line one.\nLine two!\n")
    assert data.load_text(p, lower=True).text == "line one.\nline two!\n"
    assert data.strip_gutenberg("no markers\n") == "no markers\n"


def test_text_errors(tmp_path):
    with pytest.raises(ExportError, match="text file not found"):
        data.load_text(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(ExportError, match="text file is empty"):
        data.load_text(empty)
    short = tmp_path / "short.txt"
    short.write_text("x" * 50)
    with pytest.raises(ExportError, match="text too short: .* has 50 characters, need at least 113"):
        data.load_text(short, min_chars=data.min_text_chars(100))


def test_min_text_chars():
    n = data.min_text_chars(100)
    assert data.heldout_split(n) >= 101 and n - data.heldout_split(n) >= 1
    assert data.heldout_split(n - 1) < 101


@pytest.mark.skipif(not data.DEFAULT_TEXT.is_file(), reason="../shared/data/pg1514.txt not present")
def test_the_play():
    t = data.load_text(data.DEFAULT_TEXT)
    assert 96000 < len(t.text) < 97500
    assert len(set(t.text)) == 70
    assert "\r" not in t.text and "GUTENBERG" not in t.text.upper()
