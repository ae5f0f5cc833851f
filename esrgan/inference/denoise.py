"""`--denoise S` (Real-ESRGAN's `-dn`): realesr-general-x4v3 blended with its weak-denoise twin.

Real-ESRGAN's inference_realesrgan.py passes `dni_weight = [S, 1 - S]` for the models
`[realesr-general-x4v3, realesr-general-wdn-x4v3]`, so the weights are
`S * general + (1 - S) * wdn`: the paper's network interpolation with the weak-denoise model in
the PSNR slot and alpha = S. S = 1 is the general model (strong denoise), 0 the wdn one (keeps
noise). The twin of the model name is the other name; the twin of a file is the file of the same
folder with `realesr-general-wdn-x4v3` in place of `realesr-general-x4v3` in its name, where
Real-ESRGAN looks for it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from esrgan.errors import ESRGANError
from esrgan.inference.backends import is_external_model_path
from esrgan.inference.interpolation import interpolate, unit_interval
from esrgan.models.descriptor import ModelDescriptor
from esrgan.models.hub import known_model

GENERAL, WEAK_DENOISE = "realesr-general-x4v3", "realesr-general-wdn-x4v3"


def validate_denoise(strength: Any) -> float:
    return unit_interval(strength, "--denoise", f"0: weak denoise, keeps noise; 1: {GENERAL} as it is")


def check_denoise(model: str | None, strength: Any | None, *, blending: bool = False) -> None:
    """Everything `--denoise` needs (`strength` None: none), checked before any work: a strength in
    [0, 1] and a twin."""
    if strength is None:
        return
    validate_denoise(strength)
    if blending:
        raise ESRGANError("--denoise is a network interpolation itself; it does not combine with --alpha")
    if model and is_external_model_path(model):
        raise ESRGANError("--denoise blends checkpoints; it cannot use ncnn/ONNX files")
    if not model:
        raise ESRGANError(f"--denoise needs -m {GENERAL} (or a file of it beside its wdn twin)")
    denoise_twin(model)


def denoise_twin(spec: str) -> str:
    """The weak-denoise twin of `spec` (a model name or a file path), or an ESRGANError."""
    path = Path(spec)
    known = None if path.exists() else known_model(spec)  # a file on disk is a file, like resolve_model
    if known is not None and known.name == GENERAL:
        return WEAK_DENOISE
    if known is None and GENERAL in path.name:
        if not path.is_file():
            raise ESRGANError(f"model file not found: {spec}")
        twin = path.with_name(path.name.replace(GENERAL, WEAK_DENOISE))
        if not twin.is_file():
            raise ESRGANError(f"--denoise: the weak-denoise twin of {spec} is missing (expected {twin})")
        return str(twin)
    raise ESRGANError(f"--denoise needs {GENERAL} (blended with {WEAK_DENOISE}); {spec} has no denoise twin")


def denoised(general: ModelDescriptor, weak_denoise: ModelDescriptor, strength: float) -> ModelDescriptor:
    """`strength * general + (1 - strength) * weak_denoise`, weight by weight."""
    strength = validate_denoise(strength)
    blend = interpolate(weak_denoise, general, strength)
    return replace(blend, metadata={**blend.metadata, "denoise_strength": strength})
