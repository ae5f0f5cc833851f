"""`backend="auto"` on the CPU: the fastest exact engine for this machine and model, measured.

Which engine is fastest depends on the CPU (ncnn's Winograd kernels beat PyTorch's direct AVX-512
convolutions on some chips, not on others), the model, the load (ncnn's threads wait for each other
when a core is busy) and the tile size (on an AVX-512 Xeon ncnn beats torch 1.3x on a 32 px tile of
the 23-block model and loses, 0.77x, on the 192 px tiles a job runs). So `probe` times one tile of
the job's size on each engine and keeps those within EXACT_LEVELS of torch on every value; that
costs about eight tiles, so only a job of PROBE_MIN_TILES tiles probes (a shorter one with nothing
cached runs torch, the reference). ncnn and onnxruntime run on the cores found free just before
(`cpu_info.free_cores`); torch keeps its own threads.

The result is cached in `<ESRGAN_HOME or the user cache folder>/engine-probes.json`, keyed by CPU
model, machine, the network's architecture and shapes (not its weights), tile, threads and engine
versions. bf16 and int8 are never picked: they are not exact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from esrgan.atomic import write_text_atomic
from esrgan.errors import ESRGANError
from esrgan.inference import cpu_info
from esrgan.inference.backends import _convertible, _core_generators, ncnn_from_module, onnx_from_module
from esrgan.inference.device import is_vulkan, resolve_device
from esrgan.models.descriptor import describe
from esrgan.models.hub import cache_dir

log = logging.getLogger(__name__)

# A job probes (when nothing is cached) only if it has this many tiles: the probe's ~8 tiles of
# work are then at most a fifth of it, once per machine and model.
PROBE_MIN_TILES = 40
EXACT_LEVELS = 1  # an engine is exact when every output value is within this many levels of torch
# Another engine must beat torch by this factor to be picked: one timed run each is noisy, and a
# near-tie is not worth leaving the reference engine for.
MARGIN = 1.05
CACHE_FILE = "engine-probes.json"
ENGINES = {"ncnn": ("ncnn",), "onnx": ("onnxruntime", "onnx")}  # engine: the modules it needs


@dataclass(frozen=True)
class EngineChoice:
    """What `auto` runs: the engine, its CPU threads (None: torch's own) and why, in words."""

    engine: str
    threads: int | None = None
    reason: str = ""


@dataclass
class ProbeResult:
    """Seconds per probe tile and exactness of each engine probed; torch is always there."""

    seconds: dict[str, float]
    exact: dict[str, bool] = field(default_factory=dict)
    threads: int = 1
    cached: bool = False


def auto_probe_target(model: nn.Module, device: Any, precision: str = "fp32") -> nn.Module | None:
    """The network `auto` probes (the first core network) when it runs a checkpoint on the CPU in
    fp32; None where auto does not probe (CUDA, Vulkan, bf16/fp16, a model no engine converts)."""
    cores = list(_core_generators(model))
    if precision.lower() != "fp32" or is_vulkan(device) or not all(_convertible(m) for m in cores):
        return None
    if device is None:
        param = next(iter(cores[0].parameters()), None)
        on_cpu = param is None or param.device.type == "cpu"
    else:
        on_cpu = resolve_device(device).type == "cpu"
    return cores[0] if on_cpu else None


def pick_engine(seconds: dict[str, float], exact: dict[str, bool], margin: float = MARGIN) -> str:
    """The fastest exact engine: another one only where it beats torch by `margin`."""
    wins = [n for n, s in seconds.items() if n != "torch" and exact.get(n) and s * margin < seconds["torch"]]
    return min(wins, key=seconds.__getitem__, default="torch")


def is_exact(out: np.ndarray, ref: np.ndarray, levels: int = EXACT_LEVELS) -> bool:
    """Whether every value of `out` is within `levels` of `ref`, both [0, 1] floats read as 8-bit."""
    if out.shape != ref.shape:
        return False
    a, b = (np.rint(np.clip(v, 0, 1) * 255) for v in (out, ref))
    return bool(np.all(np.abs(a - b) <= levels))


def installed_engines() -> list[str]:
    return [name for name, modules in ENGINES.items() if all(find_spec(m) for m in modules)]


def cache_path() -> Path:
    return cache_dir().parent / CACHE_FILE


def probe_key(model: nn.Module, tile: int, threads: int, engines: list[str]) -> str:
    """CPU model, machine, architecture + shapes, tile, threads and engine versions, in one string."""
    shapes = ";".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    arch = f"{type(model).__name__}-{hashlib.sha256(shapes.encode()).hexdigest()[:16]}"
    versions = ",".join(f"{e}={_version(ENGINES[e][0])}" for e in engines)
    return f"{cpu_info.cpu_model()}|{platform.machine()}|{arch}|tile{tile}|threads{threads}|{versions}"


def _version(module: str) -> str:
    try:
        return version(module)
    except PackageNotFoundError:
        return "?"


def read_cache() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}  # no cache yet, or a damaged one: probe again and rewrite it
    return data if isinstance(data, dict) else {}


def write_cache(key: str, result: ProbeResult) -> None:
    entries = read_cache()
    entries[key] = {"seconds": result.seconds, "exact": result.exact, "threads": result.threads}
    try:
        write_text_atomic(cache_path(), json.dumps(entries, indent=1, sort_keys=True))
    except ESRGANError as exc:  # a read-only cache costs a probe per run, not the run
        log.warning("could not cache the engine probe: %s", exc)


def _timed(fn: Any, x: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(x)
    return time.perf_counter() - start, out


def probe(model: nn.Module, engines: list[str], tile: int, threads: int) -> ProbeResult:
    """Time one `tile` LR px tile on torch and on each engine (warm-up, then a timed run)."""
    desc = describe(model)
    side = max(desc.size_multiple, tile // desc.size_multiple * desc.size_multiple)
    x = torch.from_numpy(np.random.default_rng(0).random((1, desc.in_ch, side, side), np.float32))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            x_cl = x.contiguous(memory_format=torch.channels_last)  # as TileRunner feeds torch
            ref = model(x_cl).float().numpy()
            seconds = {"torch": _timed(model, x_cl)[0]}
    finally:
        model.train(was_training)
    exact: dict[str, bool] = {"torch": True}
    for name in engines:
        try:
            convert = ncnn_from_module if name == "ncnn" else onnx_from_module
            engine = convert(model, threads=threads) if name == "onnx" else convert(model, None, threads)
            out = engine(x).numpy()  # warm-up: ncnn and onnxruntime prepare their kernels here
            seconds[name] = _timed(engine, x)[0]
            exact[name] = is_exact(out, ref)
        except Exception as exc:  # noqa: BLE001 - an engine that cannot run this model is not a candidate
            log.debug("engine probe: %s cannot run this model (%s)", name, " ".join(str(exc).split())[:120])
            seconds[name], exact[name] = math.inf, False
    return ProbeResult(seconds, exact, threads)


def choose_auto(model: nn.Module, tile: int, *, job_tiles: float = math.inf) -> EngineChoice:
    """The engine `auto` runs a checkpoint on, on the CPU: probed once per machine, model shape and
    `tile` (LR px), by a job of `job_tiles` such tiles when that is at least PROBE_MIN_TILES."""
    engines = installed_engines()
    if not engines:
        return EngineChoice("torch", reason="neither ncnn nor onnxruntime is installed")
    threads = min(cpu_info.free_cores(), torch.get_num_threads())
    key = probe_key(model, tile, threads, engines)
    entry = read_cache().get(key)
    if isinstance(entry, dict) and isinstance(entry.get("seconds"), dict):
        seconds = {k: float(v) for k, v in entry["seconds"].items()}
        result = ProbeResult(seconds, dict(entry.get("exact", {})), threads, cached=True)
    elif job_tiles < PROBE_MIN_TILES:
        why = f"engines not probed yet at {tile} px tiles, and this job ({job_tiles:.1f} tiles) is"
        return EngineChoice("torch", reason=f"{why} shorter than the {PROBE_MIN_TILES} a probe needs")
    else:
        result = probe(model, engines, tile, threads)
        write_cache(key, result)
    engine = pick_engine(result.seconds, result.exact)
    return EngineChoice(engine, None if engine == "torch" else threads, describe_probe(result, tile))


def describe_probe(result: ProbeResult, tile: int) -> str:
    """'32 px tile, 1 engine thread(s) (free cores): torch 0.250 s, onnx 0.300 s (not exact); probed now'."""
    parts = []
    for name, secs in result.seconds.items():
        note = "" if result.exact.get(name, name == "torch") else " (not exact)"
        parts.append(f"{name} {secs:.3f} s{note}" if math.isfinite(secs) else f"{name} failed")
    where = "from the cache" if result.cached else "probed now"
    return f"{tile} px tile, {result.threads} engine thread(s) (free cores): {', '.join(parts)}; {where}"
