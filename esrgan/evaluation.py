"""The one evaluation path: run models over LR/HR pairs and measure them as SR papers do.

`esrgan eval`, the perception-distortion sweep, `esrgan compare` and training validation all use it.
The HR image is mod-cropped to the scale; the LR is read from an LR folder (matched by name) or made
from the HR with MATLAB's bicubic in uint8 (as benchmark LR files were). Outputs are quantised to
the image's integer type, as a saved result is, and measured on MATLAB's Y channel after cropping
`crop_border` (= scale) pixels at each edge. A value that cannot be computed (NIQE of an image
under two 96x96 blocks, PI without Ma's model) is None, never NaN and never an error. Set-level
numbers are the mean of the per-image values or PIRM 2018's (`esrgan.metrics.aggregate`); the
bicubic baseline (MATLAB bicubic x scale of the LR) is always a row of `evaluate`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from esrgan.data.datasets import ValidationDataset
from esrgan.errors import ESRGANError
from esrgan.images.bicubic import bicubic_upscale
from esrgan.images.image_io import read_header
from esrgan.images.scaling import to_integer
from esrgan.inference.upscale import upscale
from esrgan.metrics import psnr, rmse, ssim
from esrgan.metrics.aggregate import AGGREGATIONS, Value, aggregate, check_aggregation
from esrgan.metrics.niqe import BLOCK_SIZE, integer_luma, niqe_of_luma
from esrgan.metrics.perceptual_index import perceptual_index_of_luma, resolve_ma_model
from esrgan.metrics.table import METRICS
from esrgan.models.descriptor import ModelDescriptor, describe

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "AGGREGATIONS",
    "BICUBIC",
    "METRICS",
    "BenchmarkPair",
    "EvalResult",
    "aggregate",
    "evaluate",
    "measure",
    "run_pairs",
    "super_resolve",
]

log = logging.getLogger(__name__)

BICUBIC = "bicubic"

Runner = Callable[["BenchmarkPair"], np.ndarray]  # a pair -> its SR image (integer, or float [0, 1])


@dataclass
class BenchmarkPair:
    name: str  # file stem
    hr: np.ndarray  # uint8 (uint16 for 16-bit files) (H, W, 3), mod-cropped to the scale
    lr: np.ndarray  # same dtype, (H / scale, W / scale, 3)

    def quantise(self, sr: np.ndarray) -> np.ndarray:
        """A float [0, 1] result stored like the ground truth (clipped, rounded), as a saved file is."""
        return to_integer(np.asarray(sr, dtype=np.float32), 16 if self.hr.dtype == np.uint16 else 8)

    def bicubic(self, scale: int) -> np.ndarray:
        """The bicubic baseline: MATLAB bicubic x scale of the LR, in its integer type."""
        return bicubic_upscale(self.lr, scale)


def dataset_pairs(dataset: ValidationDataset) -> Iterator[BenchmarkPair]:
    for index, name in enumerate(dataset.names):
        lr, hr = dataset.pair(index)
        yield BenchmarkPair(name, hr, lr)


def open_benchmark(
    hr_dir: str | Path, lr_dir: str | Path | None, scale: int, *, max_images: int | None = None
) -> ValidationDataset:
    """The pairs of a folder, checked (names, sizes) but not decoded; `dataset_pairs` reads them."""
    return ValidationDataset(hr_dir, lr_dir, scale, max_images=max_images, cache=False)


def hr_sizes(dataset: ValidationDataset) -> dict[str, tuple[int, int]]:
    """(height, width) of each mod-cropped HR image, from the file headers (nothing decoded)."""
    s = dataset.scale
    headers = {n: read_header(p).shape for n, p in zip(dataset.names, dataset.hr_files, strict=True)}
    return {name: (h - h % s, w - w % s) for name, (h, w) in headers.items()}


def check_niqe_possible(dataset: ValidationDataset, crop_border: int) -> None:
    """An ESRGANError, before any work, when no image is large enough for NIQE (two 96x96 blocks)."""
    sizes = hr_sizes(dataset)
    inner = {n: (h - 2 * crop_border, w - 2 * crop_border) for n, (h, w) in sizes.items()}
    if not any((h // BLOCK_SIZE) * (w // BLOCK_SIZE) >= 2 for h, w in inner.values() if h > 0 and w > 0):
        name, (h, w) = next(iter(sizes.items()))
        raise ESRGANError(
            f"no image is large enough for NIQE (e.g. {name}, {w}x{h}, after a {crop_border}-pixel border); "
            "use larger images or give Ma's model"
        )


def super_resolve(
    model: nn.Module | ModelDescriptor,
    lr: np.ndarray,
    *,
    tile: int | str | None = "auto",
    tile_overlap: int | None = None,
    device: Any = None,
    float_output: bool = False,
) -> np.ndarray:
    """`model`'s output for an integer LR image through the tiled `esrgan.upscale`, in the LR's type
    (clipped and rounded, as a saved result), or with `float_output` float32 in [0, 1] (clipped, not
    rounded) for blending outputs before they are rounded."""
    if float_output and lr.dtype.kind == "u":
        lr = lr.astype(np.float32) / np.float32(np.iinfo(lr.dtype).max)
    return upscale(model, lr, tile=tile, tile_overlap=tile_overlap, device=device)


def model_runner(
    model: nn.Module | ModelDescriptor,
    *,
    tile: int | str | None = "auto",
    tile_overlap: int | None = None,
    device: Any = None,
) -> Runner:
    return lambda pair: super_resolve(model, pair.lr, tile=tile, tile_overlap=tile_overlap, device=device)


def check_metrics(metrics: Sequence[str] | str, *, ma_model: Any = None) -> list[str]:
    """Metric names, lower-cased and deduplicated; an ESRGANError for unknown ones or PI without Ma."""
    if isinstance(metrics, str):
        metrics = metrics.split(",")
    names = [m.strip().lower() for m in metrics if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ESRGANError(f"metric(s) {', '.join(unknown) or '(none)'} unknown; use {', '.join(METRICS)}")
    if "pi" in names and ma_model is None:
        raise ESRGANError("the perceptual index (pi) needs Ma et al.'s model: give --ma-model")
    return list(dict.fromkeys(names))


REPORT_METRICS = ("rmse", "psnr", "ssim", "niqe", "pi")  # the columns of the sweep and compare reports
REPORT_KEYS = tuple(METRICS[name].report_key for name in REPORT_METRICS)  # rmse_y, psnr_y, ssim_y, niqe, pi


def report_metrics(use_niqe: bool, ma_model: Any) -> list[str]:
    """What the reports measure: RMSE/PSNR/SSIM on Y, NIQE unless skipped, PI with Ma's model."""
    names = ["rmse", "psnr", "ssim"]
    if use_niqe:
        names.append("niqe")
    if ma_model is not None:
        names.append("pi")
    return names


def report_row(values: Mapping[str, Value]) -> dict[str, Value]:
    """Values by metric name -> by report key (`psnr_y`, ...), None for those not measured."""
    return {METRICS[name].report_key: values.get(name) for name in REPORT_METRICS}


def measure(
    sr: np.ndarray,
    hr: np.ndarray,
    metrics: Sequence[str],
    *,
    crop_border: int,
    y_channel: bool = True,
    ma_model: Any = None,
    notes: list[str] | None = None,
) -> dict[str, Value]:
    """Each metric (by name) of `sr` against `hr`, None where it cannot be computed (why: in `notes`):
    PSNR/SSIM/RMSE on the Y channel (or RGB), NIQE and PI always on the Y channel stored as integers."""
    full_reference = {"psnr": psnr, "ssim": ssim, "rmse": rmse}
    out: dict[str, Value] = {}
    for name in metrics:
        if name in full_reference:
            out[name] = full_reference[name](sr, hr, crop_border=crop_border, y_channel=y_channel)
    if "niqe" in metrics or "pi" in metrics:
        luma = integer_luma(sr, crop_border=crop_border)
        out["niqe"] = out["pi"] = None
        try:  # a small or flat image has no NIQE (nor PI); Ma's score can be undefined on its own
            out["niqe"] = niqe_of_luma(luma)
            if ma_model is not None:
                out["pi"] = perceptual_index_of_luma(luma, ma_model, out["niqe"])
        except ESRGANError as exc:
            if notes is not None:
                notes.append(str(exc))
    return {name: out[name] for name in metrics}


@dataclass
class PairScores:
    images: list[str] = field(default_factory=list)
    values: dict[Hashable, dict[str, dict[str, Value]]] = field(default_factory=dict)  # label->image->metric
    seconds: dict[Hashable, float] = field(default_factory=dict)  # label -> total time of its runner


# Called with (pair, {label: output}, {label: metrics}) after each pair.
ImageCallback = Callable[[BenchmarkPair, dict[Hashable, np.ndarray], dict[Hashable, dict[str, Value]]], None]


def run_pairs(
    runners: Mapping[Hashable, Runner],
    pairs: Iterable[BenchmarkPair],
    metrics: Sequence[str],
    *,
    crop_border: int,
    y_channel: bool = True,
    ma_model: Any = None,
    on_image: ImageCallback | None = None,
    progress: Callable[[str, Hashable], None] | None = None,
) -> PairScores:
    """Every runner on every pair, each output measured against the pair's HR.

    An output that is the same array as an earlier one of its pair is measured once (e.g. the
    sweep's image interpolation at alpha 0 and 1 is the plain model). Float outputs are quantised
    like the ground truth before they are measured.
    """
    metrics = list(metrics)
    kwargs = {"crop_border": crop_border, "y_channel": y_channel, "ma_model": ma_model}
    scores = PairScores(values={label: {} for label in runners}, seconds=dict.fromkeys(runners, 0.0))
    notes: list[str] = []
    for pair in pairs:
        scores.images.append(pair.name)
        outputs: dict[Hashable, np.ndarray] = {}
        measured: dict[Hashable, dict[str, Value]] = {}
        for label, run in runners.items():
            start = time.perf_counter()
            sr = run(pair)
            scores.seconds[label] += time.perf_counter() - start
            if sr.shape != pair.hr.shape:
                raise ESRGANError(f"'{label}' gave shape {sr.shape} for {pair.name}, not {pair.hr.shape}")
            if sr.dtype.kind == "f":
                sr = pair.quantise(sr)
            same = next((other for other, out in outputs.items() if out is sr), None)
            if same is not None:
                measured[label] = dict(measured[same])
            else:
                measured[label] = measure(sr, pair.hr, metrics, **kwargs, notes=notes)
            outputs[label] = sr
            scores.values[label][pair.name] = measured[label]
            if progress is not None:
                progress(pair.name, label)
        if on_image is not None:
            on_image(pair, outputs, measured)
    if notes:
        log.warning("NIQE/PI left out for %d result(s) and their means, e.g. %s", len(notes), notes[0])
    return scores


@dataclass
class EvalResult:
    """Per-image values and set-level numbers of each model (rows in `models` order, bicubic first);
    its tables (JSON, CSV, Markdown, terminal) are functions of `esrgan.analysis.tables`."""

    models: list[str]
    metrics: list[str]
    images: list[str]
    values: dict[str, dict[str, dict[str, Value]]]  # model -> image -> metric -> value (None: n/a)
    scale: int
    crop_border: int
    y_channel: bool
    hr_dir: str
    lr_dir: str | None
    seconds: dict[str, float] = field(default_factory=dict)  # model -> total upscaling time
    aggregation: str = "mean"  # how `summary` makes set-level numbers: "mean" or "pirm"

    def value(self, model: str, image: str, metric: str) -> Value:
        return self.values[model][image][metric]

    def set_level(self, model: str, how: str) -> dict[str, Value]:
        rows = [self.values[model][image] for image in self.images]
        return {m: aggregate(rows, m, how) for m in self.metrics}

    def mean(self, model: str) -> dict[str, Value]:
        """Mean of each metric over the images (values not computed, e.g. NIQE of tiny images, left out)."""
        return self.set_level(model, "mean")

    def pirm(self, model: str) -> dict[str, Value]:
        """PIRM 2018 set-level numbers: RMSE = sqrt(mean MSE), PSNR of that MSE, the others averaged."""
        return self.set_level(model, "pirm")

    def summary(self, model: str) -> dict[str, Value]:
        """The set-level numbers of `aggregation`, as the tables show them."""
        return self.set_level(model, self.aggregation)


def evaluate(
    models: Mapping[str, nn.Module | ModelDescriptor | str],
    hr_dir: str | Path,
    lr_dir: str | Path | None = None,
    scale: int = 4,
    metrics: Sequence[str] = ("psnr", "ssim"),
    crop_border: int | None = None,
    *,
    y_channel: bool = True,
    tile: int | str | None = "auto",
    tile_overlap: int | None = None,
    device: Any = None,
    progress: bool = False,
    max_images: int | None = None,
    aggregation: str = "mean",
    ma_model: Any = None,
) -> EvalResult:
    """Measure each model (or `"bicubic"`) on the images of `hr_dir`; see the module docstring.

    `models` maps a row name to a generator or the string "bicubic"; a bicubic row is added first
    when none is given. `crop_border` defaults to `scale`. `tile`, `tile_overlap` and `device` go to
    `esrgan.upscale`. `aggregation` ("mean" or "pirm") picks the set-level numbers tables show.
    """
    metrics = check_metrics(metrics, ma_model=ma_model)
    if ma_model is not None:
        ma_model = resolve_ma_model(ma_model)
    check_aggregation(aggregation)
    runners = _runners(models, scale, tile, tile_overlap, device)
    crop = scale if crop_border is None else int(crop_border)
    if crop < 0:  # before any model runs
        raise ESRGANError(f"crop border must be >= 0, got {crop}")
    dataset = open_benchmark(hr_dir, lr_dir, scale, max_images=max_images)
    from tqdm import tqdm

    bar = tqdm(
        total=len(dataset) * len(runners), desc="eval", unit="img", dynamic_ncols=True, disable=not progress
    )

    def step(image: str, label: Hashable) -> None:
        bar.set_postfix_str(f"{image} / {label}", refresh=False)
        bar.update()

    with bar:
        scores = run_pairs(
            runners,
            dataset_pairs(dataset),
            metrics,
            crop_border=crop,
            y_channel=y_channel,
            ma_model=ma_model,
            progress=step,
        )
    return EvalResult(
        models=[str(m) for m in runners],
        metrics=metrics,
        images=scores.images,
        values={str(k): v for k, v in scores.values.items()},
        scale=scale,
        crop_border=crop,
        y_channel=y_channel,
        hr_dir=str(hr_dir),
        lr_dir=None if lr_dir is None else str(lr_dir),
        seconds={str(k): v for k, v in scores.seconds.items()},
        aggregation=aggregation,
    )


def _runners(
    models: Mapping[str, nn.Module | ModelDescriptor | str],
    scale: int,
    tile: int | str | None,
    tile_overlap: int | None,
    device: Any,
) -> dict[str, Runner]:
    """Row name -> runner, bicubic first."""

    def bicubic(pair: BenchmarkPair) -> np.ndarray:
        return pair.bicubic(scale)

    runners: dict[str, Runner] = {}
    if not any(isinstance(m, str) and m.lower() == BICUBIC for m in models.values()):
        if BICUBIC in models:
            raise ESRGANError(f"the row name '{BICUBIC}' is kept for the bicubic baseline; rename that model")
        runners[BICUBIC] = bicubic
    for name, model in models.items():
        if isinstance(model, str):
            if model.lower() != BICUBIC:
                raise ESRGANError(f"model '{name}': the only name allowed is '{BICUBIC}', not {model!r}")
            runners[name] = bicubic
            continue
        model_scale = describe(model).scale
        if model_scale != scale:
            raise ESRGANError(f"model '{name}' is x{model_scale}, not x{scale}: use --scale {model_scale}")
        runners[name] = model_runner(model, tile=tile, tile_overlap=tile_overlap, device=device)
    return runners
