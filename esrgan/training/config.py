"""Training configuration: plain typed dataclasses, read from YAML or TOML, with `--set` overrides.

Every field has a default; a config file only names what differs. Unknown keys and values of the
wrong type are rejected with a message naming the key, so a typo never silently trains the wrong
thing. `load_config` returns a new object; nothing here mutates a config in place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from esrgan.data.augment import Augmentation, augmentation
from esrgan.data.degradations.config import (
    DEGRADATION_ALIASES,
    Degradation,
    DegradationStage,
    GaussianDegradation,
    RealESRGANDegradation,
    check_degradation,
)
from esrgan.errors import ESRGANError
from esrgan.losses.adversarial import GanType
from esrgan.losses.perceptual import PerceptualCriterion
from esrgan.losses.pixel import PixelLossKind


@dataclass(frozen=True)
class GeneratorConfig:
    # SRVGGNetCompact: Real-ESRGAN's compact network (num_conv, act_type)
    architecture: Literal["RRDBNet", "SRResNet", "SRVGGNetCompact"] = "RRDBNet"
    scale: int = 4
    in_ch: int = 3
    out_ch: int = 3
    num_feat: int = 64
    num_block: int = 23
    num_grow: int = 32  # RRDBNet only
    batch_norm: bool = False  # SRResNet only
    num_conv: int = 16  # SRVGGNetCompact only: body convs (realesr-general-x4v3: 32)
    act_type: Literal["prelu", "relu", "leakyrelu"] = "prelu"  # SRVGGNetCompact only
    pretrained: str | None = None  # stage 2: the stage-1 generator checkpoint
    pretrained_key: Literal["auto", "params_ema", "params"] = "auto"  # auto: params_ema if the file has it
    init_scale: float = 0.1  # RRDBNet's smaller initialisation (Kaiming x 0.1)
    init: Literal["paper", "identity"] = "paper"  # identity: start as nearest upscaling (short runs)


@dataclass(frozen=True)
class DiscriminatorConfig:
    architecture: Literal["vgg", "srgan", "unet"] = "vgg"  # ESRGAN 128 in | SRGAN 96 in | Real-ESRGAN
    num_feat: int = 64
    pretrained: str | None = None  # e.g. RealESRGAN_x4plus_netD.pth (unet) to fine-tune from


@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation (esrgan/training/distill.py): the target is a teacher's output on the LR."""

    teacher: str | None = None  # a model name or file (e.g. RealESRGAN_x4plus); None: no distillation
    crop: int = 384  # HR px of the degraded squares cut from each training photo
    variants: int = 2  # grids per photo, each shifted by crop/variants and degraded with its own seeds
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # the teacher's; auto: bf16 where it is native
    # Fraction of the training squares trained on, the most textured first (mean luma gradient of
    # the teacher's output): < 1 drops flat sky and meadow, where student and teacher already agree.
    textured: float = 1.0


@dataclass(frozen=True)
class DataConfig:
    train_hr: str = ""
    train_lr: str | None = None  # None: LR made from HR with the exact MATLAB bicubic
    val_hr: str | None = None
    val_lr: str | None = None
    hr_crop: int = 128
    batch_size: int = 16
    num_workers: int = 0
    cache: bool = True  # keep decoded training images in memory (up to 4 GB; else decode per sample)
    pin_memory: bool = True
    # none | hflip (Real-ESRGAN's use_hflip without use_rot) | dihedral (all 8 flips/rotations, ESRGAN);
    # true / false, the older boolean form, still read as dihedral / none.
    augment: Augmentation = "dihedral"
    val_max_images: int = 0  # 0: all
    # bicubic (dataset LR) | bd (Gaussian blur + decimation, RDN's "BD"; `gaussian` is read as bd) |
    # realesrgan
    degradation: Degradation = "bicubic"
    gaussian: GaussianDegradation = field(default_factory=GaussianDegradation)  # bd's blur
    realesrgan: RealESRGANDegradation = field(default_factory=RealESRGANDegradation)
    usm_sharpen_gt: bool = False  # pixel/perceptual targets unsharp-masked (Real-ESRGAN); D's real stays
    distill: DistillConfig = field(default_factory=DistillConfig)


@dataclass(frozen=True)
class LossConfig:
    pixel: PixelLossKind = "l1"
    pixel_weight: float = 1.0
    perceptual_weight: float = 0.0  # 0 disables the VGG loss (stage 1)
    perceptual_layers: dict[str, float] = field(default_factory=lambda: {"conv5_4": 1.0})
    perceptual_criterion: PerceptualCriterion = "l1"
    perceptual_feature_scale: float = 1.0
    vgg_weights: str | None = None  # path; None: the torch hub cache (vgg19-dcbb9e9d.pth)
    vgg_random_init: bool = False  # random VGG features: tests and offline experiments only
    fourier_weight: float = 0.0  # 0 disables the Fourier-amplitude loss (esrgan/losses/fourier.py)
    fourier_window: int = 32  # its window side in HR pixels, at most data.hr_crop
    fourier_log_scale: float = 0.0  # > 0: compare log(1 + c |F|) / c, weighting texture over low frequencies
    gan_type: GanType = "ragan"
    gan_weight: float = 0.0  # 0 disables the discriminator (stage 1); ESRGAN 5e-3, SRGAN 1e-3

    @property
    def weights(self) -> dict[str, float]:
        """Each loss term's weight by name: "pixel" for pixel_weight, and so on."""
        return {k: getattr(self, f"{k}_weight") for k in ("pixel", "perceptual", "fourier", "gan")}


@dataclass(frozen=True)
class OptimConfig:
    lr_g: float = 2e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    scheduler: Literal["multistep", "cosine", "constant"] = "multistep"
    milestones: tuple[int, ...] = (200_000, 400_000, 600_000, 800_000)
    gamma: float = 0.5
    warmup_iters: int = 0
    min_lr_ratio: float = 0.0  # cosine floor as a fraction of the initial lr
    grad_clip: float = 0.0  # 0: no clipping


@dataclass(frozen=True)
class TrainConfig:
    name: str = "esrgan"
    output_dir: str = "runs"
    seed: int = 0
    total_iters: int = 1_000_000
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema_decay: float = 0.999  # 0 disables the EMA copy of G
    log_every: int = 100
    val_every: int = 5000
    save_every: int = 5000
    keep_last: int = 3
    num_val_samples: int = 4  # sample images written at each validation
    val_niqe: bool = False
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    channels_last: bool = False
    amp: Literal["none", "bf16", "fp16"] = "none"  # fp16: CUDA only
    compile: bool = False
    max_bad_steps: int = 10  # consecutive non-finite losses before the run stops
    tensorboard: bool = True
    progress: bool = True

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    @property
    def is_gan(self) -> bool:
        return self.loss.gan_weight > 0


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ESRGANError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            raw = tomllib.loads(text)
        else:
            raw = yaml.safe_load(text) or {}
    except Exception as exc:  # yaml and toml raise their own error types
        raise ESRGANError(f"{path}: cannot parse ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(raw, dict):
        raise ESRGANError(f"{path}: the top level must be a mapping of settings")
    return raw


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`["optim.lr_g=1e-4", "data.batch_size=8"]` -> nested dict; values parsed as YAML scalars."""
    nested: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ESRGANError(f"--set expects key=value, got {item!r}")
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        try:
            node[parts[-1]] = yaml.safe_load(value)
        except yaml.YAMLError:
            node[parts[-1]] = value
    return nested


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict) and key != "perceptual_layers"
        out[key] = merge(out[key], value) if nested else value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    raw = merge(read_config_file(path) if path else {}, parse_overrides(overrides or []))
    return from_dict(TrainConfig, raw)


def from_dict(cls: type, raw: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass `cls` from `raw`, checking every key and value against the field types."""
    if not isinstance(raw, dict):
        raise ESRGANError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)  # one per field
    unknown = sorted(set(raw) - set(hints))
    if unknown:
        names = ", ".join(prefix + k for k in unknown)
        raise ESRGANError(
            f"unknown config key(s): {names} (valid under {prefix or 'top level'}: "
            f"{', '.join(sorted(hints))})"
        )
    config = cls(**{k: _coerce(hints[k], _older_spelling(prefix + k, v), prefix + k) for k, v in raw.items()})
    _check_ranges(config, prefix)
    return config


def _older_spelling(key: str, value: Any) -> Any:
    """Values that configs written before a setting grew still use: public names stay readable."""
    if key == "data.augment" and isinstance(value, bool):
        return augmentation(value)
    if key == "data.degradation" and isinstance(value, str):
        return DEGRADATION_ALIASES.get(value, value)
    return value


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, key + ".")
    if origin is typing.Literal:
        if value not in args or not isinstance(value, str):
            raise ESRGANError(f"{key} must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ESRGANError(f"{key} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, key) for v in value)
        if len(value) != len(args):
            raise ESRGANError(f"{key} must have {len(args)} values, got {value!r}")
        return tuple(_coerce(a, v, key) for a, v in zip(args, value, strict=True))
    if origin is dict:
        if not isinstance(value, dict):
            raise ESRGANError(f"{key} must be a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if hint in (bool, str):
        if not isinstance(value, hint):
            raise ESRGANError(f"{key} must be {'true or false' if hint is bool else 'a string'}: {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ESRGANError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):
            # YAML 1.1 reads "1e-3" (no dot) as a string; accept it as the number it means.
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ESRGANError(f"{key} must be a number, got {value!r}")
        return float(value)
    return value


def _check_ranges(config: Any, prefix: str) -> None:
    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ESRGANError(f"{prefix}{key} {what}, got {getattr(config, key)!r}")

    if isinstance(config, TrainConfig):
        need(config.total_iters > 0, "total_iters", "must be positive")
        need(config.seed >= 0, "seed", "must be >= 0")
        for key in ("log_every", "val_every", "save_every", "keep_last"):
            need(getattr(config, key) > 0, key, "must be positive")
        need(0 <= config.ema_decay < 1, "ema_decay", "must be in [0, 1)")
        need(config.max_bad_steps > 0, "max_bad_steps", "must be positive")
        window, crop = config.loss.fourier_window, config.data.hr_crop
        if config.loss.fourier_weight > 0 and window > crop:
            raise ESRGANError(f"loss.fourier_window {window} exceeds data.hr_crop {crop}")
    elif isinstance(config, GeneratorConfig):
        if config.architecture == "SRVGGNetCompact":
            need(config.scale in (1, 2, 3, 4, 8), "scale", "must be 1, 2, 3, 4 or 8")
            need(config.num_conv > 0, "num_conv", "must be positive")
        else:
            need(config.scale in (1, 2, 4, 8), "scale", "must be 1, 2, 4 or 8")
            need(config.num_block > 0, "num_block", "must be positive")
        need(config.num_feat > 0, "num_feat", "must be positive")
    elif isinstance(config, DataConfig):
        need(config.batch_size > 0, "batch_size", "must be positive")
        need(config.hr_crop > 0, "hr_crop", "must be positive")
        need(config.num_workers >= 0, "num_workers", "must be >= 0")
        need(
            config.degradation == "bicubic" or not config.train_lr,
            "degradation",
            "makes the LR from the HR: unset data.train_lr to use it",
        )
        need(
            not (config.distill.teacher and config.train_lr), "train_lr", "is made by data.distill: unset it"
        )
    elif isinstance(config, DistillConfig):
        need(config.crop > 0, "crop", "must be positive")
        need(config.variants > 0, "variants", "must be positive")
        need(0 < config.textured <= 1, "textured", "must be in (0, 1]")
    elif isinstance(config, (GaussianDegradation, RealESRGANDegradation, DegradationStage)):
        check_degradation(config, prefix)
    elif isinstance(config, OptimConfig):
        need(config.lr_g > 0 and config.lr_d > 0, "lr_g", "must be positive (lr_g and lr_d)")
        need(all(0 <= b < 1 for b in config.betas), "betas", "must be in [0, 1)")
        need(0 < config.gamma <= 1, "gamma", "must be in (0, 1]")
        need(config.grad_clip >= 0, "grad_clip", "must be >= 0")
    elif isinstance(config, LossConfig):
        weights = [f"{k}_weight" for k in config.weights]
        for key in weights:
            need(getattr(config, key) >= 0, key, "must be >= 0")
        need(config.fourier_window >= 2, "fourier_window", "must be >= 2")
        need(config.fourier_log_scale >= 0, "fourier_log_scale", "must be >= 0")
        if not any(w > 0 for w in config.weights.values()):
            raise ESRGANError(
                f"no loss to train on: set one of {', '.join(prefix + k for k in weights)} above 0"
            )


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) for saving next to a run and in checkpoints."""
    return json.loads(json.dumps(dataclasses.asdict(config)))
