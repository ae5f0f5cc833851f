"""PSNR, SSIM, RMSE, the MATLAB Y channel and PIRM regions, each against a separate computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from esrgan.errors import ESRGANError
from esrgan.metrics import pirm_region, psnr, rgb_to_y, rmse, ssim
from esrgan.metrics.fidelity import ssim_map


def _pair(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    noise = rng.integers(-20, 21, size=shape)
    b = np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)
    return a, b


# ---------------------------------------------------------------- PSNR / RMSE by hand


def test_psnr_and_rmse_of_tiny_arrays_by_hand():
    img = np.array([[0, 10], [20, 30]], dtype=np.uint8)
    ref = np.array([[0, 12], [20, 26]], dtype=np.uint8)
    # squared errors 0, 4, 0, 16 -> MSE 5
    assert psnr(img, ref) == pytest.approx(10 * math.log10(255**2 / 5), abs=1e-12)
    assert rmse(img, ref) == pytest.approx(math.sqrt(5), abs=1e-12)


def test_psnr_of_identical_images_is_inf():
    a, _ = _pair((8, 8, 3))
    assert psnr(a, a.copy()) == math.inf
    assert rmse(a, a.copy()) == 0.0


def test_crop_border_drops_the_edges():
    img = np.zeros((6, 6), dtype=np.uint8)
    ref = np.zeros((6, 6), dtype=np.uint8)
    img[0, :] = 200  # only the border differs ...
    img[3, 3] = 5  # ... and one inner pixel, error 5 over the 2x2 centre left by crop_border=2
    assert rmse(img, ref, crop_border=2) == pytest.approx(math.sqrt(25 / 4), abs=1e-12)
    assert psnr(img, ref, crop_border=2) == pytest.approx(10 * math.log10(255**2 / (25 / 4)), abs=1e-12)


def test_y_channel_psnr_matches_formula_written_out():
    a, b = _pair((20, 24, 3), seed=1)

    def y(x):  # MATLAB rgb2ycbcr, Y only, on 0..255 values
        x = x.astype(np.float64)
        return 16 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255

    mse = np.mean((y(a)[3:-3, 3:-3] - y(b)[3:-3, 3:-3]) ** 2)
    assert psnr(a, b, y_channel=True, crop_border=3) == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-10)
    assert rmse(a, b, y_channel=True, crop_border=3) == pytest.approx(np.sqrt(mse), abs=1e-10)


# ---------------------------------------------------------------- Y conversion


@pytest.mark.parametrize(
    ("rgb", "expected"),
    [
        ((0, 0, 0), 16.0),
        ((255, 255, 255), 16 + 65.481 + 128.553 + 24.966),  # 235, not OpenCV's 255
        ((255, 0, 0), 16 + 65.481),
        ((0, 255, 0), 16 + 128.553),
        ((0, 0, 255), 16 + 24.966),
        ((100, 150, 200), 16 + (6548.1 + 19282.95 + 4993.2) / 255),  # 136.879411...
    ],
)
def test_rgb_to_y_hand_computed(rgb, expected):
    pixel = np.array(rgb, dtype=np.float64).reshape(1, 1, 3)
    assert rgb_to_y(pixel)[0, 0] == pytest.approx(expected, abs=1e-12)


def test_white_is_235_in_y():
    assert rgb_to_y(np.full((1, 1, 3), 255.0))[0, 0] == pytest.approx(235.0, abs=1e-12)


# ---------------------------------------------------------------- input forms


def test_input_forms_agree():
    a, b = _pair((16, 16, 3), seed=2)
    expected = psnr(a, b)
    as_float = (a / 255.0, b / 255.0)
    assert psnr(*as_float) == pytest.approx(expected, abs=1e-9)
    as_uint16 = (a.astype(np.uint16) * 257, b.astype(np.uint16) * 257)  # 255 * 257 = 65535
    assert psnr(*as_uint16) == pytest.approx(expected, abs=1e-9)
    chw = (torch.from_numpy(a).permute(2, 0, 1) / 255.0, torch.from_numpy(b).permute(2, 0, 1) / 255.0)
    assert psnr(*chw) == pytest.approx(expected, abs=1e-5)  # float32 tensors
    nchw = tuple(torch.from_numpy(x).permute(2, 0, 1)[None].double() / 255.0 for x in (a, b))
    assert psnr(*nchw) == pytest.approx(expected, abs=1e-9)
    assert psnr(a, nchw[1]) == pytest.approx(expected, abs=1e-9)  # mixed forms
    assert psnr(a.astype(np.float64), b.astype(np.float64), data_range=255) == pytest.approx(
        expected, abs=1e-9
    )


def test_float_image_on_0_255_scale_is_refused_without_data_range():
    a, b = _pair((8, 8), seed=3)
    with pytest.raises(ESRGANError, match="data_range"):
        psnr(a.astype(np.float32), b.astype(np.float32))


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ESRGANError, match=r"\(10, 10, 3\).*\(10, 12, 3\)"):
        psnr(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(ESRGANError, match="shape"):
        ssim(np.zeros((20, 20), np.uint8), np.zeros((20, 20, 3), np.uint8))


def test_bad_arguments():
    a, b = _pair((12, 12), seed=4)
    with pytest.raises(ESRGANError, match="crop_border"):
        psnr(a, b, crop_border=6)
    with pytest.raises(ESRGANError, match="11x11"):
        ssim(a, b, crop_border=1)
    with pytest.raises(ESRGANError, match="N = 1"):
        psnr(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8))
    with pytest.raises(ESRGANError, match="channels"):
        psnr(np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 4), np.uint8))


# ---------------------------------------------------------------- SSIM vs scikit-image
# skimage (gaussian_weights=True, sigma=1.5, use_sample_covariance=False) filters the whole image
# with an 11-tap Gaussian (truncate 3.5 -> radius 5) and reflected borders, then averages its SSIM
# map after cropping (11 - 1) / 2 = 5 pixels at each edge. Those cropped pixels are exactly the
# 'valid' region, whose filter windows never reach the padding, so its mean equals ours.


def _skimage_ssim(a, b, **kw):
    return structural_similarity(
        a.astype(np.float64),
        b.astype(np.float64),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        **kw,
    )


def test_ssim_matches_skimage_on_gray():
    a, b = _pair((40, 52), seed=5)
    assert ssim(a, b) == pytest.approx(_skimage_ssim(a, b), abs=1e-9)


def test_ssim_map_matches_skimage_map_valid_region():
    a, b = _pair((30, 33), seed=6)
    _, full = _skimage_ssim(a, b, full=True)
    ours = ssim_map(a.astype(np.float64), b.astype(np.float64))
    assert ours.shape == (20, 23)
    np.testing.assert_allclose(ours, full[5:-5, 5:-5], rtol=0, atol=1e-9)


def test_ssim_rgb_is_the_channel_mean_like_skimage():
    a, b = _pair((36, 40, 3), seed=7)
    assert ssim(a, b) == pytest.approx(_skimage_ssim(a, b, channel_axis=2), abs=1e-9)


def test_ssim_y_channel_with_crop_matches_skimage_on_y():
    a, b = _pair((44, 40, 3), seed=8)

    def y(x):
        x = x.astype(np.float64)
        return 16 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255

    expected = _skimage_ssim(y(a)[4:-4, 4:-4], y(b)[4:-4, 4:-4])
    assert ssim(a, b, y_channel=True, crop_border=4) == pytest.approx(expected, abs=1e-9)


def test_ssim_of_identical_images_is_one():
    a, _ = _pair((24, 24, 3), seed=9)
    assert ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------- PIRM regions


@pytest.mark.parametrize(
    ("value", "region"),
    [(0.0, 1), (11.5, 1), (11.51, 2), (12.5, 2), (12.51, 3), (15.30, 3), (16.0, 3), (16.01, None)],
)
def test_pirm_regions(value, region):
    assert pirm_region(value) == region


def test_pirm_region_rejects_nonsense():
    for value in (-1.0, math.nan, math.inf):
        with pytest.raises(ESRGANError):
            pirm_region(value)
