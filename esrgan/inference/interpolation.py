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
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from esrgan.errors import ESRGANError
from esrgan.models.descriptor import ModelDescriptor

ModelOrPath = ModelDescriptor | nn.Module | str | os.PathLike
Forward = Callable[[nn.Module, Tensor], Tensor]
ImageT = TypeVar("ImageT")


def validate_alpha(alpha: Any) -> float:
    """alpha as a float in [0, 1], or an ESRGANError saying what was wrong."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ESRGANError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ESRGANError(f"alpha must be in [0, 1] (0 = PSNR model, 1 = GAN model), got {alpha!r}")
    return value


def interpolate(psnr_model: ModelOrPath, gan_model: ModelOrPath, alpha: float) -> nn.Module:
    """A new generator with weights `(1 - alpha) * psnr + alpha * gan`; the inputs are not modified.

    `psnr_model` and `gan_model` are modules or checkpoint paths in any supported format. The result
    is a copy of the GAN model (same class, device and dtype) in eval mode, with
    `interpolation_info = {"alpha", "psnr_source", "gan_source"}` attached for reports and saving.
    """
    alpha = validate_alpha(alpha)
    psnr_net, psnr_source = resolve_model(psnr_model)
    gan_net, gan_source = resolve_model(gan_model)
    blended_state = interpolate_state_dicts(psnr_net.state_dict(), gan_net.state_dict(), alpha)
    result = copy.deepcopy(gan_net)
    result.load_state_dict(blended_state, strict=True)
    result.interpolation_info = {"alpha": alpha, "psnr_source": psnr_source, "gan_source": gan_source}
    return result.eval()


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


def image_interpolation_forward(psnr_model: nn.Module, alpha: float) -> Forward:
    """A `(gan_model, lr) -> sr` function returning the pixel blend of the PSNR and GAN outputs.

    It plugs in wherever a model's forward pass does (tiled upscaling, self-ensemble), so
    `esrgan upscale` can produce image interpolation with the same tiling as network interpolation.
    """
    alpha = validate_alpha(alpha)

    def forward(gan_model: nn.Module, lr: Tensor) -> Tensor:
        return interpolate_images(psnr_model(lr), gan_model(lr), alpha)

    return forward


def resolve_model(model: ModelOrPath) -> tuple[nn.Module, str]:
    """(module, where it came from): a module as it is, a path loaded in any supported format."""
    if isinstance(model, ModelDescriptor):
        return model.model, model.source
    if isinstance(model, nn.Module):
        return model, f"<{type(model).__name__} in memory>"
    if isinstance(model, (str, os.PathLike)):
        from esrgan.models.loading import load_model

        return load_model(model).model, str(model)
    raise ESRGANError(f"expected a model or a checkpoint path, got {type(model).__name__}")
