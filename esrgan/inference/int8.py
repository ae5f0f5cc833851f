"""int8 inference on the CPU: post-training quantization run by onnxruntime (opt-in, `--int8`).

Why onnxruntime: its x86 int8 convolutions use VNNI (AVX512-VNNI, AVX-VNNI) and AMX, 4 int8
multiply-accumulates per instruction lane where fp32 does 1; measured on 2 Zen 4 cores
(bench/bench_upscale.py) it is the fastest int8 path we have (PyTorch's eager
`torch.ao.quantization` is deprecated, and ncnn's int8 needs its own table tool). Without those
instructions int8 gains little, so it is refused there, in one line.

The model is the fp32 ONNX export (esrgan.export.onnx) quantized by `quantize_static`: QDQ
format, weights int8 per output channel, activations uint8 per tensor with MinMax ranges
calibrated on crops of the sample photos that packages ship (esrgan.data.samples), the held-out
photos (`samples.DEFAULT_HOLDOUT`) left out so they can measure the change. Calibrating takes
seconds to a minute, so the quantized model is cached in `<cache>/int8/`, named by the hash of
the model's weights: a second run loads it. int8 is not exact (a few levels off in places):
never picked by `auto`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from esrgan.atomic import atomic_path
from esrgan.data.samples import DEFAULT_HOLDOUT, photo_name, sample_photos
from esrgan.errors import ESRGANError
from esrgan.export.onnx import to_onnx
from esrgan.images.bicubic import imresize
from esrgan.images.image_io import load_rgb
from esrgan.inference import cpu_info
from esrgan.inference.backend_generators import OnnxGenerator, _import
from esrgan.models.graph import INPUT, build_graph
from esrgan.models.hub import cache_dir

log = logging.getLogger(__name__)

CALIBRATION_CROP = 48  # LR px per calibration crop
CALIBRATION_PHOTOS = 6  # crops come from this many training photos, one each


def check_int8(device: torch.device | str | None = "cpu", flags: frozenset[str] | None = None) -> None:
    """An ESRGANError unless int8 can run well here: a CPU device with VNNI or AMX."""
    if device is not None and torch.device(device).type != "cpu":
        raise ESRGANError(f"int8 runs on CPU (onnxruntime), not {torch.device(device).type}: drop --int8")
    if not cpu_info.int8_dot_flags(flags):
        raise ESRGANError("int8 needs VNNI (AVX512-VNNI, AVX-VNNI) or AMX to beat fp32: drop --int8")


def weights_hash(model: nn.Module) -> str:
    """sha256 of the architecture name and every weight: what the quantized file is named by."""
    digest = hashlib.sha256(type(model).__name__.encode())
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(str(tuple(value.shape)).encode())
        digest.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


def calibration_batches(in_ch: int, scale: int, multiple: int) -> list[np.ndarray]:
    """(1, C, S, S) float32 LR crops in [0, 1]: training sample photos, bicubic-downscaled by `scale`."""
    photos = [p for p in sample_photos() if photo_name(p) not in DEFAULT_HOLDOUT][:CALIBRATION_PHOTOS]
    if not photos:
        raise ESRGANError("int8 calibration needs scikit-image's sample photos: pip install scikit-image")
    side = CALIBRATION_CROP * multiple
    batches = []
    for path in photos:
        rgb = load_rgb(path)
        lr = imresize(rgb, 1 / scale) if scale > 1 else rgb
        h, w = lr.shape[:2]
        if min(h, w) < side:
            continue
        top, left = (h - side) // 2, (w - side) // 2  # the middle: the subject, not a plain border
        crop = lr[top : top + side, left : left + side].astype(np.float32) / 255
        if in_ch == 1:
            crop = crop.mean(axis=2, keepdims=True)
        elif in_ch != 3:
            crop = np.repeat(crop.mean(axis=2, keepdims=True), in_ch, axis=2)
        batches.append(np.ascontiguousarray(crop.transpose(2, 0, 1)[None]))
    return batches


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime's quantizer logs 'please pre-process' on the root logger every time: not ours to show."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize(model: nn.Module, target: Path) -> None:
    """Write the int8 QDQ ONNX model of `model` to `target` (atomically), calibrated on sample photos."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    graph = build_graph(model)
    batches = calibration_batches(graph.in_ch, graph.scale, graph.size_multiple)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT: batch}

    with atomic_path(target) as tmp, _quiet_quantizer():
        quantize_static(
            to_onnx(graph),
            tmp,
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,  # u8 x s8: the operand pair VNNI multiplies
            weight_type=QuantType.QInt8,
        )


def int8_from_module(model: nn.Module, threads: int | None = None) -> nn.Module:
    """`model` quantized to int8 and run by onnxruntime (calibrated once, then read from the cache)."""
    _import("onnxruntime", "onnx")
    _import("onnx", "onnx")
    path = cache_dir().parent / "int8" / f"{type(model).__name__}-{weights_hash(model)}.int8.onnx"
    if not path.is_file():
        log.info("int8: calibrating %s on sample photos (once; cached as %s)", type(model).__name__, path)
        quantize(model, path)
    else:
        log.debug("int8: quantized model read from the cache (%s)", path)
    source, multiple = f"<{type(model).__name__} int8 on onnxruntime>", build_graph(model).size_multiple
    return OnnxGenerator(str(path), source=source, size_multiple=multiple, threads=threads)
