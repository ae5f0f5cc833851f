"""Random aligned crops and the 8 flips/rotations of a square (the dihedral group D4).

The ESRGAN paper trains with random horizontal flips and 90-degree rotations; with a vertical flip
as well, the combinations are exactly the 8 symmetries of a square (`dihedral`). Real-ESRGAN's
option files use horizontal flips only (`use_hflip: True, use_rot: False`): `hflip`. `none` keeps
every crop as it is. Transform `k` (0..7) applies, in
order: a transpose (`k & 4`), a horizontal flip (`k & 1`), a vertical flip (`k & 2`). Transpose
plus one flip is a 90-degree rotation. Arrays are HW or HWC; the LR and HR of a pair get the same
transform, which keeps them aligned because each one maps the pixel grid onto itself.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Literal

from esrgan.errors import ESRGANError

if TYPE_CHECKING:  # the training config reads this module: no numpy import for `--help`
    import numpy as np

__all__ = [
    "AUGMENTATIONS",
    "NUM_TRANSFORMS",
    "Augmentation",
    "aligned_crop_box",
    "augmentation",
    "dihedral",
    "restrict",
]

NUM_TRANSFORMS = 8
Augmentation = Literal["none", "hflip", "dihedral"]
AUGMENTATIONS: tuple[str, ...] = typing.get_args(Augmentation)


def augmentation(value: bool | str) -> str:
    """An augmentation name; True and False (the older boolean setting) mean `dihedral` and `none`."""
    if isinstance(value, bool):
        return "dihedral" if value else "none"
    if value not in AUGMENTATIONS:
        raise ESRGANError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}, got {value!r}")
    return value


def restrict(k: int, mode: str) -> int:
    """Transform `k` (drawn uniformly from 0..7) limited to what `mode` allows, still uniform there:
    `hflip` keeps only bit 0 (the horizontal flip, probability 1/2), `none` the identity."""
    if mode == "dihedral":
        return k
    return k & 1 if mode == "hflip" else 0


def dihedral(x: np.ndarray, k: int) -> np.ndarray:
    """Transform `k` (0..7) of the 8 flips/rotations (a view; k = 0 is the identity)."""
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
    exactly the pixels the LR crop was made from (the datasets check that the crop fits).
    """
    h, w = lr_hw
    top = int(rng.integers(0, h - lr_crop + 1))
    left = int(rng.integers(0, w - lr_crop + 1))
    return (top, left), (top * scale, left * scale)
