"""Full-reference fidelity metrics as super-resolution papers report them: PSNR, SSIM, RMSE.

Every function takes the two images in any form `to_float255` accepts, works in float64 on the
0..255 scale, optionally on MATLAB's Y channel (not rounded, as BasicSR does), after cropping
`crop_border` pixels at each edge. Papers evaluate x4 results with `y_channel=True, crop_border=4`
on images saved as uint8; these functions do not quantise for you.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from esrgan.errors import ESRGANError
from esrgan.metrics.color import rgb_to_y
from esrgan.metrics.filtering import gaussian_kernel_1d, valid_filter
from esrgan.metrics.image_input import crop_borders, shape_of, to_float255

WHITE = 255.0  # metrics are on the 0..255 scale whatever the bit depth
# SSIM constants of Wang et al. (2004) for 8-bit data: 11x11 Gaussian window, sigma 1.5.
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_C1 = (0.01 * WHITE) ** 2
_SSIM_C2 = (0.03 * WHITE) ** 2
# Pixels per strip in `ssim_map`.
_STRIP_ELEMENTS = 32768
# PIRM 2018 regions: upper RMSE bounds (inclusive) of regions 1, 2 and 3.
_PIRM_REGION_BOUNDS = (11.5, 12.5, 16.0)


def psnr(
    img: Any, ref: Any, *, crop_border: int = 0, y_channel: bool = False, data_range: float | None = None
) -> float:
    """Peak signal-to-noise ratio in dB with peak 255; `inf` for identical images."""
    a, b = _prepare_pair(img, ref, crop_border, y_channel, data_range)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(WHITE**2 / mse)


def rmse(
    img: Any, ref: Any, *, crop_border: int = 0, y_channel: bool = False, data_range: float | None = None
) -> float:
    """Root-mean-square error in 0..255 units.

    PIRM 2018 measures it with `y_channel=True, crop_border=4`, on Y stored as uint8 (rounded; here
    Y is not rounded, a difference of about 0.005 at RMSE 16), and over a set of images takes the
    square root of the mean per-image MSE, not the mean RMSE.
    """
    a, b = _prepare_pair(img, ref, crop_border, y_channel, data_range)
    return math.sqrt(float(np.mean((a - b) ** 2)))


def ssim(
    img: Any, ref: Any, *, crop_border: int = 0, y_channel: bool = False, data_range: float | None = None
) -> float:
    """Mean SSIM over the valid region (no padding) of an 11x11, sigma 1.5 Gaussian window.

    For RGB (`y_channel=False`) the SSIM of each channel is averaged.
    """
    a, b = _prepare_pair(img, ref, crop_border, y_channel, data_range)
    h, w = a.shape[:2]
    if min(h, w) < _SSIM_WINDOW:
        raise ESRGANError(f"SSIM needs {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels after cropping, got {h}x{w}")
    if a.ndim == 2:
        return float(ssim_map(a, b).mean())
    return float(np.mean([ssim_map(a[:, :, c], b[:, :, c]).mean() for c in range(a.shape[2])]))


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM map of two HW float arrays on the 0..255 scale, (H - 10) x (W - 10) ('valid' filtering)."""
    window = gaussian_kernel_1d(_SSIM_WINDOW, _SSIM_SIGMA)
    margin = _SSIM_WINDOW - 1
    out_h, out_w = a.shape[0] - margin, a.shape[1] - margin
    out = np.empty((out_h, out_w), dtype=np.float64)
    strip = max(1, _STRIP_ELEMENTS // a.shape[1])  # output rows per pass, so temporaries stay in cache
    for top in range(0, out_h, strip):
        bottom = min(top + strip, out_h)
        out[top:bottom] = _ssim_formula(a[top : bottom + margin], b[top : bottom + margin], window)
    return out


def _local_moments(a: np.ndarray, b: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, ...]:
    """SSIM's windowed statistics over the 'valid' region: means, variances and the covariance."""
    mu_a = valid_filter(a, window)
    mu_b = valid_filter(b, window)
    var_a = valid_filter(a * a, window) - mu_a**2
    var_b = valid_filter(b * b, window) - mu_b**2
    cov = valid_filter(a * b, window) - mu_a * mu_b
    return mu_a, mu_b, var_a, var_b, cov


def _ssim_formula(a: np.ndarray, b: np.ndarray, window: np.ndarray) -> np.ndarray:
    mu_a, mu_b, var_a, var_b, cov = _local_moments(a, b, window)
    return ((2 * mu_a * mu_b + _SSIM_C1) * (2 * cov + _SSIM_C2)) / (
        (mu_a**2 + mu_b**2 + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    )


def contrast_structure(a: np.ndarray, b: np.ndarray) -> float:
    """Mean of SSIM's contrast-structure term (2 cov + C2) / (var_a + var_b + C2) over the valid
    11x11 windows of two HW float arrays (the `mcs` of Wang's `ssim_index`, used by Ma's score)."""
    _, _, var_a, var_b, cov = _local_moments(a, b, gaussian_kernel_1d(_SSIM_WINDOW, _SSIM_SIGMA))
    return float(np.mean((2 * cov + _SSIM_C2) / (var_a + var_b + _SSIM_C2)))


def pirm_region(rmse_value: float) -> int | None:
    """PIRM 2018 region (1, 2 or 3) of an RMSE: <= 11.5, <= 12.5, <= 16; None above 16."""
    if not math.isfinite(rmse_value) or rmse_value < 0:
        raise ESRGANError(f"RMSE must be a finite non-negative number, got {rmse_value!r}")
    for region, bound in enumerate(_PIRM_REGION_BOUNDS, start=1):
        if rmse_value <= bound:
            return region
    return None


def _prepare_pair(
    img: Any, ref: Any, crop_border: int, y_channel: bool, data_range: float | None
) -> tuple[np.ndarray, np.ndarray]:
    a = to_float255(img, data_range=data_range, name="img")
    b = to_float255(ref, data_range=data_range, name="ref")
    if a.shape != b.shape:
        raise ESRGANError(
            f"img and ref differ in shape: {shape_of(img)} vs {shape_of(ref)} "
            f"(as HWC: {a.shape} vs {b.shape})"
        )
    if y_channel:
        a, b = rgb_to_y(a), rgb_to_y(b)
    return crop_borders(a, crop_border, name="img"), crop_borders(b, crop_border, name="ref")
