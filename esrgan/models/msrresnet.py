"""MSRResNet: BasicSR's "modified SRResNet", the SRGAN baseline most released checkpoints use.

    conv_first 3x3 + LeakyReLU 0.1 -> num_block x [conv 3x3, ReLU, conv 3x3, + identity]
    -> x4: 2 x [upconv 64->256, PixelShuffle 2, LeakyReLU 0.1]; x2/x3: 1 x [upconv, PixelShuffle r]
    -> conv_hr 3x3 + LeakyReLU 0.1 -> conv_last 3x3, plus a bilinear `scale`x copy of the input

No BatchNorm, no long skip (the bilinear copy plays that part). At x4, 64 features, 16 blocks:
1,517,571 parameters. Key names are BasicSR's, so its files load as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn
from torch.nn import functional as F

from esrgan.models.rrdbnet import init_weights_scaled
from esrgan.models.shapes import GeneratorShape, num_blocks


class ResidualBlockNoBN(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


@dataclass(frozen=True)
class MSRResNetConfig(GeneratorShape):
    num_block: int = 16


class MSRResNet(nn.Module):
    size_multiple = 1

    def __init__(
        self, in_ch: int = 3, out_ch: int = 3, scale: int = 4, num_feat: int = 64, num_block: int = 16
    ) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"MSRResNet supports scale 2, 3 or 4, not {scale}")
        self.config = MSRResNetConfig(in_ch, out_ch, scale, num_feat, num_block)
        self.scale, self.in_ch, self.out_ch = scale, in_ch, out_ch
        self.conv_first = nn.Conv2d(in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(ResidualBlockNoBN(num_feat) for _ in range(num_block)))
        # x4 is two x2 stages; x2 and x3 one stage of factor r (r^2 * num_feat channels before it).
        self.stage_factor = 2 if scale == 4 else scale
        self.upconv1 = nn.Conv2d(num_feat, num_feat * self.stage_factor**2, 3, 1, 1)
        self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1) if scale == 4 else None
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_ch, 3, 1, 1)
        init_weights_scaled(self, 0.1)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.body(F.leaky_relu(self.conv_first(x), 0.1))
        for conv in (self.upconv1, self.upconv2):
            if conv is not None:
                feat = F.leaky_relu(F.pixel_shuffle(conv(feat), self.stage_factor), 0.1)
        out = self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.1))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


def is_msrresnet_state(state: dict[str, Tensor]) -> bool:
    keys = ("conv_first", "body.0.conv1", "upconv1", "conv_hr", "conv_last")
    return all(f"{k}.weight" in state for k in keys) and "prelu_first.weight" not in state


def config_from_state(state: dict[str, Tensor]) -> MSRResNetConfig:
    """Hyper-parameters from tensor shapes: two upsampling convs mean x4, one means x2 or x3."""
    first, last = state["conv_first.weight"], state["conv_last.weight"]
    num_feat = first.shape[0]
    up = state["upconv1.weight"].shape[0]
    scale = 4 if "upconv2.weight" in state else {4: 2, 9: 3}.get(up // num_feat, 0)  # up = r^2 * num_feat
    if scale == 0:
        raise ValueError(f"upconv1 has {up} channels for {num_feat} features")
    return MSRResNetConfig(first.shape[1], last.shape[0], scale, num_feat, num_blocks(state))
