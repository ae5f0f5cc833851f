"""`esrgan upscale INPUT... -o OUTDIR -m MODEL`: upscale files, folders and globs.

The job itself (planning, checks, read -> upscale -> write) is `esrgan.inference.batch`. Problems
that would lose data or make every image fail (an output on an input, outputs that exist, an
output too large for memory, no model, an unwritable folder, fp16 on CPU) are refused before any
work, exit status 2. A bad input file does not stop the batch: each failure is one line at the
end and the exit status is 1. Video files (and frame folders with --fps) go to
`esrgan.inference.video_batch` instead: one frame at a time, every problem one line, exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from esrgan.cli.options import (
    add_back_projection,
    add_ensemble,
    add_force,
    add_tile,
    non_negative_int,
    pick,
    positive_float,
)
from esrgan.errors import ESRGANError
from esrgan.inference.choices import BACKENDS, FRAMES, OUTPUT_FORMATS

if TYPE_CHECKING:
    from esrgan.inference.batch import UpscaleJob


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, folders (their images, not recursive) or globs; or video files "
        "(mp4, mkv, webm, mov, ...), or with --fps a folder/glob of numbered frames",
    )
    parser.add_argument("-o", "--output", metavar="OUTDIR", help="output folder (created)")
    parser.add_argument(
        "-m",
        "--model",
        metavar="MODEL",
        default="builtin",
        help="checkpoint (.pth/.safetensors, any ESRGAN format) or a model name from `esrgan models` "
        "(downloaded on first use); default: builtin, the small model shipped with the package",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never download: a model name must already be cached (same as ESRGAN_OFFLINE=1)",
    )
    parser.add_argument(
        "-s", "--outscale", type=positive_float, help="final scale, e.g. 2 with a x4 model (Lanczos resize)"
    )
    parser.add_argument(
        "--ext", choices=OUTPUT_FORMATS, default="auto", help="output format (auto: same as the input)"
    )
    existing = parser.add_mutually_exclusive_group()
    add_force(existing, "overwrite outputs that exist")
    existing.add_argument(
        "--skip-existing", action="store_true", help="keep outputs that exist and do the rest (resume)"
    )
    parser.add_argument(
        "--frames",
        choices=FRAMES,
        default="error",
        help="animated or multi-page inputs: refuse them (default), upscale the first frame, or "
        "every frame as NAME_f0001_x4.png, NAME_f0002_x4.png, ...",
    )
    parser.add_argument(
        "--max-output-pixels",
        type=positive_float,
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
    precision.add_argument(
        "--int8",
        action="store_true",
        help="int8 on CPUs with VNNI/AMX (onnxruntime, quantized once and cached; not exact, see README)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (default: CUDA when available, else CPU), cpu, cuda, cuda:N, or vulkan / vulkan:N "
        "(ncnn on any Vulkan GPU)",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="what runs the network: auto (default: on the CPU the fastest engine whose output is "
        "within 1 level of torch fp32, measured once per machine and model and cached; torch on CUDA; "
        "ncnn on --device vulkan; an exported .param/.onnx model on its own engine), torch, ncnn or "
        "onnx (onnxruntime)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="say which engine runs the model, and why"
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
        "--denoise",
        type=float,
        metavar="S",
        help="with -m realesr-general-x4v3 (Real-ESRGAN's -dn): S * that model + (1 - S) * its twin "
        "realesr-general-wdn-x4v3, weight by weight; 0 keeps noise, 1 denoises most",
    )
    add_back_projection(blend)
    add_ensemble(blend)
    video = parser.add_argument_group("video files and frame sequences")
    video.add_argument("--codec", default="libx264", help="video encoder (default libx264: H.264)")
    video.add_argument("--crf", type=int, help="quality for x264/x265/vp9/av1, 0 = lossless (default 18)")
    video.add_argument("--pix-fmt", help="encoded pixel format (default yuv420p where the encoder has it)")
    video.add_argument(
        "--container",
        default="auto",
        help="mp4, mkv, mov, webm (default: mp4, or mkv when mp4 cannot hold it)",
    )
    video.add_argument("--frames-out", metavar="DIR", help="write the upscaled frames as PNGs into DIR")
    video.add_argument("--fps", help="frame rate of a folder/glob of numbered frames (e.g. 25, 30000/1001)")
    video.add_argument(
        "--odd-size",
        choices=["pad", "crop"],
        default="pad",
        help="an output size yuv420p cannot hold (odd): pad by repeating the edge (default) or crop a pixel",
    )


def run(args: argparse.Namespace) -> int:
    from esrgan.inference.batch import UpscaleJob, run_job
    from esrgan.inference.video_batch import is_video_job

    video = is_video_job(args.inputs, args.fps)
    if args.output is None and not (video and args.frames_out):
        raise ESRGANError("the output folder is needed: -o OUTDIR")
    job = UpscaleJob(
        **pick(args, "inputs model psnr_model offline alpha interpolation denoise ensemble back_projection"),
        **pick(args, "outscale ext quality tile tile_overlap prepad device backend alpha_upsampler frames"),
        output=args.output or ".",
        precision="fp16" if args.half else "bf16" if args.bf16 else "int8" if args.int8 else "fp32",
        existing="overwrite" if args.force else "skip" if args.skip_existing else "refuse",
        max_output_pixels=None if args.max_output_pixels is None else int(args.max_output_pixels),
    )
    if video:
        return _run_video(job, args)
    with _notes_above_progress_bars(args.verbose):
        result = run_job(job, progress=True)
    for line in result.failure_lines():
        print(f"esrgan upscale: failed: {line}", file=sys.stderr)
    print(result.summary())
    return result.exit_code


def _run_video(job: UpscaleJob, args: argparse.Namespace) -> int:
    from esrgan.inference.video import VideoOptions
    from esrgan.inference.video_batch import run_video_job, sigterm_as_interrupt

    options = VideoOptions(**pick(args, "codec crf pix_fmt container frames_out fps odd_size"))
    with _notes_above_progress_bars(args.verbose), sigterm_as_interrupt():
        result = run_video_job(job, options, progress=True)
    print(result.summary())
    return result.exit_code


@contextlib.contextmanager
def _notes_above_progress_bars(verbose: bool = False) -> Iterator[None]:
    """The library's log notes printed on stderr above the progress bars, while the job runs
    (`verbose`: the debug notes too, e.g. which engine runs the model and why)."""
    import logging

    from tqdm import tqdm

    class TqdmHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            tqdm.write(f"esrgan upscale: {record.getMessage()}", file=sys.stderr)

    logger = logging.getLogger("esrgan")
    level = logging.DEBUG if verbose else logging.INFO
    handler, old_level = TqdmHandler(level), logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
