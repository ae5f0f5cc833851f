"""`esrgan sweep --psnr P --gan G --hr DIR -o REPORT`: the perception-distortion sweep as a report folder.

REPORT gets `sweep.csv` / `sweep.json` (averages per method and alpha), `per_image.csv`,
`perception_distortion.png` (paper Fig. 2 / Fig. 10, RMSE of the set as PIRM 2018) and `index.html`
with the same crop of each image at every alpha, network vs image interpolation, the crops as PNG
files in `crops/`. The folder appears only when the report is complete.
"""

from __future__ import annotations

import argparse

from esrgan.cli.options import add_back_projection, add_device, add_ensemble, add_force, add_tile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--psnr", required=True, metavar="MODEL", help="PSNR-oriented checkpoint (alpha = 0)")
    parser.add_argument("--gan", required=True, metavar="MODEL", help="GAN checkpoint (alpha = 1)")
    parser.add_argument("--hr", required=True, metavar="DIR", help="folder of ground-truth images")
    parser.add_argument("--lr", metavar="DIR", help="folder of LR inputs (default: MATLAB bicubic of --hr)")
    parser.add_argument(
        "--alphas", default="0:1:0.2", help="START:STOP:STEP, end included, or a list like 0,0.5,1 (0:1:0.2)"
    )
    parser.add_argument("-o", "--output", required=True, metavar="REPORT", help="report folder")
    add_force(parser, "replace an existing report folder")
    parser.add_argument(
        "--ma-model", metavar="PATH", help="Ma et al.'s model: adds the PIRM perceptual index"
    )
    parser.add_argument("--no-niqe", action="store_true", help="skip NIQE (images under 2 blocks of 96x96)")
    add_back_projection(parser)
    add_ensemble(parser)
    parser.add_argument(
        "--crop", metavar="L,T,SIZE", help="crop shown in the page, HR pixels (default: auto)"
    )
    parser.add_argument("--crop-size", type=int, default=128, help="size of the automatic crop (default 128)")
    parser.add_argument("--html-images", type=int, default=4, help="images shown in the page (default 4)")
    add_tile(parser)
    add_device(parser)


def run(args: argparse.Namespace) -> int:
    from esrgan.analysis.pages import SweepCrops, write_sweep_report
    from esrgan.analysis.report import parse_crop
    from esrgan.analysis.sweep import parse_alphas, perception_distortion_sweep
    from esrgan.atomic import atomic_directory
    from esrgan.cli.options import forward_options

    alphas = parse_alphas(args.alphas)
    crop = parse_crop(args.crop) if args.crop else None
    with atomic_directory(args.output, replace=args.force) as out:
        crops = SweepCrops(out, crop, args.crop_size, args.html_images)
        result = perception_distortion_sweep(
            args.psnr,
            args.gan,
            args.hr,
            alphas=alphas,
            lr_dir=args.lr,
            use_niqe=not args.no_niqe,
            ma_model=args.ma_model,
            **forward_options(args),
            on_image=crops,
            progress=lambda name: print(f"  {name}", flush=True),
            need_perception=True,
        )
        summary = write_sweep_report(result, out, crops)
    print(summary)
    print(f"wrote {args.output}: index.html, perception_distortion.png, sweep.csv and sweep.json")
    return 0
