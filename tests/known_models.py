"""Generators whose output is known exactly, for tests that check model rows against a formula."""

from __future__ import annotations

import math

import numpy as np
import torch

from esrgan.models import RRDBNet


def nearest_model() -> RRDBNet:
    """An RRDBNet whose output is exactly the x4 nearest-neighbour upscale of its input."""
    m = RRDBNet(num_feat=4, num_block=1, num_grow=4)
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        for conv in (m.conv_first, m.conv_up1, m.conv_up2, m.conv_hr, m.conv_last):
            for c in range(3):
                conv.weight[c, c, 1, 1] = 1.0
    return m.eval()


def sharpening_model() -> RRDBNet:
    """The same net with a sharpening kernel in conv_hr: a stand-in 'GAN' fine-tuned from it."""
    m = nearest_model()
    kernel = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])
    with torch.no_grad():
        for c in range(3):
            m.conv_hr.weight[c, c] = kernel
    return m


def luma(img: np.ndarray) -> np.ndarray:
    """MATLAB's Y (0..255, not rounded) of a uint8 RGB image, written out."""
    x = img.astype(np.float64) / 255.0
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def psnr_y(a: np.ndarray, b: np.ndarray, shave: int) -> float:
    d = (luma(a) - luma(b))[shave:-shave, shave:-shave]
    return 10.0 * math.log10(255.0**2 / np.mean(d**2))


def mse_y(a: np.ndarray, b: np.ndarray, shave: int) -> float:
    return float(np.mean(((luma(a) - luma(b))[shave:-shave, shave:-shave]) ** 2))
