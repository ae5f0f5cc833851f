"""Separable Gaussian filtering in float64 numpy for SSIM (no scipy needed)."""

from __future__ import annotations

import numpy as np


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian; its outer product with itself is MATLAB's fspecial('gaussian', ...)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def valid_filter(x: np.ndarray, kernel_1d: np.ndarray) -> np.ndarray:
    """Correlate an HW array with outer(kernel_1d, kernel_1d), keeping only fully covered pixels.

    The output is (H - k + 1) x (W - k + 1), as MATLAB's filter2(..., 'valid').
    """
    k = len(kernel_1d)
    rows = x.shape[0] - k + 1
    cols = x.shape[1] - k + 1
    along_rows = sum(kernel_1d[i] * x[i : i + rows, :] for i in range(k))
    return sum(kernel_1d[j] * along_rows[:, j : j + cols] for j in range(k))
