"""Iterative back projection: make an SR estimate consistent with its LR input (PIRM 2018 post-processing).

Each iteration downscales the estimate with the exact (MATLAB) bicubic used to make LR images,
compares it with the LR input, upscales the error with bicubic and adds it:

    sr <- sr + up(lr - down(sr))

which drives the LR-consistency error `||down(sr) - lr||` towards zero. Used by the ESRGAN PIRM entry
on top of the GAN output.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from esrgan.errors import ESRGANError
from esrgan.images.bicubic import imresize


def integer_scale(sr: Tensor, lr: Tensor) -> int:
    """The integer factor between an SR tensor and its LR input (same on both axes), or ESRGANError."""
    (h, w), (lh, lw) = tuple(sr.shape[-2:]), tuple(lr.shape[-2:])
    if lh < 1 or lw < 1 or h % lh or w % lw or h // lh != w // lw:
        raise ESRGANError(f"back projection: SR {h}x{w} is not an integer multiple of LR {lh}x{lw}")
    return h // lh


def downscale_to(sr: Tensor, lr: Tensor) -> Tensor:
    """`sr` downscaled to `lr`'s size with the MATLAB bicubic that made the LR image."""
    scale = integer_scale(sr, lr)
    return imresize(sr, 1.0 / scale, output_size=tuple(lr.shape[-2:]))


def back_project(sr: Tensor, lr: Tensor, iterations: int = 1) -> Tensor:
    """`iterations` rounds of the update above on float NCHW (or CHW) tensors of one scale (e.g. [0, 1]);
    a new tensor, not clamped (clamping would undo part of the correction)."""
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ESRGANError(f"back-projection iterations must be a non-negative integer, got {iterations!r}")
    scale = integer_scale(sr, lr)
    size_hr, lr = tuple(sr.shape[-2:]), lr.to(sr.dtype)
    for _ in range(iterations):
        sr = sr + imresize(lr - downscale_to(sr, lr), float(scale), output_size=size_hr)
    return sr.clone() if iterations == 0 else sr


def lr_consistency_rmse(sr: Tensor, lr: Tensor) -> float:
    """RMSE between the bicubic-downscaled SR estimate and the LR input, in the tensors' units."""
    with torch.no_grad():
        diff = downscale_to(sr, lr).double() - lr.double()
        return math.sqrt(float(diff.pow(2).mean()))
