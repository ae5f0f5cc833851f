"""Random aligned crops and the 8 flips/rotations of a square (the dihedral group D4).

The paper trains with random horizontal flips and 90-degree rotations; with a vertical flip as
well, the combinations are exactly the 8 symmetries of a square. Transform `k` (0..7) applies, in
order: a transpose (`k & 4`), a horizontal flip (`k & 1`), a vertical flip (`k & 2`). Transpose
plus one flip is a 90-degree rotation. Arrays are HW or HWC; the LR and HR of a pair get the same
transform, which keeps them aligned because each one maps the pixel grid onto itself.
"""

from __future__ import annotations

import numpy as np

from esrgan.errors import ESRGANError

__all__ = ["NUM_TRANSFORMS", "aligned_crop_box", "dihedral"]

NUM_TRANSFORMS = 8


def dihedral(x: np.ndarray, k: int) -> np.ndarray:
    """Transform `k` of the 8 flips/rotations (a view; k = 0 is the identity)."""
    if not 0 <= k < NUM_TRANSFORMS:
        raise ValueError(f"transform index must be in 0..7, got {k}")
    if k & 4:
        x = x.swapaxes(0, 1)
    if k & 1:
        x = x[:, ::-1]
    if k & 2:
        x = x[::-1]
    return x


def aligned_crop_box(
    rng: np.random.Generator, lr_hw: tuple[int, int], lr_crop: int, scale: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Random LR crop position and the HR position it maps to: `((lr_top, lr_left), (hr_top, hr_left))`.

    Positions are drawn on the LR grid, so the HR crop starts on a multiple of `scale` and covers
    exactly the pixels the LR crop was made from.
    """
    h, w = lr_hw
    if h < lr_crop or w < lr_crop:
        raise ESRGANError(f"LR image {h}x{w} is smaller than the LR crop {lr_crop}x{lr_crop}")
    top = int(rng.integers(0, h - lr_crop + 1))
    left = int(rng.integers(0, w - lr_crop + 1))
    return (top, left), (top * scale, left * scale)
