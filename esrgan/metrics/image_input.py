"""Bring every image the metrics accept onto one footing: float64 HWC on the 0..255 scale.

Accepted: numpy HW/HWC arrays (uint8, uint16, or float in [0, 1]) and torch tensors (HW, CHW or
NCHW with N = 1, float in [0, 1]). `data_range` overrides the value of white, e.g. 255 for float
arrays that already hold 0..255 values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from esrgan.errors import ESRGANError

# A float image meant to be in [0, 1] never gets near this; a 0..255 one almost always does.
_FLOAT_SCALE_LIMIT = 2.0


def to_float255(img: Any, *, data_range: float | None = None, name: str = "image") -> np.ndarray:
    """Return `img` as a float64 HWC array scaled so that white is 255 (values are not clipped)."""
    array = _as_hwc_numpy(img, name)
    if data_range is None:
        data_range = _default_white(array, name)
    elif not (np.isfinite(data_range) and data_range > 0):
        raise ESRGANError(f"data_range must be a positive number, got {data_range!r}")
    return array.astype(np.float64) * (255.0 / float(data_range))


def shape_of(img: Any) -> tuple[int, ...]:
    """The shape as the caller sees it (for error messages)."""
    return tuple(int(s) for s in img.shape)


def crop_borders(img: np.ndarray, crop_border: int, *, name: str = "image") -> np.ndarray:
    """Drop `crop_border` pixels at each of the four edges of an HW or HWC array."""
    if crop_border < 0:
        raise ESRGANError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border == 0:
        return img
    h, w = img.shape[:2]
    if 2 * crop_border >= min(h, w):
        raise ESRGANError(f"crop_border={crop_border} leaves nothing of the {h}x{w} {name}")
    return img[crop_border:-crop_border, crop_border:-crop_border]


def _as_hwc_numpy(img: Any, name: str) -> np.ndarray:
    if not isinstance(img, np.ndarray) and not type(img).__module__.startswith("torch"):
        raise ESRGANError(f"{name}: expected a numpy array or torch tensor, got {type(img).__name__}")
    given = shape_of(img)
    if type(img).__module__.startswith("torch"):  # a tensor; torch is already imported then
        import torch

        t = img.detach().cpu()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ESRGANError(f"{name}: expected one image (N = 1) in the NCHW tensor, got shape {given}")
            t = t[0]
        if t.ndim == 3:
            t = t.permute(1, 2, 0)
        elif t.ndim != 2:
            raise ESRGANError(f"{name}: expected a HW, CHW or NCHW tensor, got shape {given}")
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.double()  # bfloat16 has no numpy twin; float64 loses nothing
        array = t.numpy()
    else:
        array = img
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3 and array.shape[2] != 3:
        raise ESRGANError(f"{name}: expected 1 or 3 channels (HWC), got shape {given}")
    if array.ndim not in (2, 3):
        raise ESRGANError(f"{name}: expected an HW or HWC array, got shape {given}")
    if array.dtype == np.bool_ or array.dtype.kind not in "uif":
        raise ESRGANError(f"{name}: unsupported dtype {array.dtype}")
    return array


def _default_white(array: np.ndarray, name: str) -> float:
    if array.dtype == np.uint8:
        return 255.0
    if array.dtype == np.uint16:
        return 65535.0
    if np.issubdtype(array.dtype, np.floating):
        peak = float(np.nanmax(np.abs(array))) if array.size else 0.0
        if peak > _FLOAT_SCALE_LIMIT:
            raise ESRGANError(
                f"{name}: float images must be in [0, 1] (max |value| here is {peak:g}); "
                "pass data_range=255 for float images on the 0..255 scale"
            )
        return 1.0
    raise ESRGANError(f"{name}: dtype {array.dtype} needs an explicit data_range (value of white)")
