"""The Fourier-amplitude loss against numpy's DFT, and the properties it exists for."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from esrgan.errors import ESRGANError
from esrgan.losses import FourierLoss, window_amplitudes
from esrgan.training.config import load_config


def test_window_amplitudes_are_numpys_orthonormal_dft_of_each_square() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((2, 3, 8, 12))
    got = window_amplitudes(torch.from_numpy(image), 4).numpy()
    assert got.shape == (2, 3, 2, 3, 4, 3)
    for n, c, i, j in np.ndindex(2, 3, 2, 3):
        square = image[n, c, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4]
        full = np.abs(np.fft.fft2(square)) / 4  # orthonormal: divide by sqrt(4 * 4)
        np.testing.assert_allclose(got[n, c, i, j], full[:, :3], atol=1e-12)


@pytest.mark.parametrize("log_scale", [0.0, 100.0])
def test_loss_is_the_weighted_mean_absolute_amplitude_difference(log_scale: float) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random((1, 1, 8, 8)), rng.random((1, 1, 8, 8))

    def g(square: np.ndarray) -> np.ndarray:
        amplitude = np.abs(np.fft.rfft2(square)) / 4  # orthonormal for a 4 x 4 window
        return np.log1p(log_scale * amplitude) / log_scale if log_scale else amplitude

    squares = [(slice(y, y + 4), slice(x, x + 4)) for y in (0, 4) for x in (0, 4)]
    expected = np.mean([np.abs(g(a[0, 0][ys, xs]) - g(b[0, 0][ys, xs])) for ys, xs in squares])
    got = FourierLoss(window=4, weight=2.5, log_scale=log_scale)(torch.from_numpy(a), torch.from_numpy(b))
    assert got.item() == pytest.approx(2.5 * expected, rel=1e-12)


def test_the_log_keeps_small_differences_and_shrinks_large_ones() -> None:
    """g'(0) = 1: texture-sized amplitudes cost what they cost without the log; the DC far less."""
    rng = np.random.default_rng(3)
    texture = torch.from_numpy(rng.normal(0, 1e-4, (1, 1, 16, 16)))
    plain, logged = FourierLoss(window=16), FourierLoss(window=16, log_scale=100.0)
    faint = torch.zeros_like(texture)
    assert logged(texture, faint).item() == pytest.approx(plain(texture, faint).item(), rel=0.02)
    bright = torch.full_like(texture, 0.5)  # DC amplitude 8
    assert logged(bright, faint).item() < 0.1 * plain(bright, faint).item()


def test_a_shift_inside_the_window_costs_nothing_but_blur_does() -> None:
    """Phase is ignored: texture moved within a window is not penalised; texture removed is."""
    rng = np.random.default_rng(2)
    texture = torch.from_numpy(rng.random((1, 1, 16, 16)))
    shifted = torch.roll(texture, shifts=(3, 5), dims=(2, 3))  # a circular shift of the one window
    loss = FourierLoss(window=16)
    assert loss(shifted, texture).item() == pytest.approx(0.0, abs=1e-12)
    assert (shifted - texture).abs().mean().item() > 0.1  # while L1 sees a large difference
    flat = torch.full_like(texture, texture.mean().item())  # same mean (DC), no texture
    assert loss(flat, texture).item() > 0.1 * (texture - flat).abs().mean().item()


def test_fourier_loss_config_checks(tmp_path) -> None:
    cfg = load_config(None, ["loss.pixel_weight=0", "loss.fourier_weight=1"])  # a loss on its own
    assert cfg.loss.fourier_weight == 1.0 and cfg.loss.fourier_window == 32
    with pytest.raises(ESRGANError, match="loss.fourier_window must be >= 2"):
        load_config(None, ["loss.fourier_window=1"])
    with pytest.raises(ESRGANError, match="loss.fourier_log_scale must be >= 0"):
        load_config(None, ["loss.fourier_log_scale=-1"])
    with pytest.raises(ESRGANError, match="larger than the image"):
        FourierLoss(window=64)(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
