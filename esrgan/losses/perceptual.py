"""Perceptual loss: distance between frozen-VGG19 features of the output and of the ground truth.

ESRGAN: L1 on `conv5_4`, i.e. *before* its ReLU (at that depth most activations are negative, so
features after ReLU are sparse and shift brightness; paper Fig. 6 and 9a). SRGAN: MSE *after* the
activation, `relu5_4` ("VGG54") or `relu2_2` ("VGG22"), with the feature maps multiplied by 1/12.75 to
bring the loss to the scale of the pixel MSE (the loss itself is then scaled by 1/12.75^2, about 0.006).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from esrgan.errors import ESRGANError
from esrgan.losses.vgg19 import VGG19FeatureExtractor

PerceptualCriterion = Literal["l1", "mse"]  # the training config's loss.perceptual_criterion
PERCEPTUAL_CRITERIA: tuple[str, ...] = get_args(PerceptualCriterion)
SRGAN_FEATURE_SCALE = 1.0 / 12.75
PERCEPTUAL_PRESETS = ("esrgan", "srgan_vgg54", "srgan_vgg22")


class PerceptualLoss(nn.Module):
    """`weight * sum_l layer_weights[l] * criterion(s * phi_l(output), s * phi_l(target))`, s = feature_scale.

    `layer_weights` maps VGG19 layer names (conv5_4 = before activation, relu5_4 = after) to weights;
    the default is ESRGAN's `{"conv5_4": 1.0}`. Inputs are RGB in [0, 1], normalised with the ImageNet
    mean/std when `normalize`. The VGG is frozen and always in eval mode; target features are computed
    without grad, so only `output` receives gradients. `random_init=True` gives a seeded random VGG
    (`is_random` is then True): only for tests, never a real perceptual loss.
    """

    def __init__(
        self,
        layer_weights: Mapping[str, float] | None = None,
        criterion: str = "l1",
        *,
        weights_path: str | None = None,
        random_init: bool = False,
        normalize: bool = True,
        feature_scale: float = 1.0,
        weight: float = 1.0,
        allow_download: bool | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if layer_weights is None:
            layer_weights = {"conv5_4": 1.0}
        if not layer_weights:
            raise ESRGANError("perceptual loss needs at least one VGG19 layer in layer_weights")
        if criterion not in PERCEPTUAL_CRITERIA:
            raise ESRGANError(
                f"perceptual criterion must be one of {', '.join(PERCEPTUAL_CRITERIA)}, got {criterion!r}"
            )
        self.layer_weights = {str(name): float(w) for name, w in layer_weights.items()}
        self.criterion = criterion
        self.feature_scale = float(feature_scale)
        self.weight = float(weight)
        self.vgg = VGG19FeatureExtractor(
            list(self.layer_weights),
            weights_path=weights_path,
            random_init=random_init,
            seed=seed,
            allow_download=allow_download,
            normalize=normalize,
        )

    @property
    def is_random(self) -> bool:
        return self.vgg.is_random

    def _distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.feature_scale != 1.0:
            a, b = a * self.feature_scale, b * self.feature_scale
        return F.l1_loss(a, b) if self.criterion == "l1" else F.mse_loss(a, b)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if output.shape != target.shape:
            raise ESRGANError(
                f"perceptual loss needs equal shapes, got output {tuple(output.shape)} "
                f"and target {tuple(target.shape)}"
            )
        output_features = self.vgg(output)
        with torch.no_grad():
            target_features = self.vgg(target.detach())
        loss = output.new_zeros(())
        for name, layer_weight in self.layer_weights.items():
            loss = loss + layer_weight * self._distance(output_features[name], target_features[name])
        return self.weight * loss

    def extra_repr(self) -> str:
        return (
            f"layer_weights={self.layer_weights}, criterion={self.criterion!r}, "
            f"feature_scale={self.feature_scale:.6g}, weight={self.weight}"
        )


def perceptual_loss_preset(name: str, **kwargs: object) -> PerceptualLoss:
    """The paper configurations: "esrgan" (conv5_4, L1), "srgan_vgg54" (relu5_4, MSE, features / 12.75),
    "srgan_vgg22" (relu2_2, MSE, features / 12.75). Keyword arguments go to `PerceptualLoss`."""
    if name == "esrgan":
        settings: dict[str, object] = {"layer_weights": {"conv5_4": 1.0}, "criterion": "l1"}
    elif name == "srgan_vgg54":
        settings = {
            "layer_weights": {"relu5_4": 1.0},
            "criterion": "mse",
            "feature_scale": SRGAN_FEATURE_SCALE,
        }
    elif name == "srgan_vgg22":
        settings = {
            "layer_weights": {"relu2_2": 1.0},
            "criterion": "mse",
            "feature_scale": SRGAN_FEATURE_SCALE,
        }
    else:
        raise ESRGANError(f"unknown perceptual preset {name!r}; choose from {', '.join(PERCEPTUAL_PRESETS)}")
    settings.update(kwargs)
    return PerceptualLoss(**settings)  # type: ignore[arg-type]
