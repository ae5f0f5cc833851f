"""Validation during training: PSNR-Y / SSIM-Y (optionally NIQE) on a folder, and sample images."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from esrgan.training.config import TrainConfig
    from esrgan.training.logger import RunLogger


def to_uint8(hwc: np.ndarray) -> np.ndarray:
    """[0,1] float HWC -> uint8 HWC, rounded as images are when saved (what metrics should see)."""
    return (np.clip(hwc, 0, 1) * 255).round().astype(np.uint8)


def validate(
    model: nn.Module, cfg: TrainConfig, run_dir: Path, iteration: int, logger: RunLogger
) -> dict[str, float]:
    from esrgan.data.datasets import ValidationDataset
    from esrgan.data.image_io import write_image
    from esrgan.inference.upscale import upscale
    from esrgan.metrics import niqe, psnr, ssim

    was_training = model.training
    model.eval()
    scale = cfg.generator.scale
    dataset = ValidationDataset(cfg.data.val_hr, cfg.data.val_lr, scale)
    sums: dict[str, float] = {}
    n = len(dataset) if cfg.data.val_max_images <= 0 else min(len(dataset), cfg.data.val_max_images)
    sample_dir = run_dir / "samples" / f"{iteration:07d}"
    for index in range(n):
        item = dataset[index]
        sr = to_uint8(upscale(model, item["lr"].permute(1, 2, 0).numpy()))
        hr = to_uint8(item["hr"].permute(1, 2, 0).numpy())
        values = {
            "psnr_y": psnr(sr, hr, crop_border=scale, y_channel=True),
            "ssim_y": ssim(sr, hr, crop_border=scale, y_channel=True),
        }
        if cfg.val_niqe:
            values["niqe"] = niqe(sr, crop_border=scale)
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + float(value)
        if index < cfg.num_val_samples:
            sample_dir.mkdir(parents=True, exist_ok=True)
            write_image(sample_dir / f"{Path(item['name']).stem}.png", sr)
            logger.image(
                f"samples/{Path(item['name']).stem}", torch.from_numpy(sr).permute(2, 0, 1) / 255.0, iteration
            )
    model.train(was_training)
    return {k: v / max(1, n) for k, v in sums.items()}
