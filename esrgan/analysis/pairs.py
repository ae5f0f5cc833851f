"""Benchmark pairs and model outputs for the report commands (sweep, compare).

Pairs come from the same `ValidationDataset` as `esrgan eval` (HR mod-cropped to the scale; LR read
from an LR folder matched by name, or made from the HR with MATLAB's bicubic in the image's integer
type, as the benchmark LR files were). Outputs are compared with the ground truth after rounding to
its integer type, as saved results are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from esrgan.errors import ESRGANError

log = logging.getLogger(__name__)


@dataclass
class BenchmarkPair:
    name: str  # file stem
    hr: np.ndarray  # uint8 (uint16 for 16-bit files) (H, W, 3), mod-cropped to the scale
    lr: np.ndarray  # same dtype, (H / scale, W / scale, 3)

    @property
    def bit_depth(self) -> int:
        return 16 if self.hr.dtype == np.uint16 else 8

    @property
    def lr_float(self) -> np.ndarray:
        """The LR image as float32 in [0, 1], the models' input."""
        return self.lr.astype(np.float32) / np.float32(np.iinfo(self.lr.dtype).max)

    def quantise(self, sr: np.ndarray) -> np.ndarray:
        """A float [0, 1] result stored like the ground truth (clipped, rounded), as a saved file is."""
        from esrgan.data.image_io import to_integer

        return to_integer(np.asarray(sr, dtype=np.float32), self.bit_depth)

    def bicubic(self, scale: int) -> np.ndarray:
        """The bicubic baseline: MATLAB bicubic x scale of the LR, in its integer type."""
        from esrgan.data.pixels import bicubic_upscale

        return bicubic_upscale(self.lr, scale)


def iter_pairs(hr_dir: str | Path, lr_dir: str | Path | None, scale: int) -> Iterator[BenchmarkPair]:
    """The benchmark pairs exactly as `esrgan eval` builds them, one at a time (nothing cached)."""
    from esrgan.data.datasets import ValidationDataset

    dataset = ValidationDataset(hr_dir, lr_dir, scale, cache=False)
    for index, name in enumerate(dataset.names):
        lr, hr = dataset.pair(index)
        yield BenchmarkPair(name, hr, lr)


def model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@torch.no_grad()
def super_resolve(model: nn.Module, lr: np.ndarray) -> np.ndarray:
    """The float32 HWC output (not clipped) of `model` for an HWC float LR image, in one pass.

    The input is mirror-padded to the model's size multiple (pixel-unshuffle models) and the output
    cut back.
    """
    from torch.nn import functional as F

    x = torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32)).permute(2, 0, 1)[None]
    x = x.to(model_device(model))
    multiple = int(getattr(model, "size_multiple", 1))
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
    y = model(x)
    scale = y.shape[-2] // x.shape[-2]
    return y[0, :, : h * scale, : w * scale].float().permute(1, 2, 0).cpu().numpy()


def score(sr: np.ndarray, hr: np.ndarray, scale: int, *, use_niqe: bool = True, ma_model: Any = None) -> dict:
    """RMSE/PSNR/SSIM on Y, NIQE and (with a Ma scorer) PI of a uint8 result vs its uint8 ground truth.

    The border shaved is `scale` pixels, as the paper's benchmarks and PIRM 2018 (4 at x4) do.
    """
    from esrgan.metrics import niqe, perceptual_index, psnr, rmse, ssim

    values: dict[str, float | None] = {
        "rmse_y": rmse(sr, hr, crop_border=scale, y_channel=True),
        "psnr_y": psnr(sr, hr, crop_border=scale, y_channel=True),
        "ssim_y": ssim(sr, hr, crop_border=scale, y_channel=True),
        "niqe": None,
        "pi": None,
    }
    if use_niqe:
        try:
            values["niqe"] = niqe(sr, crop_border=scale)
        except ESRGANError as exc:  # too small or too flat: this image has no NIQE (as in `esrgan eval`)
            log.warning("NIQE left out: %s", exc)
    if ma_model is not None:
        values["pi"] = perceptual_index(sr, ma_model=ma_model, crop_border=scale)
    return values
