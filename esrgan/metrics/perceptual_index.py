"""Perceptual index of the PIRM 2018 challenge: PI = ((10 - Ma) + NIQE) / 2, lower is better.

Both no-reference scores are taken on the same image: MATLAB's Y channel stored as integers, with
`crop_border` (4 in PIRM) pixels shaved at each edge (the challenge's `convert_shave_image`). For a
set of images the challenge averages Ma and NIQE over the set first; the result is the same number
as the mean of the per-image PIs.

Ma et al.'s score ("Learning a no-reference quality metric for single-image super-resolution",
CVIU 2017) is a learned regressor: three regression forests over DCT, wavelet and PCA features,
combined linearly. Its trained model ships as `model.mat` with the authors' MATLAB code
(chaoma99/sr-metric, used as-is by the PIRM 2018 toolbox; pyiqa's NRQM_model.mat is the same
model). `esrgan.metrics.ma` computes the score from that file (`ma_model="model.mat"`); a callable
can supply it instead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from esrgan.errors import ESRGANError
from esrgan.metrics.ma import ma_scorer
from esrgan.metrics.niqe import integer_luma, niqe_of_luma

# Ma's score of an image: takes the shaved integer Y channel (HW float64, 0..255 scale) and returns
# the predicted quality on Ma et al.'s 0..10 scale (higher is better).
MaScore = Callable[[np.ndarray], float]

_NEEDS_MA = (
    "the perceptual index needs Ma et al.'s regression-forest model: pass ma_model=<path to model.mat> "
    "(the authors' sr-metric code, or pyiqa's NRQM_model.mat) or a callable returning Ma's score"
)


def perceptual_index(
    img: Any, *, ma_model: MaScore | str | os.PathLike[str] | None = None, crop_border: int = 4
) -> float:
    """PIRM 2018 perceptual index of one image (any form `niqe` accepts).

    `ma_model` is a callable `f(y) -> float` where `y` is the HW float64 Y channel on the 0..255 scale,
    rounded to integers and shaved by `crop_border` (what PIRM's MATLAB code passes to Ma's
    `quality_predict`); it returns Ma's score (0..10, higher is better). Or a path to Ma's
    `model.mat`, read by `esrgan.metrics.ma` (needs scipy).
    """
    score_ma = resolve_ma_model(ma_model)  # a missing or unusable Ma model is reported first
    luma = integer_luma(img, crop_border=crop_border, y_channel=True)
    return perceptual_index_of_luma(luma, score_ma, niqe_of_luma(luma))


def perceptual_index_of_luma(
    luma: np.ndarray, ma_model: MaScore | str | os.PathLike[str] | None, niqe_value: float
) -> float:
    """PI from the shaved integer Y channel (`integer_luma`) and its NIQE, already computed."""
    score_ma = resolve_ma_model(ma_model)
    ma = score_ma(luma.copy())  # a copy: the callable must not be able to change what NIQE sees
    try:
        ma = float(ma)
    except (TypeError, ValueError) as exc:
        raise ESRGANError(f"ma_model returned {ma!r}, not a number") from exc
    if not math.isfinite(ma):
        raise ESRGANError(f"ma_model returned {ma!r}, not a finite number")
    return 0.5 * ((10.0 - ma) + niqe_value)


def resolve_ma_model(ma_model: MaScore | str | os.PathLike[str] | None) -> MaScore:
    """The Ma scorer a `ma_model` argument names; an ESRGANError if there is none or it cannot be used.

    A path is read and checked here (MAT format, model.rf with 3 forests, model.linear with 4
    values), before any image work; the loaded model is cached per file.
    """
    if ma_model is None:
        raise ESRGANError(_NEEDS_MA)
    if isinstance(ma_model, (str, os.PathLike)):
        return ma_scorer(Path(ma_model))
    if not callable(ma_model):
        raise ESRGANError(f"ma_model must be a callable or a path, got {type(ma_model).__name__}")
    return ma_model
