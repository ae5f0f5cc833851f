"""Benchmark runner: PSNR/SSIM/RMSE/NIQE of models, and of bicubic, on a folder of HR images.

Done the way SR papers report numbers, so results compare with the published tables:

- the HR image is mod-cropped to the scale; the LR is read from `lr_dir` or made from the HR with
  MATLAB's bicubic in uint8 (as the benchmark LR files were made);
- each model's output is quantised to the image's integer type (uint8 for 8-bit files), as papers
  do by saving or `tensor2img`-ing it before measuring;
- metrics on MATLAB's Y channel after cropping `scale` pixels at each border (`crop_border`).

The bicubic baseline (MATLAB bicubic x scale of the LR) is always a row. NIQE needs at least two
96x96 blocks with texture; where an image is too small or an output too flat, that value is NaN
(with a warning) and left out of the model's mean.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from esrgan.errors import ESRGANError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["BICUBIC", "METRICS", "EvalResult", "evaluate"]

log = logging.getLogger(__name__)

BICUBIC = "bicubic"
# metric -> (higher is better, digits shown)
METRICS: dict[str, tuple[bool, int]] = {
    "psnr": (True, 3),
    "ssim": (True, 4),
    "rmse": (False, 3),
    "niqe": (False, 4),
}
MEAN_ROW = "mean"


@dataclass
class EvalResult:
    """Per-image values and means of each model (rows in `models` order, bicubic first)."""

    models: list[str]
    metrics: list[str]
    images: list[str]
    values: dict[str, dict[str, dict[str, float]]]  # model -> image -> metric -> value
    scale: int
    crop_border: int
    y_channel: bool
    hr_dir: str
    lr_dir: str | None
    seconds: dict[str, float] = field(default_factory=dict)  # model -> total upscaling time

    def value(self, model: str, image: str, metric: str) -> float:
        return self.values[model][image][metric]

    def mean(self, model: str) -> dict[str, float]:
        """Mean of each metric over the images (NaN values, e.g. NIQE of tiny images, left out)."""
        out = {}
        for metric in self.metrics:
            column = [self.values[model][image][metric] for image in self.images]
            finite = [v for v in column if not math.isnan(v)]
            out[metric] = float(np.mean(finite)) if finite else math.nan
        return out

    @property
    def means(self) -> dict[str, dict[str, float]]:
        return {model: self.mean(model) for model in self.models}

    def rows(self) -> list[dict[str, Any]]:
        """Flat rows: `{"model", "image", metric: value, ...}`, per image then one `image="mean"` row."""
        rows = []
        for model in self.models:
            rows += [{"model": model, "image": image, **self.values[model][image]} for image in self.images]
        rows += [{"model": model, "image": MEAN_ROW, **self.mean(model)} for model in self.models]
        return rows

    # --- output formats ---

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; non-finite values (PSNR of identical images, NIQE of tiny ones) become None."""
        return {
            "scale": self.scale,
            "crop_border": self.crop_border,
            "y_channel": self.y_channel,
            "hr_dir": self.hr_dir,
            "lr_dir": self.lr_dir,
            "models": self.models,
            "metrics": self.metrics,
            "images": self.images,
            "mean": {m: _finite_or_none(self.mean(m)) for m in self.models},
            "per_image": {
                m: {i: _finite_or_none(self.values[m][i]) for i in self.images} for m in self.models
            },
            "seconds": self.seconds,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["model", "image", *self.metrics])
        for row in self.rows():
            writer.writerow([row["model"], row["image"], *(repr(float(row[m])) for m in self.metrics)])
        return buffer.getvalue()

    def to_markdown(self) -> str:
        lines = [f"{self._caption()}", "", *self._markdown_table(per_image=False)]
        if len(self.images) > 1:
            lines += ["", *self._markdown_table(per_image=True)]
        return "\n".join(lines) + "\n"

    def format_table(self, per_image: bool = False) -> str:
        """A plain-text table for the terminal: the means, and every image with `per_image`."""
        header = ["model", *(m.upper() for m in self.metrics)]
        body = [[model, *(_fmt(self.mean(model)[m], m) for m in self.metrics)] for model in self.models]
        out = [self._caption(), "", *_aligned([header, *body])]
        if per_image:
            header = ["image", "model", *(m.upper() for m in self.metrics)]
            body = [
                [image, model, *(_fmt(self.values[model][image][m], m) for m in self.metrics)]
                for image in self.images
                for model in self.models
            ]
            out += ["", *_aligned([header, *body], text_columns=2)]
        return "\n".join(out)

    def write(self, prefix: str | Path) -> list[Path]:
        """Write `prefix.json`, `prefix.csv` and `prefix.md` (atomically); return their paths."""
        base = Path(prefix)
        base.parent.mkdir(parents=True, exist_ok=True)
        paths = []
        for suffix, text in ((".json", self.to_json()), (".csv", self.to_csv()), (".md", self.to_markdown())):
            path = base.with_name(base.name + suffix)
            _write_text_atomic(path, text)
            paths.append(path)
        return paths

    def _caption(self) -> str:
        better = ", ".join(
            f"{m.upper()} {'higher' if METRICS[m][0] else 'lower'} is better" for m in self.metrics
        )
        channel = "Y channel" if self.y_channel else "RGB"
        return (
            f"x{self.scale}, {len(self.images)} image(s) from {self.hr_dir}, {channel}, "
            f"{self.crop_border} px border cropped ({better})"
        )

    def _markdown_table(self, per_image: bool) -> list[str]:
        keys = ["image", "model"] if per_image else ["model"]
        header = keys + [f"{m.upper()} {'↑' if METRICS[m][0] else '↓'}" for m in self.metrics]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        best = {m: self._best_model(m) for m in self.metrics}
        for image in self.images if per_image else [None]:
            for model in self.models:
                values = self.values[model][image] if image is not None else self.mean(model)
                cells = [_fmt(values[m], m) for m in self.metrics]
                if image is None:  # bold the best mean of each metric
                    cells = [
                        f"**{c}**" if best[m] == model else c
                        for c, m in zip(cells, self.metrics, strict=True)
                    ]
                lines.append("| " + " | ".join(([image] if per_image else []) + [model] + cells) + " |")
        return lines

    def _best_model(self, metric: str) -> str | None:
        scored = [(v, m) for m in self.models if not math.isnan(v := self.mean(m)[metric])]
        if not scored:
            return None
        higher = METRICS[metric][0]
        return (max if higher else min)(scored)[1]


def evaluate(
    models: Mapping[str, nn.Module | str],
    hr_dir: str | Path,
    lr_dir: str | Path | None = None,
    scale: int = 4,
    metrics: Sequence[str] = ("psnr", "ssim"),
    crop_border: int | None = None,
    *,
    y_channel: bool = True,
    tile: int | str | None = "auto",
    device: str | None = None,
    progress: bool = False,
    max_images: int | None = None,
) -> EvalResult:
    """Measure each model (or `"bicubic"`) on the images of `hr_dir`; see the module docstring.

    `models` maps a row name to a generator (with `.scale`) or the string "bicubic"; a bicubic row
    is added first when none is given. `crop_border` defaults to `scale`. `tile` and `device` go to
    `esrgan.inference.upscale.upscale`.
    """
    from esrgan.data.datasets import ValidationDataset

    metrics = _check_metrics(metrics)
    runners = _runners(models, scale, tile, device)
    crop = scale if crop_border is None else int(crop_border)
    if crop < 0:
        raise ESRGANError(f"crop border must be >= 0, got {crop}")
    dataset = ValidationDataset(hr_dir, lr_dir, scale, max_images=max_images, cache=False)
    names = dataset.names
    values: dict[str, dict[str, dict[str, float]]] = {name: {} for name in runners}
    seconds = dict.fromkeys(runners, 0.0)
    bar = _progress_bar(len(names) * len(runners), progress)
    niqe_skipped: list[str] = []
    try:
        for index, image_name in enumerate(names):
            lr, hr = dataset.pair(index)
            for name, run in runners.items():
                if bar is not None:
                    bar.set_postfix_str(f"{image_name} / {name}", refresh=False)
                start = time.perf_counter()
                sr = run(lr)
                seconds[name] += time.perf_counter() - start
                if sr.shape != hr.shape:
                    raise ESRGANError(
                        f"'{name}' gave {sr.shape[1]}x{sr.shape[0]} for {image_name}, expected "
                        f"{hr.shape[1]}x{hr.shape[0]}"
                    )
                values[name][image_name] = _measure(
                    sr, hr, metrics, crop, y_channel, niqe_skipped, image_name
                )
                if bar is not None:
                    bar.update()
    finally:
        if bar is not None:
            bar.close()
    if niqe_skipped:
        log.warning(
            "NIQE left out for %d result(s) and their means, e.g. %s", len(niqe_skipped), niqe_skipped[0]
        )
    return EvalResult(
        models=list(runners),
        metrics=list(metrics),
        images=names,
        values=values,
        scale=scale,
        crop_border=crop,
        y_channel=y_channel,
        hr_dir=str(hr_dir),
        lr_dir=None if lr_dir is None else str(lr_dir),
        seconds=seconds,
    )


def _check_metrics(metrics: Sequence[str] | str) -> list[str]:
    if isinstance(metrics, str):
        metrics = metrics.split(",")
    names = [m.strip().lower() for m in metrics if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ESRGANError(
            f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(METRICS)}"
        )
    return list(dict.fromkeys(names))


def _runners(
    models: Mapping[str, nn.Module | str], scale: int, tile: int | str | None, device: str | None
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Row name -> function LR uint array -> SR uint array, bicubic first."""
    from esrgan.data.pixels import bicubic_upscale

    runners: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    if not any(isinstance(m, str) and m.lower() == BICUBIC for m in models.values()):
        if BICUBIC in models:
            raise ESRGANError(f"the row name '{BICUBIC}' is kept for the bicubic baseline; rename that model")
        runners[BICUBIC] = lambda lr: bicubic_upscale(lr, scale)
    for name, model in models.items():
        if isinstance(model, str):
            if model.lower() != BICUBIC:
                raise ESRGANError(
                    f"model '{name}': the only model given by name is '{BICUBIC}', not {model!r}"
                )
            runners[name] = lambda lr: bicubic_upscale(lr, scale)
            continue
        model_scale = getattr(model, "scale", None)
        if model_scale != scale:
            raise ESRGANError(
                f"model '{name}' upscales x{model_scale} but the evaluation scale is x{scale}; "
                f"use --scale {model_scale} (and LR images made for it)"
            )
        runners[name] = _model_runner(model, tile, device)
    return runners


def _model_runner(
    model: nn.Module, tile: int | str | None, device: str | None
) -> Callable[[np.ndarray], np.ndarray]:
    from esrgan.inference.upscale import upscale

    def run(lr: np.ndarray) -> np.ndarray:
        return upscale(model, lr, tile=tile, device=device)

    return run


def _measure(
    sr: np.ndarray,
    hr: np.ndarray,
    metrics: list[str],
    crop: int,
    y_channel: bool,
    niqe_skipped: list[str],
    image_name: str,
) -> dict[str, float]:
    from esrgan.metrics import niqe, psnr, rmse, ssim

    full_reference = {"psnr": psnr, "ssim": ssim, "rmse": rmse}
    out = {}
    for metric in metrics:
        if metric in full_reference:
            out[metric] = full_reference[metric](sr, hr, crop_border=crop, y_channel=y_channel)
            continue
        try:
            out[metric] = niqe(sr, crop_border=crop, y_channel=True)
        except ESRGANError as exc:  # too small, or flat: a value for this image only is missing
            niqe_skipped.append(f"{image_name}: {exc}")
            out[metric] = math.nan
    return out


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="eval", unit="img", dynamic_ncols=True)


def _fmt(value: float, metric: str) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.{METRICS[metric][1]}f}"


def _aligned(rows: list[list[str]], text_columns: int = 1) -> list[str]:
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


def _finite_or_none(values: Mapping[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ESRGANError(f"{path}: cannot write ({exc.strerror or exc})") from None
