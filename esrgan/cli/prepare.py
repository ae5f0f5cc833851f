"""`esrgan prepare INPUT_DIR -o OUT_DIR`: cut large images into sub-images and make LR copies."""

from __future__ import annotations

import argparse
import sys

from esrgan.cli.options import add_force, pick


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input_dir", help="folder of HR images (e.g. DIV2K_train_HR)")
    parser.add_argument("-o", "--out", required=True, help="output folder: gets hr/ and lr_x<scale>/")
    parser.add_argument("--crop", type=int, default=480, help="sub-image size in HR pixels (default 480)")
    parser.add_argument("--step", type=int, default=240, help="distance between sub-images (default 240)")
    parser.add_argument(
        "--thresh-size",
        type=int,
        default=0,
        help="add a last sub-image flush with the right/bottom edge when more than this many pixels "
        "would be left out (default 0: cover every pixel)",
    )
    parser.add_argument("--scale", type=int, default=4, help="LR scale (default 4)")
    parser.add_argument(
        "--lr-scales",
        nargs="+",
        metavar="S",
        help="make LR copies at several scales, e.g. --lr-scales 2 3 4 or 2,3,4 (default: --scale)",
    )
    add_force(parser, "overwrite outputs that exist with other pixels")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from esrgan.data.prepare import prepare_subimages
    from esrgan.errors import ESRGANError

    lr_scales = None
    if args.lr_scales:
        try:
            lr_scales = [int(s) for item in args.lr_scales for s in item.split(",") if s.strip()]
        except ValueError:
            raise ESRGANError(f"--lr-scales takes integers, got {' '.join(args.lr_scales)}") from None
    summary = prepare_subimages(
        args.input_dir,
        args.out,
        **pick(args, "crop step thresh_size scale force"),
        lr_scales=lr_scales,
        progress=not args.quiet,
        report=lambda line: tqdm.write(f"esrgan prepare: {line}", file=sys.stderr),
    )
    print(summary.line())
    return 1 if summary.failed else 0
