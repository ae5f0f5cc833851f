"""Ma et al.'s global features: a steerable pyramid, divisively normalised (`global_gsm.m`).

Steerable pyramid (`steerable_pyramid`, matlabPyrTools' `buildSFpyr(im, 2, 5)`), built in the
Fourier domain on the centred spectrum F = fftshift(fft2(im)). With frequencies normalised so the
Nyquist edge is at radius 1, r = |w| (at the DC sample r takes its left neighbour's value), theta its
angle, the masks are raised-cosine functions of log2 r, read off matlabPyrTools' lookup tables with
linear interpolation (`pointOp`):

- high-pass residual H0 = F * Yr(log2 r), low-pass L0 = F * sqrt(1 - Yr^2), where
  Yr(t) = cos(pi/2 * clip(-t, 0, 1))  (so Yr^2 + (1 - Yr^2) = 1: the masks tile the plane);
- scale s = 1, 2, with L the current low-pass spectrum: orientation b = 0..5 is
  B_b = (-i)^5 L Yr(log2 r + s) A_b(theta), A_b(theta) = c cos(theta - pi b / 6)^5 with
  c^2 = 2^10 5!^2 / (6 10!), so that sum_b A_b^2 = 1 at every angle; A_b is odd under
  theta -> theta + pi, which with the factor -i makes the bands real. The next L is the central
  ceil((dims - 0.5) / 2) samples of L times sqrt(1 - Yr(log2 r + s)^2);
- each band is the real part of ifft2(ifftshift(.)). Bands: 0 = high-pass (full size), 1..6 =
  scale 1 (full size), 7..12 = scale 2 (ceil((h - 0.5) / 2) x ...), 13 = the low-pass residual.

Divisive normalisation (`normalised_subbands`, `norm_sender_normalized.m` with a 3x3 neighbourhood,
parent and the other five orientations): for each band's interior coefficients (one pixel in from
each edge) the vector Y of the 3x3 neighbours, the parent (the next coarser band of the same
orientation, `imresize(., 2)` and cropped; only bands 1..5 have one, because the reference's test
is nband < Nband - Nor with Nband = 13) and the five other orientations at the same place. With
C = Y^T Y / n (negative eigenvalues zeroed, the rest rescaled to keep the trace),
z = sqrt(Y C^+ Y^T / N), N = 9 + (1 if there is a parent) -- the reference counts the spatial
neighbours and the parent, not the other orientations. The normalised band is
(o - mean(o)) / z, with a guard band of 16 / 2^(scale - 1) removed at each edge, minus its mean.

Features (`global_features`, 45): the generalized-Gaussian shape of each of the 12 normalised
bands; of each orientation's two scales pooled; the SSIM contrast-structure term (`cs_index`) of
each raw band (resized bicubically to full size) against the raw high-pass band; and of each pair
of scale-1 normalised bands.
"""

from __future__ import annotations

import math

import numpy as np

from esrgan.errors import ESRGANError
from esrgan.images.bicubic import imresize_numpy
from esrgan.metrics.fidelity import contrast_structure
from esrgan.metrics.ma.features import ggd_shape

N_SCALES = 2
N_ORIENTATIONS = 6
_ORDER = N_ORIENTATIONS - 1
_GUARD_BAND = 16
_LUT_SIZE = 1024


def point_op(x: np.ndarray, lut: np.ndarray, origin: float, increment: float) -> np.ndarray:
    """matlabPyrTools' `pointOp`: linear interpolation in a table sampled at origin + k * increment,
    extrapolated linearly from the first or last segment outside it (as the MEX code does)."""
    pos = (x - origin) / increment
    idx = np.clip(np.floor(pos), 0, len(lut) - 2).astype(np.intp)
    return lut[idx] + (lut[idx + 1] - lut[idx]) * (pos - idx)


def _raised_cosine() -> tuple[np.ndarray, np.ndarray]:
    """rcosFn(1, -1/2, [0 1]): (X, Y) with Y = cos^2 rising from 0 at X = -1 to 1 at X = 0."""
    sz = 256
    x = np.pi * np.arange(-sz - 1, 2) / (2 * sz)
    y = np.cos(x) ** 2
    y[0] = y[1]
    y[sz + 2] = y[sz + 1]
    return -0.5 + (2 / np.pi) * (x + np.pi / 4), y


def _polar_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(log2 r, theta) of the centred spectrum's samples, as buildSFpyr computes them."""
    h, w = shape
    ctr = (h // 2, w // 2)  # ceil((dims + 0.5) / 2) in 1-based terms
    xramp = (np.arange(w) - ctr[1]) / (w / 2)
    yramp = (np.arange(h) - ctr[0]) / (h / 2)
    xx, yy = np.meshgrid(xramp, yramp)
    angle = np.arctan2(yy, xx)
    rad = np.sqrt(xx**2 + yy**2)
    rad[ctr] = rad[ctr[0], ctr[1] - 1]  # avoid log2(0) at DC
    return np.log2(rad), angle


def steerable_pyramid(im: np.ndarray) -> list[np.ndarray]:
    """buildSFpyr(im, 2, 5) with twidth 1: [high-pass, 6 bands of scale 1, 6 of scale 2, low-pass]."""
    im = np.asarray(im, dtype=np.float64)
    log_rad, angle = _polar_grid(im.shape)
    xrcos, yrcos = _raised_cosine()
    yrcos = np.sqrt(yrcos)
    yircos = np.sqrt(1.0 - yrcos**2)
    step = xrcos[1] - xrcos[0]
    imdft = np.fft.fftshift(np.fft.fft2(im))
    hi0 = np.fft.ifft2(np.fft.ifftshift(imdft * point_op(log_rad, yrcos, xrcos[0], step))).real
    lodft = imdft * point_op(log_rad, yircos, xrcos[0], step)

    xcosn = np.pi * np.arange(-(2 * _LUT_SIZE + 1), _LUT_SIZE + 2) / _LUT_SIZE  # [-2 pi, pi]
    const = 2 ** (2 * _ORDER) * math.factorial(_ORDER) ** 2 / (N_ORIENTATIONS * math.factorial(2 * _ORDER))
    ycosn = math.sqrt(const) * np.cos(xcosn) ** _ORDER
    cos_step = xcosn[1] - xcosn[0]
    bands = [hi0]
    for _ in range(N_SCALES):
        xrcos = xrcos - 1.0  # one octave down
        step = xrcos[1] - xrcos[0]  # as the reference, from the shifted table
        himask = point_op(log_rad, yrcos, xrcos[0], step)
        for b in range(N_ORIENTATIONS):
            anglemask = point_op(angle, ycosn, xcosn[0] + np.pi * b / N_ORIENTATIONS, cos_step)
            banddft = (-1j) ** _ORDER * lodft * anglemask * himask
            bands.append(np.fft.ifft2(np.fft.ifftshift(banddft)).real)
        dims = np.array(lodft.shape)
        ctr = np.ceil((dims + 0.5) / 2).astype(int)
        lodims = np.ceil((dims - 0.5) / 2).astype(int)
        start = ctr - np.ceil((lodims + 0.5) / 2).astype(int)  # 0-based lostart
        crop = (slice(start[0], start[0] + lodims[0]), slice(start[1], start[1] + lodims[1]))
        log_rad, angle, lodft = log_rad[crop], angle[crop], lodft[crop]
        lodft = point_op(log_rad, np.abs(np.sqrt(1.0 - yrcos**2)), xrcos[0], step) * lodft
    bands.append(np.fft.ifft2(np.fft.ifftshift(lodft)).real)
    return bands


def _interior(x: np.ndarray, dy: int = 0, dx: int = 0) -> np.ndarray:
    """x shifted by (dy, dx) restricted to the interior (one pixel in from each edge)."""
    h, w = x.shape
    return x[1 - dy : h - 1 - dy, 1 - dx : w - 1 - dx]


def normalise_band(
    band: np.ndarray, parent: np.ndarray | None, others: list[np.ndarray], scale: int
) -> np.ndarray:
    """One band of `norm_sender_normalized` (see the module docstring); scale is 0 or 1."""
    columns = [_interior(band, dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    if parent is not None:
        columns.append(_interior(parent))
    columns += [_interior(o) for o in others]
    y = np.stack([c.ravel() for c in columns], axis=1)
    n_neighbours = 9 + (parent is not None)
    cov = y.T @ y / len(y)
    eigval, eigvec = np.linalg.eigh(cov)
    kept = eigval * (eigval > 0)
    # Zero negative eigenvalues and rescale so the trace (the total variance) is unchanged.
    kept = kept * eigval.sum() / (kept.sum() + (kept.sum() == 0))
    cov = (eigvec * kept) @ eigvec.T
    pinv = np.linalg.pinv(cov, rcond=max(cov.shape) * np.finfo(np.float64).eps)  # MATLAB pinv's tol
    z = np.sqrt(np.sum((y @ pinv) * y, axis=1) / n_neighbours)
    if not np.all(z > 0):
        raise ESRGANError("Ma's score is undefined for this image: a wavelet neighbourhood is all zero")
    centre = _interior(band)
    g = ((centre.ravel() - np.mean(centre)) / z).reshape(centre.shape)
    gb = _GUARD_BAND // 2**scale
    g = g[gb:-gb, gb:-gb]
    return g - np.mean(g)


def normalised_subbands(bands: list[np.ndarray]) -> list[np.ndarray]:
    """The 12 divisively normalised oriented bands (scale 1 then scale 2), as 2-D arrays."""
    out = []
    for scale in range(N_SCALES):
        first = 1 + scale * N_ORIENTATIONS
        for o in range(N_ORIENTATIONS):
            band = bands[first + o]
            parent = None
            if scale == 0 and o < N_ORIENTATIONS - 1:  # nband < Nband - Nor in the reference
                up = imresize_numpy(bands[first + N_ORIENTATIONS + o], 2.0)
                parent = up[: band.shape[0], : band.shape[1]]
            others = [bands[first + k] for k in range(N_ORIENTATIONS) if k != o]
            out.append(normalise_band(band, parent, others, scale))
    return out


def cs_index(a: np.ndarray, b: np.ndarray) -> float:
    """`ssim_index_new`'s mcs: mean over the valid 11x11 windows of (2 sigma_ab + C2) /
    (sigma_a^2 + sigma_b^2 + C2), C2 = (0.03 * 255)^2 (`fidelity.contrast_structure`)."""
    if min(a.shape) < 11:
        raise ESRGANError(f"Ma's score: a wavelet band of {a.shape[0]}x{a.shape[1]} is under SSIM's 11x11")
    return contrast_structure(a, b)


def global_features(luma: np.ndarray) -> np.ndarray:
    """The 45 features of `global_gsm` of the Y channel on the 0..255 scale."""
    bands = steerable_pyramid(luma)
    sub = normalised_subbands(bands)
    feats = [float(ggd_shape(s.ravel())) for s in sub]
    feats += [
        float(ggd_shape(np.concatenate([sub[i].ravel(), sub[i + N_ORIENTATIONS].ravel()])))
        for i in range(N_ORIENTATIONS)
    ]
    hp = bands[0]
    for band in bands[1 : 1 + N_SCALES * N_ORIENTATIONS]:
        resized = band if band.shape == hp.shape else imresize_numpy(band, None, output_size=hp.shape)
        feats.append(cs_index(resized, hp))
    for i in range(N_ORIENTATIONS):
        for j in range(i + 1, N_ORIENTATIONS):
            feats.append(cs_index(sub[i], sub[j]))
    return np.array(feats)
