"""`esrgan quickstart`: train stage 1 and stage 2 on bundled photos, evaluate, write a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from esrgan.cli.options import add_force, pick


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", default="quickstart", help="report folder (default: ./quickstart)")
    parser.add_argument(
        "--minutes", type=float, default=15.0, help="time budget for the whole run (default 15)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    parser.add_argument(
        "--vgg-weights",
        help="VGG19 state dict for the perceptual loss (default: vgg19-dcbb9e9d.pth in the torch hub cache)",
    )
    parser.add_argument(
        "--random-vgg",
        action="store_true",
        help="use random VGG19 weights even if real ones exist (labelled in the report)",
    )
    add_force(parser, "replace a non-empty output folder")


def run(args: argparse.Namespace) -> int:
    from esrgan.errors import ESRGANError
    from esrgan.training.quickstart import run_quickstart

    if not 0 < args.minutes <= 24 * 60:
        raise ESRGANError(f"--minutes must be between 0 and 1440, got {args.minutes}")
    run_quickstart(
        Path(args.output),
        **pick(args, "minutes seed device vgg_weights force"),
        random_vgg=args.random_vgg or None,  # None: real VGG19 weights where they can be had
    )
    return 0
