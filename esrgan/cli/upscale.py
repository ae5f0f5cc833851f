"""`esrgan upscale INPUT... -o OUTDIR -m MODEL`: upscale files, folders and globs.

A bad input file does not stop the batch: each failure is reported on one line at the end and
the exit status is 1. Problems that would make every image fail (no model, unreadable model,
unwritable output folder, fp16 on CPU) are reported before any work, with exit status 2.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from pathlib import Path
from typing import Any

MODEL_NEEDED = (
    "a model file is needed: -m MODEL.pth. Official ESRGAN weights (RRDB_ESRGAN_x4.pth, "
    "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth) are on the xinntao/ESRGAN and XPixelGroup/BasicSR "
    "download pages, RealESRGAN_x4plus.pth on the xinntao/Real-ESRGAN release page; any of them "
    "loads as is. Or train a small one on CPU with `esrgan quickstart`"
)
WRITABLE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}
GLOB_CHARS = set("*?[")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, folders (their images, not recursive) or globs",
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder (created)")
    parser.add_argument(
        "-m", "--model", metavar="MODEL", help="checkpoint (.pth/.safetensors, any ESRGAN format)"
    )
    parser.add_argument(
        "-s",
        "--outscale",
        type=float,
        default=None,
        help="final scale, e.g. 2 with a x4 model (Lanczos resize)",
    )
    parser.add_argument(
        "--ext",
        choices=["auto", "png", "jpg", "webp", "tif"],
        default="auto",
        help="output format (auto: same as the input)",
    )
    parser.add_argument(
        "--tile", default="auto", help="tile size in LR pixels, 'auto' (default) or 0 for none"
    )
    parser.add_argument(
        "--tile-overlap",
        type=int,
        default=None,
        help="overlap of neighbouring tiles in LR pixels (default 16)",
    )
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument(
        "--half", action="store_true", help="fp16 on CUDA (tiles that fail are redone in fp32)"
    )
    precision.add_argument("--bf16", action="store_true", help="bf16 on CUDA")
    parser.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, cuda:N, vulkan or vulkan:N (ncnn) (default: cuda if available)",
    )
    parser.add_argument(
        "--backend",
        choices=["auto", "torch", "ncnn", "onnx"],
        default="auto",
        help="what runs the network: auto (default: ncnn on CPU when installed, torch on CUDA), "
        "torch, ncnn or onnx (onnxruntime)",
    )
    parser.add_argument(
        "--alpha-upsampler",
        choices=["model", "bicubic"],
        default="model",
        help="how to upscale transparency (default: with the model)",
    )
    parser.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (default 95)")
    blend = parser.add_argument_group("interpolation and test-time options")
    blend.add_argument(
        "--alpha", type=float, metavar="A", help="blend with --psnr-model: (1 - A) * PSNR_MODEL + A * MODEL"
    )
    blend.add_argument("--psnr-model", metavar="P", help="the PSNR-oriented model MODEL was fine-tuned from")
    blend.add_argument(
        "--interpolation",
        choices=["network", "image"],
        default="network",
        help="blend the weights (network, default) or the output images (image)",
    )
    blend.add_argument(
        "--back-projection", type=int, default=0, metavar="N", help="back-projection iterations"
    )
    blend.add_argument(
        "--ensemble", action="store_true", help="x8 self-ensemble (flips/rotations, 8x slower)"
    )


def run(args: argparse.Namespace) -> int:
    import logging

    import torch
    from tqdm import tqdm

    import esrgan
    from esrgan.errors import ESRGANError
    from esrgan.inference.precision import resolve_precision

    if not args.model:
        raise ESRGANError(MODEL_NEEDED)
    from esrgan.inference import backends

    vulkan = args.device if args.device and backends.is_vulkan(args.device) else None
    if vulkan:
        backends.check_vulkan(vulkan)  # one error before any work, not one per image
    device = torch.device("cpu") if vulkan else _device(args.device, torch)
    external = backends.is_external_model_path(args.model)
    if external and args.psnr_model and args.interpolation == "network":
        raise ESRGANError("network interpolation (--alpha) blends checkpoints; it cannot use ncnn/ONNX files")
    precision = "fp16" if args.half else "bf16" if args.bf16 else "fp32"
    resolve_precision(precision, device)
    tile = _tile(args.tile)
    if args.outscale is not None and not args.outscale > 0:
        raise ESRGANError(f"--outscale must be positive, not {args.outscale}")
    if not 1 <= args.quality <= 100:
        raise ESRGANError(f"--quality must be 1..100, not {args.quality}")
    outdir = prepare_output_folder(args.output)
    inputs, failures = collect_inputs(args.inputs)
    if not inputs and not failures:
        raise ESRGANError("no input images found")
    model = None
    if inputs:
        model = (
            backends.load_external(args.model, vulkan)
            if external
            else esrgan.load_model(args.model, device=device)
        )
    if model is not None:
        from esrgan.inference.wrapped import apply_inference_options

        psnr_model = esrgan.load_model(args.psnr_model, device=device) if args.psnr_model else None
        model = apply_inference_options(
            model,
            psnr_model=psnr_model,
            alpha=args.alpha,
            interpolation=args.interpolation,
            ensemble=args.ensemble,
            back_projection=args.back_projection,
        )
    scale = args.outscale if args.outscale is not None else getattr(model, "scale", 1)

    handler = _log_handler()
    logger = logging.getLogger("esrgan")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    start = time.perf_counter()
    written: dict[Path, Path] = {}
    try:
        images = tqdm(inputs, unit="image", disable=None, dynamic_ncols=True)
        tiles = tqdm(total=0, unit="tile", leave=False, disable=None, position=1, dynamic_ncols=True)
        for path in images:
            images.set_postfix_str(path.name)
            target = outdir / output_name(path, scale, args.ext)
            if target in written:
                failures.append((path, f"its output {target.name} would overwrite that of {written[target]}"))
                continue
            try:
                upscale_file(model, path, target, args, tile, precision, device, tiles)
                written[target] = path
            except ESRGANError as exc:
                failures.append((path, str(exc)))
            except MemoryError:
                failures.append((path, "not enough memory for this image"))
        tiles.close()
        images.close()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    elapsed = time.perf_counter() - start
    for path, message in failures:
        text = message if message.startswith(str(path)) else f"{path}: {message}"
        print(f"esrgan upscale: failed: {' '.join(text.split())}", file=sys.stderr)
    print(f"upscaled {len(written)} image(s) into {outdir}, {len(failures)} failed, in {elapsed:.1f} s")
    return 1 if failures else 0


def upscale_file(
    model: Any,
    path: Path,
    target: Path,
    args: argparse.Namespace,
    tile: Any,
    precision: str,
    device: Any,
    bar: Any,
) -> None:
    import numpy as np

    import esrgan
    from esrgan.data.image_io import read_image, to_integer, write_image

    data = read_image(path)
    pixels = to_integer(data.pixels, data.bit_depth)
    if data.alpha is not None:
        pixels = np.concatenate([pixels, to_integer(data.alpha, data.bit_depth)[..., None]], axis=2)
    data.pixels = data.alpha = None  # type: ignore[assignment]  # free the float copy early

    def progress(done: int, total: int) -> None:
        if bar.total != total or done < bar.n:
            bar.reset(total=total)
        bar.update(done - bar.n)

    result = esrgan.upscale(
        model,
        pixels,
        tile=tile,
        tile_overlap=args.tile_overlap,
        outscale=args.outscale,
        precision=precision,
        device=args.device if args.device and args.device.startswith("vulkan") else device,
        progress=progress,
        alpha=args.alpha_upsampler,
        backend=args.backend,
    )
    write_image(target, result, bit_depth=data.bit_depth, quality=args.quality, icc_profile=data.icc_profile)


def output_name(path: Path, scale: float, ext: str) -> str:
    """`<stem>_x<scale>.<ext>`: x4 for integral scales, x2.5 otherwise."""
    label = str(int(scale)) if float(scale).is_integer() else f"{scale:g}"
    suffix = path.suffix.lower() if ext == "auto" else f".{ext}"
    if suffix not in WRITABLE_EXTENSIONS:
        suffix = ".png"
    return f"{path.stem}_x{label}{suffix}"


def collect_inputs(specs: list[str]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files as given, images inside folders (sorted, not recursive), glob matches (sorted)."""
    from esrgan.data.image_io import IMAGE_EXTENSIONS

    found: list[Path] = []
    failures: list[tuple[Path, str]] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            )
        elif path.exists() or not GLOB_CHARS & set(spec):
            found.append(path)  # a missing file is reported by read_image, in the batch
        else:
            matches = sorted(Path(p) for p in glob.glob(spec) if os.path.isfile(p))
            if not matches:
                failures.append((path, "no files match this pattern"))
            found.extend(matches)
    unique = list(dict.fromkeys(found))
    return unique, failures


def prepare_output_folder(folder: str) -> Path:
    """Create the output folder and prove it writable, before any work is done."""
    from esrgan.errors import ESRGANError

    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ESRGANError(f"output folder {folder} exists and is not a folder") from None
    except OSError as exc:
        raise ESRGANError(f"cannot create output folder {folder} ({exc.strerror or exc})") from None
    probe = path / f".esrgan-write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ESRGANError(f"cannot write into output folder {folder} ({exc.strerror or exc})") from None
    return path


def _device(name: str | None, torch: Any) -> Any:
    from esrgan.errors import ESRGANError

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ESRGANError(f"unknown device {name!r} (use cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ESRGANError(f"--device {name}: CUDA is not available in this PyTorch build or machine")
    return device


def _tile(value: str) -> int | str:
    from esrgan.errors import ESRGANError

    if value == "auto":
        return value
    try:
        tile = int(value)
    except ValueError:
        raise ESRGANError(f"--tile must be a number of pixels, 0 or 'auto', not {value!r}") from None
    if tile < 0:
        raise ESRGANError(f"--tile must be >= 0, not {tile}")
    return tile


def _log_handler() -> Any:
    """A logging handler that prints the library's notes above the progress bars, on stderr."""
    import logging

    from tqdm import tqdm

    class TqdmHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            tqdm.write(f"esrgan upscale: {record.getMessage()}", file=sys.stderr)

    return TqdmHandler(logging.INFO)
