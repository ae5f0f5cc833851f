"""Network interpolation: the paper's per-tensor formula, architecture checks, files and the CLI."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

import esrgan
from esrgan.cli.main import main
from esrgan.errors import ESRGANError
from esrgan.inference.interpolation import interpolate_images
from esrgan.inference.wrapped import ImageInterpolation
from esrgan.models import RRDBNet, SRResNet

pytestmark = pytest.mark.usefixtures("one_thread")


def randomised(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights and, for BatchNorm, random running statistics and step counters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                values = torch.randn(tensor.shape, generator=gen) * 0.1
                tensor.copy_(values.abs() + 0.5 if name.endswith("running_var") else values)
            else:
                tensor.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))
    return model.eval()


def tiny_rrdb(seed: int, **kwargs) -> RRDBNet:
    config = {"num_feat": 8, "num_block": 2, "num_grow": 4, **kwargs}
    return randomised(RRDBNet(**config), seed)


def tiny_srresnet_bn(seed: int) -> SRResNet:
    return randomised(SRResNet(num_feat=8, num_block=2, batch_norm=True, scale=2), seed)


@pytest.mark.parametrize("make", [tiny_rrdb, tiny_srresnet_bn], ids=["rrdbnet", "srresnet_bn"])
def test_alpha_endpoints_and_formula_per_tensor(make):
    psnr, gan = make(1), make(2)
    psnr_before = {k: v.clone() for k, v in psnr.state_dict().items()}
    at0 = esrgan.interpolate(psnr, gan, 0.0).state_dict()
    at1 = esrgan.interpolate(psnr, gan, 1.0).state_dict()
    mid = esrgan.interpolate(psnr, gan, 0.3).state_dict()
    p, g = psnr.state_dict(), gan.state_dict()
    assert set(mid) == set(p)
    blended_buffers = 0
    for name in p:
        if p[name].is_floating_point():
            assert torch.equal(at0[name], p[name]), name
            assert torch.equal(at1[name], g[name]), name
            expected = 0.7 * p[name].double() + 0.3 * g[name].double()
            assert torch.allclose(mid[name].double(), expected, rtol=1e-6, atol=1e-7), name
            assert not torch.equal(mid[name], g[name]), name  # really blended
            blended_buffers += "running_" in name
        else:  # integer buffers (num_batches_tracked): the GAN model's value
            for state in (at0, at1, mid):
                assert torch.equal(state[name], g[name]), name
    if isinstance(psnr, SRResNet):
        assert blended_buffers > 0  # BN running statistics take part
    for name, tensor in psnr.state_dict().items():  # inputs untouched
        assert torch.equal(tensor, psnr_before[name])


def test_interpolated_network_is_a_working_model():
    psnr, gan = tiny_rrdb(1), tiny_rrdb(2)
    model = esrgan.interpolate(psnr, gan, 0.5)
    assert isinstance(model.model, RRDBNet) and not model.training and model.scale == 4
    assert model.metadata["interpolation_alpha"] == 0.5
    x = torch.rand(1, 3, 5, 6)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (1, 3, 20, 24)
    # Blending weights is not blending outputs (the network is non-linear in its weights).
    with torch.no_grad():
        image_blend = 0.5 * psnr(x) + 0.5 * gan(x)
    assert not torch.allclose(out, image_blend, atol=1e-4)


@pytest.mark.parametrize(
    ("gan_kwargs", "first_mismatch"),
    [
        ({"num_block": 3}, "body.2.rdb1.conv1.weight"),  # extra block: conv_body comes next in PSNR
        ({"num_feat": 16}, "conv_first.weight"),
        ({"num_grow": 8}, "body.0.rdb1.conv1.weight"),
        ({"scale": 8}, "conv_up3.weight"),
    ],
)
def test_mismatched_architectures_name_the_first_mismatching_tensor(gan_kwargs, first_mismatch):
    psnr, gan = tiny_rrdb(1), tiny_rrdb(2, **gan_kwargs)
    with pytest.raises(ESRGANError, match="differ in architecture") as info:
        esrgan.interpolate(psnr, gan, 0.5)
    assert repr(first_mismatch) in str(info.value)
    assert "\n" not in str(info.value)


def test_different_model_families_are_refused():
    with pytest.raises(ESRGANError, match="conv_first.weight"):
        esrgan.interpolate(tiny_rrdb(1, scale=2), tiny_srresnet_bn(2), 0.5)


@pytest.mark.parametrize("alpha", [-0.1, 1.01, math.nan, "x", None])
def test_alpha_is_validated(alpha):
    with pytest.raises(ESRGANError, match="alpha"):
        esrgan.interpolate(tiny_rrdb(1), tiny_rrdb(2), alpha)


def test_paths_in_any_format_give_the_same_blend(tmp_path):
    psnr, gan = tiny_rrdb(1), tiny_rrdb(2)
    # The PSNR model in the 2019 ESRGAN repo's key names, the GAN model as .safetensors.
    renamed = {}
    for key, value in psnr.state_dict().items():
        key = re.sub(r"^body\.(\d+)\.rdb", r"RRDB_trunk.\1.RDB", key)
        for ours, theirs in (("conv_body", "trunk_conv"), ("conv_up", "upconv"), ("conv_hr", "HRconv")):
            key = key.replace(ours, theirs)
        renamed[key] = value
    torch.save(renamed, tmp_path / "psnr.pth")
    esrgan.save_model(gan, tmp_path / "gan.safetensors")
    from_files = esrgan.interpolate(str(tmp_path / "psnr.pth"), tmp_path / "gan.safetensors", 0.25)
    from_modules = esrgan.interpolate(psnr, gan, 0.25)
    for name, tensor in from_modules.state_dict().items():
        assert torch.equal(from_files.state_dict()[name], tensor), name
    assert from_files.metadata["interpolation_psnr_model"].endswith("psnr.pth")
    assert not hasattr(from_files.model, "interpolation_info")


def test_interpolate_command_writes_metadata_and_weights(tmp_path, capsys):
    psnr, gan = tiny_rrdb(1), tiny_rrdb(2)
    torch.save({"params_ema": psnr.state_dict()}, tmp_path / "psnr.pth")
    esrgan.save_model(gan, tmp_path / "gan.safetensors")
    out = tmp_path / "blend.safetensors"
    code = main(
        ["interpolate", str(tmp_path / "psnr.pth"), str(tmp_path / "gan.safetensors"), "--alpha", "0.8"]
        + ["-o", str(out)]
    )
    assert code == 0 and out.is_file()
    loaded = esrgan.load_model(out)
    meta = loaded.metadata
    assert meta["interpolation_alpha"] == 0.8
    assert meta["interpolation_psnr_model"].endswith("psnr.pth")
    assert meta["interpolation_gan_model"].endswith("gan.safetensors")
    p, g = psnr.state_dict(), gan.state_dict()
    for name, tensor in loaded.state_dict().items():
        expected = 0.2 * p[name].double() + 0.8 * g[name].double()
        assert torch.allclose(tensor.double(), expected, rtol=1e-6, atol=1e-7), name
    # existing output without --force, and alpha out of range: one-line errors, exit code 2
    capsys.readouterr()
    again = ["interpolate", str(tmp_path / "psnr.pth"), str(tmp_path / "gan.safetensors"), "-o", str(out)]
    assert main([*again, "--alpha", "0.5"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*again, "--alpha", "1.5", "--force"]) == 2
    assert "alpha must be in [0, 1]" in capsys.readouterr().err


def test_interpolate_command_names_the_mismatch(tmp_path, capsys):
    esrgan.save_model(tiny_rrdb(1), tmp_path / "a.pth")
    esrgan.save_model(tiny_rrdb(2, num_grow=8), tmp_path / "b.pth")
    code = main(
        ["interpolate", str(tmp_path / "a.pth"), str(tmp_path / "b.pth"), "--alpha", "0.5"]
        + ["-o", str(tmp_path / "c.pth")]
    )
    assert code == 2
    assert "body.0.rdb1.conv1.weight" in capsys.readouterr().err
    assert not (tmp_path / "c.pth").exists()


def test_image_interpolation_blends_outputs():
    a, b = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    assert torch.allclose(interpolate_images(a, b, 0.3), a * 0.7 + b * 0.3)
    assert torch.equal(interpolate_images(a, b, 0.0), a)
    assert torch.equal(interpolate_images(a, b, 1.0), b)
    with pytest.raises(ESRGANError, match="one shape"):
        interpolate_images(a, b[..., :4], 0.5)
    psnr, gan = tiny_rrdb(1), tiny_rrdb(2)
    x = torch.rand(1, 3, 4, 4)
    with torch.no_grad():
        out = ImageInterpolation(psnr, gan, 0.6)(x)
        assert torch.allclose(out, 0.4 * psnr(x) + 0.6 * gan(x), atol=1e-6)


# ---------------------------------------------------------------------------------------------
# `esrgan upscale --alpha A --psnr-model P`: interpolation on the fly, nothing written


def near_identity(seed: int, noise: float) -> RRDBNet:
    """x4 RRDBNet near nearest-neighbour upsampling (outputs stay near [0, 1]), plus random noise."""
    model = RRDBNet(num_feat=4, num_block=1, num_grow=4)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(noise * torch.randn(p.shape, generator=gen))
        for conv in (model.conv_first, model.conv_up1, model.conv_up2, model.conv_hr, model.conv_last):
            for c in range(3):
                conv.weight[c, c, 1, 1] += 1.0
    return model.eval()


def test_upscale_command_interpolates_on_the_fly(tmp_path, capsys):
    psnr, gan = near_identity(1, 0.02), near_identity(2, 0.08)
    esrgan.save_model(psnr, tmp_path / "psnr.pth")
    esrgan.save_model(gan, tmp_path / "gan.pth")
    lr = np.random.default_rng(0).integers(30, 225, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(lr).save(tmp_path / "in.png")
    x = torch.from_numpy(lr.astype(np.float32) / 255).permute(2, 0, 1)[None]

    def run(name, *extra):
        args = [
            "upscale",
            str(tmp_path / "in.png"),
            "-o",
            str(tmp_path / name),
            "-m",
            str(tmp_path / "gan.pth"),
        ]
        assert main([*args, "--tile", "0", *extra]) == 0
        return np.asarray(Image.open(tmp_path / name / "in_x4.png")).astype(np.int64)

    def stored(t):
        return np.rint(t[0].permute(1, 2, 0).clamp(0, 1).numpy() * np.float32(255)).astype(np.int64)

    blended = RRDBNet(num_feat=4, num_block=1, num_grow=4).eval()
    p, g = psnr.state_dict(), gan.state_dict()
    blended.load_state_dict({k: 0.7 * p[k] + 0.3 * g[k] for k in p})
    with torch.no_grad():
        network = stored(blended(x))
        image = stored(0.7 * psnr(x) + 0.3 * gan(x))
    got_network = run("net", "--alpha", "0.3", "--psnr-model", str(tmp_path / "psnr.pth"))
    got_image = run(
        "img", "--alpha", "0.3", "--psnr-model", str(tmp_path / "psnr.pth"), "--interpolation", "image"
    )
    assert np.abs(got_network - network).max() <= 1
    assert np.abs(got_image - image).max() <= 1
    assert np.abs(got_network - image).max() > 1  # the two kinds of interpolation really differ
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".pth", ".safetensors")) == [
        "gan.pth",
        "psnr.pth",
    ]
    capsys.readouterr()
    args = ["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "bad"), "-m", str(tmp_path / "gan.pth")]
    assert main([*args, "--alpha", "0.3"]) == 2
    assert "--psnr-model" in capsys.readouterr().err
    assert main([*args, "--alpha", "2", "--psnr-model", str(tmp_path / "psnr.pth")]) == 2
    assert "alpha must be in [0, 1]" in capsys.readouterr().err
