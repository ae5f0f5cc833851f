"""Luma as the super-resolution literature measures it: MATLAB's `rgb2ycbcr` (ITU-R BT.601, studio range).

Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in [0, 1], i.e. Y in [16, 235]. This is not
OpenCV's YCrCb (JPEG, full range), which gives different PSNR numbers.
"""

from __future__ import annotations

import numpy as np

# Coefficients for R, G, B in [0, 1] giving Y on the 0..255 scale.
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0


def rgb_to_y(rgb255: np.ndarray) -> np.ndarray:
    """Y channel (HW, float64, 0..255 scale, not rounded) of an RGB HWC array on the 0..255 scale.

    A single-channel (HW) array is already luminance and is returned unchanged (as float64).
    """
    rgb255 = np.asarray(rgb255, dtype=np.float64)
    if rgb255.ndim == 2:
        return rgb255
    # Term by term in MATLAB's order (imlincomb with T / 255), not a BLAS dot product: the last bit
    # decides how values that are exactly x.5 round when the Y channel is stored as integers.
    r, g, b = (rgb255[..., c] for c in range(3))
    return (_Y_WEIGHTS[0] / 255.0) * r + (_Y_WEIGHTS[1] / 255.0) * g + (_Y_WEIGHTS[2] / 255.0) * b + _Y_OFFSET


def round_like_matlab(x: np.ndarray) -> np.ndarray:
    """Round half away from zero, as MATLAB does when it stores rgb2ycbcr's result as uint8."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)
