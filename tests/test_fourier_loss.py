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


def test_loss_is_the_weighted_mean_absolute_amplitude_difference() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random((1, 1, 8, 8)), rng.random((1, 1, 8, 8))
    expected = np.mean(
        [
            np.abs(
                np.abs(np.fft.rfft2(a[0, 0, y : y + 4, x : x + 4]))
                - np.abs(np.fft.rfft2(b[0, 0, y : y + 4, x : x + 4]))
            )
            / 4
            for y in (0, 4)
            for x in (0, 4)
        ]
    )
    got = FourierLoss(window=4, weight=2.5)(torch.from_numpy(a), torch.from_numpy(b))
    assert got.item() == pytest.approx(2.5 * expected, rel=1e-12)


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
    with pytest.raises(ESRGANError, match="larger than the image"):
        FourierLoss(window=64)(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
