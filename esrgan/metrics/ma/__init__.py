"""Ma et al.'s no-reference quality score for super-resolved images ("Ma's score", NRQM).

C. Ma, C.-Y. Yang, X. Yang, M.-H. Yang, "Learning a no-reference quality metric for single-image
super-resolution", CVIU 2017. This follows the authors' MATLAB code (chaoma99/sr-metric,
`quality_predict.m`, used unchanged by the PIRM 2018 challenge) step by step, in float64:

    f1 = DCT features of im1, im2, im3 (3 x 6, `features.block_dct_features`)
    f2 = steerable-pyramid features of the Y channel (45, `pyramid.global_features`)
    f3 = singular values of the 5x5 blocks of im1, im2, im3 (3 x 25, `features.svd_features`)
    s_k = forest_k(f_k)  (randomforest-matlab regression forests, `forest`)
    Ma = [1 s1 s2 s3] . linear  (0..10, higher is better)

where im1 = Y / 255 and im2, im3 the Gaussian-filtered, decimated copies (`features.image_pyramid`).
f3 is flattened column by column as MATLAB's reshape(f3, 1, []): im1's 25 values, im2's, im3's.

The input is what PIRM's code passes: the Y channel (MATLAB rgb2ycbcr, stored as uint8) shaved by
4 pixels. The trained forests ship as `model.mat` with the authors' code (pyiqa's NRQM_model.mat is
the same file); `load_ma_model` reads it (scipy needed). A 512x512 image takes 1.5-2.5 s on 2 CPU cores
(most of it in the divisive normalisation and the SSIM terms).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from esrgan.errors import ESRGANError
from esrgan.metrics.ma.features import block_dct_features, image_pyramid, svd_features
from esrgan.metrics.ma.forest import MaModel, load_ma_model, predict_ma
from esrgan.metrics.ma.pyramid import global_features
from esrgan.metrics.niqe import integer_luma

__all__ = ["MaModel", "load_ma_model", "ma_features", "ma_score", "ma_score_of_luma", "ma_scorer"]

_PCA_VALUES = 25
# The smallest side the pyramid's normalised scale-1 bands leave room for SSIM's 11x11 window:
# (side - 2 interior - 2 * 16 guard band) >= 11.
_MIN_SIDE = 45


def _check_size(luma: np.ndarray) -> None:
    if luma.ndim != 2:
        raise ESRGANError(f"Ma's score expects one channel (HW), got shape {luma.shape}")
    h, w = luma.shape
    h3, w3 = h // 2 // 2, w // 2 // 2
    if min(h, w) < _MIN_SIDE or math.ceil(h3 / 5) * math.ceil(w3 / 5) < _PCA_VALUES:
        raise ESRGANError(f"Ma's score needs a larger image than {h}x{w} (after cropping): 84x84 or more")


def ma_features(luma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(f1, f2, f3) of `feature_all.m` for an HW array on the 0..255 scale: 18, 45 and 75 values."""
    luma = np.asarray(luma, dtype=np.float64)
    _check_size(luma)
    levels = image_pyramid(luma)
    f1 = np.concatenate([block_dct_features(im) for im in levels])
    f2 = global_features(luma)
    f3 = np.concatenate([svd_features(im) for im in levels])
    return f1, f2, f3


def ma_score_of_luma(luma: np.ndarray, model: MaModel) -> float:
    """Ma's score of the shaved integer Y channel (HW, 0..255), taken as it is."""
    return predict_ma(model, ma_features(luma))


def ma_scorer(model_path: str | os.PathLike[str]) -> Callable[[np.ndarray], float]:
    """The scorer `f(y) -> float` for `perceptual_index`'s ma_model, the model file read (and checked) now."""
    return functools.partial(ma_score_of_luma, model=load_ma_model(model_path))


def ma_score(img: Any, model_path: str | os.PathLike[str], *, crop_border: int = 4) -> float:
    """Ma's score of one image (any form `niqe` accepts): MATLAB Y channel rounded, `crop_border`
    pixels shaved at each edge, as PIRM 2018 computes it. Higher is better (0..10)."""
    model = load_ma_model(model_path)  # a bad model file is reported before any image work
    return ma_score_of_luma(integer_luma(img, crop_border=crop_border, y_channel=True), model)
