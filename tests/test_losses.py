"""Pixel, perceptual and adversarial losses against formulas written out independently here."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from esrgan.errors import ESRGANError
from esrgan.losses import (
    PerceptualLoss,
    PixelLoss,
    discriminator_loss,
    generator_loss,
    perceptual_loss_preset,
)

REAL = [1.5, -0.3, 0.8, 2.0]
FAKE = [-1.0, 0.4, -2.2, 0.1]
N = len(REAL)


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def logits(values: list[float], grad: bool = False) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).view(-1, 1).requires_grad_(grad)


# Relativistic differences: a = C(real) - mean C(fake), b = C(fake) - mean C(real).
A = [r - mean(FAKE) for r in REAL]
B = [f - mean(REAL) for f in FAKE]


# ---------------------------------------------------------------- adversarial: values


def test_ragan_discriminator_loss_matches_the_paper_formula() -> None:
    expected = -0.5 * (mean([math.log(sig(a)) for a in A]) + mean([math.log(1 - sig(b)) for b in B]))
    for detach_mean in (True, False):
        got = discriminator_loss(logits(REAL), logits(FAKE), "ragan", detach_mean=detach_mean)
        assert got.item() == pytest.approx(expected, rel=1e-12)


def test_ragan_generator_loss_matches_the_paper_formula() -> None:
    expected = -0.5 * (mean([math.log(1 - sig(a)) for a in A]) + mean([math.log(sig(b)) for b in B]))
    got = generator_loss(logits(REAL), logits(FAKE), "ragan")
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_ragan_generator_loss_is_half_the_papers_summed_equation() -> None:
    # ESRGAN eq.: L_G^Ra = -E_r[log(1 - D_Ra(x_r, x_f))] - E_f[log D_Ra(x_f, x_r)], the terms summed.
    paper = -(mean([math.log(1 - sig(a)) for a in A]) + mean([math.log(sig(b)) for b in B]))
    got = generator_loss(logits(REAL), logits(FAKE), "ragan")
    assert 2 * got.item() == pytest.approx(paper, rel=1e-12)
    assert 1.0e-2 * got.item() == pytest.approx(5e-3 * paper, rel=1e-12)  # the literal lambda = 5e-3


def test_vanilla_losses_match_the_formula() -> None:
    d_expected = -0.5 * (mean([math.log(sig(r)) for r in REAL]) + mean([math.log(1 - sig(f)) for f in FAKE]))
    g_expected = -mean([math.log(sig(f)) for f in FAKE])  # non-saturating
    assert discriminator_loss(logits(REAL), logits(FAKE), "vanilla").item() == pytest.approx(
        d_expected, rel=1e-12
    )
    assert generator_loss(None, logits(FAKE), "vanilla").item() == pytest.approx(g_expected, rel=1e-12)


def test_lsgan_and_hinge_losses_match_the_formulas() -> None:
    lsgan_d = 0.5 * (mean([(r - 1) ** 2 for r in REAL]) + mean([f**2 for f in FAKE]))
    lsgan_g = mean([(f - 1) ** 2 for f in FAKE])
    hinge_d = 0.5 * (mean([max(0.0, 1 - r) for r in REAL]) + mean([max(0.0, 1 + f) for f in FAKE]))
    hinge_g = -mean(FAKE)
    assert discriminator_loss(logits(REAL), logits(FAKE), "lsgan").item() == pytest.approx(lsgan_d, rel=1e-12)
    assert generator_loss(None, logits(FAKE), "lsgan").item() == pytest.approx(lsgan_g, rel=1e-12)
    assert discriminator_loss(logits(REAL), logits(FAKE), "hinge").item() == pytest.approx(hinge_d, rel=1e-12)
    assert generator_loss(None, logits(FAKE), "hinge").item() == pytest.approx(hinge_g, rel=1e-12)


def test_ragan_uses_the_mean_over_all_elements_of_per_pixel_logits() -> None:
    real = torch.tensor(REAL + FAKE, dtype=torch.float64).view(2, 1, 2, 2)
    fake = torch.tensor(FAKE + REAL[::-1], dtype=torch.float64).view(2, 1, 2, 2)
    r, f = real.flatten().tolist(), fake.flatten().tolist()
    a = [x - mean(f) for x in r]
    b = [x - mean(r) for x in f]
    expected = -0.5 * (mean([math.log(sig(v)) for v in a]) + mean([math.log(1 - sig(v)) for v in b]))
    assert discriminator_loss(real, fake, "ragan").item() == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- adversarial: gradients


def test_ragan_generator_loss_gradients_reach_both_real_and_fake_logits() -> None:
    real, fake = logits(REAL, grad=True), logits(FAKE, grad=True)
    generator_loss(real, fake, "ragan").backward()
    # Derived by hand from L = -1/2 (mean log(1 - s(a)) + mean log s(b)).
    grad_real = [0.5 * (sig(a) / N + sum(1 - sig(b) for b in B) / N**2) for a in A]
    grad_fake = [0.5 * (-sum(sig(a) for a in A) / N**2 - (1 - sig(b)) / N) for b in B]
    assert real.grad is not None and fake.grad is not None
    assert real.grad.abs().min() > 0 and fake.grad.abs().min() > 0
    torch.testing.assert_close(real.grad.flatten(), torch.tensor(grad_real, dtype=torch.float64))
    torch.testing.assert_close(fake.grad.flatten(), torch.tensor(grad_fake, dtype=torch.float64))


def test_ragan_discriminator_gradients_with_and_without_detached_means() -> None:
    # Full gradient of L = -1/2 (mean log s(a) + mean log(1 - s(b))) ...
    full_real = [0.5 * (-(1 - sig(a)) / N - sum(sig(b) for b in B) / N**2) for a in A]
    full_fake = [0.5 * (sum(1 - sig(a) for a in A) / N**2 + sig(b) / N) for b in B]
    # ... and with the other batch's mean held constant in each term (the reference code).
    detached_real = [0.5 * (-(1 - sig(a)) / N) for a in A]
    detached_fake = [0.5 * (sig(b) / N) for b in B]
    for detach_mean, exp_real, exp_fake in [
        (False, full_real, full_fake),
        (True, detached_real, detached_fake),
    ]:
        real, fake = logits(REAL, grad=True), logits(FAKE, grad=True)
        discriminator_loss(real, fake, "ragan", detach_mean=detach_mean).backward()
        torch.testing.assert_close(real.grad.flatten(), torch.tensor(exp_real, dtype=torch.float64))
        torch.testing.assert_close(fake.grad.flatten(), torch.tensor(exp_fake, dtype=torch.float64))


def test_adversarial_user_errors() -> None:
    with pytest.raises(ESRGANError, match="wgan"):
        discriminator_loss(logits(REAL), logits(FAKE), "wgan")
    with pytest.raises(ESRGANError, match="gan_type"):
        generator_loss(None, logits(FAKE), "relativistic")
    with pytest.raises(ESRGANError, match="real"):
        generator_loss(None, logits(FAKE), "ragan")


# ---------------------------------------------------------------- pixel


def test_pixel_losses_match_the_formulas() -> None:
    out = torch.tensor([[0.0, 0.5], [1.0, 0.25]])
    gt = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    diffs = [0.5, 0.0, 1.0, 0.75]
    assert PixelLoss("l1")(out, gt).item() == pytest.approx(mean(diffs))
    assert PixelLoss("mse", weight=0.5)(out, gt).item() == pytest.approx(0.5 * mean([d * d for d in diffs]))
    with pytest.raises(ESRGANError, match="charbonnier"):
        PixelLoss("charbonnier")
    with pytest.raises(ESRGANError, match="shape"):
        PixelLoss()(out, gt[:1])


# ---------------------------------------------------------------- perceptual

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def first_block_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(7)
    state = {
        "features.0.weight": torch.randn(64, 3, 3, 3, generator=gen) * 0.3,
        "features.0.bias": torch.randn(64, generator=gen) * 0.1,
        "features.2.weight": torch.randn(64, 64, 3, 3, generator=gen) * 0.06,
        "features.2.bias": torch.randn(64, generator=gen) * 0.1,
    }
    path = str(tmp_path_factory.mktemp("vgg") / "first_block.pth")
    torch.save(state, path)
    return path, state


def first_block_features(x: torch.Tensor, state: dict[str, torch.Tensor], normalize: bool = True):
    h = (x - IMAGENET_MEAN) / IMAGENET_STD if normalize else x
    conv1_1 = F.conv2d(h, state["features.0.weight"], state["features.0.bias"], padding=1)
    conv1_2 = F.conv2d(F.relu(conv1_1), state["features.2.weight"], state["features.2.bias"], padding=1)
    return {"conv1_1": conv1_1, "conv1_2": conv1_2, "relu1_2": F.relu(conv1_2)}


def image_pair(size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, size, size, generator=gen), torch.rand(2, 3, size, size, generator=gen)


def test_perceptual_loss_matches_an_independent_feature_computation(first_block_weights) -> None:
    path, state = first_block_weights
    x, y = image_pair()
    fx, fy = first_block_features(x, state), first_block_features(y, state)

    mse = PerceptualLoss({"conv1_2": 1.0}, "mse", weights_path=path)
    torch.testing.assert_close(mse(x, y), ((fx["conv1_2"] - fy["conv1_2"]) ** 2).mean())

    mixed = PerceptualLoss({"conv1_1": 0.5, "relu1_2": 2.0}, "l1", weights_path=path, weight=3.0)
    expected = 3.0 * (
        0.5 * (fx["conv1_1"] - fy["conv1_1"]).abs().mean()
        + 2.0 * (fx["relu1_2"] - fy["relu1_2"]).abs().mean()
    )
    torch.testing.assert_close(mixed(x, y), expected)

    s = 1 / 12.75
    scaled = PerceptualLoss({"relu1_2": 1.0}, "mse", weights_path=path, feature_scale=s)
    torch.testing.assert_close(scaled(x, y), ((s * fx["relu1_2"] - s * fy["relu1_2"]) ** 2).mean())

    raw = PerceptualLoss({"conv1_1": 1.0}, "l1", weights_path=path, normalize=False)
    gx, gy = first_block_features(x, state, normalize=False), first_block_features(y, state, normalize=False)
    torch.testing.assert_close(raw(x, y), (gx["conv1_1"] - gy["conv1_1"]).abs().mean())


@pytest.fixture(scope="module")
def deep_random_loss() -> PerceptualLoss:
    return PerceptualLoss({"conv5_4": 1.0}, "l1", random_init=True)


def test_perceptual_loss_is_zero_for_identical_images_and_positive_otherwise(deep_random_loss) -> None:
    x, y = image_pair(32)
    assert deep_random_loss.is_random
    assert deep_random_loss(x, x.clone()).item() == 0.0
    assert deep_random_loss(x, y).item() > 0.0


def test_perceptual_gradients_reach_the_output_only(deep_random_loss) -> None:
    x, y = image_pair(32)
    x.requires_grad_(True)
    y.requires_grad_(True)
    deep_random_loss(x, y).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert y.grad is None  # target features are computed without grad
    for p in deep_random_loss.vgg.parameters():
        assert not p.requires_grad and p.grad is None


def test_vgg_stays_in_eval_mode_after_train(deep_random_loss) -> None:
    deep_random_loss.train()
    assert deep_random_loss.training
    assert not any(m.training for m in deep_random_loss.vgg.modules())
    deep_random_loss.eval()
    assert not any(m.training for m in deep_random_loss.vgg.modules())


def test_presets_pick_the_paper_layers() -> None:
    esrgan = perceptual_loss_preset("esrgan", random_init=True)
    assert (
        esrgan.layer_weights == {"conv5_4": 1.0} and esrgan.criterion == "l1" and esrgan.feature_scale == 1.0
    )
    assert len(esrgan.vgg.features) == 35  # up to conv5_4 (index 34), before its ReLU
    vgg22 = perceptual_loss_preset("srgan_vgg22", random_init=True)
    assert vgg22.layer_weights == {"relu2_2": 1.0} and vgg22.criterion == "mse"
    assert vgg22.feature_scale == pytest.approx(1 / 12.75)
    assert len(vgg22.vgg.features) == 9
    with pytest.raises(ESRGANError, match="vgg16"):
        perceptual_loss_preset("vgg16")


def test_perceptual_user_errors(tmp_path, monkeypatch) -> None:
    with pytest.raises(ESRGANError, match="criterion"):
        PerceptualLoss({"conv1_1": 1.0}, "huber", random_init=True)
    with pytest.raises(ESRGANError, match="conv5_5"):
        PerceptualLoss({"conv5_5": 1.0}, random_init=True)
    with pytest.raises(ESRGANError, match="RGB"):
        PerceptualLoss({"conv1_1": 1.0}, random_init=True)(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
    # Without weights and offline: an error naming the file, never random weights.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("ESRGAN_OFFLINE", "1")
    with pytest.raises(ESRGANError, match="vgg19-dcbb9e9d.pth"):
        PerceptualLoss()
