"""The perception-distortion sweep (ESRGAN paper, Fig. 2 and Fig. 10).

For each alpha the PSNR and GAN generators are combined two ways: network interpolation (blend the
weights, run once) and image interpolation (run both, blend the outputs). Every result is scored on
a benchmark folder with the distortion metrics (RMSE-Y, PSNR-Y, SSIM-Y, 4-pixel shave at x4) and
the perceptual ones (NIQE, and the PIRM perceptual index when Ma's scorer is given). At alpha 0 and
1 the two methods give the same image, which is computed once.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from esrgan.analysis.report import new_figure, save_figure
from esrgan.errors import ESRGANError
from esrgan.evaluation import (
    REPORT_KEYS,
    BenchmarkPair,
    Runner,
    aggregate,
    check_niqe_possible,
    dataset_pairs,
    open_benchmark,
    report_metrics,
    report_row,
    run_pairs,
    super_resolve,
)
from esrgan.inference.back_projection import back_project
from esrgan.inference.interpolation import (
    ModelOrPath,
    interpolate,
    interpolate_images,
    resolve_model,
    validate_alpha,
)
from esrgan.inference.wrapped import with_test_time_options
from esrgan.metrics.perceptual_index import resolve_ma_model
from esrgan.models.descriptor import describe

# Called with (pair, {(method, alpha): integer output}, {(method, alpha): report metrics}) per image.
ImageCallback = Callable[
    [BenchmarkPair, dict[tuple[str, float], np.ndarray], dict[tuple[str, float], dict]], None
]

_ALPHA_DECIMALS = 6  # alphas are rounded to this many decimals so 0.1 * 3 prints as 0.3


def parse_alphas(spec: str) -> list[float]:
    """'START:STOP:STEP' (inclusive STOP, e.g. 0:1:0.2 -> 0, 0.2, ..., 1) or a list '0,0.5,0.8,1';
    rounded to 6 decimals, so float steps never add or drop the end point."""
    text = str(spec).strip()
    usage = f"alphas must be START:STOP:STEP (e.g. 0:1:0.2) or a list like 0,0.5,1; got {spec!r}"
    try:
        if ":" in text:
            start, stop, step = (float(p) for p in text.split(":"))
        else:
            values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ESRGANError(usage) from None
    if ":" in text:
        if not all(math.isfinite(v) for v in (start, stop, step)):
            raise ESRGANError(usage)
        if step <= 0 or stop < start:
            raise ESRGANError(f"alphas {spec!r}: STEP must be > 0 and STOP >= START")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > 1001:
            raise ESRGANError(f"alphas {spec!r} gives {count} values; use a larger step")
        values = [start + k * step for k in range(count)]
        if abs(values[-1] - stop) > 1e-9 * max(1.0, abs(stop)) and abs(values[-1] + step - stop) < 1e-6:
            values.append(stop)
    elif not values:
        raise ESRGANError("no alphas given")
    return sorted({round(validate_alpha(v), _ALPHA_DECIMALS) + 0.0 for v in values})


@dataclass
class SweepPoint:
    method: str  # "network", "image" or "bicubic"
    alpha: float | None
    images: int
    rmse_y: float  # mean of the per-image values (as before)
    psnr_y: float
    ssim_y: float
    niqe: float | None
    pi: float | None = None
    pirm_rmse_y: float | None = None  # the set's RMSE as PIRM 2018: sqrt of the mean per-image MSE


@dataclass
class SweepResult:
    alphas: list[float]
    scale: int
    points: list[SweepPoint]
    per_image: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        return [asdict(p) for p in self.points]

    def curve(self, method: str) -> list[SweepPoint]:
        return sorted((p for p in self.points if p.method == method), key=lambda p: p.alpha or 0.0)


def perception_distortion_sweep(
    psnr_model: ModelOrPath,
    gan_model: ModelOrPath,
    hr_dir: str | os.PathLike,
    *,
    alphas: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    lr_dir: str | os.PathLike | None = None,
    use_niqe: bool = True,
    ma_model: Any = None,
    ensemble: bool = False,
    back_projection: int = 0,
    include_bicubic: bool = True,
    tile: int | str | None = "auto",
    tile_overlap: int | None = None,
    device: str | torch.device | None = None,
    on_image: ImageCallback | None = None,
    progress: Callable[[str], None] | None = None,
    need_perception: bool = False,
) -> SweepResult:
    """Score network and image interpolation at every alpha on the images of `hr_dir`.

    Every forward pass goes through the tiled `esrgan.upscale`; `ensemble` (x8 self-ensemble) applies
    to each of them, `back_projection` iterations to every final output (for image interpolation after
    the blend of the two float outputs, before rounding). `on_image` receives each image's outputs
    (keys `(method, alpha)`), e.g. to cut crops for a report. With `need_perception` (for the plot) it
    checks before any work that NIQE (two 96x96 blocks) or Ma's model can score at least one image."""
    alphas = sorted({round(validate_alpha(a), _ALPHA_DECIMALS) + 0.0 for a in alphas})
    if not alphas:
        raise ESRGANError("no alphas to sweep")
    if ma_model is not None:
        ma_model = resolve_ma_model(ma_model)
    if need_perception and not use_niqe and ma_model is None:
        raise ESRGANError("no perceptual score to plot: NIQE is skipped and no Ma model was given")
    psnr_net, psnr_source = resolve_model(psnr_model)  # load files once, not once per alpha
    gan_net, gan_source = resolve_model(gan_model)
    # image interpolation needs the pure PSNR (0) and GAN (1) outputs whatever alphas are asked
    nets = {alpha: interpolate(psnr_net, gan_net, alpha) for alpha in sorted({0.0, 1.0, *alphas})}
    scale = describe(nets[0.0]).scale
    dataset = open_benchmark(hr_dir, lr_dir, scale)
    if need_perception and ma_model is None:
        check_niqe_possible(dataset, scale)
    if device is not None:
        nets = {a: n.to(device) for a, n in nets.items()}
    nets = {a: with_test_time_options(n, ensemble=ensemble) for a, n in nets.items()}
    cache: dict[tuple[str, str, float], np.ndarray] = {}  # the current image's outputs, each made once

    def once(pair: BenchmarkPair, kind: str, alpha: float, make: Callable[[], np.ndarray]) -> np.ndarray:
        if cache and next(iter(cache))[0] != pair.name:
            cache.clear()
        if (pair.name, kind, alpha) not in cache:
            cache[pair.name, kind, alpha] = make()
        return cache[pair.name, kind, alpha]

    def raw(pair: BenchmarkPair, alpha: float) -> np.ndarray:
        def make() -> np.ndarray:
            return super_resolve(
                nets[alpha], pair.lr, tile=tile, tile_overlap=tile_overlap, float_output=True
            )

        return once(pair, "raw", alpha, make)

    def finish(sr: np.ndarray, pair: BenchmarkPair) -> np.ndarray:
        if back_projection:
            lr = pair.lr.astype(np.float32) / np.float32(np.iinfo(pair.lr.dtype).max)
            as_tensor = torch.from_numpy(np.ascontiguousarray(sr)).permute(2, 0, 1)[None]
            lr_tensor = torch.from_numpy(lr).permute(2, 0, 1)[None]
            sr = back_project(as_tensor, lr_tensor, back_projection)[0].permute(1, 2, 0).numpy()
        return pair.quantise(sr)

    def plain(alpha: float) -> Runner:  # alpha 0 or 1: one array for both methods, measured once
        return lambda pair: once(pair, "final", alpha, lambda: finish(raw(pair, alpha), pair))

    def network(alpha: float) -> Runner:
        return plain(alpha) if alpha in (0.0, 1.0) else lambda pair: finish(raw(pair, alpha), pair)

    def image(alpha: float) -> Runner:
        if alpha in (0.0, 1.0):
            return plain(alpha)
        return lambda pair: finish(
            interpolate_images(raw(pair, 0.0).astype(np.float64), raw(pair, 1.0).astype(np.float64), alpha),
            pair,
        )

    runners: dict[Hashable, Runner] = {("network", a): network(a) for a in alphas}
    runners.update({("image", a): image(a) for a in alphas})
    if include_bicubic:
        runners["bicubic", None] = lambda pair: pair.bicubic(scale)
    metrics = report_metrics(use_niqe, ma_model)

    def each_image(pair: BenchmarkPair, outputs: dict, scores: dict) -> None:
        if on_image is not None:
            keys = [k for k in outputs if k[0] != "bicubic"]
            on_image(pair, {k: outputs[k] for k in keys}, {k: report_row(scores[k]) for k in keys})

    def step(name: str, label: Hashable) -> None:
        if progress is not None and label == next(iter(runners)):
            progress(name)

    scores = run_pairs(
        runners,
        dataset_pairs(dataset),
        metrics,
        crop_border=scale,
        ma_model=ma_model,
        on_image=each_image,
        progress=step,
    )
    per_image = [
        {"image": image_name, "method": key[0], "alpha": key[1], **report_row(values)}
        for image_name in scores.images
        for key, by_image in scores.values.items()
        for values in [by_image[image_name]]
    ]
    settings = {
        "psnr_model": psnr_source,
        "gan_model": gan_source,
        "hr_dir": str(hr_dir),
        "lr_dir": None if lr_dir is None else str(lr_dir),
        "lr_from": "LR folder" if lr_dir is not None else f"MATLAB bicubic x1/{scale} of HR",
        "ensemble": ensemble,
        "back_projection": back_projection,
        "tile": tile,
        "crop_border": scale,
        "plot_distortion": "pirm_rmse_y: sqrt of the mean per-image MSE on Y (PIRM 2018)",
    }
    return SweepResult(alphas, scale, _average(per_image), per_image, settings)


def _average(per_image: list[dict[str, Any]]) -> list[SweepPoint]:
    groups: dict[tuple[str, float | None], list[dict[str, Any]]] = {}
    for row in per_image:
        groups.setdefault((row["method"], row["alpha"]), []).append(row)
    points = [
        SweepPoint(
            method,
            alpha,
            len(rows),
            **{k: aggregate(rows, k) for k in REPORT_KEYS},
            pirm_rmse_y=aggregate(rows, "rmse_y", "pirm"),
        )
        for (method, alpha), rows in groups.items()
    ]
    order = {"network": 0, "image": 1, "bicubic": 2}
    return sorted(points, key=lambda p: (order.get(p.method, 3), p.alpha if p.alpha is not None else -1.0))


def plot_perception_distortion(result: SweepResult, path: str | os.PathLike) -> str:
    """The set's RMSE as PIRM 2018 (sqrt of the mean MSE) on x, the perceptual score (PI if computed,
    else NIQE) on y, one curve per method, each point labelled with its alpha; returns the score used."""
    perception = "pi" if any(p.pi is not None for p in result.points) else "niqe"  # PI where computed
    if all(getattr(p, perception) is None for p in result.points):
        raise ESRGANError(f"no {perception.upper()} to plot: no output had a score (flat images?)")
    fig = new_figure(7.0, 5.0)
    ax = fig.add_subplot()
    styles = {
        "network": ("#c44e52", "o", "network interpolation"),
        "image": ("#4c72b0", "s", "image interpolation"),
    }
    for method, (colour, marker, label) in styles.items():
        curve = [p for p in result.curve(method) if getattr(p, perception) is not None]
        xs = [p.pirm_rmse_y for p in curve]
        ys = [getattr(p, perception) for p in curve]
        ax.plot(xs, ys, color=colour, marker=marker, linewidth=1.6, markersize=6, label=label)
        for p, x, y in zip(curve, xs, ys, strict=True):
            offset = (6, 4) if method == "network" else (6, -11)
            ax.annotate(
                f"{p.alpha:g}", (x, y), xytext=offset, textcoords="offset points", fontsize=8, color=colour
            )
    for p in result.points:
        if p.method == "bicubic" and getattr(p, perception) is not None:
            ax.plot(p.pirm_rmse_y, getattr(p, perception), "k^", markersize=7, label="bicubic")
    low, high = ax.get_xlim()  # PIRM 2018 regions, where they fall inside the plotted range
    for bound, name in ((11.5, "R1"), (12.5, "R2"), (16.0, "R3")):
        if low < bound < high:
            ax.axvline(bound, color="grey", linestyle=":", linewidth=1)
            ax.text(bound, ax.get_ylim()[1], f" {name} ", fontsize=7, color="grey", ha="right", va="top")
    ax.set_xlabel("RMSE (Y, sqrt of mean MSE)  (distortion, lower is better)")
    ax.set_ylabel(f"{'perceptual index' if perception == 'pi' else 'NIQE'}  (lower is better)")
    ax.set_title("Perception-distortion: numbers are alpha (0 = PSNR model, 1 = GAN model)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return perception


def safe_name(text: str) -> str:
    """A file-name-safe version of an image stem."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text) or "image"
