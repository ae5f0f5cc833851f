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
import math
import os
from dataclasses import replace
from typing import Any, TypeVar

import torch
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
    psnr = resolve_descriptor(psnr_model)
    gan = resolve_descriptor(gan_model)
    blended_state = interpolate_state_dicts(psnr.state_dict(), gan.state_dict(), alpha)
    result = copy.deepcopy(gan.model)
    result.load_state_dict(blended_state, strict=True)
    metadata = {
        "interpolation_alpha": alpha,
        "interpolation_psnr_model": psnr.source,
        "interpolation_gan_model": gan.source,
    }
    return replace(gan, model=result.eval(), source=IN_MEMORY, metadata=metadata)


def interpolate_state_dicts(
    psnr_state: dict[str, Tensor], gan_state: dict[str, Tensor], alpha: float
) -> dict[str, Tensor]:
    """Blend two state dicts of one architecture tensor by tensor (keys and shapes must match).

    Computed in float64 and cast back to the GAN tensor's dtype, so alpha = 0 and 1 reproduce the
    two inputs exactly. Integer tensors are copied from `gan_state`.
    """
    alpha = validate_alpha(alpha)
    check_same_architecture(psnr_state, gan_state)
    blended: dict[str, Tensor] = {}
    for name, gan_tensor in gan_state.items():
        psnr_tensor = psnr_state[name]
        if not gan_tensor.is_floating_point():
            blended[name] = gan_tensor.clone()
            continue
        mix = (1.0 - alpha) * psnr_tensor.to(gan_tensor.device, torch.float64) + alpha * gan_tensor.to(
            torch.float64
        )
        blended[name] = mix.to(gan_tensor.dtype)
    return blended


def check_same_architecture(psnr_state: dict[str, Tensor], gan_state: dict[str, Tensor]) -> None:
    """ESRGANError naming the first tensor (in state-dict order) that differs in name, shape or kind."""
    psnr_names, gan_names = list(psnr_state), list(gan_state)
    for index in range(max(len(psnr_names), len(gan_names))):
        psnr_name = psnr_names[index] if index < len(psnr_names) else None
        gan_name = gan_names[index] if index < len(gan_names) else None
        if psnr_name != gan_name:
            if gan_name is None or (psnr_name is not None and psnr_name not in gan_state):
                raise ESRGANError(
                    f"the models differ in architecture: tensor {psnr_name!r} of the PSNR model is not in "
                    "the GAN model"
                )
            raise ESRGANError(
                f"the models differ in architecture: tensor {gan_name!r} of the GAN model is not in the "
                "PSNR model"
            )
        a, b = psnr_state[psnr_name], gan_state[gan_name]
        if a.shape != b.shape:
            raise ESRGANError(
                f"the models differ in architecture: tensor {psnr_name!r} has shape {tuple(a.shape)} in the "
                f"PSNR model and {tuple(b.shape)} in the GAN model"
            )
        if a.is_floating_point() != b.is_floating_point():
            raise ESRGANError(
                f"the models differ in architecture: tensor {psnr_name!r} is {a.dtype} in the PSNR model "
                f"and {b.dtype} in the GAN model"
            )


def interpolate_images(psnr_image: ImageT, gan_image: ImageT, alpha: float) -> ImageT:
    """Pixel blend `(1 - alpha) * psnr_image + alpha * gan_image` of tensors or float numpy arrays."""
    alpha = validate_alpha(alpha)
    if tuple(psnr_image.shape) != tuple(gan_image.shape):  # type: ignore[attr-defined]
        raise ESRGANError(
            f"image interpolation needs images of one shape, got {tuple(psnr_image.shape)} and "  # type: ignore[attr-defined]
            f"{tuple(gan_image.shape)}"  # type: ignore[attr-defined]
        )
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
