"""Numpy arrays and PIL images in, (colour, alpha) arrays for the tiler, and back to the same kind."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from esrgan.errors import ESRGANError


@dataclass(frozen=True)
class ImageKind:
    """What the caller passed, so the result can be given back in the same form."""

    pil_mode: str | None  # None for numpy input
    dtype: np.dtype  # numpy input dtype (float16/64 are computed in float32 and cast back)
    squeeze: bool  # numpy (H, W) input: return (H, W)


def from_image(image: Any) -> tuple[np.ndarray, np.ndarray | None, ImageKind]:
    """(colour (H, W, 1|3), alpha (H, W) or None, kind). Integers stay integers; floats become float32."""
    if hasattr(image, "mode") and hasattr(image, "getbands"):
        return _from_pil(image)
    if isinstance(image, (str, bytes, os.PathLike)):
        raise ESRGANError(
            f"got a file path ({os.fsdecode(image)!r}), not an image: read it with "
            "esrgan.images.image_io.read_image, or pass a numpy array or PIL image"
        )
    a = np.asarray(image)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 2, 3, 4)):
        raise ESRGANError(f"expected an (H, W) or (H, W, C) image with C in 1..4, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ESRGANError(f"the image is empty (shape {a.shape})")
    kind = ImageKind(None, a.dtype, a.ndim == 2)
    if a.dtype.kind == "f":
        a = a.astype(np.float32, copy=False)
        if not np.all(np.isfinite(a)):
            raise ESRGANError("the float image holds NaN or inf values")
        if a.size and (a.max() > 2.0 or a.min() < -1.0):
            raise ESRGANError(f"floats need values in [0, 1], not {a.min():g}..{a.max():g}: divide by 255")
    elif a.dtype not in (np.uint8, np.uint16):
        raise ESRGANError(f"unsupported pixel type {a.dtype}: use uint8, uint16 or float in [0, 1]")
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[2] in (2, 4):
        return a[..., :-1], a[..., -1], kind
    return a, None, kind


def to_image(colour: np.ndarray, alpha: np.ndarray | None, kind: ImageKind) -> Any:
    """Reassemble the tiler's output in the caller's form."""
    out = colour if alpha is None else np.concatenate([colour, alpha[..., None]], axis=2)
    if kind.pil_mode is not None:
        return _to_pil(out, kind.pil_mode)
    if kind.squeeze:
        out = out[..., 0]
    return out.astype(kind.dtype, copy=False)


def _from_pil(im: Any) -> tuple[np.ndarray, np.ndarray | None, ImageKind]:
    mode = im.mode
    if mode == "P":
        mode = "RGBA" if "transparency" in im.info or "A" in im.palette.mode else "RGB"
    elif mode == "1":
        mode = "L"
    elif mode in ("PA", "RGBa", "La"):
        mode = "LA" if mode == "La" else "RGBA"
    elif mode not in ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        mode = "RGB"
    a = np.asarray(im if mode == im.mode else im.convert(mode))
    if mode.startswith("I;16"):
        a, mode = a.astype(np.uint16), "I;16"
    elif mode == "I":
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise ESRGANError("32-bit integer images are only supported with values in 0..65535")
        a = a.astype(np.uint16)
    elif mode == "F":
        a = a.astype(np.float32)
    colour, alpha, _ = from_image(a)
    return colour, alpha, ImageKind(mode, a.dtype, a.ndim == 2)


def _to_pil(out: np.ndarray, mode: str) -> Any:
    from PIL import Image

    if mode == "I":
        return Image.fromarray(out[..., 0].astype(np.int32))
    return Image.fromarray(np.ascontiguousarray(out[..., 0] if out.shape[2] == 1 else out))
