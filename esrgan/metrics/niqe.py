"""NIQE (Mittal, Soundararajan and Bovik, "Making a completely blind image quality analyzer", 2013).

Follows the LIVE MATLAB release and BasicSR's port of it (`basicsr.metrics.niqe`) step by step: Y
channel of MATLAB rgb2ycbcr rounded to integers, image cut to whole 96x96 blocks, two scales (the
second a MATLAB bicubic x0.5 resize), MSCN coefficients with the 7x7 Gaussian window (edges
replicated), per block an AGGD fit of the coefficients and of their products with the right,
lower, lower-right and lower-left neighbours (circular shift inside the block) = 18 features per
scale, then the distance between the multivariate Gaussian of the image's blocks and the pristine
model shipped in `data/niqe_pris_params.npz`. Lower is better.

Arithmetic is float64 throughout, as MATLAB's. BasicSR 1.4.2 runs in float32 (it casts the input,
its imresize returns float32 and scipy keeps the dtype); on the test photos the two agree to 1e-3
(tests/test_niqe.py). Where they differ by more (smooth images such as bicubic outputs: up to
~8e-3), the cause is BasicSR's float32: its MSCN coefficients are off by up to ~1e-3, which zeroes
or flips the sign of a few hundred near-zero coefficients and moves the AGGD shape of some blocks
one step along the 0.001 grid. Run in float64, BasicSR's algorithm gives this module's value to
1e-9 (chelsea). Against MATLAB's published baboon value (5.72957338) this module is 5e-7 off and
BasicSR 9.3e-6. The one deliberate difference is in flat regions, see `mscn`.

All blocks of a scale are fitted at once (vectorised over blocks); a 2K image takes about a second.
"""

from __future__ import annotations

import functools
import io
import math
from importlib import resources
from typing import Any, NamedTuple

import numpy as np

from esrgan.errors import ESRGANError
from esrgan.images.bicubic import imresize
from esrgan.metrics.color import rgb_to_y, round_like_matlab
from esrgan.metrics.image_input import crop_borders, to_float255

BLOCK_SIZE = 96
_PRISTINE_FILE = "niqe_pris_params.npz"
# Neighbour offsets (rows, cols) of the pairwise products, as MATLAB's circshift in the reference.
_PAIR_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
# Pixels per strip in `mscn` (about 256 KiB per float64 buffer).
_STRIP_ELEMENTS = 32768


class PristineModel(NamedTuple):
    mu: np.ndarray  # (36,)
    cov: np.ndarray  # (36, 36)
    window: np.ndarray  # (7, 7) Gaussian, sigma 7/6


class _ShapeTable(NamedTuple):
    """The reference's grid of AGGD shapes alpha and the gamma-function values it needs."""

    alpha: np.ndarray
    ratio: np.ndarray  # Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)), increasing in a
    gamma_1: np.ndarray  # Gamma(1/a)
    gamma_2: np.ndarray  # Gamma(2/a)
    gamma_3: np.ndarray  # Gamma(3/a)


def niqe(img: Any, *, crop_border: int = 0, y_channel: bool = True, data_range: float | None = None) -> float:
    """NIQE of one image (numpy HW/HWC or torch HW/CHW/NCHW; see `to_float255`).

    RGB images are measured on MATLAB's Y channel rounded to integers, as the reference does with
    uint8 images; single-channel images are used as they are (also rounded). The image, after
    cropping `crop_border` pixels at each edge, must hold at least two 96x96 blocks; the remainder
    at the right and bottom edges is ignored.
    """
    return niqe_of_luma(
        integer_luma(img, crop_border=crop_border, y_channel=y_channel, data_range=data_range)
    )


def integer_luma(
    img: Any, *, crop_border: int = 0, y_channel: bool = True, data_range: float | None = None
) -> np.ndarray:
    """The image the no-reference scores see: Y (or the single channel) on the 0..255 scale, cropped,
    rounded to integers (MATLAB stores rgb2ycbcr of a uint8 image as uint8); HW float64."""
    x = to_float255(img, data_range=data_range, name="img")
    if x.ndim == 3:
        if not y_channel:
            raise ESRGANError("NIQE is defined on one channel: use y_channel=True for RGB images")
        x = rgb_to_y(x)
    return round_like_matlab(crop_borders(x, crop_border, name="img"))


def niqe_of_luma(luma: np.ndarray) -> float:
    """NIQE of an HW float array on the 0..255 scale, taken as it is (no rounding, no conversion)."""
    if luma.ndim != 2:
        raise ESRGANError(f"niqe_of_luma expects one channel (HW), got shape {luma.shape}")
    model = pristine_model()
    h, w = luma.shape
    rows, cols = h // BLOCK_SIZE, w // BLOCK_SIZE
    if rows * cols < 2:
        raise ESRGANError(f"NIQE needs at least two {BLOCK_SIZE}x{BLOCK_SIZE} blocks, the image is {h}x{w}")
    luma = np.asarray(luma[: rows * BLOCK_SIZE, : cols * BLOCK_SIZE], dtype=np.float64)

    half = np.asarray(imresize(luma / 255.0, 0.5, antialias=True), dtype=np.float64) * 255.0
    features = np.concatenate(
        [
            block_features(mscn(luma, model.window), BLOCK_SIZE),
            block_features(mscn(half, model.window), BLOCK_SIZE // 2),
        ],
        axis=1,
    )
    return _model_distance(features, model)


def mscn(x: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients (x - mu) / (sigma + 1), Eq. 1 of the paper.

    mu and sigma are the window-weighted mean and standard deviation over each pixel's 7x7
    neighbourhood (edges replicated). They are accumulated as differences from the centre pixel,
    which is the same quantity (the window sums to 1 and variance is shift-invariant) but gives
    exactly 0 where the true coefficient is 0, as in flat regions, rather than round-off whose sign
    decides whether the sample counts as negative or positive in the AGGD fit. (The textbook
    E[x^2] - mu^2 form leaves that to chance: BasicSR's float32 arithmetic happens to give 0 there,
    scipy in float64 gives +-1e-14, which moves NIQE of a photo with large flat areas by ~3e-2.)
    """
    kh, kw = window.shape
    h, w = x.shape
    padded = np.pad(x, ((kh // 2, kh // 2), (kw // 2, kw // 2)), mode="edge")
    out = np.empty_like(x)
    strip = max(1, _STRIP_ELEMENTS // w)  # rows per pass, so the buffers stay in cache
    for top in range(0, h, strip):
        rows = min(strip, h - top)
        centre = x[top : top + rows]
        mean_dev = np.zeros_like(centre)
        mean_sq_dev = np.zeros_like(centre)
        dev = np.empty_like(centre)
        term = np.empty_like(centre)
        for i in range(kh):
            for j in range(kw):
                np.subtract(padded[top + i : top + i + rows, j : j + w], centre, out=dev)
                np.multiply(dev, window[i, j], out=term)
                mean_dev += term
                term *= dev
                mean_sq_dev += term
        sigma = np.sqrt(np.abs(mean_sq_dev - mean_dev * mean_dev))
        out[top : top + rows] = -mean_dev / (sigma + 1.0)
    return out


def block_features(coefficients: np.ndarray, block: int) -> np.ndarray:
    """The 18 NIQE features of every non-overlapping block x block tile: (n_blocks, 18)."""
    h, w = coefficients.shape
    rows, cols = h // block, w // block
    tiles = (
        coefficients[: rows * block, : cols * block]
        .reshape(rows, block, cols, block)
        .transpose(0, 2, 1, 3)
        .reshape(rows * cols, block, block)
    )
    table = _shape_table()
    idx, left, right = _aggd_fit(tiles.reshape(len(tiles), -1))
    columns = [table.alpha[idx], (left + right) / 2]
    for shift in _PAIR_SHIFTS:
        products = tiles * np.roll(tiles, shift, axis=(1, 2))
        idx, left, right = _aggd_fit(products.reshape(len(tiles), -1))
        mean = (right - left) * (table.gamma_2[idx] / table.gamma_1[idx])  # Eq. 8
        columns += [table.alpha[idx], mean, left, right]
    return np.stack(columns, axis=1)


def _aggd_fit(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moment-matching AGGD fit of each row: (index of alpha in the shape table, beta_left, beta_right).

    Rows without negative or positive values give NaN betas and alpha = 0.2 (the table's first
    entry), exactly as the reference's argmin over NaN differences does.
    """
    squares = samples * samples
    negative = samples < 0
    positive = samples > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        # einsum: masked row sums, about 3x faster than np.sum(..., where=mask)
        left_std = np.sqrt(np.einsum("ij,ij->i", squares, negative) / np.count_nonzero(negative, axis=1))
        right_std = np.sqrt(np.einsum("ij,ij->i", squares, positive) / np.count_nonzero(positive, axis=1))
        gamma_hat = left_std / right_std
        r_hat = np.mean(np.abs(samples), axis=1) ** 2 / np.mean(squares, axis=1)
        r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    idx = _nearest_ratio_index(r_hat_norm)
    table = _shape_table()
    scale = np.sqrt(table.gamma_1[idx] / table.gamma_3[idx])
    return idx, left_std * scale, right_std * scale


def _nearest_ratio_index(values: np.ndarray) -> np.ndarray:
    """argmin over the table of (ratio - value)^2, by bisection since the ratio increases with alpha.

    Like the reference's argmin (and MATLAB's min): the first index on ties, and index 0 when every
    difference is NaN or infinite.
    """
    ratio = _shape_table().ratio
    last = len(ratio) - 1
    above = np.searchsorted(ratio, values)  # NaN sorts past the end
    lo = np.clip(above - 1, 0, last)
    hi = np.clip(above, 0, last)
    with np.errstate(over="ignore", invalid="ignore"):
        below_sq = (ratio[lo] - values) ** 2
        above_sq = (ratio[hi] - values) ** 2
    best = np.where(below_sq <= above_sq, lo, hi)
    best[~np.isfinite(np.minimum(below_sq, above_sq))] = 0
    return best


def _model_distance(features: np.ndarray, model: PristineModel) -> float:
    """Eq. 10: sqrt((mu_p - mu_d)^T pinv((S_p + S_d) / 2) (mu_p - mu_d)), NaN-tolerant like
    MATLAB's nanmean/nancov (rows with any NaN are left out of the covariance)."""
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        raise ESRGANError("NIQE is undefined for this image: under two blocks have texture (flat image?)")
    mu = np.nanmean(features, axis=0)
    cov = np.cov(complete, rowvar=False)
    diff = model.mu - mu
    return float(math.sqrt(diff @ np.linalg.pinv((model.cov + cov) / 2) @ diff))


@functools.lru_cache(maxsize=1)
def pristine_model() -> PristineModel:
    """The LIVE pristine-image model (see data/PROVENANCE.md), loaded once."""
    data = resources.files("esrgan.metrics").joinpath("data", _PRISTINE_FILE).read_bytes()
    with np.load(io.BytesIO(data)) as npz:
        mu = npz["mu_pris_param"].reshape(-1).astype(np.float64)
        cov = npz["cov_pris_param"].astype(np.float64)
        window = npz["gaussian_window"].astype(np.float64)
    for a in (mu, cov, window):
        a.flags.writeable = False
    return PristineModel(mu, cov, window)


@functools.lru_cache(maxsize=1)
def _shape_table() -> _ShapeTable:
    alpha = np.arange(0.2, 10.001, 0.001)  # the reference's grid, 9801 values
    inv = np.reciprocal(alpha)
    gamma_1 = _gamma(inv)
    gamma_2 = _gamma(inv * 2)
    gamma_3 = _gamma(inv * 3)
    table = _ShapeTable(alpha, gamma_2**2 / (gamma_1 * gamma_3), gamma_1, gamma_2, gamma_3)
    for a in table:
        a.flags.writeable = False
    return table


def _gamma(x: np.ndarray) -> np.ndarray:
    return np.array([math.gamma(v) for v in x.tolist()], dtype=np.float64)
