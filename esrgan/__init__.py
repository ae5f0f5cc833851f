"""ESRGAN super-resolution toolkit.

The public functions below are thin wrappers that import their implementation on first use, so
`import esrgan` is cheap and has no side effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from esrgan.errors import ESRGANError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from esrgan.models.descriptor import ModelDescriptor

__all__ = ["ESRGANError", "imresize", "interpolate", "load_model", "save_model", "upscale", "upscale_video"]
__version__ = "0.1.0"


def load_model(path: str, *, device: str | torch.device = "cpu", backend: str = "torch") -> ModelDescriptor:
    """Load any supported checkpoint (.pth/.safetensors, any key format, an ncnn .param/.bin pair) as
    a `ModelDescriptor`.

    The architecture, scale and channels are detected from the file; the descriptor runs like the
    module it holds (`desc(x)`, `desc.to(device)`), and `desc.model` is that module. An ncnn pair is
    imported into torch; `backend="ncnn"` runs it on ncnn as it is instead.
    """
    from esrgan.inference.backends import load_on

    return load_on(path, backend, device)


def save_model(model: torch.nn.Module, path: str, **kwargs: Any) -> None:
    """Save a generator in this package's format (BasicSR keys in .pth, or .safetensors + metadata)."""
    from esrgan.models.loading import save_model as _save

    _save(model, path, **kwargs)


def upscale(model: torch.nn.Module, image: Any, **kwargs: Any) -> Any:
    """Upscale one image (numpy HWC/HW array or PIL image) with tiling; see `esrgan.inference.upscale`."""
    from esrgan.inference.upscale import upscale as _upscale

    return _upscale(model, image, **kwargs)


def upscale_video(model: Any, source: str, target: str | None = None, **kwargs: Any) -> Any:
    """Upscale a video file (or, with options.fps, numbered frames); see `esrgan.inference.video`."""
    from esrgan.inference.video import upscale_video as _upscale_video

    return _upscale_video(model, source, target, **kwargs)


def imresize(x: np.ndarray | torch.Tensor, scale: float, **kwargs: Any) -> np.ndarray | torch.Tensor:
    """MATLAB-exact antialiased bicubic resize of HWC arrays or NCHW tensors."""
    from esrgan.images.bicubic import imresize as _imresize

    return _imresize(x, scale, **kwargs)


def interpolate(a: Any, b: Any, alpha: float) -> torch.nn.Module:
    """Network interpolation: (1 - alpha) * a + alpha * b over every parameter."""
    from esrgan.inference.interpolation import interpolate as _interpolate

    return _interpolate(a, b, alpha)
