"""`esrgan sweep --psnr P --gan G --hr DIR -o REPORT`: the perception-distortion sweep as a report folder.

REPORT gets `sweep.csv` / `sweep.json` (averages per method and alpha), `per_image.csv`,
`perception_distortion.png` (paper Fig. 2 / Fig. 10) and `index.html` with the same crop of each
image at every alpha, network vs image interpolation, the crops as PNG files in `crops/`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esrgan.analysis.pairs import BenchmarkPair


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--psnr", required=True, metavar="MODEL", help="PSNR-oriented checkpoint (alpha = 0)")
    parser.add_argument("--gan", required=True, metavar="MODEL", help="GAN checkpoint (alpha = 1)")
    parser.add_argument("--hr", required=True, metavar="DIR", help="folder of ground-truth images")
    parser.add_argument("--lr", metavar="DIR", help="folder of LR inputs (default: MATLAB bicubic of --hr)")
    parser.add_argument(
        "--alphas", default="0:1:0.2", help="START:STOP:STEP, end included, or a list like 0,0.5,1 (0:1:0.2)"
    )
    parser.add_argument("-o", "--output", required=True, metavar="REPORT", help="report folder")
    parser.add_argument(
        "--ma-model", metavar="PATH", help="Ma et al.'s model: adds the PIRM perceptual index"
    )
    parser.add_argument("--no-niqe", action="store_true", help="skip NIQE (images under 2 blocks of 96x96)")
    parser.add_argument(
        "--back-projection", type=int, default=0, metavar="N", help="back-projection iterations"
    )
    parser.add_argument("--ensemble", action="store_true", help="x8 self-ensemble for every forward pass")
    parser.add_argument(
        "--crop", metavar="L,T,SIZE", help="crop shown in the page, HR pixels (default: auto)"
    )
    parser.add_argument("--crop-size", type=int, default=128, help="size of the automatic crop (default 128)")
    parser.add_argument("--html-images", type=int, default=4, help="images shown in the page (default 4)")
    parser.add_argument(
        "--tile", type=int, help="run the models in tiles of this many LR pixels (default: whole)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")


def run(args: argparse.Namespace) -> int:
    from esrgan.analysis.report import (
        html_page,
        html_table,
        prepare_output_dir,
        write_csv,
        write_json,
        write_text,
    )
    from esrgan.analysis.sweep import parse_alphas, perception_distortion_sweep, plot_perception_distortion
    from esrgan.errors import ESRGANError

    alphas = parse_alphas(args.alphas)
    if args.back_projection < 0:
        raise ESRGANError(f"--back-projection must be >= 0, got {args.back_projection}")
    if args.no_niqe and not args.ma_model:
        raise ESRGANError("--no-niqe leaves no perceptual score to plot; drop it or give --ma-model")
    out = prepare_output_dir(args.output)
    crops = CropWriter(out, args.crop, args.crop_size, args.html_images)
    result = perception_distortion_sweep(
        args.psnr,
        args.gan,
        args.hr,
        alphas=alphas,
        lr_dir=args.lr,
        use_niqe=not args.no_niqe,
        ma_model=args.ma_model,
        ensemble=args.ensemble,
        back_projection=args.back_projection,
        tile=args.tile,
        device=args.device,
        on_image=crops,
        progress=lambda name: print(f"  {name}", flush=True),
    )
    rows = result.rows()
    write_csv(out / "sweep.csv", rows)
    write_csv(out / "per_image.csv", result.per_image)
    write_json(out / "sweep.json", {"settings": result.settings, "alphas": result.alphas, "points": rows})
    perception = plot_perception_distortion(result, out / "perception_distortion.png")

    columns = ["method", "alpha", "images", "rmse_y", "psnr_y", "ssim_y", "niqe"] + (
        ["pi"] if perception == "pi" else []
    )
    print(f"{'method':<10}{'alpha':>7}{'RMSE-Y':>9}{'PSNR-Y':>9}{'SSIM-Y':>9}{perception.upper():>9}")
    for p in result.points:
        alpha = "" if p.alpha is None else f"{p.alpha:g}"
        score = getattr(p, perception)
        print(f"{p.method:<10}{alpha:>7}{p.rmse_y:>9.3f}{p.psnr_y:>9.3f}{p.ssim_y:>9.4f}{score:>9.3f}")

    settings = "".join(
        f"<tr><td class='label'>{k}</td><td class='label'>{v}</td></tr>" for k, v in result.settings.items()
    )
    sections = [
        '<p class="note">Network interpolation blends the weights of the two models; image interpolation '
        "blends their output images. Metrics on the Y channel with a "
        f"{result.scale}-pixel border shaved; lower RMSE and lower {perception.upper()} are better.</p>",
        '<img src="perception_distortion.png" alt="perception-distortion plot" width="640">',
        "<h2>Averages</h2>",
        html_table(rows, columns),
        "<h2>Settings</h2>",
        f"<table>{settings}</table>",
        *crops.sections(result.alphas, perception),
    ]
    write_text(out / "index.html", html_page("Perception-distortion sweep", sections))
    print(f"wrote {out / 'index.html'}, {out / 'perception_distortion.png'}, sweep.csv and sweep.json")
    return 0


class CropWriter:
    """Cuts the same crop from the HR image and every output of the first images; builds their HTML."""

    def __init__(self, out: Path, crop: str | None, crop_size: int, max_images: int) -> None:
        from esrgan.analysis.report import parse_crop

        self.out = out
        self.crop = parse_crop(crop) if crop else None
        self.crop_size = crop_size
        self.max_images = max_images
        self.images: list[tuple[str, dict, dict]] = []  # (name, {key: file}, {key: metrics})

    def __call__(self, pair: BenchmarkPair, outputs: dict[tuple[str, float], Any], metrics: dict) -> None:
        from esrgan.analysis.report import cut, draw_box, enlarge, fit_crop, most_detailed_crop, write_png
        from esrgan.analysis.sweep import safe_name

        if len(self.images) >= self.max_images:
            return
        h, w = pair.hr.shape[:2]
        box = fit_crop(self.crop, h, w) if self.crop else most_detailed_crop(pair.hr, self.crop_size)
        stem = safe_name(pair.name)
        folder = self.out / "crops"
        files = {"context": f"crops/{stem}_context.png", "hr": f"crops/{stem}_hr.png"}
        write_png(folder / f"{stem}_context.png", draw_box(pair.hr, box))
        write_png(folder / f"{stem}_hr.png", enlarge(cut(pair.hr, box), 160))
        for (method, alpha), image in outputs.items():
            name = f"{stem}_{method}_{alpha:.2f}.png"
            write_png(folder / name, enlarge(cut(image, box), 160))
            files[method, alpha] = f"crops/{name}"
        self.images.append((pair.name, files, metrics))

    def sections(self, alphas: list[float], perception: str) -> list[str]:
        from esrgan.analysis.report import esc, html_figure

        parts = []
        for name, files, metrics in self.images:
            parts.append(f"<h2>{esc(name)}</h2>")
            parts.append(
                '<div class="grid">'
                + html_figure(files["context"], "crop location", width=240)
                + html_figure(files["hr"], "ground truth")
                + "</div>"
            )
            for method, title in (("network", "network interpolation"), ("image", "image interpolation")):
                figures = []
                for alpha in alphas:
                    m = metrics[method, alpha]
                    score = m.get(perception)
                    caption = f"alpha {alpha:g}\n{m['psnr_y']:.2f} dB / {perception.upper()} " + (
                        "-" if score is None else f"{score:.2f}"
                    )
                    figures.append(html_figure(files[method, alpha], caption))
                parts.append(f"<h3>{title}</h3><div class='grid'>{''.join(figures)}</div>")
        return parts
