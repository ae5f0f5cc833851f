"""Adversarial losses on raw discriminator logits C(x): vanilla, relativistic average (ESRGAN), LSGAN, hinge.

Conventions shared by every `gan_type`:
- The discriminator loss is the *average* of its real and its fake term (half the summed form some
  papers write; with Adam the factor hardly matters).
- The RaGAN *generator* loss is averaged too, as in BasicSR, while the ESRGAN paper's equation sums
  its two terms: our L_G^Ra is half the paper's, so `gan_weight` lambda = 5e-3 acts like 2.5e-3 in
  the paper's equation. The presets keep BasicSR's convention (lambda 5e-3 on the average); the
  literal paper form is `loss.gan_weight=1.0e-2`, or `2 * generator_loss(...)`.
- Means run over all logit elements: the batch for (N, 1) logits, batch and pixels for per-pixel ones.
- Nothing here detaches the inputs except where stated; which graph a logit carries is the caller's
  choice, as below.

Relativistic average GAN (ESRGAN, SPEC section 4), with D_Ra(a, b) = sigmoid(C(a) - mean C(b)):
    L_D = -1/2 (E_r[log D_Ra(x_r, x_f)] + E_f[log(1 - D_Ra(x_f, x_r))])
        = 1/2 (BCE(C(real) - mean C(fake), 1) + BCE(C(fake) - mean C(real), 0))
    L_G = -1/2 (E_r[log(1 - D_Ra(x_r, x_f))] + E_f[log D_Ra(x_f, x_r)])
        = 1/2 (BCE(C(real) - mean C(fake), 0) + BCE(C(fake) - mean C(real), 1))

Who detaches what:
- D step: compute fake logits from `G(x).detach()` so the generator gets no gradient. With
  `detach_mean=True` (default, as the reference code) the other batch's mean in each RaGAN term is a
  constant: D's gradient flows through C(real) in the real term and through C(fake) in the fake term
  only. The reference does this because it back-propagates the real and the fake term separately (two
  D forwards, two backward passes): that keeps one D graph alive at a time and avoids the in-place
  BatchNorm-buffer error DistributedDataParallel raises when one backward runs through two forwards.
  The loss value is unchanged; `detach_mean=False` gives the exact gradient of L_D instead.
- G step: nothing is detached. The generator's gradient arrives through C(fake) in *both* RaGAN terms
  (directly in the fake term, through mean C(fake) in the real term). C(real) does not depend on G, so
  the caller may pass it detached (saves memory); D's parameters must not be stepped by this loss
  (freeze them with requires_grad_(False) during the G step, or zero their grads before the D step).
- Vanilla, LSGAN and hinge generator losses use only the fake logits (non-saturating for vanilla).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F

from esrgan.errors import ESRGANError

GanType = Literal["vanilla", "ragan", "lsgan", "hinge"]  # the training config's loss.gan_type
GAN_TYPES: tuple[str, ...] = get_args(GanType)


def check_gan_type(gan_type: str) -> str:
    if gan_type not in GAN_TYPES:
        raise ESRGANError(f"gan_type must be one of {', '.join(GAN_TYPES)}, got {gan_type!r}")
    return gan_type


def _bce_with_target(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _mse_with_target(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.mse_loss(logits, torch.full_like(logits, target))


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, gan_type: str, *, detach_mean: bool = True
) -> torch.Tensor:
    """Discriminator loss, the average of a real and a fake term.

    vanilla: (BCE(C(r), 1) + BCE(C(f), 0)) / 2
    ragan:   (BCE(C(r) - mean C(f), 1) + BCE(C(f) - mean C(r), 0)) / 2; `detach_mean` see module doc
    lsgan:   (mean (C(r) - 1)^2 + mean C(f)^2) / 2
    hinge:   (mean relu(1 - C(r)) + mean relu(1 + C(f))) / 2
    """
    check_gan_type(gan_type)
    if gan_type == "vanilla":
        return 0.5 * (_bce_with_target(real_logits, 1.0) + _bce_with_target(fake_logits, 0.0))
    if gan_type == "ragan":
        fake_mean, real_mean = fake_logits.mean(), real_logits.mean()
        if detach_mean:
            fake_mean, real_mean = fake_mean.detach(), real_mean.detach()
        return 0.5 * (
            _bce_with_target(real_logits - fake_mean, 1.0) + _bce_with_target(fake_logits - real_mean, 0.0)
        )
    if gan_type == "lsgan":
        return 0.5 * (_mse_with_target(real_logits, 1.0) + _mse_with_target(fake_logits, 0.0))
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


def generator_loss(
    real_logits: torch.Tensor | None, fake_logits: torch.Tensor, gan_type: str
) -> torch.Tensor:
    """Generator's adversarial loss (multiply by lambda = 5e-3 for ESRGAN, 1e-3 for SRGAN).

    vanilla: BCE(C(f), 1)  (non-saturating)
    ragan:   (BCE(C(r) - mean C(f), 0) + BCE(C(f) - mean C(r), 1)) / 2; needs `real_logits`
    lsgan:   mean (C(f) - 1)^2
    hinge:   -mean C(f)
    """
    check_gan_type(gan_type)
    if gan_type == "ragan":
        if real_logits is None:
            raise ESRGANError("the relativistic (ragan) generator loss needs the real images' logits")
        return 0.5 * (
            _bce_with_target(real_logits - fake_logits.mean(), 0.0)
            + _bce_with_target(fake_logits - real_logits.mean(), 1.0)
        )
    if gan_type == "vanilla":
        return _bce_with_target(fake_logits, 1.0)
    if gan_type == "lsgan":
        return _mse_with_target(fake_logits, 1.0)
    return -fake_logits.mean()
