"""SRResNet: the SRGAN generator (Ledig et al. 2017), with a switch for the BN-free ablation.

    conv_first 9x9 + PReLU -> num_block x [conv, BN, PReLU, conv, BN, + skip]
    -> conv_body 3x3 + BN + long skip -> log2(scale) x [conv 64->256, PixelShuffle x2, PReLU]
    -> conv_last 9x9

ESRGAN's first ablation step removes every BatchNorm (`batch_norm=False`). No released checkpoint
uses this layout, so the keys are our attribute names (BasicSR's "MSRResNet" is msrresnet.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from torch import Tensor, nn

from esrgan.models.shapes import GeneratorShape, num_blocks


def _norm(num_feat: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()


class ResidualBlock(nn.Module):
    def __init__(self, num_feat: int, batch_norm: bool) -> None:
        super().__init__()
        # A conv followed by BN needs no bias of its own.
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=not batch_norm)
        self.bn1 = _norm(num_feat, batch_norm)
        self.prelu = nn.PReLU(num_feat)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=not batch_norm)
        self.bn2 = _norm(num_feat, batch_norm)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class UpsampleStage(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
        self.shuffle = nn.PixelShuffle(2)
        self.prelu = nn.PReLU(num_feat)

    def forward(self, x: Tensor) -> Tensor:
        return self.prelu(self.shuffle(self.conv(x)))


@dataclass(frozen=True)
class SRResNetConfig(GeneratorShape):
    num_block: int = 16
    batch_norm: bool = True


class SRResNet(nn.Module):
    """SRGAN's generator. `batch_norm=False` is the 'BN removed' step of ESRGAN's ablation."""

    size_multiple = 1

    def __init__(
        self,
        in_ch: int = 3,
        out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 16,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"SRResNet supports scale 2, 4 or 8, not {scale}")
        self.config = SRResNetConfig(in_ch, out_ch, scale, num_feat, num_block, batch_norm)
        self.scale, self.in_ch, self.out_ch = scale, in_ch, out_ch
        self.conv_first = nn.Conv2d(in_ch, num_feat, 9, 1, 4)
        self.prelu_first = nn.PReLU(num_feat)
        self.body = nn.Sequential(*(ResidualBlock(num_feat, batch_norm) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=not batch_norm)
        self.bn_body = _norm(num_feat, batch_norm)
        self.upsample = nn.Sequential(*(UpsampleStage(num_feat) for _ in range(int(math.log2(scale)))))
        self.conv_last = nn.Conv2d(num_feat, out_ch, 9, 1, 4)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.prelu_first(self.conv_first(x))
        feat = feat + self.bn_body(self.conv_body(self.body(feat)))
        return self.conv_last(self.upsample(feat))


def is_srresnet_state(state: dict[str, Tensor]) -> bool:
    return "conv_first.weight" in state and "prelu_first.weight" in state and "body.0.conv1.weight" in state


def config_from_state(state: dict[str, Tensor]) -> SRResNetConfig:
    first, last = state["conv_first.weight"], state["conv_last.weight"]
    num_feat = first.shape[0]
    stages = sorted({k.split(".")[1] for k in state if re.match(r"^upsample\.\d+\.conv\.weight$", k)})
    for stage in stages:
        channels = state[f"upsample.{stage}.conv.weight"].shape[0]
        if channels == num_feat * 9:
            raise ValueError("x3 models are not supported (an SRResNet with a PixelShuffle(3) stage)")
        if channels != num_feat * 4:
            raise ValueError(f"upsample.{stage}.conv has {channels} outputs, not 4 x {num_feat} features")
    bn = "body.0.bn1.weight" in state
    return SRResNetConfig(first.shape[1], last.shape[0], 2 ** len(stages), num_feat, num_blocks(state), bn)
