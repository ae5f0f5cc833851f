"""Reading and writing generator checkpoints in every format users bring.

Reading: `.pth`/`.pt`/`.ckpt`/`.bin` through `torch.load(weights_only=True)` (never runs pickled
code) or `.safetensors`; BasicSR wrappers (`params_ema` preferred over `params`), `module.` and
`_orig_mod.` prefixes, bare state dicts. The architecture (RRDBNet, SRResNet, BasicSR's MSRResNet,
Real-ESRGAN's SRVGGNetCompact) and its hyper-parameters are read from key patterns and tensor
shapes (see each model file); where our metadata (`save_model` writes it) disagrees, the metadata
wins with a warning (see rrdbnet.config_from_state for the ambiguity).
Writing: BasicSR keys, `{"params_ema", "params"}` in `.pth`, or `.safetensors` with the
hyper-parameters in its metadata.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from esrgan.atomic import atomic_path
from esrgan.errors import ESRGANError
from esrgan.models import msrresnet, rrdbnet, srresnet, srvgg
from esrgan.models.descriptor import ModelDescriptor, check_against_model, describe, module_of
from esrgan.models.hub import SAVE_SUFFIXES, json_or_text, resolve_model
from esrgan.models.ncnn_import import read_ncnn

log = logging.getLogger(__name__)

WRAPPER_KEYS = ("params_ema", "params-ema", "params", "state_dict", "model", "generator", "net_g")
PREFIXES = ("module.", "_orig_mod.", "netG.")
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "RRDBNet": rrdbnet.RRDBNet,
    "SRResNet": srresnet.SRResNet,
    "MSRResNet": msrresnet.MSRResNet,
    "SRVGGNetCompact": srvgg.SRVGGNetCompact,
}
PICKLE_REFUSED = "refused: this file contains pickled objects other than tensors (unsafe to load)"


def read_state_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Load a checkpoint file's raw contents: (object, metadata, container)."""
    path = Path(path)
    if path.is_dir():
        raise ESRGANError(f"{path} is a folder, not a model file")
    if not path.is_file():
        raise ESRGANError(f"model file not found: {path}")
    if path.stat().st_size == 0:
        raise ESRGANError(f"model file is empty (0 bytes): {path}")
    if path.suffix.lower() == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = {k: json_or_text(v) for k, v in (f.metadata() or {}).items()}
                return {k: f.get_tensor(k) for k in f.keys()}, meta, "safetensors"  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as exc:
            why = (str(exc).strip() or type(exc).__name__).splitlines()[0][:200]
            raise ESRGANError(f"{path} is not a readable .safetensors file ({why})") from None
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        text = str(exc)
        if "GLOBAL " in text or "Unsupported global" in text or _is_pickle(path):
            name = text.split("GLOBAL ", 1)[1].split()[0] if "GLOBAL " in text else None
            raise ESRGANError(f"{path}: {PICKLE_REFUSED}" + (f" ({name})" if name else "")) from None
        if "central directory" in text or "zip archive" in text:
            raise ESRGANError(f"{path} is a truncated or corrupt PyTorch checkpoint") from None
        raise ESRGANError(f"{path} is not a PyTorch checkpoint") from None
    if not isinstance(obj, dict):
        raise ESRGANError(f"{path} holds a {type(obj).__name__}, not a state dict")
    meta = {str(k): v for k, v in obj["meta"].items()} if isinstance(obj.get("meta"), dict) else {}
    return obj, meta, "pth"


def unwrap_state(obj: dict[str, Any], weights: str | None = None) -> tuple[dict[str, Tensor], str | None]:
    """Find the generator's state dict inside a wrapper (`weights`: that key only); strip prefixes."""
    keys = WRAPPER_KEYS if weights is None else (weights,)
    wrapper = next((k for k in keys if isinstance(obj.get(k), dict) and obj[k]), None)
    if weights is not None and wrapper is None:
        raise ESRGANError(f"the file holds no '{weights}' weights (it has: {', '.join(map(str, obj))})")
    state = {k: v for k, v in (obj if wrapper is None else obj[wrapper]).items() if isinstance(v, Tensor)}
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
    if "body.0.weight" in keys and all(k.startswith("body.") for k in keys):
        return "state dict has body.N keys but not SRVGGNetCompact's layout (convs at body.0, 2, 4, ...)"
    if any(k.startswith(("layers.0.residual_group", "patch_embed")) for k in keys):
        return "state dict looks like a SwinIR/HAT transformer model; not supported"
    if "head.0.weight" in keys and any(k.startswith("body.0.body.") for k in keys):
        return "state dict looks like an EDSR/RCAN model; not supported"
    if not keys:
        return "no tensors found"
    return f"unrecognised architecture ({len(keys)} tensors, e.g. {', '.join(sorted(keys)[:3])})"


def _is_pickle(path: Path) -> bool:
    """A bare pickle (not torch's zip format) starts with the PROTO opcode and a protocol 2-5."""
    with open(path, "rb") as f:
        head = f.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def detect(state: dict[str, Tensor], source: str) -> tuple[str, str, dict[str, Tensor], Any]:
    """(architecture, key format, BasicSR-keyed state, config read from the shapes)."""
    try:
        fmt = rrdbnet.key_format(state)
        if fmt is not None:
            state = rrdbnet.to_basicsr_keys(state)
            cfg = rrdbnet.config_from_state(state)
            if cfg.scale == 2 and rrdbnet.upsample_stages(state) == 1:
                raise ESRGANError(f"{source}: 2018 'old arch' x2 layout (no pixel-unshuffle): unsupported")
            return "RRDBNet", fmt, state, cfg
        if srresnet.is_srresnet_state(state):
            return "SRResNet", "esrgan", state, srresnet.config_from_state(state)
        if msrresnet.is_msrresnet_state(state):
            return "MSRResNet", "BasicSR", state, msrresnet.config_from_state(state)
        if srvgg.is_srvgg_state(state):
            return "SRVGGNetCompact", "Real-ESRGAN", state, srvgg.config_from_state(state)
    except (KeyError, ValueError, IndexError) as exc:
        raise ESRGANError(f"{source}: unexpected layout ({exc})") from None
    return "", "", state, None


def config_from_metadata(meta: dict[str, Any], architecture: str, shape_cfg: Any) -> Any:
    """The config the file's own metadata names for `architecture` (fields it omits: the shape reading)."""
    if meta.get("architecture") != architecture:
        return shape_cfg
    names = {f.name: type(getattr(shape_cfg, f.name)) for f in fields(shape_cfg)}
    given = {k: meta[k] for k in names if k in meta and type(meta[k]) is names[k]}
    return replace(shape_cfg, **given)  # cannot fail: known fields of the right types, no validation


def build_from_state(
    state: dict[str, Tensor], obj: dict[str, Any], source: str, meta: dict[str, Any]
) -> tuple[nn.Module, str]:
    """(model, key format): the detected architecture built and loaded; the file's metadata wins over
    the shape reading where both describe a model the weights fit."""
    architecture, fmt, state, shape_cfg = detect(state, source)
    if not architecture:
        raise ESRGANError(f"{source}: {describe_unsupported(state, obj)}")
    meta_cfg = config_from_metadata(meta, architecture, shape_cfg)
    if meta_cfg != shape_cfg:
        model, problem = _try_build(architecture, meta_cfg, state)
        if model is not None:
            diff = _differences(meta_cfg, shape_cfg), _differences(shape_cfg, meta_cfg)
            log.warning("%s: metadata (%s) disagrees with the shapes (%s); using the metadata", source, *diff)
            return model, fmt
        log.warning("%s: the metadata does not fit the weights (%s); reading the shapes", source, problem)
    model, problem = _try_build(architecture, shape_cfg, state)
    if model is None:
        raise ESRGANError(f"{source}: weights do not fit the detected {architecture}: {problem}")
    return model, fmt


def _try_build(architecture: str, cfg: Any, state: dict[str, Tensor]) -> tuple[nn.Module | None, str]:
    try:
        model = ARCHITECTURES[architecture](**asdict(cfg))
    except ValueError as exc:
        return None, str(exc)
    problem = _fit_problem(model, state)
    if problem:
        return None, problem
    model.load_state_dict(state, strict=True)
    return model.eval(), ""


def _fit_problem(model: nn.Module, state: dict[str, Tensor]) -> str:
    """The first tensors that do not fit `model` (names and shapes), or '' if all fit."""
    expected = model.state_dict()
    problems = [
        f"{k} is {tuple(state[k].shape)}, expected {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems += [f"missing {k}" for k in expected if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
    return "; ".join(problems[:2]) + more


def _differences(a: Any, b: Any) -> str:
    theirs = asdict(b)
    return ", ".join(f"{k}={v}" for k, v in asdict(a).items() if v != theirs[k])


def load_model(
    path: str | os.PathLike, *, device: str | torch.device = "cpu", weights: str | None = None
) -> ModelDescriptor:
    """Load a generator from any supported file, an ncnn `.param` (imported into the torch generator
    it describes) or a model name (`esrgan models`); the architecture is detected from the weights.
    `weights` picks a wrapper key ("params", "params_ema"); by default `params_ema` is preferred."""
    path = resolve_model(path)
    if Path(path).suffix.lower() == ".param":  # an ncnn pair, imported into the torch generator
        state, fp16 = read_ncnn(Path(path))
        obj, meta, container, wrapper = {}, {"ncnn_fp16_weights": fp16}, "ncnn", None
    else:
        obj, meta, container = read_state_file(path)
        try:
            state, wrapper = unwrap_state(obj, weights)
        except ESRGANError as exc:
            raise ESRGANError(f"{path}: {exc}") from None
    model, fmt = build_from_state(state, obj, str(path), meta)
    fmt = "ncnn" if container == "ncnn" else fmt
    desc = describe(model, source=str(path))
    desc = replace(desc, key_format=fmt, container=container, wrapper=wrapper, metadata=meta)
    check_against_model(desc)
    return desc.to(device)


def model_config(model: nn.Module | ModelDescriptor) -> dict[str, Any]:
    """The hyper-parameters that rebuild `model` (also written into saved files)."""
    desc = describe(_unwrapped(model))
    if desc.config is None:
        raise ESRGANError(f"{type(desc.model).__name__} is not a generator this package can save")
    return {"architecture": type(desc.model).__name__, **asdict(desc.config)}


def check_save_suffix(path: str | os.PathLike) -> None:
    """Refuse an output name `save_model` would not write as its suffix says (before any work)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_SUFFIXES:
        raise ESRGANError(f"output must end in {', '.join(SAVE_SUFFIXES)}, not '{suffix or Path(path).name}'")


def save_model(
    model: nn.Module | ModelDescriptor,
    path: str | os.PathLike,
    *,
    params_ema: dict[str, Tensor] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write a generator atomically; an unwritable path is one ESRGANError. `.pth`: `{"params",
    "params_ema" (if given), "meta"}` with BasicSR keys, which BasicSR, Real-ESRGAN, spandrel (chaiNNer,
    ComfyUI) and this package read; `.safetensors`: the EMA weights if given, else the model's, with
    the hyper-parameters and `metadata` as JSON strings in the header."""
    state = _cpu(_unwrapped(model).state_dict())
    meta: dict[str, Any] = {**model_config(model), **(metadata or {})}
    with atomic_path(path) as tmp:
        if Path(path).suffix.lower() == ".safetensors":
            weights = _cpu(params_ema) if params_ema is not None else state
            save_file(weights, str(tmp), metadata={k: json.dumps(v) for k, v in meta.items()})
        else:
            blob: dict[str, Any] = {"params": state, "meta": meta}
            if params_ema is not None:
                blob["params_ema"] = _cpu(params_ema)
            torch.save(blob, tmp)


def _cpu(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def _unwrapped(model: nn.Module | ModelDescriptor) -> nn.Module:
    """The bare module under a descriptor and DDP / torch.compile wrappers."""
    model = module_of(model)
    model = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    return model._orig_mod if hasattr(model, "_orig_mod") else model
