"""`esrgan compare --models A B C --hr DIR -o REPORT`: crop grid of several models (paper Fig. 7/8).

REPORT gets `compare.png` (the grid), `index.html` (the same crops as files in `crops/`, with a
table of averages), `compare.csv` (averages), `per_image.csv` and `compare.json`. The folder
appears only when the report is complete.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from esrgan.cli.options import add_back_projection, add_device, add_ensemble, add_force, add_tile, pick


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="+", required=True, metavar="MODEL", help="checkpoints to compare")
    parser.add_argument("--labels", nargs="+", help="a name per model (default: the file names)")
    parser.add_argument("--hr", required=True, metavar="DIR", help="folder of ground-truth images")
    parser.add_argument("--lr", metavar="DIR", help="folder of LR inputs (default: MATLAB bicubic of --hr)")
    parser.add_argument("-o", "--output", required=True, metavar="REPORT", help="report folder")
    add_force(parser, "replace an existing report folder")
    parser.add_argument(
        "--crop",
        metavar="L,T,SIZE",
        help="crop in HR pixels, inside every image (default: most detailed square)",
    )
    parser.add_argument("--crop-size", type=int, default=128, help="size of the automatic crop (default 128)")
    parser.add_argument("--grid-images", type=int, default=4, help="images shown in the grid (default 4)")
    parser.add_argument("--ma-model", metavar="PATH", help="Ma et al.'s model: show the perceptual index")
    parser.add_argument("--no-niqe", action="store_true", help="skip NIQE (images under 2 blocks of 96x96)")
    add_back_projection(parser)
    add_ensemble(parser)
    add_tile(parser)
    add_device(parser)


def run(args: argparse.Namespace) -> int:
    from esrgan.analysis.compare import compare_models
    from esrgan.analysis.pages import write_compare_report
    from esrgan.analysis.report import parse_crop
    from esrgan.atomic import atomic_directory
    from esrgan.cli.options import forward_options
    from esrgan.errors import ESRGANError

    labels = args.labels or [Path(m).stem for m in args.models]
    if len(labels) != len(args.models):
        raise ESRGANError(f"--labels gives {len(labels)} names for {len(args.models)} models")
    if len(set(labels)) != len(labels):
        raise ESRGANError(f"model labels must be distinct, got {labels} (pass --labels)")
    if args.grid_images < 1:
        raise ESRGANError(f"--grid-images must be >= 1, got {args.grid_images}")
    with atomic_directory(args.output, replace=args.force) as out:
        result = compare_models(
            dict(zip(labels, args.models, strict=True)),
            args.hr,
            lr_dir=args.lr,
            crop=parse_crop(args.crop) if args.crop else None,
            **pick(args, "crop_size grid_images ma_model"),
            use_niqe=not args.no_niqe,
            **forward_options(args),
            progress=lambda name: print(f"  {name}", flush=True),
        )
        summary = write_compare_report(result, out, "pi" if args.ma_model else "niqe")
    print(summary)
    print(f"wrote {args.output}: compare.png, index.html, compare.csv and compare.json")
    return 0
