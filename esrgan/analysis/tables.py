"""Tables of metric values: `esrgan eval`'s JSON/CSV/Markdown/terminal outputs of an `EvalResult`,
and aligned text tables.

Values come from `esrgan.evaluation` (None where a metric could not be computed) and are shown with
the digits of `esrgan.metrics.table.METRICS`: "n/a" for None, "inf" for PSNR of identical images.
JSON has neither NaN nor inf, so both are `null` there.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esrgan.atomic import atomic_directory, write_text_atomic
from esrgan.metrics.table import METRICS, format_value, metric

if TYPE_CHECKING:
    from esrgan.evaluation import EvalResult


def eval_rows(result: EvalResult) -> list[dict[str, Any]]:
    """Flat rows `{"model", "image", metric: value}`: per image, one `image="mean"` row per model,
    and with PIRM aggregation one `image="pirm"` row per model."""
    r = result
    rows = [{"model": m, "image": i, **r.values[m][i]} for m in r.models for i in r.images]
    rows += [{"model": m, "image": "mean", **r.mean(m)} for m in r.models]
    if r.aggregation == "pirm":
        rows += [{"model": m, "image": "pirm", **r.pirm(m)} for m in r.models]
    return rows


def eval_dict(result: EvalResult) -> dict[str, Any]:
    """JSON-ready; values not computed and non-finite values (PSNR of identical images) are None."""
    r = result
    return {
        "scale": r.scale,
        "crop_border": r.crop_border,
        "y_channel": r.y_channel,
        "hr_dir": r.hr_dir,
        "lr_dir": r.lr_dir,
        "models": r.models,
        "metrics": r.metrics,
        "images": r.images,
        "aggregation": r.aggregation,
        "mean": {m: finite_or_none(r.mean(m)) for m in r.models},
        "pirm": {m: finite_or_none(r.pirm(m)) for m in r.models},
        "per_image": {m: {i: finite_or_none(r.values[m][i]) for i in r.images} for m in r.models},
        "seconds": r.seconds,
    }


def eval_csv(result: EvalResult) -> str:
    """Full precision (repr); an empty cell for a value not computed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "image", *result.metrics])
    for row in eval_rows(result):
        cells = ["" if row[m] is None else repr(float(row[m])) for m in result.metrics]
        writer.writerow([row["model"], row["image"], *cells])
    return buffer.getvalue()


def eval_markdown(result: EvalResult) -> str:
    lines = [_caption(result), "", *_markdown_table(result, per_image=False)]
    if len(result.images) > 1:
        lines += ["", *_markdown_table(result, per_image=True)]
    return "\n".join(lines) + "\n"


def eval_text(result: EvalResult, per_image: bool = False) -> str:
    """A plain-text table for the terminal: the set-level numbers, and every image with `per_image`."""
    r = result
    labels = [METRICS[m].label for m in r.metrics]
    body = [[model, *(format_value(r.summary(model)[m], m) for m in r.metrics)] for model in r.models]
    out = [_caption(r), "", *aligned([["model", *labels], *body])]
    if per_image:
        body = [
            [image, model, *(format_value(r.values[model][image][m], m) for m in r.metrics)]
            for image in r.images
            for model in r.models
        ]
        out += ["", *aligned([["image", "model", *labels], *body], text_columns=2)]
    return "\n".join(out)


def write_eval_tables(result: EvalResult, prefix: str | Path) -> list[Path]:
    """Write `prefix.json`, `.csv` and `.md` (each whole or not at all; a new folder appears only with
    all three in it); return their paths."""
    base = Path(prefix)
    texts = {
        base.name + ".json": json.dumps(eval_dict(result), indent=2, allow_nan=False) + "\n",
        base.name + ".csv": eval_csv(result),
        base.name + ".md": eval_markdown(result),
    }
    folder = base.parent
    if folder.is_dir():
        for name, text in texts.items():
            write_text_atomic(folder / name, text)
    else:
        with atomic_directory(folder) as tmp:
            for name, text in texts.items():
                (tmp / name).write_text(text, encoding="utf-8")
    return [folder / name for name in texts]


def _caption(r: EvalResult) -> str:
    better = ", ".join(f"{METRICS[m].label} {METRICS[m].better} is better" for m in r.metrics)
    channel = "Y channel" if r.y_channel else "RGB"
    sets = (
        "set RMSE/PSNR as PIRM 2018: sqrt of the mean MSE" if r.aggregation == "pirm" else "means over images"
    )
    return (
        f"x{r.scale}, {len(r.images)} image(s) from {r.hr_dir}, {channel}, "
        f"{r.crop_border} px border cropped, {sets} ({better})"
    )


def _markdown_table(r: EvalResult, per_image: bool) -> list[str]:
    keys = ["image", "model"] if per_image else ["model"]
    header = keys + [f"{METRICS[m].label} {METRICS[m].arrow}" for m in r.metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    best = {m: _best_model(r, m) for m in r.metrics}
    for image in r.images if per_image else [None]:
        for model in r.models:
            values = r.values[model][image] if image is not None else r.summary(model)
            cells = [format_value(values[m], m) for m in r.metrics]
            if image is None:  # bold the best set-level value of each metric
                cells = [f"**{c}**" if best[m] == model else c for c, m in zip(cells, r.metrics, strict=True)]
            lines.append("| " + " | ".join(([image] if per_image else []) + [model] + cells) + " |")
    return lines


def _best_model(r: EvalResult, metric: str) -> str | None:
    scored = [(v, m) for m in r.models if (v := r.summary(m)[metric]) is not None]
    if not scored:
        return None
    return (max if METRICS[metric].higher_is_better else min)(scored)[1]


def aligned(rows: Sequence[Sequence[str]], text_columns: int = 1) -> list[str]:
    """Columns padded to a common width: the first `text_columns` left-aligned, numbers right-aligned."""
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if c < text_columns else cell.rjust(width)
            for c, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def metric_rows_text(rows: Sequence[Mapping[str, Any]], text: Sequence[str], metrics: Sequence[str]) -> str:
    """An aligned terminal table of dict rows: `text` columns as they are, then metric columns."""
    header = [*text, *(_header(k) for k in metrics)]
    body = [
        [
            ("" if r.get(c) is None else f"{r[c]:g}" if isinstance(r.get(c), float) else str(r[c]))
            for c in text
        ]
        + [format_value(r.get(k), k) for k in metrics]
        for r in rows
    ]
    return "\n".join(aligned([header, *body], text_columns=len(text)))


def _header(key: str) -> str:
    m = metric(key)
    label = f"{m.label}-Y" if key.endswith("_y") else m.label
    return f"{label} (PIRM)" if key.startswith("pirm_") else label


def finite_or_none(values: Mapping[str, float | None]) -> dict[str, float | None]:
    return {k: (float(v) if v is not None and math.isfinite(v) else None) for k, v in values.items()}
