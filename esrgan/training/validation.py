"""Validation during training: PSNR-Y / SSIM-Y (optionally NIQE) on a folder, and sample images."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from esrgan.data.datasets import ValidationDataset
    from esrgan.training.config import TrainConfig
    from esrgan.training.logger import RunLogger


def validate(
    model: nn.Module,
    dataset: ValidationDataset,
    cfg: TrainConfig,
    run_dir: Path,
    iteration: int,
    logger: RunLogger,
) -> dict[str, float]:
    from esrgan.data.image_io import write_image
    from esrgan.inference.upscale import upscale
    from esrgan.metrics import niqe, psnr, ssim

    was_training = model.training
    model.eval()
    scale = cfg.generator.scale
    sums: dict[str, float] = {}
    sample_dir = run_dir / "samples" / f"{iteration:07d}"
    for index, name in enumerate(dataset.names):
        lr, hr = dataset.pair(index)  # integer arrays: the model output comes back rounded the same way
        sr = upscale(model, lr)
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
            write_image(sample_dir / f"{name}.png", sr)
            peak = float(np.iinfo(sr.dtype).max)
            logger.image(
                f"samples/{name}", torch.from_numpy(sr.astype(np.float32) / peak).permute(2, 0, 1), iteration
            )
    model.train(was_training)
    return {k: v / max(1, len(dataset)) for k, v in sums.items()}
