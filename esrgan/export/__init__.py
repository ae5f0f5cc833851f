"""Export a generator for other runtimes: ncnn (`.param` + `.bin`) and ONNX (`.onnx`).

from esrgan.export import export_model
export_model("RRDB_ESRGAN_x4.pth", "esrgan_x4.param")   # writes esrgan_x4.param + esrgan_x4.bin
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from esrgan.errors import ESRGANError
from esrgan.export.ncnn import write_ncnn
from esrgan.export.onnx import write_onnx
from esrgan.models.graph import build_graph
from esrgan.models.loading import load_model

FORMATS = {".param": "ncnn", ".onnx": "onnx"}


def export_model(model: Any, path: str | os.PathLike, *, fp16: bool = False) -> list[Path]:
    """Write `model` (a module, descriptor or checkpoint path) in the format `path`'s extension names
    (`.param`: and the `.bin` beside it); return the files. fp16: ncnn conv weights or all of ONNX."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ESRGANError(f"{path}: must end in .param (ncnn) or .onnx, not '{path.suffix or path.name}'")
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    graph = build_graph(model)  # BatchNorm is folded with its running statistics (eval semantics)
    if kind == "ncnn":
        return list(write_ncnn(graph, path, fp16=fp16))
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ESRGANError("ONNX export needs the onnx package: pip install 'esrgan[onnx]'") from None
    return [write_onnx(graph, path, fp16=fp16)]
