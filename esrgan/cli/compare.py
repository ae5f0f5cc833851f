"""`esrgan compare --models A B C --hr DIR -o REPORT`: crop grid of several models (paper Fig. 7/8).

REPORT gets `compare.png` (the grid), `index.html` (the same crops as files in `crops/`, with a
table of averages), `compare.csv` (averages), `per_image.csv` and `compare.json`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="+", required=True, metavar="MODEL", help="checkpoints to compare")
    parser.add_argument("--labels", nargs="+", help="a name per model (default: the file names)")
    parser.add_argument("--hr", required=True, metavar="DIR", help="folder of ground-truth images")
    parser.add_argument("--lr", metavar="DIR", help="folder of LR inputs (default: MATLAB bicubic of --hr)")
    parser.add_argument("-o", "--output", required=True, metavar="REPORT", help="report folder")
    parser.add_argument(
        "--crop", metavar="L,T,SIZE", help="crop in HR pixels (default: most detailed square)"
    )
    parser.add_argument("--crop-size", type=int, default=128, help="size of the automatic crop (default 128)")
    parser.add_argument("--grid-images", type=int, default=4, help="images shown in the grid (default 4)")
    parser.add_argument("--ma-model", metavar="PATH", help="Ma et al.'s model: show the perceptual index")
    parser.add_argument("--no-niqe", action="store_true", help="skip NIQE (images under 2 blocks of 96x96)")
    parser.add_argument(
        "--back-projection", type=int, default=0, metavar="N", help="back-projection iterations"
    )
    parser.add_argument("--ensemble", action="store_true", help="x8 self-ensemble")
    parser.add_argument(
        "--tile", type=int, help="run the models in tiles of this many LR pixels (default: whole)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from esrgan.analysis.compare import compare_models, plot_grid
    from esrgan.analysis.report import (
        esc,
        html_figure,
        html_page,
        html_table,
        parse_crop,
        prepare_output_dir,
        write_csv,
        write_json,
        write_png,
        write_text,
    )
    from esrgan.analysis.sweep import safe_name
    from esrgan.errors import ESRGANError

    labels = args.labels or [Path(m).stem for m in args.models]
    if len(labels) != len(args.models):
        raise ESRGANError(f"--labels gives {len(labels)} names for {len(args.models)} models")
    if len(set(labels)) != len(labels):
        raise ESRGANError(f"model labels must be distinct, got {labels} (pass --labels)")
    if args.back_projection < 0:
        raise ESRGANError(f"--back-projection must be >= 0, got {args.back_projection}")
    if args.grid_images < 1:
        raise ESRGANError(f"--grid-images must be >= 1, got {args.grid_images}")
    crop = parse_crop(args.crop) if args.crop else None
    out = prepare_output_dir(args.output)
    result = compare_models(
        dict(zip(labels, args.models, strict=True)),
        args.hr,
        lr_dir=args.lr,
        crop=crop,
        crop_size=args.crop_size,
        grid_images=args.grid_images,
        use_niqe=not args.no_niqe,
        ma_model=args.ma_model,
        ensemble=args.ensemble,
        back_projection=args.back_projection,
        tile=args.tile,
        device=args.device,
        progress=lambda name: print(f"  {name}", flush=True),
    )
    perception = "pi" if args.ma_model else "niqe"
    plot_grid(result, out / "compare.png", perception=perception)
    averages = result.averages()
    write_csv(out / "compare.csv", averages)
    write_csv(out / "per_image.csv", result.per_image)
    write_json(
        out / "compare.json",
        {"hr_dir": str(args.hr), "scale": result.scale, "averages": averages, "per_image": result.per_image},
    )

    print(f"{'model':<24}{'PSNR-Y':>9}{'SSIM-Y':>9}{perception.upper():>9}")
    for row in averages:
        value = row.get(perception)
        print(
            f"{row['model']:<24}{row['psnr_y']:>9.3f}{row['ssim_y']:>9.4f}"
            + (f"{value:>9.3f}" if value is not None else f"{'-':>9}")
        )

    from esrgan.analysis.compare import caption
    from esrgan.analysis.report import draw_box, enlarge

    sections = [
        '<img src="compare.png" alt="crop grid" style="max-width: 100%">',
        "<h2>Averages over all images</h2>",
        '<p class="note">PSNR/SSIM on the Y channel with a '
        f"{result.scale}-pixel border shaved; {perception.upper()} lower is better.</p>",
        html_table(averages, ["model", "images", "psnr_y", "ssim_y", "rmse_y", perception]),
    ]
    for item in result.images:
        stem = safe_name(item.name)
        write_png(out / "crops" / f"{stem}_context.png", draw_box(item.context, item.box))
        figures = [html_figure(f"crops/{stem}_context.png", "crop location", width=240)]
        for index, label in enumerate(result.labels):
            name = f"{stem}_{index:02d}_{safe_name(label)}.png"
            write_png(out / "crops" / name, enlarge(item.crops[label], 160))
            figures.append(
                html_figure(f"crops/{name}", f"{label}\n{caption(item.metrics[label], perception)}")
            )
        sections.append(f"<h2>{esc(item.name)}</h2><div class='grid'>{''.join(figures)}</div>")
    write_text(out / "index.html", html_page("Model comparison", sections))
    print(f"wrote {out / 'compare.png'}, {out / 'index.html'}, compare.csv and compare.json")
    return 0
