"""Typed settings of the degradations, with the Real-ESRGAN paper's defaults.

Sources (Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic
Data", ICCVW 2021, section 3 and its released `options/train_realesrgan_x4plus.yml`, identical in
`train_realesrnet_x4plus.yml`): every default below is the released option value of the same name;
the kernel sizes 7..21 and the sinc cut-off ranges are fixed in its `RealESRGANDataset`.

This module imports no torch: the training config reads it when `esrgan train --help` runs.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field
from typing import Literal

from esrgan.errors import ESRGANError

Degradation = Literal["bicubic", "bd", "realesrgan"]
DEGRADATIONS: tuple[str, ...] = typing.get_args(Degradation)
# Older names, still read (a public name stays): the blur-downsample degradation was `gaussian`.
DEGRADATION_ALIASES = {"gaussian": "bd"}


def degradation_name(kind: str) -> str:
    """`kind` with an older name replaced by the current one; an unknown name is an error."""
    kind = DEGRADATION_ALIASES.get(kind, kind)
    if kind not in DEGRADATIONS:
        names = ", ".join((*DEGRADATIONS, *DEGRADATION_ALIASES))
        raise ESRGANError(f"degradation must be one of {names}, got {kind!r}")
    return kind


# Order of `DegradationStage.kernel_prob` (the released option's `kernel_list`).
KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
RESIZE_MODES = ("area", "bilinear", "bicubic")


@dataclass(frozen=True)
class DegradationStage:
    """One of the two rounds: blur -> random resize -> Gaussian or Poisson noise -> JPEG."""

    blur_prob: float = 1.0  # second round: second_blur_prob 0.8
    kernel_prob: tuple[float, float, float, float, float, float] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob: float = 0.1  # a sinc (ringing) kernel instead of the mixed kernels
    blur_sigma: tuple[float, float] = (0.2, 3.0)  # second: (0.2, 1.5); sigma_x and sigma_y each
    betag_range: tuple[float, float] = (0.5, 4.0)  # generalized Gaussian shape
    betap_range: tuple[float, float] = (1.0, 2.0)  # plateau shape
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep; second: 0.3, 0.4, 0.3
    resize_range: tuple[float, float] = (0.15, 1.5)  # second: (0.3, 1.2)
    gaussian_noise_prob: float = 0.5  # else Poisson noise
    noise_range: tuple[float, float] = (1.0, 30.0)  # Gaussian sigma on the 0..255 scale; second: 1..25
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)  # second: (0.05, 2.5)
    gray_noise_prob: float = 0.4  # the same noise in the three channels
    jpeg_range: tuple[int, int] = (30, 95)  # JPEG quality, drawn as an integer (libjpeg takes integers)


@dataclass(frozen=True)
class SecondDegradationStage(DegradationStage):
    """The second round's defaults (its own class, so that a config naming one of its keys keeps
    the others at the second round's values rather than the first's)."""

    blur_prob: float = 0.8
    blur_sigma: tuple[float, float] = (0.2, 1.5)
    resize_prob: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range: tuple[float, float] = (0.3, 1.2)
    noise_range: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range: tuple[float, float] = (0.05, 2.5)


@dataclass(frozen=True)
class RealESRGANDegradation:
    """The second-order pipeline. The last step resizes to HR/scale and applies the final sinc filter
    and JPEG in random order (probability 1/2 each, as the released model code)."""

    first: DegradationStage = field(default_factory=DegradationStage)
    second: SecondDegradationStage = field(default_factory=SecondDegradationStage)
    final_sinc_prob: float = 0.8
    kernel_sizes: tuple[int, ...] = (7, 9, 11, 13, 15, 17, 19, 21)  # drawn uniformly, zero-padded to 21


@dataclass(frozen=True)
class GaussianDegradation:
    """The blur of the "BD" (blur-downsample) degradation of RDN (Zhang et al., CVPR 2018), as
    its `RDN_TestCode/Prepare_TestData_HR_LR.m` makes it: MATLAB's
    fspecial('gaussian', size, sigma), imfilter(..., 'replicate'), then one pixel of each
    scale x scale block (see `pipeline.bd_degrade`). Not SRGAN's degradation: SRGAN trains on
    bicubic LR (its section 3.2).

    `kernel_size` None is the script's size: 2*ceil(3 sigma)+1 at odd scales (7 at x3 with sigma
    1.6, a special case of the script), 2*ceil(3 sigma)+2 at even scales (12 at x4 for sigma 1.6).
    """

    sigma: float = 1.6
    kernel_size: int | None = None

    def size_at(self, scale: int) -> int:
        if self.kernel_size is not None:
            return self.kernel_size
        if scale % 2:
            return 7 if scale == 3 and self.sigma == 1.6 else 2 * math.ceil(3 * self.sigma) + 1
        return 2 * math.ceil(3 * self.sigma) + 2


def check_degradation(config: object, prefix: str) -> None:
    """Range checks for the training config loader; raises ESRGANError naming the key."""

    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ESRGANError(f"{prefix}{key} {what}, got {getattr(config, key)!r}")

    def interval(key: str, low: float, high: float) -> None:
        a, b = getattr(config, key)
        need(low <= a <= b <= high, key, f"must be an interval (low <= high) within [{low}, {high}]")

    if isinstance(config, GaussianDegradation):
        need(config.sigma > 0, "sigma", "must be positive")
        need(config.kernel_size is None or config.kernel_size > 0, "kernel_size", "must be positive or null")
    elif isinstance(config, RealESRGANDegradation):
        need(0 <= config.final_sinc_prob <= 1, "final_sinc_prob", "must be in [0, 1]")
        need(
            bool(config.kernel_sizes) and all(k % 2 == 1 and 3 <= k <= 21 for k in config.kernel_sizes),
            "kernel_sizes",
            "must be odd sizes from 3 to 21",
        )
    elif isinstance(config, DegradationStage):
        for key in ("blur_prob", "sinc_prob", "gaussian_noise_prob", "gray_noise_prob"):
            need(0 <= getattr(config, key) <= 1, key, "must be in [0, 1]")
        for key in ("kernel_prob", "resize_prob"):
            probs = getattr(config, key)
            need(min(probs) >= 0 and sum(probs) > 0, key, "must be non-negative weights, not all 0")
        interval("blur_sigma", 1e-3, 50.0)
        for key in ("betag_range", "betap_range", "resize_range"):
            # Drawn below 1 or above 1 with equal odds (shape), or per "down"/"up" (resize).
            low, high = getattr(config, key)
            need(0.01 <= low <= 1 <= high <= 50, key, "must be an interval around 1, within [0.01, 50]")
        interval("noise_range", 0.0, 255.0)
        interval("poisson_scale_range", 0.0, 100.0)
        interval("jpeg_range", 1, 100)
