"""`esrgan export MODEL -o OUT.param|OUT.onnx`: a model for ncnn (realesrgan-ncnn-vulkan) or ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path

from esrgan.cli.options import add_force


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="checkpoint in any supported format (.pth, .pt, .safetensors)")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="OUT.param (ncnn: writes OUT.param + OUT.bin, blobs data/output) or OUT.onnx (opset 17)",
    )
    parser.add_argument("--fp16", action="store_true", help="store the weights in float16 (half the size)")
    add_force(parser, "overwrite existing output files")


def run(args: argparse.Namespace) -> int:
    from esrgan.errors import ESRGANError
    from esrgan.export import FORMATS, export_model
    from esrgan.export.ncnn import bin_path
    from esrgan.models.loading import load_model

    out = Path(args.output)
    if out.suffix.lower() not in FORMATS:
        raise ESRGANError(f"-o must end in .param (ncnn) or .onnx, not '{out.suffix or out.name}'")
    targets = [out, bin_path(out)] if out.suffix.lower() == ".param" else [out]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not args.force:
        raise ESRGANError(f"{', '.join(existing)} exists; pass --force to overwrite")
    desc = load_model(args.model)
    written = export_model(desc, out, fp16=args.fp16)
    files = " + ".join(str(p) for p in written)
    print(f"wrote {files} ({desc.architecture} x{desc.scale}, {desc.in_ch}->{desc.out_ch} channels)")
    return 0
