"""Validation during training: PSNR-Y / SSIM-Y (optionally NIQE) on a folder, and sample images.

Measured by the same path as `esrgan eval` (`esrgan.evaluation.run_pairs`): tiled upscaling, the
output rounded like the ground truth, a `scale`-pixel border shaved. NIQE of an image too small
for it is left out of the mean (and the key is absent when no image has one), never an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from esrgan.data.datasets import ValidationDataset
from esrgan.evaluation import aggregate, dataset_pairs, model_runner, run_pairs
from esrgan.images.image_io import write_image
from esrgan.metrics.table import report_key
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
    """Set means keyed `psnr_y`, `ssim_y` (and `niqe` with `cfg.val_niqe`); writes the first samples."""
    metrics = ["psnr", "ssim"] + (["niqe"] if cfg.val_niqe else [])
    sample_dir = run_dir / "samples" / f"{iteration:07d}"
    written: list[str] = []

    def save_sample(pair, outputs, _scores) -> None:
        if len(written) >= cfg.num_val_samples:
            return
        sr = outputs["model"]
        sample_dir.mkdir(parents=True, exist_ok=True)
        write_image(sample_dir / f"{pair.name}.png", sr)
        peak = float(np.iinfo(sr.dtype).max)
        logger.image(
            f"samples/{pair.name}", torch.from_numpy(sr.astype(np.float32) / peak).permute(2, 0, 1), iteration
        )
        written.append(pair.name)

    was_training = model.training
    model.eval()
    try:
        scores = run_pairs(
            {"model": model_runner(model)},
            dataset_pairs(dataset),
            metrics,
            crop_border=cfg.generator.scale,
            on_image=save_sample,
        )
    finally:
        model.train(was_training)
    rows = list(scores.values["model"].values())
    means = {report_key(m): aggregate(rows, m) for m in metrics}
    return {key: value for key, value in means.items() if value is not None}
