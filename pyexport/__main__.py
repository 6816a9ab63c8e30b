"""Command line: python -m pyexport {export,check,plot} ...

Errors in the inputs or the environment are one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported anywhere

from .errors import ExportError  # noqa: E402
from .export import MODELS  # noqa: E402


def parse_only(s: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in s.split(",") if n.strip()))
    bad = [n for n in names if n not in MODELS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown model {','.join(bad) or repr(s)}; choose from {','.join(MODELS)}")
    return names


EPOCH_KEYS = (*MODELS, "char_pretrain")


def parse_epochs(s: str) -> dict[str, int]:
    """N (every model and phase) or model=N,model=N (char_pretrain: char's pretraining)."""
    try:
        if "=" not in s:
            n = int(s)
            out = {m: n for m in EPOCH_KEYS}
        else:
            out = {}
            for part in s.split(","):
                k, v = part.split("=", 1)
                if k.strip() not in EPOCH_KEYS:
                    raise ValueError
                out[k.strip()] = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad --epochs {s!r}: want N or model=N,...") from None
    if any(v < 1 for v in out.values()):
        raise argparse.ArgumentTypeError("--epochs must be at least 1")
    return out


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        print(f"pyexport: error: {message}", file=sys.stderr)
        sys.exit(2)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="python -m pyexport", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    e = sub.add_parser("export", help="train, export, verify and write the models")
    e.add_argument("--out", type=Path, default=Path("models/export"), help="output folder (default models/export)")
    e.add_argument("--only", type=parse_only, default=MODELS, help="comma-separated subset of char,char_large,mnist,mnist_tf")
    e.add_argument("--text", type=Path, help="training text (default ../shared/data/pg1514.txt beside the repo)")
    e.add_argument("--pretrain-text", type=Path,
                   help="char's pretraining text (default ../shared/data/tinyshakespeare.txt beside the repo)")
    e.add_argument("--no-pretrain", action="store_true", help="train char on --text alone")
    e.add_argument("--large-text", type=Path, help="char_large's text (default ../shared/data/tinyshakespeare.txt)")
    e.add_argument("--cache", type=Path, help="keep trained weights in this folder; an identical later run reuses them")
    e.add_argument("--mnist-dir", type=Path, help="folder with the four MNIST idx .gz files (default: scripts/mnist-dir.sh)")
    e.add_argument("--fast", action="store_true", help="tiny data and one epoch: for tests, not for shipping")
    e.add_argument("--epochs", type=parse_epochs, default={}, help="N, or model=N,... (overrides the defaults)")
    e.add_argument("--lower", action="store_true", help="lower-case the text (case_policy lower)")
    e.add_argument("--seed", type=int, default=1234)
    e.add_argument("--force", action="store_true", help="allow --fast to write into the repository's models/export")
    c = sub.add_parser("check", help="check exported files against the contract and their golden vectors")
    c.add_argument("--out", type=Path, default=Path("models/export"), help="folder to check (default models/export)")
    c.add_argument("--only", type=parse_only, default=MODELS)
    c.add_argument("--no-savedmodel", action="store_true", help="skip loading the SavedModels (faster)")
    g = sub.add_parser("plot", help="draw the character models' loss curves from an export report as SVG")
    g.add_argument("--report", type=Path, default=Path("models/export/export-report.json"))
    g.add_argument("--svg", type=Path, default=Path("docs/char-training.svg"))
    args = p.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the staging folder is removed on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.command == "export":
            from . import data, export

            if args.fast and not args.force and args.out.resolve() == (data.REPO_ROOT / "models" / "export").resolve():
                raise ExportError("refusing to write --fast models over the shipped ones in models/export (add --force)")
            req = export.Request(out=args.out, only=args.only, text=args.text, pretrain_text=args.pretrain_text,
                                 no_pretrain=args.no_pretrain, large_text=args.large_text, cache=args.cache,
                                 mnist_dir=args.mnist_dir, fast=args.fast,
                                 lower=args.lower, seed=args.seed, epochs=args.epochs)
            return export.run(req)
        if args.command == "plot":
            from . import plot

            plot.write_svg(args.report, args.svg)
            print(f"wrote {args.svg}")
            return 0
        from . import contract

        problems = contract.check_dir(args.out, only=args.only, savedmodel=not args.no_savedmodel, log=print)
        for prob in problems:
            print(f"pyexport: check: {prob}", file=sys.stderr)
        if problems:
            print(f"pyexport: error: {len(problems)} problem(s) in {args.out}", file=sys.stderr)
            return 1
        return 0
    except ExportError as err:
        print(f"pyexport: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pyexport: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
