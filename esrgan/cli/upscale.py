"""`esrgan upscale INPUT... -o OUTDIR -m MODEL`: upscale files, folders and globs.

The job itself (planning, checks, read -> upscale -> write) is `esrgan.inference.batch`. Problems
that would lose data or make every image fail (an output on an input, outputs that exist, an
output too large for memory, no model, an unwritable folder, fp16 on CPU) are refused before any
work, exit status 2. A bad input file does not stop the batch: each failure is one line at the
end and the exit status is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from esrgan.cli.options import (
    add_back_projection,
    add_ensemble,
    add_force,
    add_offline,
    add_tile,
    non_negative_int,
    positive_float,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, folders (their images, not recursive) or globs",
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder (created)")
    parser.add_argument(
        "-m",
        "--model",
        metavar="MODEL",
        default="builtin",
        help="checkpoint (.pth/.safetensors, any ESRGAN format) or a model name from `esrgan models` "
        "(downloaded on first use); default: builtin, the small model shipped with the package",
    )
    add_offline(parser)
    parser.add_argument(
        "-s",
        "--outscale",
        type=positive_float,
        default=None,
        help="final scale, e.g. 2 with a x4 model (Lanczos resize)",
    )
    parser.add_argument(
        "--ext",
        choices=["auto", "png", "jpg", "webp", "tif"],
        default="auto",
        help="output format (auto: same as the input)",
    )
    existing = parser.add_mutually_exclusive_group()
    add_force(existing, "overwrite outputs that exist")
    existing.add_argument(
        "--skip-existing", action="store_true", help="keep outputs that exist and do the rest (resume)"
    )
    parser.add_argument(
        "--frames",
        choices=["error", "first", "all"],
        default="error",
        help="animated or multi-page inputs: refuse them (default), upscale the first frame, or "
        "every frame as NAME_f0001_x4.png, NAME_f0002_x4.png, ...",
    )
    parser.add_argument(
        "--max-output-pixels",
        type=positive_float,
        default=None,
        metavar="N",
        help="refuse outputs larger than N pixels (default: what fits in the RAM available)",
    )
    add_tile(parser)
    parser.add_argument(
        "--prepad",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="realesrgan-ncnn-vulkan's tiling: each tile run with N px of mirrored context, unblended "
        "(default 0: blended tiles; --prepad 10 --tile 400 gives that program's CPU picture)",
    )
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument(
        "--half", action="store_true", help="fp16 on CUDA (tiles that fail are redone in fp32)"
    )
    bf16_help = "bf16 on CUDA, or a CPU with native bf16 (AVX512-BF16/AMX): ~2x faster, PSNR within 0.05 dB"
    precision.add_argument("--bf16", action="store_true", help=bf16_help)
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (default: CUDA when available, else CPU), cpu, cuda, cuda:N, or vulkan / vulkan:N "
        "(ncnn on any Vulkan GPU)",
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
    add_back_projection(blend)
    add_ensemble(blend)


def run(args: argparse.Namespace) -> int:
    from esrgan.inference.batch import UpscaleJob, run_job

    job = UpscaleJob(
        inputs=args.inputs,
        output=args.output,
        model=args.model,
        psnr_model=args.psnr_model,
        offline=args.offline,
        alpha=args.alpha,
        interpolation=args.interpolation,
        ensemble=args.ensemble,
        back_projection=args.back_projection,
        outscale=args.outscale,
        ext=args.ext,
        quality=args.quality,
        tile=args.tile,
        tile_overlap=args.tile_overlap,
        prepad=args.prepad,
        precision="fp16" if args.half else "bf16" if args.bf16 else "fp32",
        device=args.device,
        backend=args.backend,
        alpha_upsampler=args.alpha_upsampler,
        existing="overwrite" if args.force else "skip" if args.skip_existing else "refuse",
        frames=args.frames,
        max_output_pixels=None if args.max_output_pixels is None else int(args.max_output_pixels),
    )
    with _notes_above_progress_bars():
        result = run_job(job, progress=True)
    for line in result.failure_lines():
        print(f"esrgan upscale: failed: {line}", file=sys.stderr)
    print(result.summary())
    return result.exit_code


@contextlib.contextmanager
def _notes_above_progress_bars() -> Iterator[None]:
    """The library's log notes printed on stderr above the progress bars, while the job runs."""
    import logging

    from tqdm import tqdm

    class TqdmHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            tqdm.write(f"esrgan upscale: {record.getMessage()}", file=sys.stderr)

    logger = logging.getLogger("esrgan")
    handler, old_level = TqdmHandler(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
