"""Ma et al.'s DCT and PCA features and the generalized-Gaussian fit they share (`feature_all.m`).

The image pyramid (`image_pyramid`): im1 = the Y channel / 255, im_{k+1} = every second pixel
(rows and columns 2, 4, ... in MATLAB's 1-based terms) of im_k filtered with the 3x3 Gaussian of
sigma 0.5 (`fspecial('gaussian', 3)`), correlation with zero padding (`imfilter`'s default).

DCT features (`block_dct_features`, 6 per scale): `blkproc(im, [3 3], [2 2], fun)` cuts the image,
zero-padded at the bottom and right to a multiple of 3, into 3x3 blocks and hands `fun` each block
with a 2-pixel border of its neighbours (zeros outside the image): 7x7 windows on a stride of 3.
Of each window's orthonormal 2-D DCT-II, D = C X C^T, the 48 AC coefficients (all but D[0, 0]) give

- the generalized-Gaussian shape gamma (`gama_gen_gauss`, see `ggd_shape`),
- the coefficient of variation of |AC|: std(|a|) / (mean(|a|) + 1e-7) (std with N - 1),
- the variance (N - 1) over three frequency orientations of std(|a|) / (mean(|a|) + 1e-8), each
  taken over one 16-coefficient wedge of D (`oriented{1,2,3}_dct_rho_config3.m`).

Each map is pooled over the blocks, sorted ascending (n values, s_1 <= ... <= s_n): gamma by the
mean of s_1..s_ceil(0.1 n) and the mean of all; the other two by the mean of s_fix(0.9 n)..s_n
(n - fix(0.9 n) + 1 values: MATLAB's 1-based range, one more than a plain top 10 %) and the mean.

PCA features (`svd_features`, 25 per scale): the singular values, descending, of the 25 x n matrix
whose columns are the image's 5x5 blocks (`im2col(im, [5 5], 'distinct')`, zero padding at the
bottom and right).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from esrgan.errors import ESRGANError
from esrgan.metrics.filtering import gaussian_kernel_1d, valid_filter

# blkproc's block and border: 3x3 blocks seen through 7x7 windows.
_BLOCK = 3
_BORDER = 2
_WINDOW = _BLOCK + 2 * _BORDER
_PCA_BLOCK = 5
_GAMMA_EPS = 1e-7  # gama_gen_gauss and coeff_var_gen_gauss
_ORIENTED_EPS = 1e-8  # oriented*_dct_rho_config3


def image_pyramid(luma: np.ndarray) -> list[np.ndarray]:
    """[im1, im2, im3]: the Y channel (0..255) / 255, then twice Gaussian-filtered and decimated."""
    kernel = gaussian_kernel_1d(3, 0.5)  # fspecial('gaussian', 3) is its outer product: sigma 0.5
    levels = [np.asarray(luma, dtype=np.float64) / 255.0]
    for _ in range(2):
        filtered = valid_filter(np.pad(levels[-1], 1), kernel)  # imfilter: 'same', zero padding
        levels.append(np.ascontiguousarray(filtered[1::2, 1::2]))
    return levels


@functools.lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    """Orthonormal DCT-II matrix C (7x7): dct2(X) = C X C^T, C[k, n] = a_k cos(pi (2n + 1) k / 14)."""
    k = np.arange(_WINDOW)[:, None]
    n = np.arange(_WINDOW)[None, :]
    c = np.cos(np.pi * (2 * n + 1) * k / (2 * _WINDOW)) * math.sqrt(2.0 / _WINDOW)
    c[0] /= math.sqrt(2.0)
    c.flags.writeable = False
    return c


def _oriented_masks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three 16-coefficient wedges of a 7x7 DCT (the nn == 7 branch, converted to 0-based)."""
    rows1 = {0: range(1, 7), 1: range(2, 7), 2: range(4, 7), 3: range(5, 7)}
    rows2 = {1: [1], 2: range(2, 4), 3: range(2, 5), 4: range(3, 7), 5: range(4, 7), 6: range(4, 7)}
    masks = []
    for rows in (rows1, rows2):
        m = np.zeros((_WINDOW, _WINDOW), dtype=bool)
        for r, cols in rows.items():
            m[r, list(cols)] = True
        masks.append(m)
    masks.append(masks[0].T.copy())  # oriented3 is oriented1 with rows and columns swapped
    return masks[0], masks[1], masks[2]


def block_dct_windows(im: np.ndarray) -> np.ndarray:
    """DCTs of blkproc's 7x7 windows, (ceil(h/3) * ceil(w/3), 7, 7), blocks in row-major order."""
    h, w = im.shape
    bh, bw = -(-h // _BLOCK), -(-w // _BLOCK)
    padded = np.zeros((bh * _BLOCK + 2 * _BORDER, bw * _BLOCK + 2 * _BORDER))
    padded[_BORDER : _BORDER + h, _BORDER : _BORDER + w] = im
    windows = np.lib.stride_tricks.sliding_window_view(padded, (_WINDOW, _WINDOW))[::_BLOCK, ::_BLOCK]
    c = _dct_matrix()
    return c @ windows.reshape(bh * bw, _WINDOW, _WINDOW) @ c.T


def _abs_coefficient_of_variation(values: np.ndarray, eps: float) -> np.ndarray:
    """std(|v|) / (mean(|v|) + eps) along the last axis, std with N - 1 as MATLAB's std."""
    a = np.abs(values)
    return np.std(a, axis=-1, ddof=1) / (np.mean(a, axis=-1) + eps)


def block_dct_features(im: np.ndarray) -> np.ndarray:
    """The 6 DCT features of one scale: pooled gamma, coefficient of variation, orientation variance."""
    dct = block_dct_windows(im)
    ac = dct.reshape(len(dct), -1)[:, 1:]  # D[0, 0] comes first in any flattening order
    gamma = ggd_shape(ac)
    coeff_var = _abs_coefficient_of_variation(ac, _GAMMA_EPS)
    oriented = np.stack([_abs_coefficient_of_variation(dct[:, m], _ORIENTED_EPS) for m in _oriented_masks()])
    orientation_var = np.var(oriented, axis=0, ddof=1)
    return np.array([*_pool_low(gamma), *_pool_high(coeff_var), *_pool_high(orientation_var)])


def _pool_low(values: np.ndarray) -> tuple[float, float]:
    """(mean of the lowest ceil(0.1 n), mean of all), as block_dct.m's 1:ceil(n*0.1)."""
    s = np.sort(values)
    return float(np.mean(s[: math.ceil(len(s) * 0.1)])), float(np.mean(s))


def _pool_high(values: np.ndarray) -> tuple[float, float]:
    """(mean of s(fix(0.9 n):end), mean of all): the 1-based start keeps n - fix(0.9 n) + 1 values."""
    s = np.sort(values)
    start = int(len(s) * 0.9)  # fix(n*0.9), computed as MATLAB does (n * 0.9, not n * 9 / 10)
    return float(np.mean(s[max(start, 1) - 1 :])), float(np.mean(s))


def svd_features(im: np.ndarray) -> np.ndarray:
    """Singular values (descending) of im2col(im, [5 5], 'distinct'); min(25, n_blocks) of them."""
    h, w = im.shape
    bh, bw = -(-h // _PCA_BLOCK), -(-w // _PCA_BLOCK)
    padded = np.zeros((bh * _PCA_BLOCK, bw * _PCA_BLOCK))
    padded[:h, :w] = im
    # Column and row order of the block matrix do not change its singular values.
    blocks = padded.reshape(bh, _PCA_BLOCK, bw, _PCA_BLOCK).transpose(0, 2, 1, 3).reshape(-1, _PCA_BLOCK**2)
    return np.linalg.svd(blocks, compute_uv=False)


# ------------------------------------------------------------------ generalized Gaussian


@functools.lru_cache(maxsize=1)
def _ggd_table() -> tuple[np.ndarray, np.ndarray]:
    """gama_gen_gauss's grid g = 0.03:0.001:10 and r(g) = Gamma(1/g) Gamma(3/g) / Gamma(2/g)^2.

    r decreases strictly along the grid (checked here), which `ggd_shape` relies on.
    """
    # MATLAB's colon a:d:b computes the first half as a + k d and the second half as b - (n - k) d.
    n = 9970
    k = np.arange(n + 1)
    g = np.where(k < n / 2, 0.03 + k * 0.001, 10.0 - (n - k) * 0.001)
    r = np.array([math.gamma(1.0 / v) * math.gamma(3.0 / v) / math.gamma(2.0 / v) ** 2 for v in g.tolist()])
    if not np.all(np.diff(r) < 0):
        raise ESRGANError("internal error: the generalized-Gaussian ratio table is not monotonic")
    g.flags.writeable = False
    r.flags.writeable = False
    return g, r


def ggd_shape(samples: np.ndarray) -> np.ndarray:
    """Generalized-Gaussian shape of each row (or of a 1-D array), as `gama_gen_gauss.m`.

    rho = var(x) / (mean(|x - mean(x)|)^2 + 1e-7) (var with N - 1); the shape is the grid value g
    whose r(g) is nearest to rho, the first one on ties (MATLAB's min). Since r decreases, the
    nearest entry is one of the two around rho's place in the sorted table.
    """
    x = np.asarray(samples, dtype=np.float64)
    mean = np.mean(x, axis=-1, keepdims=True)
    var = np.var(x, axis=-1, ddof=1)
    mean_abs = np.mean(np.abs(x - mean), axis=-1) ** 2
    rho = var / (mean_abs + _GAMMA_EPS)
    g, r = _ggd_table()
    flat = np.atleast_1d(rho)
    after = np.searchsorted(-r, -flat, side="left")  # first index with r <= rho
    lo = np.clip(after - 1, 0, len(r) - 1)
    hi = np.clip(after, 0, len(r) - 1)
    with np.errstate(invalid="ignore"):
        best = np.where(np.abs(r[lo] - flat) <= np.abs(r[hi] - flat), lo, hi)
    best[np.isnan(flat)] = 0  # min over all-NaN differences returns the first index
    out = g[best]
    return out.reshape(np.shape(rho))
