"""SRVGGNetCompact: Real-ESRGAN's compact VGG-style generator (`srvgg_arch`), with its checkpoint keys.

Layout (all in LR space, no residual blocks, no BatchNorm):

    conv 3x3 in->F, act -> num_conv x [conv 3x3 F->F, act] -> conv 3x3 F->out*scale^2
    -> PixelShuffle(scale), plus the nearest-upsampled input

`act` is PReLU with one slope per channel (the released models), ReLU or LeakyReLU 0.1. Keys are
`body.{i}.weight/bias` of one flat list: convs at 0, 2, ..., 2 * num_conv + 2, PReLU slopes ([F])
between. Released: `realesr-animevideov3.pth` (F=64, 16 convs, x4; realesrgan-ncnn-vulkan's x2/x3
files are the same weights plus a bicubic `Interp`), `realesr-general-(wdn-)x4v3.pth` (F=64, 32, x4).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from torch import Tensor, nn
from torch.nn import functional as F

from esrgan.models.shapes import GeneratorShape

ACTIVATIONS = ("prelu", "relu", "leakyrelu")


@dataclass(frozen=True)
class SRVGGNetConfig(GeneratorShape):
    num_conv: int = 16
    act_type: str = "prelu"


def _activation(act_type: str, num_feat: int) -> nn.Module:
    if act_type == "prelu":
        return nn.PReLU(num_parameters=num_feat)
    if act_type == "relu":
        return nn.ReLU(inplace=True)
    if act_type == "leakyrelu":
        return nn.LeakyReLU(0.1, inplace=True)
    raise ValueError(f"SRVGGNetCompact activation must be one of {', '.join(ACTIVATIONS)}, not {act_type!r}")


class SRVGGNetCompact(nn.Module):
    """Defaults are `realesr-animevideov3` (x4, 64 features, 16 body convs): 621,424 parameters."""

    size_multiple = 1

    def __init__(
        self,
        in_ch: int = 3,
        out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_conv: int = 16,
        act_type: str = "prelu",
    ) -> None:
        super().__init__()
        if scale < 1 or scale > 8:
            raise ValueError(f"SRVGGNetCompact supports scale 1 to 8, not {scale}")
        if out_ch != in_ch:
            # The input's nearest-upsampled copy is added to the output channel by channel.
            raise ValueError(f"SRVGGNetCompact needs as many output as input channels ({in_ch} -> {out_ch})")
        self.config = SRVGGNetConfig(in_ch, out_ch, scale, num_feat, num_conv, act_type)
        self.scale, self.in_ch, self.out_ch = scale, in_ch, out_ch
        layers: list[nn.Module] = [nn.Conv2d(in_ch, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        layers.append(nn.Conv2d(num_feat, out_ch * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def init_near_identity(model: SRVGGNetCompact) -> None:
    """Zero the last conv: the network starts as exact nearest upscaling (for short runs)."""
    last = model.body[-1]
    assert isinstance(last, nn.Conv2d)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)


# --- checkpoint recognition -------------------------------------------------------------------


def _conv_indices(state: dict[str, Tensor]) -> list[int]:
    return sorted(
        int(k.split(".")[1])
        for k, v in state.items()
        if k.startswith("body.") and k.endswith(".weight") and k.count(".") == 2 and v.dim() == 4
    )


def is_srvgg_state(state: dict[str, Tensor]) -> bool:
    """`body.0.weight` a conv and every tensor `body.{i}.weight|bias`, convs at 0, 2, 4, ... only."""
    if "body.0.weight" not in state or state["body.0.weight"].dim() != 4:
        return False
    if not all(re.fullmatch(r"body\.\d+\.(weight|bias)", key) for key in state):
        return False
    convs = _conv_indices(state)
    return len(convs) >= 2 and convs == list(range(0, 2 * len(convs), 2))


def config_from_state(state: dict[str, Tensor]) -> SRVGGNetConfig:
    """Hyper-parameters from shapes: the last conv's channels are out_ch * scale^2."""
    convs = _conv_indices(state)
    first, last = state["body.0.weight"], state[f"body.{convs[-1]}.weight"]
    in_ch, num_feat = first.shape[1], first.shape[0]
    scale = math.isqrt(last.shape[0] // in_ch)
    if scale * scale * in_ch != last.shape[0]:
        raise ValueError(f"last conv has {last.shape[0]} channels, not {in_ch} x scale^2")
    act_type = "prelu" if "body.1.weight" in state else "relu"  # ReLU and LeakyReLU have no tensors
    return SRVGGNetConfig(in_ch, in_ch, scale, num_feat, len(convs) - 2, act_type)
