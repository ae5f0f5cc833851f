"""Test-time options as generator modules, so they plug into anything that runs a model.

Tiled upscaling, evaluation and the reports all take "a generator": an `nn.Module` with `scale`
(and optionally `in_ch`, `out_ch`, `size_multiple`, `config`) mapping NCHW [0, 1] to a larger NCHW.
The wrappers here are such modules. They hold the wrapped networks as submodules, so `.to(device)`,
`.half()` and `copy.deepcopy` reach them:

`SelfEnsemble` (x8 flips/rotations: no training, 8x the compute), `BackProjected` (per tile when
tiled) and `ImageInterpolation` (the pixel blend of two outputs).
"""

from __future__ import annotations

from torch import Tensor, nn

from esrgan.errors import ESRGANError
from esrgan.inference.back_projection import back_project
from esrgan.inference.interpolation import (
    check_same_architecture,
    interpolate,
    interpolate_images,
    validate_alpha,
)
from esrgan.models.descriptor import ModelDescriptor, describe, module_of

# (horizontal flip first?, quarter turns): the 8 elements of the square's symmetry group.
TRANSFORMS = tuple((flip, turns) for flip in (False, True) for turns in range(4))


def self_ensemble(model: nn.Module, lr: Tensor) -> Tensor:
    """Mean over the 8 transforms of `invert(model(transform(lr)))`; one pass in memory at a time.

    transform: flip along W (if `flip`), then `turns` quarter turns in the (H, W) plane; invert:
    rotate back, then un-flip."""
    total: Tensor | None = None
    for flip, turns in TRANSFORMS:
        x = lr.flip(-1) if flip else lr
        y = model(x.rot90(turns, dims=(-2, -1)) if turns else x)
        y = y.rot90(-turns, dims=(-2, -1)) if turns else y
        out = (y.flip(-1) if flip else y).float()
        total = out if total is None else total + out
    assert total is not None
    return (total / len(TRANSFORMS)).to(lr.dtype if lr.is_floating_point() else total.dtype)


class GeneratorWrapper(nn.Module):
    """Base: exposes the wrapped generator's scale, channels, size multiple and config."""

    def __init__(self, model: nn.Module | ModelDescriptor) -> None:
        super().__init__()
        desc = describe(model)
        self.model = desc.model
        self.scale, self.in_ch, self.out_ch = desc.scale, desc.in_ch, desc.out_ch
        self.size_multiple, self.config = desc.size_multiple, desc.config


class SelfEnsemble(GeneratorWrapper):
    def forward(self, x: Tensor) -> Tensor:
        return self_ensemble(self.model, x)


class BackProjected(GeneratorWrapper):
    def __init__(self, model: nn.Module, iterations: int) -> None:
        super().__init__(model)
        self.iterations = iterations

    def forward(self, x: Tensor) -> Tensor:
        return back_project(self.model(x), x, self.iterations)


class ImageInterpolation(GeneratorWrapper):
    """`(1 - alpha) * psnr_model(x) + alpha * gan_model(x)`; the two must have the same scale."""

    def __init__(self, psnr_model: nn.Module, gan_model: nn.Module, alpha: float) -> None:
        super().__init__(gan_model)
        check_same_architecture(psnr_model.state_dict(), gan_model.state_dict())
        self.psnr_model = module_of(psnr_model)
        self.alpha = validate_alpha(alpha)

    def forward(self, x: Tensor) -> Tensor:
        return interpolate_images(self.psnr_model(x), self.model(x), self.alpha)


def with_test_time_options(
    model: nn.Module, *, ensemble: bool = False, back_projection: int = 0
) -> nn.Module:
    """`model` with the x8 self-ensemble and/or back projection applied (ensemble first), or as it is."""
    if ensemble:
        model = SelfEnsemble(model)
    if back_projection:
        model = BackProjected(model, back_projection)
    return model


def apply_inference_options(
    model: nn.Module,
    *,
    psnr_model: nn.Module | None = None,
    alpha: float | None = None,
    interpolation: str = "network",
    ensemble: bool = False,
    back_projection: int = 0,
) -> nn.Module:
    """The generator the command-line options describe, built from the loaded `model`.

    With `alpha` and `psnr_model`: network interpolation (a new blended network; nothing is written)
    or image interpolation (both run, outputs blended). Then the x8 self-ensemble and back projection.
    """
    if (alpha is None) != (psnr_model is None):
        raise ESRGANError("--alpha and --psnr-model go together: alpha blends the PSNR model with the model")
    if interpolation not in ("network", "image"):
        raise ESRGANError(f"interpolation must be 'network' or 'image', not {interpolation!r}")
    if isinstance(back_projection, bool) or not isinstance(back_projection, int) or back_projection < 0:
        raise ESRGANError(f"back-projection iterations must be a non-negative integer: {back_projection!r}")
    if alpha is not None and psnr_model is not None:
        model = (interpolate if interpolation == "network" else ImageInterpolation)(psnr_model, model, alpha)
    return with_test_time_options(model, ensemble=ensemble, back_projection=back_projection)
