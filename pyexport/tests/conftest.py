import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pyexport import data

ROOT = data.REPO_ROOT

# A short play-like text for when ../shared/data is absent (never a download).
FALLBACK_TEXT = (
    "ACT I\n\nSCENE I. Athens. A room in the Palace of Theseus.\n\n"
    "THESEUS.\nNow, fair Hippolyta, our nuptial hour\nDraws on apace; four happy days bring in\n"
    "Another moon; but oh, methinks, how slow\nThis old moon wanes! She lingers my desires,\n"
    "Like to a step-dame or a dowager,\nLong withering out a young man's revenue.\n\n"
    "HIPPOLYTA.\nFour days will quickly steep themselves in night;\nFour nights will quickly dream away the time;\n"
) * 6


@pytest.fixture(scope="session")
def text_path(tmp_path_factory) -> Path:
    """The play when ../shared/data has it, else a short text written here."""
    if data.DEFAULT_TEXT.is_file():
        return data.DEFAULT_TEXT
    p = tmp_path_factory.mktemp("text") / "play.txt"
    p.write_text(FALLBACK_TEXT, encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def corpus_args(text_path) -> list[str]:
    """char's pretraining text and char_large's text: tinyshakespeare.txt when
    ../shared/data has it, else the play (or the fallback text) for both."""
    p = data.PRETRAIN_TEXT if data.PRETRAIN_TEXT.is_file() else text_path
    return ["--pretrain-text", str(p), "--large-text", str(p)]


def write_idx_gz(path: Path, arr: np.ndarray, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path) -> Path:
    """A folder of four valid, tiny idx .gz files."""
    d = tmp_path / "mnist"
    d.mkdir()
    rs = np.random.RandomState(0)
    for kind, n in (("train", 20), ("t10k", 10)):
        write_idx_gz(d / f"{kind}-images-idx3-ubyte.gz", rs.randint(0, 256, (n, 28, 28)), data.IDX_IMAGES_MAGIC)
        write_idx_gz(d / f"{kind}-labels-idx1-ubyte.gz", rs.randint(0, 10, (n,)), data.IDX_LABELS_MAGIC)
    return d


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "pyexport", *args], cwd=ROOT, capture_output=True, text=True, env=e)
