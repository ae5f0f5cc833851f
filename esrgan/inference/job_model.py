"""The model and device an upscale job runs on: device and precision refused before any work,
then the checkpoint, exported file or official name loaded with interpolation, --denoise and the
test-time options (ensemble, back-projection) applied. Shared by the image and the video jobs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import esrgan
from esrgan.errors import ESRGANError
from esrgan.inference import backends, denoise
from esrgan.inference.device import resolve_device
from esrgan.inference.precision import check_torch_only, resolve_precision
from esrgan.inference.tiling import check_overlap
from esrgan.inference.wrapped import apply_inference_options
from esrgan.models import official_ncnn
from esrgan.models.descriptor import describe
from esrgan.models.hub import resolve_model

if TYPE_CHECKING:
    from esrgan.inference.batch import UpscaleJob

# The one place that says what to do without a model; a built-in default model replaces it.
MODEL_NEEDED = (
    "a model is needed: -m builtin (shipped with the package), -m NAME (see `esrgan models`; "
    "downloaded on first use) or -m MODEL.pth/.safetensors in any ESRGAN-family format"
)


def resolve_job_device(job: UpscaleJob) -> tuple[Any, str | None]:
    """(torch device, "vulkan[:N]" or None), with precision and Vulkan refused before any work."""
    vulkan = job.device if backends.is_vulkan(job.device) else None
    if vulkan:
        backends.check_vulkan(vulkan)  # one error before any work, not one per image
    device = resolve_device("cpu" if vulkan else job.device)
    resolve_precision(job.precision, device)
    exported = bool(job.model) and backends.is_external_model_path(job.model) and job.backend != "torch"
    check_torch_only(job.precision, "ncnn" if vulkan else "an exported model" if exported else job.backend)
    return device, vulkan


def load_job_model(job: UpscaleJob, device: Any, vulkan: str | None = None) -> Any:
    """The generator the job describes: its model with interpolation and test-time options applied,
    its tile overlap checked."""
    if not job.model:
        raise ESRGANError(MODEL_NEEDED)

    def load(spec: str) -> Any:  # a model name is downloaded on first use, unless offline
        return esrgan.load_model(resolve_model(spec, offline=job.offline), device=device)

    spec = official_ncnn.for_ncnn(job.model) if job.backend == "ncnn" or vulkan else job.model
    imported = job.backend == "torch" and Path(spec).suffix.lower() == ".param"  # ncnn -> torch
    if backends.is_external_model_path(spec) and not imported:  # .param/.onnx (or the wheel's files)
        if job.psnr_model and job.interpolation == "network":
            raise ESRGANError("network interpolation (--alpha) blends checkpoints, not ncnn/ONNX files")
        model = backends.load_external(spec, vulkan)
    elif job.denoise is not None:  # realesr-general-x4v3 blended with its wdn twin
        model = denoise.denoised(load(job.model), load(denoise.denoise_twin(job.model)), job.denoise)
    else:
        model = load(job.model)
    model = apply_inference_options(
        model,
        psnr_model=load(job.psnr_model) if job.psnr_model else None,
        alpha=job.alpha,
        interpolation=job.interpolation,
        ensemble=job.ensemble,
        back_projection=job.back_projection,
    )
    if isinstance(job.tile, int) and job.tile and job.tile_overlap is not None:
        try:  # the overlap rule depends on the model's size multiple (pixel-unshuffle)
            check_overlap(job.tile, job.tile_overlap, describe(model).size_multiple)
        except ESRGANError as exc:
            raise ESRGANError(f"--tile {job.tile} --tile-overlap {job.tile_overlap}: {exc}") from None
    return model
