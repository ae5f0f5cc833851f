"""U-Net discriminator with spectral norm: Real-ESRGAN's layout and keys, per-pixel logits, losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from esrgan.errors import ESRGANError
from esrgan.losses.adversarial import discriminator_loss, generator_loss
from esrgan.models.unet_discriminator import UNetDiscriminatorSN, load_discriminator_weights

pytestmark = pytest.mark.usefixtures("one_thread")


def released_layout(f: int = 64, in_ch: int = 3) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of Real-ESRGAN's RealESRGAN_x4plus_netD.pth "params" (old-style spectral norm:
    weight_orig + the power-iteration vectors u (out channels) and v (in * k * k))."""
    layout: dict[str, tuple[int, ...]] = {"conv0.weight": (f, in_ch, 3, 3), "conv0.bias": (f,)}
    sn = {
        1: (2 * f, f, 4),
        2: (4 * f, 2 * f, 4),
        3: (8 * f, 4 * f, 4),
        4: (4 * f, 8 * f, 3),
        5: (2 * f, 4 * f, 3),
        6: (f, 2 * f, 3),
        7: (f, f, 3),
        8: (f, f, 3),
    }
    for i, (out, inp, k) in sn.items():
        layout[f"conv{i}.weight_orig"] = (out, inp, k, k)
        layout[f"conv{i}.weight_u"] = (out,)
        layout[f"conv{i}.weight_v"] = (inp * k * k,)
    layout["conv9.weight"] = (1, f, 3, 3)
    layout["conv9.bias"] = (1,)
    return layout


def test_keys_shapes_and_size_match_the_released_discriminator():
    model = UNetDiscriminatorSN(3, 64)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == released_layout()
    # Parameters by hand: conv0 3*64*9 + 64, the stride-2 convs 64*128*16 + 128*256*16 + 256*512*16,
    # the decoder 512*256*9 + 256*128*9 + 128*64*9, conv7/8 2 * 64*64*9, conv9 64*9 + 1.
    assert sum(p.numel() for p in model.parameters()) == 4_376_897


def test_per_pixel_logits_and_input_checks():
    model = UNetDiscriminatorSN(3, 8)
    out = model(torch.rand(2, 3, 32, 24))
    assert out.shape == (2, 1, 32, 24)
    with pytest.raises(ValueError, match="divisible by 8"):
        model(torch.rand(1, 3, 30, 32))


def test_spectral_norm_bounds_the_largest_singular_value():
    torch.manual_seed(0)
    model = UNetDiscriminatorSN(3, 8).train()
    with torch.no_grad():
        for _ in range(200):  # each training forward runs one power iteration
            model(torch.rand(1, 3, 8, 8))
    for i in range(1, 9):
        conv = getattr(model, f"conv{i}")
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        raw = torch.linalg.matrix_norm(conv.weight_orig.detach().flatten(1), ord=2)
        assert float(sigma) == pytest.approx(1.0, rel=2e-3)
        assert float(raw) != pytest.approx(1.0, rel=1e-2)  # the raw weight is not normalised itself


def test_skip_connections_carry_the_encoder_features():
    torch.manual_seed(1)
    with_skip = UNetDiscriminatorSN(3, 8)
    without = UNetDiscriminatorSN(3, 8, skip_connection=False)
    without.load_state_dict(with_skip.state_dict())
    x = torch.rand(1, 3, 16, 16)
    with_skip.eval(), without.eval()
    assert not torch.allclose(with_skip(x), without(x))


def test_loads_realesrgan_style_files_and_rejects_others(tmp_path):
    torch.manual_seed(2)
    source = UNetDiscriminatorSN(3, 8)
    path = tmp_path / "netD.pth"
    torch.save({"params": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    target = UNetDiscriminatorSN(3, 8)
    load_discriminator_weights(target, str(path))
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)
    with pytest.raises(ESRGANError, match="does not fit"):
        load_discriminator_weights(UNetDiscriminatorSN(3, 16), str(path))


def test_vanilla_gan_losses_average_over_every_pixel():
    real, fake = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)

    def bce(logits, target):  # by hand: -[t log s + (1 - t) log(1 - s)], mean over all elements
        s = torch.sigmoid(logits)
        return -(target * torch.log(s) + (1 - target) * torch.log(1 - s)).mean()

    assert float(discriminator_loss(real, fake, "vanilla")) == pytest.approx(
        float(0.5 * (bce(real, 1.0) + bce(fake, 0.0))), rel=1e-5
    )
    assert float(generator_loss(None, fake, "vanilla")) == pytest.approx(float(bce(fake, 1.0)), rel=1e-5)
    assert float(generator_loss(None, fake, "vanilla")) == pytest.approx(
        float(F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))), rel=1e-6
    )
