"""Architectures: sizes from the papers/SPEC, shapes, init, and a forward written out by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from esrgan.models import RRDBNet, SRGANDiscriminator, SRResNet, VGGDiscriminator


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_rrdbnet_default_size_matches_spec():
    assert n_params(RRDBNet()) == 16_697_987


def test_vgg_discriminator_size_matches_spec():
    assert n_params(VGGDiscriminator(input_size=128)) == 14_499_401


def rrdbnet_param_formula(in_ch, out_ch, nf, nb, gc, n_up, unshuffle):
    conv = lambda ci, co, k=3: ci * co * k * k + co  # noqa: E731
    rdb = sum(conv(nf + i * gc, gc) for i in range(4)) + conv(nf + 4 * gc, nf)
    return (
        conv(in_ch * unshuffle**2, nf)
        + nb * 3 * rdb
        + conv(nf, nf)
        + n_up * conv(nf, nf)
        + conv(nf, nf)
        + conv(nf, out_ch)
    )


@pytest.mark.parametrize("scale,n_up,unshuffle", [(1, 2, 4), (2, 2, 2), (4, 2, 1), (8, 3, 1)])
def test_rrdbnet_shapes_and_sizes_per_scale(scale, n_up, unshuffle):
    m = RRDBNet(scale=scale, num_feat=8, num_block=1, num_grow=4)
    assert n_params(m) == rrdbnet_param_formula(3, 3, 8, 1, 4, n_up, unshuffle)
    y = m(torch.rand(2, 3, 8, 12))
    assert y.shape == (2, 3, 8 * scale, 12 * scale)


def test_rrdbnet_rejects_unsupported_scale():
    with pytest.raises(ValueError, match="scale"):
        RRDBNet(scale=3)


def test_smaller_initialisation():
    torch.manual_seed(0)
    m = RRDBNet(num_feat=64, num_block=2, num_grow=32)
    w = m.body[0].rdb1.conv5.weight  # fan_in = (64 + 4*32) * 9
    expected_std = 0.1 * math.sqrt(2.0 / ((64 + 4 * 32) * 9))
    assert abs(w.std().item() / expected_std - 1) < 0.05
    assert torch.count_nonzero(m.body[0].rdb1.conv5.bias) == 0


def hand_rrdbnet_forward(sd: dict, x: torch.Tensor, nb: int, n_up: int, unshuffle: int) -> torch.Tensor:
    """ESRGAN generator written out from the SPEC with functional ops, independent of the module."""
    conv = lambda t, name: F.conv2d(t, sd[name + ".weight"], sd[name + ".bias"], padding=1)  # noqa: E731
    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    if unshuffle > 1:
        x = F.pixel_unshuffle(x, unshuffle)
    fea = conv(x, "conv_first")
    trunk = fea
    for i in range(nb):
        rrdb_in = trunk
        for j in (1, 2, 3):
            feats = [trunk]
            for k in (1, 2, 3, 4):
                feats.append(lrelu(conv(torch.cat(feats, 1), f"body.{i}.rdb{j}.conv{k}")))
            trunk = 0.2 * conv(torch.cat(feats, 1), f"body.{i}.rdb{j}.conv5") + trunk
        trunk = 0.2 * trunk + rrdb_in
    fea = fea + conv(trunk, "conv_body")
    for u in range(1, n_up + 1):
        fea = lrelu(conv(F.interpolate(fea, scale_factor=2, mode="nearest"), f"conv_up{u}"))
    return conv(lrelu(conv(fea, "conv_hr")), "conv_last")


@pytest.mark.parametrize("scale,n_up,unshuffle", [(1, 2, 4), (2, 2, 2), (4, 2, 1), (8, 3, 1)])
def test_rrdbnet_matches_hand_written_forward(scale, n_up, unshuffle):
    torch.manual_seed(scale)
    m = RRDBNet(scale=scale, num_feat=8, num_block=2, num_grow=4).eval()
    # Make the weights large enough that a wrong residual scale would show.
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.2)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        ref = hand_rrdbnet_forward(m.state_dict(), x, 2, n_up, unshuffle)
        assert torch.allclose(m(x), ref, atol=1e-5)


def test_srresnet_layout_and_bn_switch():
    with_bn, without_bn = SRResNet(batch_norm=True), SRResNet(batch_norm=False)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.modules()) == 2 * 16 + 1
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in without_bn.modules())
    assert without_bn.conv_first.kernel_size == (9, 9) and without_bn.conv_last.kernel_size == (9, 9)
    assert sum(isinstance(m, torch.nn.PixelShuffle) for m in with_bn.modules()) == 2
    assert with_bn.eval()(torch.rand(1, 3, 6, 7)).shape == (1, 3, 24, 28)


@pytest.mark.parametrize("size", [96, 128, 256])
def test_vgg_discriminator_sizes(size):
    d = VGGDiscriminator(input_size=size)
    assert d.linear1.in_features == 512 * (size // 32) ** 2
    assert d(torch.rand(2, 3, size, size)).shape == (2, 1)


def test_srgan_discriminator():
    d = SRGANDiscriminator(input_size=96)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2] * 4
    assert d(torch.rand(2, 3, 96, 96)).shape == (2, 1)


def test_msrresnet_size_matches_spec():
    from esrgan.models.msrresnet import MSRResNet

    assert n_params(MSRResNet()) == 1_517_571


def basicsr_msrresnet_state(nf: int, nb: int, scale: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with BasicSR's MSRResNet key names and shapes, typed here from its layout."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {"conv_first": (nf, 3)}
    for i in range(nb):
        shapes[f"body.{i}.conv1"] = shapes[f"body.{i}.conv2"] = (nf, nf)
    shapes["upconv1"] = (nf * (9 if scale == 3 else 4), nf)
    if scale == 4:
        shapes["upconv2"] = (nf * 4, nf)
    shapes["conv_hr"], shapes["conv_last"] = (nf, nf), (3, nf)
    sd = {}
    for name, (co, ci) in shapes.items():
        sd[f"{name}.weight"] = torch.randn(co, ci, 3, 3, generator=gen) * 0.1
        sd[f"{name}.bias"] = torch.randn(co, generator=gen) * 0.1
    return sd


def hand_msrresnet_forward(sd: dict, x: torch.Tensor, nb: int, scale: int) -> torch.Tensor:
    """SPEC section 2's MSRResNet with functional ops: LeakyReLU 0.1, conv-ReLU-conv + identity,
    PixelShuffle stages, plus the bilinear upscaled input."""
    conv = lambda t, name: F.conv2d(t, sd[name + ".weight"], sd[name + ".bias"], padding=1)  # noqa: E731
    lrelu = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
    fea = lrelu(conv(x, "conv_first"))
    for i in range(nb):
        fea = fea + conv(F.relu(conv(fea, f"body.{i}.conv1")), f"body.{i}.conv2")
    stages = [("upconv1", 2), ("upconv2", 2)] if scale == 4 else [("upconv1", scale)]
    for name, r in stages:
        fea = lrelu(F.pixel_shuffle(conv(fea, name), r))
    out = conv(lrelu(conv(fea, "conv_hr")), "conv_last")
    return out + F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_basicsr_msrresnet_file_loads_and_matches_hand_forward(scale, tmp_path):
    import esrgan

    sd = basicsr_msrresnet_state(8, 2, scale, seed=scale)
    torch.save({"params": sd}, tmp_path / "msrresnet.pth")
    desc = esrgan.load_model(tmp_path / "msrresnet.pth")
    assert (desc.architecture, desc.scale, desc.in_ch, desc.out_ch) == ("MSRResNet", scale, 3, 3)
    assert desc.config.num_block == 2 and desc.config.num_feat == 8
    x = torch.rand(1, 3, 5, 6)
    with torch.no_grad():
        assert torch.allclose(desc(x), hand_msrresnet_forward(sd, x, 2, scale), atol=1e-5)
