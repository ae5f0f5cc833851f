"""RRDBNet: the ESRGAN generator (Wang et al. 2018), with its checkpoint key formats.

Layout (all computation in LR space, no BatchNorm):

    conv_first -> num_block x RRDB -> conv_body -> (+ conv_first output)
    -> log2(scale) x [nearest x2, conv_upN, LeakyReLU 0.2] -> conv_hr, LeakyReLU 0.2 -> conv_last

Scales 1 and 2 pixel-unshuffle the input by 4 or 2, then run the x4 body (BasicSR / Real-ESRGAN).
The bottom half maps the key formats users bring (2018 "old arch", 2019 ESRGAN repo, BasicSR) onto
ours and reads the hyper-parameters from tensor shapes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from esrgan.models.shapes import GeneratorShape, num_blocks

RESIDUAL_SCALE = 0.2  # beta in the paper: residual scaling inside dense blocks and RRDBs


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each fed the concatenation of the input and all earlier outputs."""

    def __init__(self, num_feat: int = 64, num_grow: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow, num_grow, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow, num_grow, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow, num_grow, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))  # no activation on the last conv
        return x5 * RESIDUAL_SCALE + x


class RRDB(nn.Module):
    """Residual-in-Residual Dense Block: three dense blocks and a scaled outer residual."""

    def __init__(self, num_feat: int = 64, num_grow: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow)

    def forward(self, x: Tensor) -> Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * RESIDUAL_SCALE + x


@dataclass(frozen=True)
class RRDBNetConfig(GeneratorShape):
    num_block: int = 23
    num_grow: int = 32


class RRDBNet(nn.Module):
    """ESRGAN generator. Defaults are the paper's x4 model: 16,697,987 parameters."""

    def __init__(
        self,
        in_ch: int = 3,
        out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow: int = 32,
    ) -> None:
        super().__init__()
        if scale not in (1, 2, 4, 8):
            raise ValueError(f"RRDBNet supports scale 1, 2, 4 or 8, not {scale}")
        self.config = RRDBNetConfig(in_ch, out_ch, scale, num_feat, num_block, num_grow)
        self.scale, self.in_ch, self.out_ch = scale, in_ch, out_ch
        self.unshuffle = {1: 4, 2: 2}.get(scale, 1)  # x1/x2 run the x4 body on a pixel-unshuffled input
        self.num_up = int(math.log2(scale * self.unshuffle))

        self.conv_first = nn.Conv2d(in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        # conv_up1, conv_up2 (and conv_up3 at x8): named attributes so the keys match BasicSR.
        for i in range(1, self.num_up + 1):
            setattr(self, f"conv_up{i}", nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        init_weights_scaled(self, 0.1)

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (pixel-unshuffle)."""
        return self.unshuffle

    def forward(self, x: Tensor) -> Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))  # unscaled long skip
        for i in range(1, self.num_up + 1):
            conv = getattr(self, f"conv_up{i}")
            feat = self.lrelu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


def init_weights_scaled(module: nn.Module, scale: float) -> None:
    """Kaiming-normal then x`scale`, biases 0: the paper's 'smaller initialisation', on every conv
    as the 2018 training code did (it keeps the residual branches near identity at the start)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
            m.weight.data.mul_(scale)
            if m.bias is not None:
                m.bias.data.zero_()


@torch.no_grad()
def init_near_identity(model: RRDBNet) -> None:
    """Start as bilinear upscaling plus the usual small random residual weights (an ordinary RRDBNet).

    The first `in_ch` feature channels carry the input through every conv: an identity in conv_first,
    conv_hr and conv_last, and in each conv_upN [1,2,1]x[1,2,1]/16, which after a nearest x2 is
    exactly bilinear x2 (LeakyReLU is the identity on those non-negative values). The paper's x0.1
    init starts from a near-zero output, which a short CPU run never recovers from (SPEC section 5).
    """
    if model.unshuffle != 1 or model.in_ch != model.out_ch:
        raise ValueError("identity initialisation needs scale 4 or 8 and in_ch == out_ch")
    c = model.in_ch
    idx = list(range(c))
    eye = torch.zeros_like(model.conv_first.weight[:c, :c])
    eye[idx, idx, 1, 1] = 1.0
    tent = torch.tensor([0.25, 0.5, 0.25])
    blur = torch.zeros_like(eye)
    blur[idx, idx] = torch.outer(tent, tent)

    def carry(conv: nn.Conv2d, kernel: Tensor) -> None:
        conv.weight[:c].zero_()
        conv.weight[:c, :c] = kernel
        conv.bias[:c].zero_()

    carry(model.conv_first, eye)
    # conv_body's output is added to the skip: keep the carried channels free of it.
    model.conv_body.weight[:c].zero_()
    model.conv_body.bias[:c].zero_()
    for i in range(1, model.num_up + 1):
        carry(getattr(model, f"conv_up{i}"), blur)
    carry(model.conv_hr, eye)
    model.conv_last.weight.mul_(0.1)
    model.conv_last.weight[:, :c] += eye


# --------------------------------------------------------------------------------------------
# Checkpoint key formats
#
#   2018 "old arch"                     2019 ESRGAN repo             BasicSR / Real-ESRGAN (ours)
#   model.0                             conv_first                   conv_first
#   model.1.sub.{i}.RDB{j}.conv{k}.0    RRDB_trunk.{i}.RDB{j}.conv{k} body.{i}.rdb{j}.conv{k}
#   model.1.sub.{nb}                    trunk_conv                   conv_body
#   model.3, model.6 (, model.9)        upconv1, upconv2             conv_up1, conv_up2
#   model.{3n+2}                        HRconv                       conv_hr
#   model.{3n+4}                        conv_last                    conv_last
# --------------------------------------------------------------------------------------------

_OLD_BLOCK = re.compile(r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$")
_OLD_TRUNK = re.compile(r"^model\.1\.sub\.(\d+)\.(weight|bias)$")
_OLD_SEQ = re.compile(r"^model\.(\d+)\.(weight|bias)$")
_2019_RENAMES = {
    "trunk_conv": "conv_body",
    "HRconv": "conv_hr",
    "upconv1": "conv_up1",
    "upconv2": "conv_up2",
    "upconv3": "conv_up3",
}


def key_format(state: dict[str, Tensor]) -> str | None:
    """Which RRDBNet key format a bare state dict uses, or None if it is not an RRDBNet."""
    if "model.0.weight" in state and "model.1.sub.0.RDB1.conv1.0.weight" in state:
        return "old-arch (2018)"
    if "conv_first.weight" in state and "RRDB_trunk.0.RDB1.conv1.weight" in state:
        return "ESRGAN (2019)"
    if "conv_first.weight" in state and "body.0.rdb1.conv1.weight" in state and "conv_body.weight" in state:
        return "BasicSR"
    return None


def to_basicsr_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename any supported RRDBNet key format to ours (BasicSR's)."""
    fmt = key_format(state)
    if fmt == "BasicSR":
        return dict(state)
    if fmt == "ESRGAN (2019)":
        out = {}
        for key, value in state.items():
            name, _, kind = re.sub(r"^RRDB_trunk\.(\d+)\.RDB", r"body.\1.rdb", key).rpartition(".")
            out[f"{_2019_RENAMES.get(name, name)}.{kind}"] = value
        return out
    if fmt == "old-arch (2018)":
        return _old_arch_to_basicsr(state)
    raise ValueError("not an RRDBNet state dict")


def _old_arch_to_basicsr(state: dict[str, Tensor]) -> dict[str, Tensor]:
    # Top-level sequence: 0 conv_first, 1 shortcut(body), then [upsample, conv, lrelu] per x2
    # stage (convs at 3, 6, 9...), then conv_hr, lrelu, conv_last. The last two convs are
    # found by position, so x8 (three upsample stages) works too.
    seq = sorted({int(m.group(1)) for k in state if (m := _OLD_SEQ.match(k))})
    if len(seq) < 4:
        raise ValueError("old-arch RRDBNet state dict has too few top-level layers")
    conv_hr_idx, conv_last_idx = seq[-2], seq[-1]
    up_idx = [i for i in seq if 1 < i < conv_hr_idx]
    out = {}
    for key, value in state.items():
        if _OLD_BLOCK.match(key):
            out[_OLD_BLOCK.sub(r"body.\1.rdb\2.conv\3.\4", key)] = value
        elif m := _OLD_TRUNK.match(key):
            out[f"conv_body.{m.group(2)}"] = value
        elif m := _OLD_SEQ.match(key):
            idx, kind = int(m.group(1)), m.group(2)
            if idx == 0:
                out[f"conv_first.{kind}"] = value
            elif idx == conv_hr_idx:
                out[f"conv_hr.{kind}"] = value
            elif idx == conv_last_idx:
                out[f"conv_last.{kind}"] = value
            else:
                out[f"conv_up{up_idx.index(idx) + 1}.{kind}"] = value
        else:
            out[key] = value  # left for load_state_dict to reject by name
    return out


def config_from_state(state: dict[str, Tensor]) -> RRDBNetConfig:
    """Read the hyper-parameters from a BasicSR-keyed state dict's tensor shapes.

    Ambiguous: a first conv with 4x or 16x as many input channels as outputs reads as a pixel-unshuffled
    x2 or x1 model (Real-ESRGAN's), so a true x4 model with in_ch 4 or 12 (1 or 3 outputs), or 16 or
    48, reads as x2 or x1 here; `load_model` lets the checkpoint's own metadata decide."""
    first = state["conv_first.weight"]  # (num_feat, in_ch * unshuffle^2, 3, 3)
    last = state["conv_last.weight"]  # (out_ch, num_feat, 3, 3)
    num_feat, in_total = first.shape[0], first.shape[1]
    out_ch = last.shape[0]
    num_grow = state["body.0.rdb1.conv1.weight"].shape[0]
    num_up = upsample_stages(state)
    # An x4 body whose first conv takes 16x or 4x the outputs' channels: an x1 or x2 model.
    unshuffle = {out_ch * 16: 4, out_ch * 4: 2}.get(in_total, 1) if num_up == 2 else 1
    in_ch, scale = in_total // unshuffle**2, 2**num_up // unshuffle
    return RRDBNetConfig(in_ch, out_ch, scale, num_feat, num_blocks(state), num_grow)


def upsample_stages(state: dict[str, Tensor]) -> int:
    """How many nearest-x2 + conv stages (conv_upN) a BasicSR-keyed state dict has."""
    return sum(1 for k in state if re.match(r"^conv_up\d\.weight$", k))
