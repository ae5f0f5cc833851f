"""Tables of metric values: `esrgan eval`'s JSON/CSV/Markdown/terminal outputs, and aligned text tables.

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
from typing import Any

from esrgan.metrics.table import METRICS, format_value

MEAN_ROW = "mean"
PIRM_ROW = "pirm"


class EvalTables:
    """The output formats of `esrgan.evaluation.EvalResult`, mixed into it: they read its fields
    (models, metrics, images, values, scale, crop_border, y_channel, hr_dir, lr_dir, seconds,
    aggregation) and its set-level methods `mean`, `pirm` and `summary`."""

    def rows(self) -> list[dict[str, Any]]:
        """Flat rows `{"model", "image", metric: value}`: per image, one `image="mean"` row per model,
        and with PIRM aggregation one `image="pirm"` row per model."""
        rows = []
        for model in self.models:
            rows += [{"model": model, "image": image, **self.values[model][image]} for image in self.images]
        rows += [{"model": model, "image": MEAN_ROW, **self.mean(model)} for model in self.models]
        if self.aggregation == "pirm":
            rows += [{"model": model, "image": PIRM_ROW, **self.pirm(model)} for model in self.models]
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; values not computed and non-finite values (PSNR of identical images) are None."""
        return {
            "scale": self.scale,
            "crop_border": self.crop_border,
            "y_channel": self.y_channel,
            "hr_dir": self.hr_dir,
            "lr_dir": self.lr_dir,
            "models": self.models,
            "metrics": self.metrics,
            "images": self.images,
            "aggregation": self.aggregation,
            "mean": {m: finite_or_none(self.mean(m)) for m in self.models},
            "pirm": {m: finite_or_none(self.pirm(m)) for m in self.models},
            "per_image": {
                m: {i: finite_or_none(self.values[m][i]) for i in self.images} for m in self.models
            },
            "seconds": self.seconds,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def to_csv(self) -> str:
        """Full precision (repr); an empty cell for a value not computed."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["model", "image", *self.metrics])
        for row in self.rows():
            cells = ["" if row[m] is None else repr(float(row[m])) for m in self.metrics]
            writer.writerow([row["model"], row["image"], *cells])
        return buffer.getvalue()

    def to_markdown(self) -> str:
        lines = [self._caption(), "", *self._markdown_table(per_image=False)]
        if len(self.images) > 1:
            lines += ["", *self._markdown_table(per_image=True)]
        return "\n".join(lines) + "\n"

    def format_table(self, per_image: bool = False) -> str:
        """A plain-text table for the terminal: the set-level numbers, and every image with `per_image`."""
        labels = [METRICS[m].label for m in self.metrics]
        body = [
            [model, *(format_value(self.summary(model)[m], m) for m in self.metrics)] for model in self.models
        ]
        out = [self._caption(), "", *aligned([["model", *labels], *body])]
        if per_image:
            body = [
                [image, model, *(format_value(self.values[model][image][m], m) for m in self.metrics)]
                for image in self.images
                for model in self.models
            ]
            out += ["", *aligned([["image", "model", *labels], *body], text_columns=2)]
        return "\n".join(out)

    def write(self, prefix: str | Path) -> list[Path]:
        """Write `prefix.json`, `prefix.csv` and `prefix.md`; return their paths.

        Each file appears whole or not at all; a folder that does not exist yet appears only with all
        three in it.
        """
        from esrgan.atomic import atomic_directory, write_text_atomic

        base = Path(prefix)
        texts = {
            base.name + s: t
            for s, t in ((".json", self.to_json()), (".csv", self.to_csv()), (".md", self.to_markdown()))
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

    def _caption(self) -> str:
        better = ", ".join(f"{METRICS[m].label} {METRICS[m].better} is better" for m in self.metrics)
        channel = "Y channel" if self.y_channel else "RGB"
        sets = (
            "set RMSE/PSNR as PIRM 2018: sqrt of the mean MSE"
            if self.aggregation == "pirm"
            else "means over images"
        )
        return (
            f"x{self.scale}, {len(self.images)} image(s) from {self.hr_dir}, {channel}, "
            f"{self.crop_border} px border cropped, {sets} ({better})"
        )

    def _markdown_table(self, per_image: bool) -> list[str]:
        keys = ["image", "model"] if per_image else ["model"]
        header = keys + [f"{METRICS[m].label} {METRICS[m].arrow}" for m in self.metrics]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        best = {m: self._best_model(m) for m in self.metrics}
        for image in self.images if per_image else [None]:
            for model in self.models:
                values = self.values[model][image] if image is not None else self.summary(model)
                cells = [format_value(values[m], m) for m in self.metrics]
                if image is None:  # bold the best set-level value of each metric
                    cells = [
                        f"**{c}**" if best[m] == model else c
                        for c, m in zip(cells, self.metrics, strict=True)
                    ]
                lines.append("| " + " | ".join(([image] if per_image else []) + [model] + cells) + " |")
        return lines

    def _best_model(self, metric: str) -> str | None:
        scored = [(v, m) for m in self.models if (v := self.summary(m)[metric]) is not None]
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
    from esrgan.metrics.table import metric

    m = metric(key)
    label = f"{m.label}-Y" if key.endswith("_y") else m.label
    return f"{label} (PIRM)" if key.startswith("pirm_") else label


def finite_or_none(values: Mapping[str, float | None]) -> dict[str, float | None]:
    return {k: (float(v) if v is not None and math.isfinite(v) else None) for k, v in values.items()}
