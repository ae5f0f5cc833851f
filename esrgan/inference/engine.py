"""A model put on the engine that will run its tiles: torch, ncnn, onnxruntime, or int8 onnxruntime.

The one place `esrgan.upscale`, the image job and the video job resolve `backend` and `precision`
into a model: the backend is chosen once (for `auto` on the CPU: measured, see
esrgan.inference.auto_backend), the model converted once, and what was picked and why is logged
(`esrgan upscale -v` shows it).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch

from esrgan.errors import ESRGANError
from esrgan.inference import backends
from esrgan.inference.auto_backend import EngineChoice, auto_probe_target, choose_auto
from esrgan.inference.device import is_vulkan
from esrgan.inference.int8 import check_int8
from esrgan.inference.precision import INT8, check_torch_only
from esrgan.inference.tile_size import auto_tile, choose_tile
from esrgan.models.descriptor import ModelDescriptor, describe

log = logging.getLogger(__name__)


def needs_engine(backend: str | None, device: Any, precision: str) -> bool:
    """Whether a model must go through `prepare_engine`: not for torch (or None) on a torch device in
    a torch precision, where it runs as it is."""
    return backend not in (None, "torch") or is_vulkan(device) or precision.lower() == INT8


def prepare_engine(
    model: Any,
    backend: str | None,
    device: Any,
    precision: str = "fp32",
    *,
    tile: int | str | None = "auto",
    work_px: float = math.inf,
) -> tuple[ModelDescriptor, Any, str]:
    """(descriptor over the model on its engine, the device to pass on, the precision left for the
    tile runner). `backend` None or "torch" on a torch device keeps the model as it is, unless int8.
    `tile` (the job's tile option) and `work_px` (LR pixels the job will upscale) tell `auto` at
    which tile size to probe the engines and whether the job is long enough to pay for the probe."""
    desc = describe(model)
    if precision.lower() == INT8:
        check_torch_only(precision, "ncnn" if is_vulkan(device) else backend)
        check_int8(device or "cpu")
        if any(isinstance(m, backends.BackendGenerator) for m in backends._core_generators(desc.model)):
            raise ESRGANError("int8 quantizes checkpoints; this model is an ncnn/ONNX file: drop --int8")
        desc, device = backends.on_backend(desc, "int8", device)
        log.debug("engine: int8 on onnxruntime (weights per channel, calibrated on sample photos)")
        return desc, device, "fp32"
    if backend in (None, "torch") and not is_vulkan(device):
        log.debug("engine: torch %s", precision)
        return desc, device, precision
    probed = auto_probe_target(desc.model, device, precision) if backend in (None, "auto") else None
    if probed is not None:
        side = job_tile(desc.with_model(probed), tile)
        choice = choose_auto(probed, side, job_tiles=work_px / side**2)
    else:
        engine = backends.resolve_backend(backend or "auto", desc.model, device)
        why = f"--backend {backend}" if backend not in (None, "auto") else "auto, not probed"
        choice = EngineChoice(engine, reason=why)
    check_torch_only(precision, choice.engine)
    threads = f", {choice.threads} thread(s)" if choice.threads else ""
    log.debug("engine: %s%s (%s)", choice.engine, threads, choice.reason)
    desc, device = backends.on_backend(desc, choice.engine, device, choice.threads)
    return desc, device, precision


def on_engine(model: Any, kw: dict[str, Any], work_px: float) -> tuple[Any, dict[str, Any]]:
    """(`model` on its engine, the `esrgan.upscale` keywords left for it): converted once a job."""
    backend, device, precision = kw.get("backend"), kw.get("device"), kw.get("precision", "fp32")
    if not needs_engine(backend, device, precision):
        return model, kw
    tile = kw.get("tile", "auto")
    desc, device, precision = prepare_engine(model, backend, device, precision, tile=tile, work_px=work_px)
    return desc, {**kw, "backend": None, "device": device, "precision": precision}


def job_tile(desc: ModelDescriptor, tile: int | str | None) -> int:
    """LR px of the tiles a CPU fp32 job runs (a whole-image job: the auto size, typical of photos)."""
    cpu, fp32 = torch.device("cpu"), torch.float32
    return choose_tile(tile, desc, cpu, fp32) or auto_tile(desc, cpu, fp32)
