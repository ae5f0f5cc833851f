"""Small generators whose output is a real picture (not near zero), for backend and export tests."""

from __future__ import annotations

import numpy as np
import torch
from skimage import data

from esrgan.models.rrdbnet import RRDBNet, init_near_identity
from esrgan.models.srresnet import SRResNet
from esrgan.models.srvgg import SRVGGNetCompact


def textured_rrdbnet(scale: int, channels: int = 3, seed: int = 0, noise: float = 0.02) -> RRDBNet:
    """A tiny RRDBNet that upscales about as bilinear does, plus noise on every weight.

    x1/x2 models pixel-unshuffle their input: their carried channel k reads sub-pixel (0, 0) of
    input channel k (unshuffled index k * r * r), so they too output a picture.
    """
    torch.manual_seed(seed)
    model = RRDBNet(channels, channels, scale, num_feat=8, num_block=1, num_grow=4)
    r = model.unshuffle
    model.unshuffle = 1  # init_near_identity only builds the x4/x8 carry path; re-route it below
    init_near_identity(model)
    model.unshuffle = r
    with torch.no_grad():
        if r > 1:
            model.conv_first.weight[:channels].zero_()
            for k in range(channels):
                model.conv_first.weight[k, k * r * r, 1, 1] = 1.0
        for p in model.parameters():
            p.add_(noise * torch.randn_like(p))
    return model.eval()


def textured_srresnet(scale: int = 4, batch_norm: bool = True, seed: int = 0) -> SRResNet:
    """A tiny SRResNet with non-trivial BatchNorm statistics and an output around mid-grey."""
    torch.manual_seed(seed)
    model = SRResNet(3, 3, scale, num_feat=8, num_block=1, batch_norm=batch_norm)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
        model.conv_last.bias.fill_(0.5)
    return model.eval()


def photo(height: int = 40, width: int = 48, channels: int = 3) -> np.ndarray:
    """A crop of skimage's astronaut photo (face and suit: edges and texture), uint8."""
    rgb = np.ascontiguousarray(data.astronaut()[90 : 90 + height, 170 : 170 + width])
    if channels == 1:
        return np.ascontiguousarray(rgb.mean(axis=2).round().astype(np.uint8))
    if channels == 4:
        yy, xx = np.mgrid[:height, :width]
        alpha = (255 * (xx + yy) / (height + width - 2)).astype(np.uint8)  # a varying alpha
        return np.concatenate([rgb, alpha[..., None]], axis=2)
    return rgb


def levels_agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """(share of values within 1 level, largest difference) of two integer images."""
    d = np.abs(a.astype(np.int64) - b.astype(np.int64))
    return float((d <= 1).mean()), int(d.max())


def textured_srvgg(scale: int = 4, act_type: str = "prelu", seed: int = 0) -> SRVGGNetCompact:
    """A tiny SRVGGNetCompact: the nearest-upsampled input plus a residual of random convs."""
    torch.manual_seed(seed)
    model = SRVGGNetCompact(3, 3, scale, num_feat=8, num_conv=2, act_type=act_type)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1 and p.numel() == 8 and act_type == "prelu":
                p.uniform_(0.05, 0.3)  # PReLU slopes (and biases): some pass, some damp negatives
            else:
                p.normal_(0.0, 0.08)
    return model.eval()
