"""`esrgan eval -m MODEL --hr DIR`: PSNR/SSIM/NIQE of models and bicubic, as SR papers compute them."""

from __future__ import annotations

import argparse


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
        "--metrics", default="psnr,ssim", help="comma-separated: psnr, ssim, rmse, niqe (default psnr,ssim)"
    )
    parser.add_argument(
        "--crop-border", type=int, default=None, help="pixels cropped at each edge (default: scale)"
    )
    parser.add_argument("--rgb", action="store_true", help="PSNR/SSIM/RMSE on RGB instead of the Y channel")
    parser.add_argument("--per-image", action="store_true", help="also print every image's values")
    parser.add_argument("--out", metavar="PATH_PREFIX", help="write PATH_PREFIX.json, .csv and .md")
    parser.add_argument("--tile", default="auto", help="tile size in LR pixels, 'auto', or 0 for none")
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if available)"
    )
    parser.add_argument("--max-images", type=int, default=None, help="only the first N images (by name)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--back-projection", type=int, default=0, metavar="N", help="back-projection iterations"
    )
    parser.add_argument(
        "--ensemble", action="store_true", help="x8 self-ensemble (flips/rotations, 8x slower)"
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from esrgan import load_model
    from esrgan.errors import ESRGANError
    from esrgan.evaluation import BICUBIC, evaluate
    from esrgan.inference.wrapped import with_test_time_options

    if args.back_projection < 0:
        raise ESRGANError(f"--back-projection must be >= 0, got {args.back_projection}")

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    tile: int | str | None = args.tile
    if tile != "auto":
        try:
            tile = int(tile) or None
        except ValueError:
            raise ESRGANError(f"--tile takes a number of pixels, 'auto' or 0, not {args.tile!r}") from None

    models: dict[str, torch.nn.Module | str] = {}
    for spec in args.model:
        if spec.lower() == BICUBIC:
            models[BICUBIC] = BICUBIC
            continue
        name = _unique(Path(spec).stem, models)
        models[name] = with_test_time_options(
            load_model(spec, device=device), ensemble=args.ensemble, back_projection=args.back_projection
        )

    result = evaluate(
        models,
        args.hr,
        args.lr,
        scale=args.scale,
        metrics=args.metrics,
        crop_border=args.crop_border,
        y_channel=not args.rgb,
        tile=tile,
        device=device,
        progress=not args.quiet,
        max_images=args.max_images,
    )
    print(result.format_table(per_image=args.per_image))
    if args.out:
        paths = result.write(args.out)
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
