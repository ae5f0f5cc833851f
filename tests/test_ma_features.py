"""Ma et al.'s features against slow re-derivations written out here from the authors' MATLAB code,
and the steerable pyramid against the properties buildSFpyr guarantees."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import scipy.io
import scipy.ndimage
import scipy.signal
import scipy.special
from skimage import data

from esrgan.images.bicubic import imresize_numpy
from esrgan.metrics.ma import ma_features
from esrgan.metrics.ma.features import block_dct_features, ggd_shape, image_pyramid, svd_features
from esrgan.metrics.ma.pyramid import cs_index, global_features, normalised_subbands, steerable_pyramid

# ---------------------------------------------------------------- features, slowly


def _camera() -> np.ndarray:
    return data.camera()[200:296, 180:308].astype(np.float64)  # 96x128, integer valued


def _gamma_slow(x: np.ndarray) -> float:
    g = np.arange(0.03, 10.0005, 0.001)
    r = scipy.special.gamma(1 / g) * scipy.special.gamma(3 / g) / scipy.special.gamma(2 / g) ** 2
    rho = np.var(x, ddof=1) / (np.mean(np.abs(x - np.mean(x))) ** 2 + 1e-7)
    return float(g[np.argmin(np.abs(r - rho))])


def _cv(x: np.ndarray, eps: float) -> float:
    return float(np.std(np.abs(x), ddof=1) / (np.mean(np.abs(x)) + eps))


def _block_dct_slow(im: np.ndarray) -> np.ndarray:
    """block_dct.m with blkproc written out: zero padding to a multiple of 3, a 2-pixel zero border."""
    h, w = im.shape
    mpad, npad = (3 - h % 3) % 3, (3 - w % 3) % 3
    aa = np.zeros((h + mpad + 4, w + npad + 4))
    aa[2 : 2 + h, 2 : 2 + w] = im
    rows, cols = (h + mpad) // 3, (w + npad) // 3
    gam, cv, ori = (np.zeros((rows, cols)) for _ in range(3))
    for i in range(rows):
        for j in range(cols):
            t = scipy.fft.dctn(aa[3 * i : 3 * i + 7, 3 * j : 3 * j + 7], norm="ortho")
            ac = t.flatten(order="F")[1:]
            gam[i, j] = _gamma_slow(ac)
            cv[i, j] = _cv(ac, 1e-7)

            def m(r, c, t=t):  # MATLAB's 1-based t(r, c(1):c(2))
                return t[r - 1, c[0] - 1 : c[1]]

            o1 = np.concatenate([m(1, (2, 7)), m(2, (3, 7)), m(3, (5, 7)), m(4, (6, 7))])
            o2 = np.concatenate(
                [m(2, (2, 2)), m(3, (3, 4)), m(4, (3, 5)), m(5, (4, 7)), m(6, (5, 7)), m(7, (5, 7))]
            )
            o3 = np.concatenate([t[1:, 0], t[2:, 1], t[4:, 2], t[5:, 3]])
            ori[i, j] = np.var([_cv(o1, 1e-8), _cv(o2, 1e-8), _cv(o3, 1e-8)], ddof=1)
    out = []
    for values, low in ((gam, True), (cv, False), (ori, False)):
        s = np.sort(values.flatten(order="F"))
        n = len(s)
        part = s[: math.ceil(n * 0.1)] if low else s[math.trunc(n * 0.9) - 1 :]  # 1-based MATLAB ranges
        out += [np.mean(part), np.mean(s)]
    return np.array(out)


def _im2col_svd_slow(im: np.ndarray) -> np.ndarray:
    h, w = im.shape
    ph, pw = math.ceil(h / 5) * 5, math.ceil(w / 5) * 5
    padded = np.zeros((ph, pw))
    padded[:h, :w] = im
    cols = [padded[i : i + 5, j : j + 5].flatten(order="F") for j in range(0, pw, 5) for i in range(0, ph, 5)]
    return np.linalg.svd(np.stack(cols, axis=1), compute_uv=False)


def test_dct_pca_features_and_image_pyramid_match_slow_versions() -> None:
    im = _camera()
    levels = image_pyramid(im)
    x = np.arange(3) - 1.0
    h = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 0.5**2))
    h /= h.sum()
    slow = [im / 255]
    for _ in range(2):
        slow.append(scipy.ndimage.correlate(slow[-1], h, mode="constant")[1::2, 1::2])
    for ours, ref in zip(levels, slow, strict=True):
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-15)
    for level in slow:
        np.testing.assert_allclose(block_dct_features(level), _block_dct_slow(level), rtol=1e-10)
        np.testing.assert_allclose(svd_features(level), _im2col_svd_slow(level), rtol=1e-10)
    f1, _, f3 = ma_features(im)
    np.testing.assert_allclose(f1, np.concatenate([_block_dct_slow(s) for s in slow]), rtol=1e-10)
    np.testing.assert_allclose(f3, np.concatenate([_im2col_svd_slow(s) for s in slow]), rtol=1e-10)


def test_ggd_shape_is_the_first_nearest_grid_value() -> None:
    rng = np.random.default_rng(3)
    samples = rng.standard_normal((300, 48)) * rng.random((300, 1)) ** 3
    samples = np.sign(samples) * np.abs(samples) ** rng.uniform(0.2, 3, (300, 1))  # heavy to light tails
    samples[0] = 0.0  # rho = 0: the end of the grid
    # Equal up to the grids' last bits (np.arange and MATLAB's colon round differently).
    np.testing.assert_allclose(ggd_shape(samples), [_gamma_slow(s) for s in samples], rtol=1e-13)


def _cs_slow(a: np.ndarray, b: np.ndarray) -> float:
    x = np.arange(11) - 5.0
    win = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
    win /= win.sum()

    def f(v):
        return scipy.signal.correlate2d(v, win, mode="valid")

    mu_a, mu_b = f(a), f(b)
    cov = f(a * b) - mu_a * mu_b
    return float(
        np.mean((2 * cov + (0.03 * 255) ** 2) / (f(a * a) - mu_a**2 + f(b * b) - mu_b**2 + (0.03 * 255) ** 2))
    )


def _normalise_slow(bands: list[np.ndarray], nband: int) -> np.ndarray:
    """norm_sender_normalized.m for one band (MATLAB's 1-based nband in 2..13), written out with
    MATLAB's circular `shift`, column-major (:) and pinv."""
    nor, n_last = 6, 13
    scale = (nband - 2) // nor + 1
    orien = (nband - 2) % nor + 1
    aux = bands[nband - 1]
    nv, nh = aux.shape
    prnt = nband < n_last - nor
    nblv, nblh = nv - 2, nh - 2
    cols = []
    for ny in (-1, 0, 1):
        for nx in (-1, 0, 1):
            foo = np.roll(aux, (ny, nx), axis=(0, 1))  # shift(y, [ny nx])
            cols.append(foo[1 : 1 + nblv, 1 : 1 + nblh].flatten(order="F"))
    if prnt:
        auxp = imresize_numpy(bands[nband + nor - 1], 2.0)[:nv, :nh]
        cols.append(auxp[1 : 1 + nblv, 1 : 1 + nblh].flatten(order="F"))
    for neib in range(1, nor + 1):
        if neib != orien:
            cols.append(bands[(scale - 1) * nor + neib][1 : 1 + nblv, 1 : 1 + nblh].flatten(order="F"))
    y = np.stack(cols, axis=1)
    n = 9 + prnt
    cx = y.T @ y / (nblv * nblh)
    lam, q = np.linalg.eig(cx)
    lam, q = lam.real, q.real
    pos = lam * (lam > 0)
    cx = q @ np.diag(pos * lam.sum() / (pos.sum() + (pos.sum() == 0))) @ q.T
    p = np.linalg.pinv(cx)
    z = np.array([math.sqrt(row @ p @ row / n) for row in y])
    o_c = aux[1 : 1 + nblv, 1 : 1 + nblh].flatten(order="F")
    g = ((o_c - o_c.mean()) / z).reshape(nblv, nblh, order="F")
    gb = 16 // 2 ** (scale - 1)
    g = g[gb:-gb, gb:-gb]
    return g - g.mean()


def test_divisive_normalisation_and_global_features_match_slow_versions() -> None:
    im = _camera()
    bands = steerable_pyramid(im)
    sub = normalised_subbands(bands)
    slow = [_normalise_slow(bands, nband) for nband in range(2, 14)]
    for ours, ref in zip(sub, slow, strict=True):
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
    assert [s.shape for s in sub] == [(96 - 34, 128 - 34)] * 6 + [(48 - 18, 64 - 18)] * 6
    hp = bands[0]
    expected = [_gamma_slow(s.flatten(order="F")) for s in slow]
    expected += [
        _gamma_slow(np.concatenate([slow[i].flatten("F"), slow[i + 6].flatten("F")])) for i in range(6)
    ]
    expected += [_cs_slow(imresize_numpy(b, None, output_size=hp.shape), hp) for b in bands[1:13]]
    expected += [_cs_slow(slow[i], slow[j]) for i in range(6) for j in range(i + 1, 6)]
    np.testing.assert_allclose(global_features(im), expected, rtol=1e-9)
    assert cs_index(slow[0], slow[1]) == pytest.approx(_cs_slow(slow[0], slow[1]), rel=1e-12)


# ---------------------------------------------------------------- steerable pyramid


def _lut(x: np.ndarray, table_x: np.ndarray, table_y: np.ndarray) -> np.ndarray:
    """The tables' end segments are flat, so pointOp's linear extrapolation is np.interp's clamping."""
    return np.interp(x, table_x, table_y)


def _radial_tables() -> tuple[np.ndarray, np.ndarray]:
    x = np.pi * np.arange(-257, 2) / 512
    y = np.cos(x) ** 2
    y[0], y[-1] = y[1], y[-2]
    return -0.5 + (2 / np.pi) * (x + np.pi / 4), np.sqrt(y)


def _polar(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.meshgrid((np.arange(h) - h // 2) / (h / 2), (np.arange(w) - w // 2) / (w / 2), indexing="ij")
    rad = np.hypot(xx, yy)
    rad[h // 2, w // 2] = rad[h // 2, w // 2 - 1]
    return np.log2(rad), np.arctan2(yy, xx)


def _reconstruct(bands: list[np.ndarray]) -> np.ndarray:
    """reconSFpyr written out: each band's spectrum times its own mask (conjugate factor i^5), summed."""
    xr, yr = _radial_tables()
    yir = np.sqrt(1 - yr**2)
    c = math.sqrt(2**10 * math.factorial(5) ** 2 / (6 * math.factorial(10)))
    xc = np.pi * np.arange(-2049, 1026) / 1024

    def spectrum(x: np.ndarray) -> np.ndarray:
        return np.fft.fftshift(np.fft.fft2(x))

    def level(k: int, log_rad: np.ndarray, angle: np.ndarray) -> np.ndarray:
        if k == 2:
            return spectrum(bands[13])
        out = np.zeros(log_rad.shape, dtype=complex)
        himask = _lut(log_rad, xr - (k + 1), yr)
        for b in range(6):
            amask = _lut(angle, xc + np.pi * b / 6, c * np.cos(xc) ** 5)
            out += 1j**5 * spectrum(bands[1 + 6 * k + b]) * amask * himask
        lo = bands[7].shape if k == 0 else bands[13].shape
        start = [
            math.ceil((d + 0.5) / 2) - math.ceil((s + 0.5) / 2)
            for d, s in zip(log_rad.shape, lo, strict=True)
        ]
        inner = (slice(start[0], start[0] + lo[0]), slice(start[1], start[1] + lo[1]))
        lomask = _lut(log_rad[inner], xr - (k + 1), yir)
        out[inner] += level(k + 1, log_rad[inner], angle[inner]) * lomask
        return out

    log_rad, angle = _polar(*bands[0].shape)
    total = spectrum(bands[0]) * _lut(log_rad, xr, yr) + level(0, log_rad, angle) * _lut(log_rad, xr, yir)
    return np.fft.ifft2(np.fft.ifftshift(total)).real


@pytest.mark.parametrize("shape", [(64, 80), (71, 66)])
def test_pyramid_bands_tile_the_spectrum(shape) -> None:
    """Analysis and synthesis masks square-sum to 1 everywhere, so the bands give the image back, up
    to the lookup tables' linear interpolation (about 5e-6 of the signal: matlabPyrTools' own error)."""
    rng = np.random.default_rng(4)
    im = scipy.ndimage.gaussian_filter(rng.random(shape) * 255, 1.0) + rng.random(shape) * 20
    bands = steerable_pyramid(im)
    half = tuple(math.ceil((s - 0.5) / 2) for s in shape)
    quarter = tuple(math.ceil((s - 0.5) / 2) for s in half)
    assert [b.shape for b in bands] == [shape] * 7 + [half] * 6 + [quarter]
    np.testing.assert_allclose(_reconstruct(bands), im, rtol=0, atol=1e-5 * np.ptp(im))
    impulse = np.zeros(shape)
    impulse[shape[0] // 3, shape[1] // 2] = 1.0
    np.testing.assert_allclose(_reconstruct(steerable_pyramid(impulse)), impulse, rtol=0, atol=1e-5)


def _raised_cos(t: float) -> float:
    """The radial mask's profile: 0 below -1, cos(pi t / 2) on [-1, 0], 1 above."""
    return math.cos(math.pi / 2 * min(max(-t, 0.0), 1.0))


def test_pyramid_orientation_masks_steer() -> None:
    """A plane wave at frequency radius r in [0.5, 0.55) lies in scale 1 only: band b holds it times
    c cos(theta - pi b / 6)^5 times the radial mask sqrt(1 - Yr(log2 r)^2) Yr(log2 r + 1), as a
    sine (the -i factor); scale 2 holds nothing."""
    c = math.sqrt(2**10 * math.factorial(5) ** 2 / (6 * math.factorial(10)))
    yy, xx = np.mgrid[0:64, 0:64]
    for ky, kx in ((0, 16), (8, 14), (10, -13), (-12, -11)):
        r = math.hypot(ky, kx) / 32
        assert 0.5 <= r < 0.55
        t = math.log2(r)
        radial = math.sqrt(1 - _raised_cos(t) ** 2) * _raised_cos(t + 1)
        phase = 2 * np.pi * (ky * yy + kx * xx) / 64
        bands = steerable_pyramid(np.cos(phase))
        theta = math.atan2(ky, kx)
        for b in range(6):
            expected = c * math.cos(theta - np.pi * b / 6) ** 5 * radial * np.sin(phase)
            np.testing.assert_allclose(bands[1 + b], expected, rtol=0, atol=1e-5)
        for band in bands[7:]:
            np.testing.assert_allclose(band, 0, atol=1e-10)
