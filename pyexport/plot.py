"""`python -m pyexport plot`: the character models' loss curves from export-report.json
as one SVG (written by hand: no plotting library needed).

One panel per model; x is the epoch (char's pretraining epochs, then its fine-tuning
epochs), y the loss in nats per character: training loss (the sequence objective, with
dropout where the model has it), the validation slice (which chose the epoch) and, for
char, the play's held-out part (measured only).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from .errors import ExportError

PANEL_W, PANEL_H, PAD_L, PAD_R, PAD_T, PAD_B = 440, 300, 52, 16, 40, 44
SERIES = {"train_loss": ("training", "#4c72b0"), "validation_loss": ("validation slice", "#dd8452"),
          "heldout_loss": ("held-out", "#55a868")}


def curves(model: dict) -> tuple[list[dict], list[int]]:
    """The points of every phase in order, and the epoch numbers where a new phase starts."""
    points, breaks = [], []
    for ph in model["training"].values():
        if points:
            breaks.append(len(points))
        points += ph["curve"]
    return points, breaks


def panel(title: str, model: dict, x0: int, target: float | None = None) -> list[str]:
    points, breaks = curves(model)
    keys = [k for k in SERIES if any(k in p for p in points)]
    vals = [p[k] for p in points for k in keys if k in p]
    lo, hi = min(vals + [model["heldout_loss_nats"]]), max(vals)
    lo, hi = 0.1 * int(lo * 10), 0.1 * (int(hi * 10) + 1)
    n = len(points)
    w, h = PANEL_W - PAD_L - PAD_R, PANEL_H - PAD_T - PAD_B
    X = lambda i: x0 + PAD_L + (w * i / max(n - 1, 1))  # noqa: E731
    Y = lambda v: PAD_T + h * (hi - v) / (hi - lo)  # noqa: E731
    out = [f'<text x="{x0 + PAD_L}" y="22" font-size="14" font-weight="bold">{escape(title)}</text>',
           f'<rect x="{x0 + PAD_L}" y="{PAD_T}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    steps = max(1, round((hi - lo) / 0.1 / 8))
    k = 0
    while lo + 0.1 * k <= hi + 1e-9:
        v = lo + 0.1 * k
        out.append(f'<line x1="{x0 + PAD_L}" x2="{x0 + PAD_L + w}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 + PAD_L - 6}" y="{Y(v) + 4:.1f}" font-size="11" text-anchor="end">{v:.1f}</text>')
        k += steps
    for i in range(n):
        out.append(f'<text x="{X(i):.1f}" y="{PAD_T + h + 16}" font-size="10" text-anchor="middle">{points[i]["epoch"]}</text>')
    for b in breaks:
        xb = (X(b - 1) + X(b)) / 2
        out.append(f'<line x1="{xb:.1f}" x2="{xb:.1f}" y1="{PAD_T}" y2="{PAD_T + h}" stroke="#888" stroke-dasharray="4 3"/>')
        right = xb + 140 < x0 + PAD_L + w
        out.append(f'<text x="{xb + (4 if right else -4):.1f}" y="{PAD_T + 0.4 * h:.1f}" font-size="11" fill="#555" '
                   f'text-anchor="{"start" if right else "end"}">fine-tuning on the play</text>')
    phases = " then ".join(f"{name} ({ph['epochs']} epochs)" for name, ph in model["training"].items())
    out.append(f'<text x="{x0 + PAD_L + w / 2}" y="{PANEL_H - 8}" font-size="11" text-anchor="middle">epoch: {escape(phases)}</text>')
    for j, key in enumerate(keys):
        label, color = SERIES[key]
        pts = " ".join(f"{X(i):.1f},{Y(p[key]):.1f}" for i, p in enumerate(points) if key in p)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        ly = PAD_T + 16 + 16 * j + (18 if breaks else 0)
        out.append(f'<line x1="{x0 + PAD_L + w - 150}" x2="{x0 + PAD_L + w - 130}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{x0 + PAD_L + w - 125}" y="{ly + 4}" font-size="11">{label}</text>')
    if target is not None and lo <= target <= hi:
        out.append(f'<line x1="{x0 + PAD_L}" x2="{x0 + PAD_L + w}" y1="{Y(target):.1f}" y2="{Y(target):.1f}" '
                   f'stroke="#c44e52" stroke-dasharray="2 3"/>')
        out.append(f'<text x="{x0 + PAD_L + w - 4}" y="{Y(target) - 4:.1f}" font-size="10" fill="#c44e52" '
                   f'text-anchor="end">target {target:.2f} (held-out)</text>')
    v = model["heldout_loss_nats"]
    out.append(f'<text x="{x0 + PAD_L + 6}" y="{PAD_T + h - 8}" font-size="11" fill="#333">shipped: held-out '
               f'{v:.4f} nats/char ({escape(model["heldout_method"])})</text>')
    return out


def write_svg(report: Path, out: Path) -> None:
    try:
        models = json.loads(Path(report).read_text(encoding="utf-8"))["models"]
    except (OSError, ValueError, KeyError) as e:
        raise ExportError(f"cannot read the export report {report}: {e}") from None
    titles = {"char": "char: LSTM(128), the play", "char_large": "char_large: 2 x LSTM(512), tinyshakespeare"}
    targets = {"char": 1.70, "char_large": 1.50}  # issue 16's held-out targets
    shown = [(titles[k], models[k], targets[k]) for k in titles if k in models and "training" in models[k]]
    if not shown:
        raise ExportError(f"{report}: no character model with loss curves")
    body = []
    for i, (title, m, target) in enumerate(shown):
        body += panel(title, m, i * PANEL_W, target)
    width = PANEL_W * len(shown)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{PANEL_H}" viewBox="0 0 {width} {PANEL_H}" '
           f'font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(svg, encoding="utf-8")
