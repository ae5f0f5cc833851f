"""`esrgan eval -m MODEL --hr DIR`: PSNR/SSIM/NIQE of models and bicubic, as SR papers compute them."""

from __future__ import annotations

import argparse
from pathlib import Path

from esrgan.cli.options import add_back_projection, add_device, add_ensemble, add_tile, non_negative_int, pick


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-m",
        "--model",
        action="append",
        required=True,
        metavar="MODEL",
        help="checkpoint to evaluate, or 'bicubic'; repeat for several (a bicubic row is always shown)",
    )
    parser.add_argument("--hr", required=True, help="folder of HR (ground-truth) images")
    parser.add_argument("--lr", help="folder of LR images (default: made from the HR with MATLAB's bicubic)")
    parser.add_argument(
        "--scale", type=int, default=4, help="upscaling factor; must match the models (default 4)"
    )
    parser.add_argument(
        "--metrics",
        default="psnr,ssim",
        help="comma-separated: psnr, ssim, rmse, niqe, pi (pi needs --ma-model) (default psnr,ssim)",
    )
    parser.add_argument(
        "--aggregate",
        choices=("mean", "pirm"),
        default="mean",
        help="set-level numbers: 'mean' of the per-image values (default), or 'pirm' as PIRM 2018: "
        "RMSE = sqrt of the mean per-image MSE (PSNR from that MSE), SSIM/NIQE/PI averaged",
    )
    parser.add_argument(
        "--crop-border", type=non_negative_int, help="pixels cropped at each edge (default: scale)"
    )
    parser.add_argument("--rgb", action="store_true", help="PSNR/SSIM/RMSE on RGB instead of the Y channel")
    parser.add_argument("--per-image", action="store_true", help="also print every image's values")
    parser.add_argument("--out", metavar="PATH_PREFIX", help="write PATH_PREFIX.json, .csv and .md")
    parser.add_argument("--ma-model", metavar="PATH", help="Ma et al.'s model, for the perceptual index (pi)")
    add_tile(parser)
    add_device(parser)
    parser.add_argument("--max-images", type=int, help="only the first N images (by name)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_back_projection(parser)
    add_ensemble(parser)


def run(args: argparse.Namespace) -> int:
    from esrgan import load_model
    from esrgan.analysis.tables import eval_text, write_eval_tables
    from esrgan.cli.options import resolve_device
    from esrgan.evaluation import BICUBIC, evaluate
    from esrgan.inference.wrapped import with_test_time_options

    device = resolve_device(args.device)
    models: dict = {}
    for spec in args.model:
        if spec.lower() == BICUBIC:
            models[BICUBIC] = BICUBIC
            continue
        models[_unique(Path(spec).stem, models)] = with_test_time_options(
            load_model(spec, device=device), ensemble=args.ensemble, back_projection=args.back_projection
        )
    result = evaluate(
        models,
        args.hr,
        args.lr,
        **pick(args, "scale metrics crop_border tile tile_overlap max_images ma_model"),
        y_channel=not args.rgb,
        device=device,
        progress=not args.quiet,
        aggregation=args.aggregate,
    )
    print(eval_text(result, per_image=args.per_image))
    if args.out:
        paths = write_eval_tables(result, args.out)
        print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _unique(name: str, taken: dict) -> str:
    """`name`, or `name-2`, `name-3`, ... when two checkpoints share a file name."""
    if name == "bicubic":
        name = "bicubic-model"
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = f"{name}-{k}", k + 1
    return candidate
