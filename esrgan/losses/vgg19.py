"""VGG19 feature network (torchvision's `vgg19().features` layout, without torchvision) and its weights.

The stack is rebuilt here with exactly torchvision's module indices, so a torchvision state dict
(`features.{i}.weight` / `features.{i}.bias`, e.g. `vgg19-dcbb9e9d.pth` or a MINC-fine-tuned copy)
loads directly. Layers are also named the usual way (conv1_1, relu1_1, ..., conv5_4 = index 34,
relu5_4 = 35, pool5 = 36); a feature "before activation" is simply a `conv*` name, "after" a `relu*`.

Weights are looked up in this order: an explicit file path, the torch hub cache
(`<torch.hub.get_dir()>/checkpoints/vgg19-dcbb9e9d.pth`), then a download from the official URL
unless downloads are disabled (`allow_download=False` or environment `ESRGAN_OFFLINE=1`). Nothing
falls back to random weights: those need `random_init=True`, and are flagged with `is_random`.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from esrgan.env import env_flag
from esrgan.errors import ESRGANError

logger = logging.getLogger(__name__)

VGG19_WEIGHTS_FILENAME = "vgg19-dcbb9e9d.pth"
VGG19_WEIGHTS_URL = f"https://download.pytorch.org/models/{VGG19_WEIGHTS_FILENAME}"
OFFLINE_ENV_VAR = "ESRGAN_OFFLINE"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (channels, convs) per block; every block ends with a 2x2 max-pool. This is torchvision's config "E".
_VGG19_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))
_DOWNLOAD_SOCKET_TIMEOUT_S = 60.0


class _LayerSpec(NamedTuple):
    name: str
    kind: str  # "conv", "relu" or "pool"
    in_channels: int
    out_channels: int


def _vgg19_layer_specs() -> tuple[_LayerSpec, ...]:
    specs: list[_LayerSpec] = []
    channels = 3
    for block, (width, convs) in enumerate(_VGG19_BLOCKS, start=1):
        for conv in range(1, convs + 1):
            specs.append(_LayerSpec(f"conv{block}_{conv}", "conv", channels, width))
            specs.append(_LayerSpec(f"relu{block}_{conv}", "relu", width, width))
            channels = width
        specs.append(_LayerSpec(f"pool{block}", "pool", channels, channels))
    return tuple(specs)


_LAYER_SPECS = _vgg19_layer_specs()
VGG19_LAYER_NAMES: tuple[str, ...] = tuple(spec.name for spec in _LAYER_SPECS)
_INDEX_BY_NAME = {name: index for index, name in enumerate(VGG19_LAYER_NAMES)}


def vgg19_layer_index(name: str) -> int:
    """torchvision `features` index of a named layer (conv5_4 -> 34); ESRGANError for unknown names."""
    if name not in _INDEX_BY_NAME:
        raise ESRGANError(
            f"unknown VGG19 layer {name!r}; valid names are conv{{b}}_{{i}}, relu{{b}}_{{i}}, pool{{b}} "
            f"(e.g. conv5_4, relu2_2), from {VGG19_LAYER_NAMES[0]} to {VGG19_LAYER_NAMES[-1]}"
        )
    return _INDEX_BY_NAME[name]


def _expected_parameter_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for index, spec in enumerate(_LAYER_SPECS):
        if spec.kind == "conv":
            shapes[f"features.{index}.weight"] = (spec.out_channels, spec.in_channels, 3, 3)
            shapes[f"features.{index}.bias"] = (spec.out_channels,)
    return shapes


def build_vgg19_features(deepest_layer: str) -> nn.Sequential:
    """torchvision's `vgg19().features` truncated after `deepest_layer` (module `i` is features.{i})."""
    layers: list[nn.Module] = []
    for spec in _LAYER_SPECS[: vgg19_layer_index(deepest_layer) + 1]:
        if spec.kind == "conv":
            layers.append(nn.Conv2d(spec.in_channels, spec.out_channels, kernel_size=3, padding=1))
        elif spec.kind == "relu":
            # Not in-place (torchvision's is): a conv output we return must not be overwritten by its ReLU.
            layers.append(nn.ReLU(inplace=False))
        else:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg19_weights_cache_path() -> str:
    """Where torch hub keeps (and looks for) `vgg19-dcbb9e9d.pth`; honours TORCH_HOME."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", VGG19_WEIGHTS_FILENAME)


def downloads_disabled_by_environment() -> bool:
    return env_flag(OFFLINE_ENV_VAR)


def load_vgg19_weights(
    path: str | None = None, *, allow_download: bool | None = None
) -> dict[str, torch.Tensor]:
    """The `features.*` tensors of a torchvision-layout VGG19 state dict (classifier keys dropped).

    `path` given: that file or an ESRGANError (never a silent fallback). Otherwise the torch hub cache,
    then a download (skipped when `allow_download` is False, or when it is None and ESRGAN_OFFLINE=1).
    """
    state, _ = _load_vgg19_weights_with_source(path, allow_download)
    return state


def _load_vgg19_weights_with_source(
    path: str | None, allow_download: bool | None
) -> tuple[dict[str, torch.Tensor], str]:
    if path is not None:
        if not os.path.isfile(path):
            raise ESRGANError(f"VGG19 weights file not found: {path}")
        return _read_state_dict(path), path

    cached = vgg19_weights_cache_path()
    if os.path.isfile(cached):
        return _read_state_dict(cached), cached

    if allow_download is None:
        allow_download = not downloads_disabled_by_environment()
    where = (
        f"put {VGG19_WEIGHTS_FILENAME} (from {VGG19_WEIGHTS_URL}) in {os.path.dirname(cached)}, "
        "or pass a weights path"
    )
    if not allow_download:
        why = f"{OFFLINE_ENV_VAR} is set" if downloads_disabled_by_environment() else "downloads are disabled"
        raise ESRGANError(f"VGG19 weights not found and {why}: {where}")
    return _download_state_dict(where), cached


def _download_state_dict(where: str) -> dict[str, torch.Tensor]:
    logger.info("downloading VGG19 weights from %s", VGG19_WEIGHTS_URL)
    # torch hub's urlopen has no timeout; bound each socket operation so an offline machine fails.
    previous_timeout = socket.getdefaulttimeout()
    if previous_timeout is None:
        socket.setdefaulttimeout(_DOWNLOAD_SOCKET_TIMEOUT_S)
    try:
        raw = torch.hub.load_state_dict_from_url(
            VGG19_WEIGHTS_URL, map_location="cpu", progress=True, check_hash=True, weights_only=True
        )
    except Exception as exc:  # network, disk or hash errors all mean the same thing to the user
        raise ESRGANError(f"could not download VGG19 weights ({exc}): {where}") from exc
    finally:
        socket.setdefaulttimeout(previous_timeout)
    return _features_state(raw, VGG19_WEIGHTS_URL)


def _read_state_dict(path: str) -> dict[str, torch.Tensor]:
    try:
        try:
            # Memory-mapped: torchvision's file is 548 MB, mostly classifier weights we never read.
            raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            raw = torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
    except Exception as exc:  # corrupt file, not a torch file, or pickled code that weights_only refuses
        raise ESRGANError(f"cannot read VGG19 weights {path}: {exc}") from exc
    return _features_state(raw, path)


def _features_state(raw: Any, source: str) -> dict[str, torch.Tensor]:
    if not isinstance(raw, Mapping):
        raise ESRGANError(f"{source} is not a state dict (got {type(raw).__name__})")
    if not any(str(k).startswith(("features.", "module.features.")) for k in raw):
        for wrapper in ("state_dict", "model", "params"):
            if isinstance(raw.get(wrapper), Mapping):
                raw = raw[wrapper]
                break
    state = {str(k).removeprefix("module."): v for k, v in raw.items()}
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    if not features:
        raise ESRGANError(f"{source} has no 'features.*' keys: not a torchvision-layout VGG19 state dict")
    expected = _expected_parameter_shapes()
    for key, value in features.items():
        if key not in expected:
            raise ESRGANError(
                f"{source}: unexpected key {key} for torchvision's VGG19 layout (a VGG16 or VGG19-BN file?)"
            )
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != expected[key]:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ESRGANError(f"{source}: {key} has shape {got}, VGG19 needs {expected[key]}")
    return features


class VGG19FeatureExtractor(nn.Module):
    """Frozen VGG19 returning `{layer_name: feature map}` for the requested layers.

    Only the layers up to the deepest requested one are built. Inputs are RGB in [0, 1]; with
    `normalize` they are mapped with the ImageNet mean/std the weights were trained with. The network
    stays in eval mode and its parameters never require grad, whatever a parent module does with
    `.train()`; gradients still flow to the input.
    """

    def __init__(
        self,
        layers: Sequence[str],
        *,
        weights_path: str | None = None,
        random_init: bool = False,
        seed: int = 0,
        allow_download: bool | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(layers, str):
            layers = [layers]
        if not layers:
            raise ESRGANError("VGG19 feature extractor needs at least one layer name")
        indices = {name: vgg19_layer_index(name) for name in layers}
        deepest = max(indices, key=indices.__getitem__)
        self.layers = tuple(dict.fromkeys(layers))
        self.deepest_layer = deepest
        self._name_by_index = {index: name for name, index in indices.items()}
        self.features = build_vgg19_features(deepest)
        self.normalize = normalize
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        if random_init:
            if weights_path is not None:
                raise ESRGANError("give either a VGG19 weights path or random_init=True, not both")
            self._init_random(seed)
            self.is_random = True
            self.weights_source = f"random (seed {seed})"
            logger.warning(
                "VGG19 uses RANDOM weights (random_init=True): every number computed with it is NOT a "
                "real perceptual loss or VGG feature statistic; use it only for tests and smoke runs"
            )
        else:
            state, source = _load_vgg19_weights_with_source(weights_path, allow_download)
            self._load_features(state, source)
            self.is_random = False
            self.weights_source = source

        self.requires_grad_(False)
        super().train(False)

    def _init_random(self, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                # torchvision's VGG initialisation.
                nn.init.kaiming_normal_(
                    module.weight, mode="fan_out", nonlinearity="relu", generator=generator
                )
                nn.init.zeros_(module.bias)

    def _load_features(self, state: Mapping[str, torch.Tensor], source: str) -> None:
        own = self.features.state_dict()
        missing = [f"features.{k}" for k in own if f"features.{k}" not in state]
        if missing:
            raise ESRGANError(f"{source} lacks {missing[0]} (needed up to layer {self.deepest_layer})")
        with torch.no_grad():
            self.features.load_state_dict({k: state[f"features.{k}"] for k in own}, strict=True)

    def train(self, mode: bool = True) -> VGG19FeatureExtractor:
        # A fixed feature network: ignore train(True) from a parent so it can never leave eval mode.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ESRGANError(f"VGG19 needs RGB batches of shape (N, 3, H, W), got {tuple(x.shape)}")
        if self.normalize:
            x = (x - self.mean) / self.std
        found: dict[str, torch.Tensor] = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._name_by_index:
                found[self._name_by_index[index]] = x
        return found

    def extra_repr(self) -> str:
        return f"layers={list(self.layers)}, normalize={self.normalize}, weights={self.weights_source!r}"
