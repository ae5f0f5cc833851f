"""`ModelDescriptor` (what `load_model` returns): a generator and the facts every caller needs.

Scale, channels and the size multiple are read once, when the model is loaded or wrapped, and checked
there; no caller guesses a default. It runs like the module it holds (`desc(x)`, `desc.to(device)`,
`desc.eval()`); `desc.model` is the module. A generator maps NCHW in [0, 1] to NCHW `scale` times
larger; input sides must be multiples of `size_multiple` (x2/x1 RRDBNets pixel-unshuffle by 2/4).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from esrgan.errors import ESRGANError

IN_MEMORY = "<in memory>"


@dataclass(frozen=True)
class ModelDescriptor:
    model: nn.Module
    architecture: str  # "RRDBNet", "SRResNet", or a wrapper's name over one of them
    scale: int
    in_ch: int
    out_ch: int
    size_multiple: int = 1
    config: Any = None  # the model's own config dataclass (RRDBNetConfig, SRResNetConfig)
    key_format: str = "esrgan"  # "BasicSR", "ESRGAN (2019)", "old-arch (2018)", "esrgan"
    source: str = IN_MEMORY  # file path or model name it was loaded from
    container: str | None = None  # "pth" / "safetensors" when read from a file
    wrapper: str | None = None  # which wrapper key held the weights (e.g. "params_ema")
    metadata: dict[str, Any] = field(default_factory=dict)  # the file's own metadata

    def __post_init__(self) -> None:
        if self.scale not in (1, 2, 3, 4, 8) or self.in_ch < 1 or self.out_ch < 1 or self.size_multiple < 1:
            what = f"x{self.scale}, {self.in_ch}->{self.out_ch} channels, multiple {self.size_multiple}"
            raise ESRGANError(f"{self.source}: inconsistent model description ({what})")

    # It runs like the module it holds:
    def __call__(self, x: Tensor) -> Tensor:
        return self.model(x)

    def to(self, *args: Any, **kwargs: Any) -> ModelDescriptor:
        self.model.to(*args, **kwargs)
        return self

    def eval(self) -> ModelDescriptor:
        self.model.eval()
        return self

    def train(self, mode: bool = True) -> ModelDescriptor:
        self.model.train(mode)
        return self

    @property
    def training(self) -> bool:
        return self.model.training

    def parameters(self) -> Iterator[nn.Parameter]:
        return self.model.parameters()

    def state_dict(self) -> dict[str, Tensor]:
        return self.model.state_dict()

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def with_model(self, model: nn.Module, architecture: str | None = None) -> ModelDescriptor:
        """The same description over another module (a wrapper, a blend, a copy)."""
        return replace(self, model=model, architecture=architecture or self.architecture)


def describe(model: nn.Module | ModelDescriptor, *, source: str = IN_MEMORY) -> ModelDescriptor:
    """The descriptor of a model: itself if it is one, else read from the `scale`, `in_ch`, `out_ch`
    and `size_multiple` attributes this package's generators set; any other module is refused."""
    if isinstance(model, ModelDescriptor):
        return model
    if not isinstance(model, nn.Module):
        raise ESRGANError(f"expected a model (from esrgan.load_model), got {type(model).__name__}")
    names = ("scale", "in_ch", "out_ch", "size_multiple")  # the fields between `architecture` and `config`
    missing = [name for name in names if not hasattr(model, name)]
    if missing:
        raise ESRGANError(f"{type(model).__name__} is not a generator this package knows (no {missing[0]})")
    facts = [int(getattr(model, name)) for name in names]
    return ModelDescriptor(model, type(model).__name__, *facts, getattr(model, "config", None), source=source)


@torch.no_grad()
def check_against_model(desc: ModelDescriptor) -> None:
    """Run the model once on its smallest input (milliseconds): the output must be what `desc` says."""
    param = next(desc.model.parameters(), None)
    m = desc.size_multiple
    x = torch.zeros(1, desc.in_ch, m, m, device=param.device if param is not None else None)
    was_training = desc.model.training
    desc.model.eval()
    try:
        y = desc.model(x if param is None else x.to(param.dtype))
    except RuntimeError as exc:
        why = " ".join(str(exc).split())
        raise ESRGANError(f"{desc.source}: fails on {desc.in_ch}-channel input ({why})") from None
    finally:
        desc.model.train(was_training)
    expected = (1, desc.out_ch, m * desc.scale, m * desc.scale)
    if tuple(y.shape) != expected:
        raise ESRGANError(f"{desc.source}: {m}x{m} input gave {tuple(y.shape)[1:]}, not {expected[1:]}")


def module_of(model: nn.Module | ModelDescriptor) -> nn.Module:
    """The `nn.Module` behind a descriptor (or the module itself)."""
    return model.model if isinstance(model, ModelDescriptor) else model
