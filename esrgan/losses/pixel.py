"""Pixel loss: L1 (ESRGAN's `L_1`, weight eta = 1e-2 in stage 2, the only loss in stage 1) or MSE."""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from esrgan.errors import ESRGANError

PixelLossKind = Literal["l1", "mse"]  # the training config's loss.pixel
PIXEL_LOSS_KINDS: tuple[str, ...] = get_args(PixelLossKind)


class PixelLoss(nn.Module):
    """`weight * mean(|output - target|)` for kind "l1", `weight * mean((output - target)^2)` for "mse"."""

    def __init__(self, kind: str = "l1", weight: float = 1.0) -> None:
        super().__init__()
        if kind not in PIXEL_LOSS_KINDS:
            raise ESRGANError(f"pixel loss kind must be one of {', '.join(PIXEL_LOSS_KINDS)}, got {kind!r}")
        self.kind = kind
        self.weight = float(weight)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if output.shape != target.shape:
            raise ESRGANError(
                f"pixel loss needs equal shapes, got output {tuple(output.shape)} "
                f"and target {tuple(target.shape)}"
            )
        loss = F.l1_loss(output, target) if self.kind == "l1" else F.mse_loss(output, target)
        return self.weight * loss

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, weight={self.weight}"
