"""Integer samples <-> float [0, 1]: the one place where pixel values change representation.

Images are kept as uint8 / uint16 arrays (what the file holds, a quarter or half the memory of
float32) until a computation needs floats. White is 255 or 65535 (`peak_value`); floats go back to
integers clipped to [0, 1] and rounded to nearest (`np.rint`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from esrgan.errors import ESRGANError

if TYPE_CHECKING:
    import torch


def peak_value(x: np.ndarray | np.dtype | type) -> float:
    """The value of white for an integer array or dtype (255 for uint8, 65535 for uint16)."""
    dtype = x.dtype if isinstance(x, np.ndarray) else np.dtype(x)
    if dtype.kind not in "ui":
        raise ESRGANError(f"samples of type {dtype} have no integer peak (use uint8 or uint16)")
    return float(np.iinfo(dtype).max)


def to_float(a: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """uint8/uint16 samples as floats in [0, 1] (float32 by default); floats come back as they are."""
    if a.dtype.kind == "f":
        return a
    return a.astype(dtype) * dtype(1.0 / peak_value(a))


def to_integer(a: np.ndarray, bit_depth: int) -> np.ndarray:
    """uint8/uint16 samples for `bit_depth`, converting from float [0, 1] (rounded, clipped) if needed."""
    target = np.uint8 if bit_depth == 8 else np.uint16
    if a.dtype == target:
        return a
    if a.dtype == np.uint8 and target == np.uint16:
        return a.astype(np.uint16) * np.uint16(257)
    if a.dtype == np.uint16 and target == np.uint8:
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if a.dtype.kind != "f":
        raise ESRGANError(f"cannot write samples of type {a.dtype} (use uint8, uint16 or float in [0, 1])")
    out = np.clip(a, 0.0, 1.0, dtype=np.float32) if a.dtype != np.float32 else np.clip(a, 0.0, 1.0)
    out *= np.float32(peak_value(target))
    np.rint(out, out=out)
    return out.astype(target)


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """An integer HWC array as a float32 CHW tensor in [0, 1]."""
    import torch  # here, so that reading and writing images loads no torch (as in `bicubic`)

    return torch.from_numpy(np.ascontiguousarray(to_float(array).transpose(2, 0, 1)))
