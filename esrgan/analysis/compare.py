"""Side-by-side comparison of several models (ESRGAN paper, Fig. 7 and 8).

Every model (and bicubic) super-resolves the benchmark images; each image gets the same crop from
every result, with the whole image's PSNR-Y and NIQE (or PI) under it. Metrics cover every image of
the folder; the crops are kept only for the first `grid_images` images.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from esrgan.analysis.report import CropBox, cut, draw_box, most_detailed_crop, new_figure, save_figure
from esrgan.errors import ESRGANError
from esrgan.evaluation import (
    BICUBIC,
    REPORT_KEYS,
    aggregate,
    dataset_pairs,
    hr_sizes,
    model_runner,
    open_benchmark,
    report_metrics,
    report_row,
    run_pairs,
)
from esrgan.inference.interpolation import ModelOrPath, resolve_model
from esrgan.inference.wrapped import with_test_time_options
from esrgan.metrics.perceptual_index import resolve_ma_model
from esrgan.metrics.table import NOT_AVAILABLE
from esrgan.models.descriptor import describe

GROUND_TRUTH = "ground truth"


@dataclass
class ImageComparison:
    name: str
    box: CropBox
    context: np.ndarray  # uint8 HR image (whole), for the crop-location thumbnail
    crops: dict[str, np.ndarray]  # label -> uint8 crop; GROUND_TRUTH, BICUBIC, then the models
    metrics: dict[str, dict[str, Any]]  # label -> score() of the whole image (PSNR inf for the truth)


@dataclass
class ComparisonResult:
    labels: list[str]  # ground truth, bicubic, then the models in the order given
    scale: int
    images: list[ImageComparison] = field(default_factory=list)  # the first grid_images images
    per_image: list[dict[str, Any]] = field(default_factory=list)  # every image x label
    hr_dir: str = ""

    def averages(self) -> list[dict[str, Any]]:
        by_label = {label: [r for r in self.per_image if r["model"] == label] for label in self.labels}
        return [
            {"model": label, "images": len(mine), **{key: aggregate(mine, key) for key in REPORT_KEYS}}
            for label, mine in by_label.items()
        ]


def compare_models(
    models: Mapping[str, ModelOrPath],
    hr_dir: str | os.PathLike,
    *,
    lr_dir: str | os.PathLike | None = None,
    crop: CropBox | None = None,
    crop_size: int = 128,
    grid_images: int = 4,
    use_niqe: bool = True,
    ma_model: Any = None,
    ensemble: bool = False,
    back_projection: int = 0,
    tile: int | str | None = "auto",
    tile_overlap: int | None = None,
    device: str | torch.device | None = None,
    progress: Callable[[str], None] | None = None,
) -> ComparisonResult:
    """Run each model (label -> module or checkpoint path) on the folder and collect crops and scores.

    All models must have the same scale. `crop` is in HR pixels and must lie inside every image
    (checked before any work); without it the most detailed `crop_size` square of each ground-truth
    image is used. Models run through the tiled `esrgan.upscale` (`tile`, default "auto").
    """
    if not models:
        raise ESRGANError("no models to compare")
    if BICUBIC in models or GROUND_TRUTH in models:
        raise ESRGANError(f"model labels {BICUBIC!r} and {GROUND_TRUTH!r} are reserved")
    if ma_model is not None:
        ma_model = resolve_ma_model(ma_model)
    nets = {}
    for label, model in models.items():
        net, _ = resolve_model(model)
        if device is not None:
            net = net.to(device)
        nets[label] = with_test_time_options(net.eval(), ensemble=ensemble, back_projection=back_projection)
    scales = {label: describe(net).scale for label, net in nets.items()}
    if len(set(scales.values())) != 1:
        raise ESRGANError(f"models to compare must share one scale, got {scales}")
    scale = next(iter(scales.values()))
    dataset = open_benchmark(hr_dir, lr_dir, scale)
    sizes = hr_sizes(dataset) if crop is not None else {}  # a given crop is checked before any work
    for name, (h, w) in sizes.items():
        if crop.left + crop.width > w or crop.top + crop.height > h:
            raise ESRGANError(
                f"--crop {crop.left},{crop.top},{crop.width},{crop.height} (LEFT,TOP,WIDTH,HEIGHT) is "
                f"outside {name} ({w}x{h} after cropping to the scale)"
            )

    runners = {GROUND_TRUTH: lambda pair: pair.hr, BICUBIC: lambda pair: pair.bicubic(scale)}
    runners |= {label: model_runner(n, tile=tile, tile_overlap=tile_overlap) for label, n in nets.items()}
    metrics = report_metrics(use_niqe, ma_model)
    result = ComparisonResult(labels=list(runners), scale=scale, hr_dir=str(hr_dir))

    def collect(pair, outputs, scores) -> None:
        rows = {label: report_row(scores[label]) for label in outputs}
        result.per_image.extend({"image": pair.name, "model": label, **row} for label, row in rows.items())
        if len(result.images) < grid_images:
            box = crop if crop is not None else most_detailed_crop(pair.hr, crop_size)
            crops = {label: cut(image, box) for label, image in outputs.items()}
            result.images.append(ImageComparison(pair.name, box, pair.hr, crops, rows))

    def step(name: str, label: Any) -> None:
        if progress is not None and label == GROUND_TRUTH:
            progress(name)

    pairs = dataset_pairs(dataset)
    run_pairs(runners, pairs, metrics, crop_border=scale, ma_model=ma_model, on_image=collect, progress=step)
    return result


def caption(metrics: Mapping[str, Any], perception: str) -> str:
    """'PSNR dB / NIQE' under a crop, as in the paper's figures ('inf dB' for the ground truth)."""
    value, psnr = metrics.get(perception), metrics["psnr_y"]
    tail = NOT_AVAILABLE if value is None else f"{value:.2f}"
    return f"{'inf' if not np.isfinite(psnr) else f'{psnr:.2f}'} dB / {perception.upper()} {tail}"


def plot_grid(result: ComparisonResult, path: str | os.PathLike, *, perception: str = "niqe") -> None:
    """The crop grid as one PNG: a row per image (location thumbnail, ground truth, bicubic, models)."""
    if not result.images:
        raise ESRGANError("no images to show")
    columns, rows = result.labels, len(result.images)
    fig = new_figure(1.9 * (len(columns) + 1), 2.25 * rows)
    axes = fig.subplots(rows, len(columns) + 1, squeeze=False)
    for r, item in enumerate(result.images):
        axes[r][0].imshow(draw_box(item.context, item.box))
        axes[r][0].set_title(item.name, fontsize=8)
        for c, label in enumerate(columns, start=1):
            ax = axes[r][c]
            ax.imshow(item.crops[label], interpolation="nearest")
            if r == 0:
                ax.set_title(label, fontsize=9)
            ax.set_xlabel(caption(item.metrics[label], perception), fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    save_figure(fig, path)
