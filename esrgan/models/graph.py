"""A generator as a flat list of operations (numpy weights): what the ncnn and ONNX writers serialise
and the ncnn reader (models.ncnn_import) rebuilds a network from.

    conv             3x3/9x9 (any odd k) stride 1 conv with bias, optionally followed by LeakyReLU(slope)
    prelu            per-channel PReLU
    concat           along channels
    sum              coeffs[0] * a + coeffs[1] * b (the 0.2 residual scaling and the skips in one op)
    nearest2x        nearest-neighbour x2 upsampling
    nearest          nearest-neighbour upsampling by `factor` (SRVGGNetCompact's upsampled input)
    pixel_shuffle    torch.nn.PixelShuffle(factor) (channel c*r*r + i*r + j -> pixel (i, j) of c)
    pixel_unshuffle  torch.nn.functional.pixel_unshuffle(factor), its inverse

BatchNorm (SRResNet, eval mode) is folded into the conv before it. Blobs `data` -> `output`: NCHW
RGB (or gray/RGBA) in [0, 1], like realesrgan-ncnn-vulkan's models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from esrgan.errors import ESRGANError
from esrgan.models.descriptor import ModelDescriptor, describe, module_of
from esrgan.models.rrdbnet import RESIDUAL_SCALE, RRDBNet
from esrgan.models.srresnet import SRResNet
from esrgan.models.srvgg import SRVGGNetCompact

INPUT, OUTPUT = "data", "output"


@dataclass
class Op:
    kind: str
    inputs: list[str]
    output: str
    weight: np.ndarray | None = None  # conv: (out, in, k, k) float32; prelu: (C,) slopes
    bias: np.ndarray | None = None
    slope: float | None = None  # conv: fused LeakyReLU slope (None: no activation)
    factor: int = 2  # pixel_shuffle / pixel_unshuffle
    coeffs: tuple[float, float] = (1.0, 1.0)  # sum


@dataclass
class Graph:
    scale: int
    in_ch: int
    out_ch: int
    size_multiple: int
    ops: list[Op] = field(default_factory=list)


class _Builder:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.count = 0

    def add(self, kind: str, inputs: list[str], **params: object) -> str:
        self.count += 1
        name = f"b{self.count}"
        self.graph.ops.append(Op(kind, inputs, name, **params))  # type: ignore[arg-type]
        return name

    def conv(self, x: str, conv: nn.Conv2d, slope: float | None = None, bn: nn.Module | None = None) -> str:
        # Our generators build only stride-1 'same' convs, so only weights and bias are read.
        weight = conv.weight.detach().double()
        zero = torch.zeros(conv.out_channels, dtype=torch.float64)
        bias = zero if conv.bias is None else conv.bias.detach().double()
        if isinstance(bn, nn.BatchNorm2d):
            # eval-mode BN after the conv: y = (conv - mean) * gamma / sqrt(var + eps) + beta
            factor = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
            weight = weight * factor[:, None, None, None]
            bias = (bias - bn.running_mean.double()) * factor + bn.bias.detach().double()
        return self.add("conv", [x], weight=weight.float().numpy(), bias=bias.float().numpy(), slope=slope)

    def prelu(self, x: str, prelu: nn.PReLU) -> str:
        return self.add("prelu", [x], weight=prelu.weight.detach().float().numpy().copy())


def build_graph(model: nn.Module | ModelDescriptor) -> Graph:
    """The operation graph of one of our generators, or an ESRGANError."""
    desc, module = describe(model), module_of(model)
    builders = {RRDBNet: _rrdbnet, SRResNet: _srresnet, SRVGGNetCompact: _srvgg}
    build = next((f for cls, f in builders.items() if isinstance(module, cls)), None)
    graph = Graph(desc.scale, desc.in_ch, desc.out_ch, desc.size_multiple)
    if build is not None:
        build(_Builder(graph), module)
    else:
        raise ESRGANError(f"cannot export {desc.architecture}: only RRDBNet, SRResNet and SRVGGNetCompact")
    graph.ops[-1].output = OUTPUT
    return graph


def _rrdbnet(b: _Builder, net: nn.Module) -> None:
    slope = net.lrelu.negative_slope
    x = INPUT
    if net.unshuffle > 1:
        x = b.add("pixel_unshuffle", [x], factor=net.unshuffle)
    first = b.conv(x, net.conv_first)
    feat = first
    for rrdb in net.body:
        block_in = feat
        for rdb in (rrdb.rdb1, rrdb.rdb2, rrdb.rdb3):
            parts = [feat]
            for i in range(1, 5):
                cat = parts[0] if len(parts) == 1 else b.add("concat", list(parts))
                parts.append(b.conv(cat, getattr(rdb, f"conv{i}"), slope))
            x5 = b.conv(b.add("concat", list(parts)), rdb.conv5)
            feat = b.add("sum", [x5, feat], coeffs=(RESIDUAL_SCALE, 1.0))
        feat = b.add("sum", [feat, block_in], coeffs=(RESIDUAL_SCALE, 1.0))
    feat = b.add("sum", [b.conv(feat, net.conv_body), first])
    for i in range(1, net.num_up + 1):
        feat = b.conv(b.add("nearest2x", [feat]), getattr(net, f"conv_up{i}"), slope)
    b.conv(b.conv(feat, net.conv_hr, slope), net.conv_last)


def _srresnet(b: _Builder, net: nn.Module) -> None:
    first = b.prelu(b.conv(INPUT, net.conv_first), net.prelu_first)
    feat = first
    for block in net.body:
        y = b.prelu(b.conv(feat, block.conv1, bn=block.bn1), block.prelu)
        feat = b.add("sum", [b.conv(y, block.conv2, bn=block.bn2), feat])
    feat = b.add("sum", [b.conv(feat, net.conv_body, bn=net.bn_body), first])
    for stage in net.upsample:
        shuffled = b.add("pixel_shuffle", [b.conv(feat, stage.conv)], factor=stage.shuffle.upscale_factor)
        feat = b.prelu(shuffled, stage.prelu)
    b.conv(feat, net.conv_last)


def _srvgg(b: _Builder, net: nn.Module) -> None:
    """Convs with their activations, pixel shuffle, plus the nearest-upsampled input."""
    feat = INPUT
    layers = list(net.body)
    for conv, act in zip(layers[::2], [*layers[1::2], None], strict=True):
        if isinstance(act, nn.PReLU):
            feat = b.prelu(b.conv(feat, conv), act)
        elif isinstance(act, (nn.ReLU, nn.LeakyReLU)):
            # ReLU is LeakyReLU with slope 0: the same fused conv activation in both writers.
            feat = b.conv(feat, conv, act.negative_slope if isinstance(act, nn.LeakyReLU) else 0.0)
        else:
            feat = b.conv(feat, conv)
    shuffled = b.add("pixel_shuffle", [feat], factor=net.scale)
    base = b.add("nearest", [INPUT], factor=net.scale)
    b.add("sum", [shuffled, base])


def unshuffle_weights(channels: int, r: int) -> np.ndarray:
    """(C*r*r, C, r, r) one-hot: output channel c*r*r + i*r + j reads pixel (i, j) of channel c."""
    # Output c*r*r + i*r + j is input (c, i, j) flattened: the identity, reshaped.
    return np.eye(channels * r * r, dtype=np.float32).reshape(channels * r * r, channels, r, r)
