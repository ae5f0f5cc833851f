"""Reading and writing generator checkpoints in every format users bring.

Reading: `.pth`/`.pt`/`.ckpt`/`.bin` through `torch.load(weights_only=True)` (never runs pickled
code) or `.safetensors`; BasicSR wrappers (`params_ema` preferred over `params`), `module.` and
`_orig_mod.` prefixes, bare state dicts. The architecture and its hyper-parameters are read from key
patterns and tensor shapes (see each model file). Writing: BasicSR keys, `{"params_ema", "params"}`
in `.pth`, or `.safetensors` with the hyper-parameters in its metadata.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from esrgan.errors import ESRGANError
from esrgan.models import rrdbnet, srresnet
from esrgan.models.descriptor import ModelDescriptor, module_of

WRAPPER_KEYS = ("params_ema", "params-ema", "params", "state_dict", "model", "generator", "net_g")
PREFIXES = ("module.", "_orig_mod.", "netG.")


@dataclass
class CheckpointInfo:
    path: str
    architecture: str  # "RRDBNet" or "SRResNet"
    key_format: str  # "BasicSR", "ESRGAN (2019)", "old-arch (2018)", "esrgan"
    container: str  # "pth" or "safetensors"
    wrapper: str | None  # which wrapper key held the weights (e.g. "params_ema"), None if bare
    config: dict[str, Any]
    num_params: int
    metadata: dict[str, Any] = field(default_factory=dict)


def read_state_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Load a checkpoint file's raw contents: (object, safetensors metadata, container)."""
    path = Path(path)
    if not path.is_file():
        raise ESRGANError(f"model file not found: {path}")
    if path.stat().st_size == 0:
        raise ESRGANError(f"model file is empty (0 bytes): {path}")
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = {k: _json_or_text(v) for k, v in (f.metadata() or {}).items()}
                return {k: f.get_tensor(k) for k in f.keys()}, meta, "safetensors"  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as exc:
            raise ESRGANError(f"{path} is not a readable .safetensors file ({_first_line(exc)})") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        text = str(exc)
        if "Unsupported global" in text:
            name = text.split("GLOBAL ", 1)[1].split()[0] if "GLOBAL " in text else "a Python object"
            raise ESRGANError(
                f"{path} contains pickled Python objects ({name}); refusing to execute them "
                "(re-save it as a plain state dict or .safetensors)"
            ) from None
        if "central directory" in text or "zip archive" in text:
            raise ESRGANError(f"{path} is a truncated or corrupt PyTorch checkpoint") from None
        raise ESRGANError(f"{path} is not a PyTorch checkpoint") from None
    if not isinstance(obj, dict):
        raise ESRGANError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return obj, {}, "pth"


def unwrap_state(obj: dict[str, Any]) -> tuple[dict[str, Tensor], str | None]:
    """Find the generator's state dict inside a wrapper; strip DDP/compile prefixes."""
    wrapper = None
    for key in WRAPPER_KEYS:
        if isinstance(obj.get(key), dict) and obj[key]:
            obj, wrapper = obj[key], key
            break
    state = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    for prefix in PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state, wrapper


def describe_unsupported(state: dict[str, Tensor], obj: dict[str, Any]) -> str:
    """A best guess at what a non-generator file is, for the error message."""
    keys = set(state)
    if "iteration" in obj and ("optimizers" in obj or "optimizer" in obj):
        return "a training state (optimisers, iteration), not a generator; pass the saved model file instead"
    if "conv0_0.weight" in keys and "linear1.weight" in keys:
        return "a VGG-style discriminator, not a generator"
    if any(k.startswith("features.") for k in keys) and any(k.startswith("classifier.") for k in keys):
        return "a VGG classification network (e.g. VGG19 perceptual-loss weights), not an SR generator"
    if (
        "body.0.weight" in keys
        and any(k.endswith(".weight") and k.count(".") == 2 for k in keys)
        and not any("rdb" in k for k in keys)
    ):
        return "state dict looks like an SRVGG compact model (Real-ESRGAN realesr-*); not supported"
    if any(k.startswith(("layers.0.residual_group", "patch_embed")) for k in keys):
        return "state dict looks like a SwinIR/HAT transformer model; not supported"
    if "head.0.weight" in keys and any(k.startswith("body.0.body.") for k in keys):
        return "state dict looks like an EDSR/RCAN model; not supported"
    if not keys:
        return "no tensors found"
    sample = ", ".join(sorted(keys)[:3])
    return f"unrecognised architecture ({len(keys)} tensors, e.g. {sample})"


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def build_from_state(state: dict[str, Tensor], obj: dict[str, Any], source: str) -> tuple[nn.Module, str]:
    """Construct the right architecture for a state dict and load it. Returns (model, key format)."""
    fmt = rrdbnet.key_format(state)
    if fmt is not None:
        state = rrdbnet.to_basicsr_keys(state)
        try:
            cfg = rrdbnet.config_from_state(state)
            model: nn.Module = rrdbnet.RRDBNet(**asdict(cfg))
        except (KeyError, ValueError, IndexError) as exc:
            raise ESRGANError(f"{source}: RRDBNet checkpoint with an unexpected layout ({exc})") from None
    elif srresnet.is_srresnet_state(state):
        fmt = "esrgan"
        model = srresnet.SRResNet(**asdict(srresnet.config_from_state(state)))
    else:
        raise ESRGANError(f"{source}: {describe_unsupported(state, obj)}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise ESRGANError(
            f"{source}: weights do not fit the detected {type(model).__name__}: {detail}"
        ) from None
    return model.eval(), fmt


def inspect_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, CheckpointInfo]:
    obj, meta, container = read_state_file(path)
    state, wrapper = unwrap_state(obj)
    model, fmt = build_from_state(state, obj, str(path))
    if container == "pth" and isinstance(obj.get("meta"), dict):
        meta = {str(k): v for k, v in obj["meta"].items()}
    info = CheckpointInfo(
        path=str(path),
        architecture=type(model).__name__,
        key_format=fmt,
        container=container,
        wrapper=wrapper,
        config=asdict(model.config),
        num_params=sum(p.numel() for p in model.parameters()),
        metadata=meta,
    )
    return model, info


def load_model(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> ModelDescriptor:
    """Load a generator from any supported file, or a model name (`esrgan models`); the
    architecture is detected from the weights."""
    from esrgan.models.hub import resolve_model

    model, info = inspect_checkpoint(resolve_model(path))
    return ModelDescriptor(
        model=model.to(device),
        architecture=info.architecture,
        scale=model.scale,
        in_ch=model.in_ch,
        out_ch=model.out_ch,
        size_multiple=model.size_multiple,
        config=model.config,
        key_format=info.key_format,
        source=info.path,
        container=info.container,
        wrapper=info.wrapper,
        metadata=info.metadata,
    )


def model_config(model: nn.Module | ModelDescriptor) -> dict[str, Any]:
    """The hyper-parameters that rebuild `model` (also written into saved files)."""
    model = module_of(model)
    config = getattr(model, "config", None)
    if config is None:
        raise ESRGANError(f"{type(model).__name__} is not a generator this package can save")
    return {"architecture": type(model).__name__, **asdict(config)}


def save_model(
    model: nn.Module | ModelDescriptor,
    path: str | os.PathLike,
    *,
    params_ema: dict[str, Tensor] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write a generator atomically (temp file + rename).

    `.pth`: `{"params": ..., "params_ema": ... (if given), "meta": {...}}` with BasicSR key names, so
    BasicSR, Real-ESRGAN, spandrel (chaiNNer, ComfyUI) and this package all read it.
    `.safetensors`: the EMA weights if given, else the model's, with the hyper-parameters and
    `metadata` as JSON strings in the header metadata.
    """
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in _unwrapped(model).state_dict().items()}
    meta: dict[str, Any] = {**model_config(_unwrapped(model)), **(metadata or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import save_file

            weights = params_ema if params_ema is not None else state
            weights = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
            save_file(weights, tmp, metadata={k: json.dumps(v) for k, v in meta.items()})
        else:
            blob: dict[str, Any] = {"params": state, "meta": meta}
            if params_ema is not None:
                blob["params_ema"] = {k: v.detach().cpu().contiguous() for k, v in params_ema.items()}
            torch.save(blob, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unwrapped(model: nn.Module | ModelDescriptor) -> nn.Module:
    """The bare module under a descriptor and DDP / torch.compile wrappers."""
    model = module_of(model)
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)
