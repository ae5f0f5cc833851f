"""Degradations: kernels against their formulas and covariances, filters against scipy, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, ndimage, special

from esrgan.data.degradations import kernels as K
from esrgan.data.degradations.config import (
    DegradationStage,
    GaussianDegradation,
    RealESRGANDegradation,
)
from esrgan.data.degradations.pipeline import (
    TrainingDegradation,
    degradation_seed,
    filter2d,
    gaussian_bd,
    realesrgan_degrade,
    reflect_pad,
    usm_sharpen,
)

pytestmark = pytest.mark.usefixtures("one_thread")


# ---- independent references ------------------------------------------------------------------------


def named_covariance(sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """The covariance that (sigma_x, sigma_y, theta) name: axes sigma_x, sigma_y rotated by theta."""
    major = np.array([math.cos(theta), math.sin(theta)])  # the sigma_x axis
    minor = np.array([-math.sin(theta), math.cos(theta)])
    return sigma_x**2 * np.outer(major, major) + sigma_y**2 * np.outer(minor, minor)


def second_moments(kernel: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(mean offset, covariance) of a kernel read as a distribution over (x = column, y = row) offsets."""
    k = kernel.numpy()
    offsets = np.arange(k.shape[0]) - k.shape[0] // 2
    y, x = np.meshgrid(offsets, offsets, indexing="ij")
    mean = np.array([(k * x).sum(), (k * y).sum()])
    cov = np.array([[(k * x * x).sum(), (k * x * y).sum()], [(k * x * y).sum(), (k * y * y).sum()]])
    return mean, cov


def radial_covariance_factor(profile) -> float:
    """For a density g(q) with q = x^T S^-1 x in 2-D, Cov = c * S with c = E[q] / 2 (numerically)."""
    num = integrate.quad(lambda t: t * profile(t), 0, np.inf)[0]
    den = integrate.quad(profile, 0, np.inf)[0]
    return num / den / 2


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


# ---- kernels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sigma_x", "sigma_y", "theta"),
    [(3.0, 1.2, 0.7), (2.0, 2.0, 0.0), (1.0, 2.5, -2.0), (2.5, 1.0, math.pi / 2)],
)
def test_gaussian_kernel_has_the_covariance_it_names(sigma_x, sigma_y, theta):
    kernel = K.gaussian_kernel(41, sigma_x, sigma_y, theta)
    mean, cov = second_moments(kernel)
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(mean, 0, atol=1e-12)
    assert relative_error(cov, named_covariance(sigma_x, sigma_y, theta)) < 1e-6


@pytest.mark.parametrize(
    ("beta", "size", "sigmas"), [(0.5, 81, (2.0, 1.0)), (2.0, 41, (5.0, 3.0)), (4.0, 41, (6.0, 3.5))]
)
def test_generalized_gaussian_covariance_scales_with_its_shape(beta, size, sigmas):
    theta = 0.5
    kernel = K.generalized_gaussian_kernel(size, *sigmas, theta, beta)
    factor = radial_covariance_factor(lambda t: math.exp(-0.5 * t**beta))
    if beta == 2.0:  # the closed form 2^(1/beta) Gamma(2/beta) / (2 Gamma(1/beta)) as a cross-check
        assert factor == pytest.approx(
            2 ** (1 / beta) * special.gamma(2 / beta) / special.gamma(1 / beta) / 2
        )
    _, cov = second_moments(kernel)
    assert relative_error(cov, factor * named_covariance(*sigmas, theta)) < 0.01


@pytest.mark.parametrize(("beta", "size"), [(3.0, 101), (4.0, 61)])
def test_plateau_covariance_scales_with_its_shape(beta, size):
    # The plateau's continuous covariance is finite only for beta > 2 (its tails fall as r^(-2 beta)).
    sigmas, theta = (3.0, 1.5) if beta == 3.0 else (5.0, 3.0), 0.5
    kernel = K.plateau_kernel(size, *sigmas, theta, beta)
    factor = radial_covariance_factor(lambda t: 1 / (1 + t**beta))
    assert factor == pytest.approx(1 / (4 * math.cos(math.pi / beta)))  # the Beta-integral closed form
    _, cov = second_moments(kernel)
    assert relative_error(cov, factor * named_covariance(*sigmas, theta)) < 0.01


def test_kernel_values_follow_their_formulas():
    sx, sy, theta, beta = 2.2, 0.9, 1.1, 1.6
    offsets = np.arange(21) - 10
    y, x = np.meshgrid(offsets, offsets, indexing="ij")
    u = x * math.cos(theta) + y * math.sin(theta)  # coordinates along the sigma_x / sigma_y axes
    v = -x * math.sin(theta) + y * math.cos(theta)
    q = (u / sx) ** 2 + (v / sy) ** 2
    for kernel, shape in [
        (K.gaussian_kernel(21, sx, sy, theta), np.exp(-q / 2)),
        (K.generalized_gaussian_kernel(21, sx, sy, theta, beta), np.exp(-(q**beta) / 2)),
        (K.plateau_kernel(21, sx, sy, theta, beta), 1 / (1 + q**beta)),
    ]:
        np.testing.assert_allclose(kernel.numpy(), shape / shape.sum(), rtol=1e-10, atol=1e-15)
    cutoff = 1.3
    r = np.hypot(x, y)
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(r == 0, cutoff**2 / (4 * np.pi), cutoff * special.j1(cutoff * r) / (2 * np.pi * r))
    # torch's float64 J1 agrees with scipy's to about 1e-5 relative (1e-8 absolute here).
    np.testing.assert_allclose(K.sinc_kernel(21, cutoff).numpy(), sinc / sinc.sum(), rtol=1e-4, atol=1e-7)


def dihedral_images(k: np.ndarray) -> list[np.ndarray]:
    return [k, k.T, k[::-1], k[:, ::-1], k[::-1, ::-1], k.T[::-1], k.T[:, ::-1], k.T[::-1, ::-1]]


def test_symmetries():
    iso = [
        K.gaussian_kernel(15, 1.7),
        K.generalized_gaussian_kernel(15, 1.7, beta=0.7),
        K.plateau_kernel(15, 1.7, beta=1.5),
        K.sinc_kernel(15, 2.0),
    ]
    for kernel in iso:  # isotropic: all 8 flips/rotations of the square
        for image in dihedral_images(kernel.numpy()):
            np.testing.assert_allclose(image, kernel.numpy(), atol=1e-15)
    aniso = [
        K.gaussian_kernel(15, 2.5, 0.8, 0.4),
        K.generalized_gaussian_kernel(15, 2.5, 0.8, 0.4, 3.0),
        K.plateau_kernel(15, 2.5, 0.8, 0.4, 1.2),
    ]
    for kernel in aniso:  # anisotropic: point symmetry only, and not transpose-symmetric
        k = kernel.numpy()
        np.testing.assert_allclose(k[::-1, ::-1], k, atol=1e-15)
        assert np.abs(k.T - k).max() > 1e-3
    # theta = 0: the sigma_x axis is the x (column) axis
    k = K.gaussian_kernel(15, 3.0, 1.0, 0.0).numpy()
    assert k[7, 10] > k[10, 7]


def test_random_kernels_sum_to_one_and_are_point_symmetric():
    rng = np.random.default_rng(0)
    stage = DegradationStage(sinc_prob=0.3)
    sizes = RealESRGANDegradation().kernel_sizes
    for _ in range(60):
        k = K.random_blur_kernel(rng, stage, sizes)
        assert k.shape == (21, 21)
        assert float(k.sum()) == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(k.flip(0, 1).numpy(), k.numpy(), atol=1e-15)
    assert K.random_final_sinc(rng, 0.0, sizes) is None


# ---- filters ---------------------------------------------------------------------------------------


def test_filter2d_matches_scipy_reflect_correlation():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.random((2, 3, 13, 17)))
    kernels = torch.stack([K.gaussian_kernel(21, 2.0, 0.7, 0.3), K.sinc_kernel(21, 1.1)])
    out = filter2d(x, kernels).numpy()
    for b in range(2):
        for c in range(3):
            # scipy "mirror" is torch's "reflect" (the edge pixel not repeated); the axis is shorter
            # than the 10-pixel reach, so the padding reflects more than once.
            ref = ndimage.correlate(x[b, c].numpy(), kernels[b].numpy(), mode="mirror")
            np.testing.assert_allclose(out[b, c], ref, atol=1e-12)


def test_reflect_pad_wider_than_the_image_matches_numpy():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    np.testing.assert_array_equal(reflect_pad(x, 7)[0, 0].numpy(), np.pad(x[0, 0].numpy(), 7, mode="reflect"))


def test_usm_sharpen_matches_an_independent_unsharp_mask():
    rng = np.random.default_rng(2)
    base = ndimage.zoom(rng.random((8, 8)), 8, order=1)  # smooth 64 x 64 with edges
    x = torch.from_numpy(np.stack([base, base**2, 1 - base])[None])
    sigma = 0.3 * ((51 - 1) * 0.5 - 1) + 0.8  # OpenCV's sigma for ksize 51, sigma 0: 8.0
    taps = np.exp(-0.5 * ((np.arange(51) - 25) / sigma) ** 2)
    kernel = np.outer(taps, taps) / taps.sum() ** 2
    out = usm_sharpen(x).numpy()[0]
    for c in range(3):
        img = x[0, c].numpy()
        residual = img - ndimage.correlate(img, kernel, mode="mirror")
        soft = ndimage.correlate((np.abs(residual) * 255 > 10).astype(float), kernel, mode="mirror")
        expected = soft * np.clip(img + 0.5 * residual, 0, 1) + (1 - soft) * img
        np.testing.assert_allclose(out[c], expected, atol=1e-10)


def matlab_fspecial_gaussian(size: int, sigma: float) -> np.ndarray:
    """fspecial('gaussian', size, sigma) as MATLAB's source writes it: meshgrid(-siz:siz) with
    siz = (size - 1) / 2, exp(-(x^2 + y^2) / (2 sigma^2)), values below eps * max zeroed, sum 1."""
    siz = (size - 1) / 2
    x, y = np.meshgrid(np.arange(-siz, siz + 1), np.arange(-siz, siz + 1))
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def matlab_imfilter_replicate(img: np.ndarray, h: np.ndarray) -> np.ndarray:
    """imfilter(img, h, 'replicate') (correlation), summed tap by tap: the kernel's centre is
    floor((size + 1) / 2) in 1-based terms, so output (i, j) reads img(i + u - centre, j + v - centre)."""
    k = h.shape[0]
    centre = (k + 1) // 2  # 1-based
    rows, cols = img.shape
    out = np.zeros_like(img, dtype=np.float64)
    for u in range(1, k + 1):
        for v in range(1, k + 1):
            ri = np.clip(np.arange(rows) + u - centre, 0, rows - 1)
            ci = np.clip(np.arange(cols) + v - centre, 0, cols - 1)
            out += h[u - 1, v - 1] * img[np.ix_(ri, ci)]
    return out


def rdn_imresize_bd(img: np.ndarray, scale: int, sigma: float = 1.6) -> np.ndarray:
    """RDN's imresize_BD (RDN_TestCode/Prepare_TestData_HR_LR.m) on one channel, 1-based indices
    turned 0-based: odd scales 2*ceil(3 sigma)+1 taps (7 at x3, sigma 1.6) and imresize 'nearest'
    (output u reads input round(u * scale + (1 - scale) / 2)); even scales 2*ceil(3 sigma)+2 taps
    and blurred(scale/2 : scale : end - scale/2)."""
    if scale % 2:
        size = 7 if (scale == 3 and sigma == 1.6) else math.ceil(sigma * 3) * 2 + 1
        blurred = matlab_imfilter_replicate(img, matlab_fspecial_gaussian(size, sigma))
        u = np.arange(1, img.shape[0] // scale + 1)
        w = np.arange(1, img.shape[1] // scale + 1)
        rows = np.floor(u * scale + 0.5 * (1 - scale) + 0.5).astype(int) - 1
        cols = np.floor(w * scale + 0.5 * (1 - scale) + 0.5).astype(int) - 1
        return blurred[np.ix_(rows, cols)]
    size = math.ceil(sigma * 3) * 2 + 2
    blurred = matlab_imfilter_replicate(img, matlab_fspecial_gaussian(size, sigma))
    first = scale // 2 - 1
    return blurred[first : img.shape[0] - scale // 2 : scale, first : img.shape[1] - scale // 2 : scale]


@pytest.mark.parametrize("scale, sigma, taps", [(4, 1.6, 12), (3, 1.6, 7), (2, 1.6, 12), (3, 1.2, 9)])
def test_bd_follows_rdns_script(scale, sigma, taps):
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.integers(0, 256, (1, 3, 24, 36)).astype(np.float32) / 255)
    cfg = GaussianDegradation(sigma=sigma)
    assert cfg.size_at(scale) == taps
    lr = gaussian_bd(x, scale, cfg).numpy()[0]
    for c in range(3):
        expected = np.round(rdn_imresize_bd(x[0, c].numpy().astype(np.float64), scale, sigma) * 255) / 255
        assert lr[c].shape == (24 // scale, 36 // scale) == expected.shape
        assert np.abs(lr[c] - expected).max() <= 1 / 255 + 1e-6  # float32 rounding ties may differ by 1
        assert np.mean(np.abs(lr[c] - expected) > 1e-6) < 0.02


@pytest.mark.parametrize("scale, offset", [(2, 0), (3, 1), (4, 1), (8, 3)])
def test_bd_keeps_the_scripts_pixel_phase(scale, offset):
    """With a 1-tap kernel the blur is the identity and only the kept pixel shows: 1-based scale/2
    at even scales (RDN's script: offset 1 at x4, where imresize 'nearest' would take 2), the
    block's centre at odd ones."""
    x = torch.from_numpy(np.random.default_rng(4).integers(0, 256, (1, 3, 24, 24)).astype(np.float32) / 255)
    lr = gaussian_bd(x, scale, GaussianDegradation(sigma=1.0, kernel_size=1))
    assert torch.equal(lr, x[..., offset::scale, offset::scale])


def test_bd_name_and_its_older_alias():
    from esrgan.data.degradations.pipeline import degrade_image
    from esrgan.errors import ESRGANError

    image = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert np.array_equal(degrade_image(image, "bd", 4, 0), degrade_image(image, "gaussian", 4, 0))
    assert TrainingDegradation("gaussian", 4, 0, 2).kind == "bd"
    with pytest.raises(ESRGANError, match="bicubic, bd, realesrgan, gaussian"):
        degrade_image(image, "blur", 4, 0)


# ---- the Real-ESRGAN pipeline ----------------------------------------------------------------------


def photo_batch(n: int = 3, size: int = 48) -> torch.Tensor:
    from skimage import data

    photo = torch.from_numpy(data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)
    return torch.stack([photo[:, 40 * i : 40 * i + size, 100 : 100 + size] for i in range(n)])


def test_realesrgan_is_deterministic_per_sample_and_varies_with_the_seed():
    hr = photo_batch()
    cfg = RealESRGANDegradation()
    seeds = [degradation_seed(7, n) for n in range(3)]
    a = realesrgan_degrade(hr, 4, cfg, seeds)
    b = realesrgan_degrade(hr, 4, cfg, seeds)
    assert a.shape == (3, 3, 12, 12) and torch.equal(a, b)
    assert torch.equal((a * 255).round(), a * 255) and float(a.min()) >= 0 and float(a.max()) <= 1
    # A sample depends on its own seed only, not on the rest of the batch.
    alone = realesrgan_degrade(hr[1:2], 4, cfg, seeds[1:2])
    assert torch.equal(alone[0], a[1])
    other = realesrgan_degrade(hr, 4, cfg, [degradation_seed(8, n) for n in range(3)])
    assert not torch.equal(other, a)


def test_realesrgan_with_every_step_off_is_plain_resizing():
    # No blur, no resize, no noise, JPEG at quality 100, no final sinc, area resize: close to a box
    # downscale (independent: a mean over 4 x 4 blocks), within JPEG-100 and 8-bit rounding.
    off = DegradationStage(
        blur_prob=0.0,
        resize_prob=(0, 0, 1),
        gaussian_noise_prob=1.0,
        noise_range=(0, 0),
        jpeg_range=(100, 100),
    )
    cfg = RealESRGANDegradation(first=off, second=off, final_sinc_prob=0.0)  # type: ignore[arg-type]
    hr = photo_batch(4)
    seeds = [degradation_seed(0, n) for n in range(4)]
    lr = realesrgan_degrade(hr, 4, cfg, seeds)
    box = hr.reshape(4, 3, 12, 4, 12, 4).mean(dim=(3, 5))
    close = [(lr[i] - box[i]).abs().mean().item() for i in range(4)]
    assert max(close) < 4 / 255  # bilinear/bicubic resizes without antialias differ a little from a box


def test_training_degradation_seeds_are_the_global_sample_stream():
    def make(rank: int, world: int) -> TrainingDegradation:
        return TrainingDegradation("realesrgan", 4, seed=5, batch_size=4, rank=rank, world_size=world)

    single = make(0, 1).seeds(iteration=3, count=4)
    assert single == [degradation_seed(5, n) for n in range(12, 16)]
    assert make(0, 2).seeds(3, 2) + make(1, 2).seeds(3, 2) == single


def test_training_degradation_outputs():
    hr = photo_batch(2, 32)
    lr_in = torch.zeros(2, 3, 8, 8)
    target_only = TrainingDegradation("bicubic", 4, 0, 2, usm_sharpen_gt=True)
    lr, target, real = target_only(lr_in, hr, 0)
    assert lr is lr_in and real is hr and torch.equal(target, usm_sharpen(hr))
    gauss = TrainingDegradation("bd", 4, 0, 2)
    lr, target, real = gauss(lr_in, hr, 0)
    assert torch.equal(lr, gaussian_bd(hr, 4, GaussianDegradation())) and target is hr and real is hr
    real_esrgan = TrainingDegradation("realesrgan", 4, 0, 2, usm_sharpen_gt=True)
    lr, target, real = real_esrgan(lr_in, hr, 5)
    expected = realesrgan_degrade(usm_sharpen(hr), 4, RealESRGANDegradation(), real_esrgan.seeds(5, 2))
    assert torch.equal(lr, expected) and real is hr
