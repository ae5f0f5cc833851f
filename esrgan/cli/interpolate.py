"""`esrgan interpolate PSNR_MODEL GAN_MODEL --alpha A -o OUT`: network interpolation written to a file."""

from __future__ import annotations

import argparse
from pathlib import Path

from esrgan.cli.options import add_force


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("psnr_model", metavar="PSNR_MODEL", help="PSNR-oriented checkpoint (alpha = 0)")
    parser.add_argument(
        "gan_model", metavar="GAN_MODEL", help="GAN checkpoint fine-tuned from it (alpha = 1)"
    )
    parser.add_argument(
        "--alpha", required=True, help="weight of the GAN model in [0, 1]: (1 - alpha) * PSNR + alpha * GAN"
    )
    parser.add_argument(
        "-o", "--output", required=True, help="output file: .pth (BasicSR keys) or .safetensors"
    )
    add_force(parser, "overwrite OUTPUT if it exists")


def run(args: argparse.Namespace) -> int:
    from esrgan.errors import ESRGANError
    from esrgan.inference.interpolation import interpolate, validate_alpha
    from esrgan.models.loading import check_save_suffix, save_model

    alpha = validate_alpha(args.alpha)
    out = Path(args.output)
    check_save_suffix(out)
    for source in (args.psnr_model, args.gan_model):
        if out.resolve() == Path(source).resolve():
            raise ESRGANError(f"output {out} would overwrite the input model {source}")
    if out.exists() and not args.force:
        raise ESRGANError(f"{out} exists; pass --force to overwrite")
    blend = interpolate(args.psnr_model, args.gan_model, alpha)
    save_model(blend, out, metadata=blend.metadata)
    print(f"wrote {out}: {1 - alpha:g} x {args.psnr_model} + {alpha:g} x {args.gan_model}")
    return 0
