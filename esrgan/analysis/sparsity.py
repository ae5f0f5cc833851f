"""How sparse VGG19 features are after the ReLU (ESRGAN paper, Fig. 6 and section 3.3).

The paper's reason for a perceptual loss on features *before* activation: deep VGG features are
very sparse after the ReLU ("11.17% of neurons activated after VGG19-54 for the image baboon"), so
a loss on them supervises little. For every conv layer this module measures

- `nonzero_before`: the share of the conv output (pre-activation) that is non-zero: dense, ~100%;
- `active_after`: the share that is still non-zero after the ReLU, i.e. the activated neurons.

The input is RGB in [0, 1], normalised with the ImageNet mean/std the weights were trained with,
as the perceptual loss feeds it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from esrgan.analysis.report import new_figure, save_figure
from esrgan.errors import ESRGANError
from esrgan.losses.vgg19 import VGG19_LAYER_NAMES, VGG19FeatureExtractor, vgg19_layer_index

if TYPE_CHECKING:
    from torch import nn

CONV_LAYERS: tuple[str, ...] = tuple(name for name in VGG19_LAYER_NAMES if name.startswith("conv"))


@dataclass
class LayerSparsity:
    layer: str  # e.g. "conv5_4"; the paper calls the features after its ReLU "VGG19-54"
    index: int  # torchvision `features` index of the conv
    nonzero_before: float  # share of non-zero pre-activation values, in [0, 1]
    active_after: float  # share of positive (activated) values after the ReLU, in [0, 1]

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["nonzero_before_pct"] = 100.0 * self.nonzero_before
        row["active_after_pct"] = 100.0 * self.active_after
        return row


def make_extractor(
    *, weights_path: str | None = None, random_init: bool = False, deepest: str = "relu5_4"
) -> VGG19FeatureExtractor:
    """The frozen VGG19 up to `deepest`: real weights (path or torch hub cache) or explicitly random."""
    return VGG19FeatureExtractor([deepest], weights_path=weights_path, random_init=random_init)


@torch.no_grad()
def activation_sparsity(
    image: np.ndarray | Tensor, extractor: VGG19FeatureExtractor, layers: tuple[str, ...] = CONV_LAYERS
) -> list[LayerSparsity]:
    """Per conv layer, the share of values that are non-zero before and after its ReLU.

    `image` is an HWC array or a (1, 3, H, W) tensor with values in [0, 1]. Statistics are taken by
    hooks during one forward pass, so no feature map is kept.
    """
    x = _as_batch(image).to(next(extractor.parameters()).device)
    counts: dict[int, tuple[int, int]] = {}
    features: nn.Sequential = extractor.features
    wanted = {vgg19_layer_index(name): name for name in layers}
    if max(wanted) + 1 >= len(features):
        raise ESRGANError(f"the VGG19 extractor stops at {extractor.deepest_layer}, before a layer's ReLU")

    def counter(index: int) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Tensor) -> None:
            counts[index] = (int(torch.count_nonzero(output)), output.numel())

        return hook

    handles = [features[i + k].register_forward_hook(counter(i + k)) for i in wanted for k in (0, 1)]
    try:
        extractor(x)
    finally:
        for handle in handles:
            handle.remove()
    return [
        LayerSparsity(name, i, counts[i][0] / counts[i][1], counts[i + 1][0] / counts[i][1])
        for i, name in sorted(wanted.items())
    ]


def _as_batch(image: np.ndarray | Tensor) -> Tensor:
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3 or image.shape[2] not in (1, 3):
            raise ESRGANError(f"expected an RGB or grey HWC image, got shape {image.shape}")
        if image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        image = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    if image.dim() == 3:
        image = image[None]
    return image.float()


def plot_sparsity(results: list[LayerSparsity], path: str | Path, *, title: str) -> None:
    """Bar chart per conv layer: non-zero share before the ReLU and activated share after it."""
    fig = new_figure(9.0, 4.2)
    ax = fig.add_subplot()
    x = np.arange(len(results))
    before, after = [100 * r.nonzero_before for r in results], [100 * r.active_after for r in results]
    ax.bar(x - 0.2, before, 0.4, label="before ReLU (non-zero)", color="#4c72b0")
    ax.bar(x + 0.2, after, 0.4, label="after ReLU (activated)", color="#dd8452")
    style = {"ha": "center", "va": "bottom", "fontsize": 6, "xytext": (0, 1), "textcoords": "offset points"}
    for xi, a in zip(x, after, strict=True):
        ax.annotate(f"{a:.1f}", (xi + 0.2, a), **style)
    ax.set_xticks(x, [r.layer.removeprefix("conv") for r in results], rotation=45, fontsize=8)
    ax.set_xlabel("VGG19 layer (block_conv)")
    ax.set_ylabel("neurons (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


@torch.no_grad()
def plot_feature_maps(
    image: np.ndarray | Tensor, extractor: VGG19FeatureExtractor, layer: str, path: str | Path, *, title: str
) -> None:
    """Fig. 6 of the paper: four channels of one layer before and after its ReLU."""
    index = vgg19_layer_index(layer)
    captured: dict[str, Tensor] = {}
    hooks = [
        extractor.features[index + k].register_forward_hook(
            lambda m, i, o, key=key: captured.__setitem__(key, o.clone())
        )
        for k, key in enumerate(("before", "after"))
    ]
    try:
        extractor(_as_batch(image).to(next(extractor.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
    before, after = captured["before"][0].cpu(), captured["after"][0].cpu()
    # Channels spread over the ranking by activated share (quantiles), so the panels are typical.
    ranked = after.flatten(1).count_nonzero(dim=1).argsort().tolist()
    count = max(1, min(4, len(ranked)))
    order = [ranked[int((k + 0.5) * len(ranked) / count)] for k in range(count)]
    fig = new_figure(2.0 * len(order), 4.4)
    axes = fig.subplots(2, len(order), squeeze=False)
    for col, channel in enumerate(order):
        for row, (label, maps) in enumerate((("before ReLU", before), ("after ReLU", after))):
            ax = axes[row][col]
            low, high = float(before[channel].min()), float(before[channel].max())
            ax.imshow(maps[channel].numpy(), cmap="viridis", vmin=low, vmax=high)
            ax.set_xticks([])
            ax.set_yticks([])
            share = 100.0 * float((maps[channel] != 0).float().mean())
            ax.set_title(f"ch {channel}, {label}\n{share:.1f}% non-zero", fontsize=7)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)
