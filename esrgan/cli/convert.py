"""`esrgan convert IN OUT`: rewrite any supported checkpoint in this package's format."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="checkpoint in any supported key format")
    parser.add_argument("output", help="output file: .pth (BasicSR keys) or .safetensors")
    parser.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from esrgan.errors import ESRGANError
    from esrgan.models.loading import inspect_checkpoint, save_model

    out = Path(args.output)
    if out.suffix.lower() not in (".pth", ".pt", ".safetensors"):
        raise ESRGANError(f"output must end in .pth, .pt or .safetensors, not '{out.suffix or out.name}'")
    if out.exists() and not args.force:
        raise ESRGANError(f"{out} exists; pass --force to overwrite")
    if out.resolve() == Path(args.input).resolve():
        raise ESRGANError("input and output are the same file")
    model, info = inspect_checkpoint(args.input)
    meta = {"converted_from": Path(info.path).name, "source_format": info.key_format}
    save_model(model, out, metadata=meta)
    print(f"wrote {out} ({info.architecture} x{info.config['scale']}, from {info.key_format} keys)")
    return 0
