"""Devices: `auto`/`cpu`/`cuda[:N]` for PyTorch, `vulkan[:N]` for ncnn, and a model put on a device
(the backend names are in esrgan.inference.choices).

The command line uses these names while it parses, so torch is imported only when a device is
resolved, and ncnn not at all (`esrgan.inference.backends.check_vulkan` asks ncnn what GPUs exist).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from esrgan.errors import ESRGANError

if TYPE_CHECKING:
    import torch
    from torch import nn


def is_vulkan(device: Any) -> bool:
    """Whether `device` is a Vulkan device name ('vulkan' or 'vulkan:N'): ncnn on a Vulkan GPU."""
    return isinstance(device, str) and re.fullmatch(r"vulkan(:\d+)?", device.strip().lower()) is not None


def vulkan_index(device: str) -> int:
    """N of 'vulkan:N' (0 for 'vulkan')."""
    _, _, index = device.strip().lower().partition(":")
    return int(index or 0)


def resolve_device(name: str | torch.device | None) -> torch.device:
    """`auto`/None: the current CUDA device when available, else CPU; otherwise the named device."""
    import torch  # here, not at the top: the command line imports this module while it parses

    if name in (None, "auto"):
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ESRGANError(f"unknown device {name!r} (cpu, cuda, cuda:N or auto)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ESRGANError(f"device {name!r} requested but CUDA is not available (torch {torch.__version__})")
    return device


def model_on_device(model: nn.Module, device: str | torch.device | None) -> tuple[nn.Module, torch.device]:
    """(`model` on `device`, that device); None: where the model is. Moving makes a copy: the caller's
    model is never moved behind their back."""
    import copy

    import torch

    param = next(iter(model.parameters()), None)
    current = param.device if param is not None else torch.device("cpu")
    if device is None:
        return model, current
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return (model if dev == current else copy.deepcopy(model).to(dev)), dev
