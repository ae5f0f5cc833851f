"""`esrgan convert IN OUT`: rewrite any supported checkpoint in this package's format."""

from __future__ import annotations

import argparse
from pathlib import Path

from esrgan.cli.options import add_force


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="checkpoint in any supported key format")
    parser.add_argument("output", help="output file: .pth (BasicSR keys) or .safetensors")
    add_force(parser, "overwrite OUTPUT if it exists")


def run(args: argparse.Namespace) -> int:
    from esrgan.errors import ESRGANError
    from esrgan.models.loading import check_save_suffix, load_model, save_model

    out = Path(args.output)
    check_save_suffix(out)
    if out.exists() and not args.force:
        raise ESRGANError(f"{out} exists; pass --force to overwrite")
    if out.resolve() == Path(args.input).resolve():
        raise ESRGANError("input and output are the same file")
    desc = load_model(args.input)
    save_model(
        desc, out, metadata={"converted_from": Path(desc.source).name, "source_format": desc.key_format}
    )
    print(f"wrote {out} ({desc.architecture} x{desc.scale}, from {desc.key_format} keys)")
    return 0
