"""Network interpolation (ESRGAN paper, section 3.4) and image interpolation, its pixel-space baseline.

Network interpolation blends the *weights* of a PSNR-oriented generator and a GAN generator fine-tuned
from it: `theta = (1 - alpha) * theta_PSNR + alpha * theta_GAN`. Every floating-point parameter and
buffer is blended (BatchNorm running statistics too, for SRResNet-with-BN); integer buffers such as
`num_batches_tracked` cannot be blended and are taken from the GAN model. Image interpolation blends
the two *output images* with the same alpha; the paper shows it keeps artifacts that network
interpolation removes, so both are provided for comparison.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
from dataclasses import replace
from typing import Any, TypeVar

from torch import Tensor, nn

from esrgan.errors import ESRGANError
from esrgan.models.descriptor import IN_MEMORY, ModelDescriptor, describe
from esrgan.models.loading import load_model

ModelOrPath = ModelDescriptor | nn.Module | str | os.PathLike
ImageT = TypeVar("ImageT")


def unit_interval(value: Any, what: str, ends: str) -> float:
    """A blend weight as a float in [0, 1], or an ESRGANError naming `what` and what its `ends` mean."""
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise ESRGANError(f"{what} must be a number in [0, 1], got {value!r}") from None
    if not math.isfinite(weight) or not 0.0 <= weight <= 1.0:
        raise ESRGANError(f"{what} must be in [0, 1] ({ends}), got {value!r}")
    return weight


def validate_alpha(alpha: Any) -> float:
    """alpha as a float in [0, 1], or an ESRGANError saying what was wrong."""
    return unit_interval(alpha, "alpha", "0 = PSNR model, 1 = GAN model")


def interpolate(psnr_model: ModelOrPath, gan_model: ModelOrPath, alpha: float) -> ModelDescriptor:
    """A new generator with weights `(1 - alpha) * psnr + alpha * gan`; the inputs are not modified.

    `psnr_model` and `gan_model` are models or checkpoint paths in any supported format. The result
    is a `ModelDescriptor` (it runs like a module) over a copy of the GAN network (same class, device
    and dtype) in eval mode; its `metadata` names the blend (`interpolation_alpha`,
    `interpolation_psnr_model`, `interpolation_gan_model`), which `save_model(desc, path,
    metadata=desc.metadata)` writes into the file.
    """
    alpha = validate_alpha(alpha)
    psnr, gan = resolve_descriptor(psnr_model), resolve_descriptor(gan_model)
    psnr_state, gan_state = psnr.state_dict(), gan.state_dict()
    check_same_architecture(psnr_state, gan_state)
    blended: dict[str, Tensor] = {}
    for name, g in gan_state.items():
        if g.is_floating_point():  # in float64, cast back: alpha = 0 and 1 reproduce the inputs exactly
            g = ((1.0 - alpha) * psnr_state[name].to(g.device).double() + alpha * g.double()).to(g.dtype)
        blended[name] = g
    result = copy.deepcopy(gan.model)
    result.load_state_dict(blended, strict=True)
    metadata = {
        "interpolation_alpha": alpha,
        "interpolation_psnr_model": psnr.source,
        "interpolation_gan_model": gan.source,
    }
    return replace(gan, model=result.eval(), source=IN_MEMORY, metadata=metadata)


def check_same_architecture(psnr_state: dict[str, Tensor], gan_state: dict[str, Tensor]) -> None:
    """ESRGANError naming the first tensor (in state-dict order) that differs in name, shape or kind."""
    differ = "the models differ in architecture: tensor"
    for psnr_name, gan_name in itertools.zip_longest(psnr_state, gan_state):
        if psnr_name != gan_name:
            psnr_only = gan_name is None or (psnr_name is not None and psnr_name not in gan_state)
            name, have, lack = (psnr_name, "PSNR", "GAN") if psnr_only else (gan_name, "GAN", "PSNR")
            raise ESRGANError(f"{differ} {name!r} of the {have} model is not in the {lack} model")
        a, b = psnr_state[psnr_name], gan_state[gan_name]
        if a.shape != b.shape or a.is_floating_point() != b.is_floating_point():
            was, now = f"{a.dtype} {tuple(a.shape)}", f"{b.dtype} {tuple(b.shape)}"
            raise ESRGANError(f"{differ} {psnr_name!r} is {was} in the PSNR model and {now} in the GAN model")


def interpolate_images(psnr_image: ImageT, gan_image: ImageT, alpha: float) -> ImageT:
    """Pixel blend `(1 - alpha) * psnr_image + alpha * gan_image` of tensors or float numpy arrays."""
    alpha = validate_alpha(alpha)
    shapes = tuple(psnr_image.shape), tuple(gan_image.shape)  # type: ignore[attr-defined]
    if shapes[0] != shapes[1]:
        raise ESRGANError(f"image interpolation needs images of one shape, got {shapes[0]} and {shapes[1]}")
    return (1.0 - alpha) * psnr_image + alpha * gan_image  # type: ignore[operator]


def resolve_descriptor(model: ModelOrPath) -> ModelDescriptor:
    """A model's descriptor: a module or descriptor as it is, a path loaded in any supported format."""
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    return describe(model, source=f"<{type(model).__name__} in memory>")


def resolve_model(model: ModelOrPath) -> tuple[nn.Module, str]:
    """(module, where it came from) for a module, descriptor or checkpoint path."""
    desc = resolve_descriptor(model)
    return desc.model, desc.source
