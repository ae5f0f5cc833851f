"""Blur kernels of the Real-ESRGAN degradation model, as float64 torch tensors (k x k, sum 1).

Coordinates: a kernel of odd size k samples offsets -(k//2) .. k//2, with `x` the column offset and
`y` the row offset. The Gaussian family is written with the covariance matrix

    Sigma = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T,   q(x, y) = [x y] Sigma^-1 [x y]^T

  Gaussian             exp(-q / 2)              (its second moments are Sigma)
  generalized Gaussian exp(-q^beta / 2)         (beta = 1: the Gaussian; < 1 heavier tails, > 1 flatter top)
  plateau              1 / (1 + q^beta)         (a flat top and heavy tails)
  sinc (circular low-pass, cut-off omega in radians per pixel, pi = Nyquist):
                       omega J1(omega r) / (2 pi r),  r = sqrt(x^2 + y^2), omega^2 / (4 pi) at r = 0

Every kernel is normalised to sum 1 after sampling. All are point-symmetric (k(x, y) = k(-x, -y)),
so correlation and convolution with them are the same operation.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

from esrgan.data.degradations.config import KERNEL_TYPES, DegradationStage

PADDED_SIZE = 21  # every drawn kernel is zero-padded to this size, so a batch stacks


@functools.lru_cache(maxsize=32)
def mesh_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) offsets of an odd size x size kernel, centred on 0: x varies along columns, y along rows."""
    axis = np.arange(size, dtype=np.float64) - size // 2
    y, x = np.meshgrid(axis, axis, indexing="ij")
    x.flags.writeable = False  # shared by every caller through the cache
    y.flags.writeable = False
    return x, y


def _quadratic_form(size: int, sigma_x: float, sigma_y: float | None, theta: float) -> np.ndarray:
    # q = [x y] Sigma^-1 [x y]^T, written in the kernel's own axes: (u / sigma_x)^2 + (v / sigma_y)^2.
    x, y = mesh_grid(size)
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * x + s * y, -s * x + c * y
    return (u / sigma_x) ** 2 + (v / (sigma_x if sigma_y is None else sigma_y)) ** 2


def _normalised(kernel: np.ndarray) -> Tensor:
    return torch.from_numpy(kernel / kernel.sum())


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0) -> Tensor:
    """Isotropic (sigma_y None) or anisotropic Gaussian."""
    return _normalised(np.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta)))


def fspecial_gaussian(size: int, sigma: float) -> Tensor:
    """MATLAB's fspecial('gaussian', size, sigma): offsets -(size-1)/2 .. (size-1)/2, so an even size
    is centred between two pixels; values below eps * max set to 0, then normalised to sum 1."""
    axis = np.arange(size, dtype=np.float64) - (size - 1) / 2
    kernel = np.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * sigma**2))
    kernel[kernel < np.finfo(np.float64).eps * kernel.max()] = 0
    return _normalised(kernel)


def generalized_gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0
) -> Tensor:
    return _normalised(np.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta) ** beta))


def plateau_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0
) -> Tensor:
    return _normalised(1.0 / (1.0 + _quadratic_form(size, sigma_x, sigma_y, theta) ** beta))


def sinc_kernel(size: int, cutoff: float) -> Tensor:
    """Circularly symmetric ideal low-pass filter, sampled and normalised (ringing / overshoot)."""
    x, y = mesh_grid(size)
    r = torch.from_numpy(np.hypot(x, y))
    safe = torch.where(r == 0, torch.ones_like(r), r)
    kernel = cutoff * torch.special.bessel_j1(cutoff * safe) / (2 * math.pi * safe)
    kernel = torch.where(r == 0, torch.full_like(r, cutoff**2 / (4 * math.pi)), kernel)
    return kernel / kernel.sum()


def pad_kernel(kernel: Tensor, size: int = PADDED_SIZE) -> Tensor:
    """Zero-pad a centred kernel to size x size."""
    p = (size - kernel.shape[-1]) // 2
    return torch.nn.functional.pad(kernel, (p, p, p, p)) if p > 0 else kernel


def _shape_beta(rng: np.random.Generator, beta_range: tuple[float, float]) -> float:
    # Half below 1, half above 1, as the released code: a uniform draw over the whole range would
    # make the rarer side (below 1 for generalized Gaussians) nearly vanish.
    low, high = beta_range
    return float(rng.uniform(low, 1.0)) if rng.uniform() < 0.5 else float(rng.uniform(1.0, high))


def _sinc_cutoff(rng: np.random.Generator, size: int) -> float:
    # Small kernels cannot hold a low cut-off's wide main lobe (the released dataset's rule).
    return float(rng.uniform(math.pi / 3, math.pi)) if size < 13 else float(rng.uniform(math.pi / 5, math.pi))


def random_blur_kernel(rng: np.random.Generator, stage: DegradationStage, sizes: tuple[int, ...]) -> Tensor:
    """One blur kernel of a degradation round, zero-padded to 21 x 21."""
    size = int(rng.choice(sizes))
    if rng.uniform() < stage.sinc_prob:
        return pad_kernel(sinc_kernel(size, _sinc_cutoff(rng, size)))
    probs = np.asarray(stage.kernel_prob, dtype=np.float64)
    kind = KERNEL_TYPES[int(rng.choice(len(KERNEL_TYPES), p=probs / probs.sum()))]
    low, high = stage.blur_sigma
    sigma_x = float(rng.uniform(low, high))
    sigma_y, theta = None, 0.0
    if kind.endswith("aniso"):
        sigma_y, theta = float(rng.uniform(low, high)), float(rng.uniform(-math.pi, math.pi))
    if kind.startswith("plateau"):
        kernel = plateau_kernel(size, sigma_x, sigma_y, theta, _shape_beta(rng, stage.betap_range))
    else:  # the Gaussian is the generalized one at beta 1 (q ** 1.0 is q exactly)
        beta = _shape_beta(rng, stage.betag_range) if kind.startswith("generalized") else 1.0
        kernel = generalized_gaussian_kernel(size, sigma_x, sigma_y, theta, beta)
    return pad_kernel(kernel)


def random_final_sinc(rng: np.random.Generator, prob: float, sizes: tuple[int, ...]) -> Tensor | None:
    """The final sinc filter (cut-off in [pi/3, pi]), or None (no filter) with probability 1 - prob."""
    if rng.uniform() >= prob:
        return None
    size = int(rng.choice(sizes))
    return pad_kernel(sinc_kernel(size, float(rng.uniform(math.pi / 3, math.pi))))
