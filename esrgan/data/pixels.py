"""Training and evaluation images as integer RGB arrays, and the few operations done on them.

Images are kept as uint8 (or uint16 for 16-bit sources) HWC RGB arrays: grayscale is expanded to
three channels and alpha is dropped, since the models work in RGB. LR images are made from these
integer arrays with the exact MATLAB bicubic *in the integer class*, which rounds after each axis
exactly as MATLAB's `imresize` of a uint8 image does: the LR side of DIV2K and of every benchmark
was made that way and saved as 8-bit PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from esrgan.data.bicubic import imresize
from esrgan.data.image_io import read_header, read_pixels
from esrgan.data.scaling import peak_value, to_float
from esrgan.errors import ESRGANError

if TYPE_CHECKING:
    import torch

__all__ = [
    "bicubic_downscale",
    "bicubic_upscale",
    "image_size",
    "load_rgb",
    "mod_crop",
    "peak_value",
    "to_tensor",
]


def load_rgb(path: str | Path) -> np.ndarray:
    """Decode an image as an (H, W, 3) uint8 array (uint16 for 16-bit files); alpha dropped."""
    pixels = read_pixels(path).pixels  # integers throughout: no float copy of the image
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels)


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file as `read_pixels` gives it (EXIF rotation applied), header only."""
    header = read_header(path)
    return header.height, header.width


def mod_crop(array: np.ndarray, scale: int) -> np.ndarray:
    """Drop the last rows and columns so that height and width are multiples of `scale`."""
    h, w = array.shape[:2]
    return array[: h - h % scale, : w - w % scale]


def bicubic_downscale(array: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB `imresize(hr, 1/scale, 'bicubic')` of an integer HR array with sides multiple of `scale`."""
    h, w = array.shape[:2]
    if h % scale or w % scale:
        raise ESRGANError(f"image of {h}x{w} pixels is not a multiple of the scale {scale}")
    return imresize(array, 1.0 / scale, output_size=(h // scale, w // scale))


def bicubic_upscale(array: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB `imresize(lr, scale, 'bicubic')`: the bicubic baseline of SR papers, in the input's class."""
    h, w = array.shape[:2]
    return imresize(array, float(scale), output_size=(h * scale, w * scale))


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """An integer HWC array as a float32 CHW tensor in [0, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(to_float(array).transpose(2, 0, 1)))
