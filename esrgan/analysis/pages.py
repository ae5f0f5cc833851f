"""The report folders of `esrgan sweep` and `esrgan compare`: tables, plots, crops and index.html.

Each writer fills a folder it is given (the commands give a temporary one that is renamed when
complete, see `esrgan.atomic.atomic_directory`) and returns the terminal summary to print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from esrgan.analysis.compare import ComparisonResult, caption, plot_grid
from esrgan.analysis.report import (
    CropBox,
    cut,
    draw_box,
    enlarge,
    esc,
    fit_crop,
    html_figure,
    html_page,
    html_table,
    most_detailed_crop,
    write_csv,
    write_json,
    write_png,
    write_text,
)
from esrgan.analysis.sweep import SweepResult, plot_perception_distortion, safe_name
from esrgan.analysis.tables import metric_rows_text
from esrgan.evaluation import BenchmarkPair

ENLARGE_TO = 160  # px: small crops are enlarged (nearest) to at least this side in the pages


class SweepCrops:
    """`on_image` of the sweep: cuts the same crop from the HR image and every output of the first
    `max_images` images into `out/crops/`, and keeps what the page needs."""

    def __init__(self, out: Path, crop: CropBox | None, crop_size: int, max_images: int) -> None:
        self.out, self.crop, self.crop_size, self.max_images = out, crop, crop_size, max_images
        self.images: list[tuple[str, dict, dict]] = []  # (name, {key: file}, {key: metrics})

    def __call__(self, pair: BenchmarkPair, outputs: dict[tuple[str, float], Any], metrics: dict) -> None:
        if len(self.images) >= self.max_images:
            return
        h, w = pair.hr.shape[:2]
        box = fit_crop(self.crop, h, w) if self.crop else most_detailed_crop(pair.hr, self.crop_size)
        stem = safe_name(pair.name)
        files: dict[Any, str] = {"context": f"crops/{stem}_context.png", "hr": f"crops/{stem}_hr.png"}
        write_png(self.out / files["context"], draw_box(pair.hr, box))
        write_png(self.out / files["hr"], enlarge(cut(pair.hr, box), ENLARGE_TO))
        for (method, alpha), image in outputs.items():
            files[method, alpha] = f"crops/{stem}_{method}_{alpha:.2f}.png"
            write_png(self.out / files[method, alpha], enlarge(cut(image, box), ENLARGE_TO))
        self.images.append((pair.name, files, metrics))

    def sections(self, alphas: list[float], perception: str) -> list[str]:
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
                figures = [
                    html_figure(
                        files[method, alpha],
                        f"alpha {alpha:g}\n{caption(metrics[method, alpha], perception)}",
                    )
                    for alpha in alphas
                ]
                parts.append(f"<h3>{title}</h3><div class='grid'>{''.join(figures)}</div>")
        return parts


def write_sweep_report(result: SweepResult, out: Path, crops: SweepCrops) -> str:
    """sweep.csv/.json, per_image.csv, perception_distortion.png and index.html; the summary text."""
    rows = result.rows()
    perception = plot_perception_distortion(result, out / "perception_distortion.png")
    write_csv(out / "sweep.csv", rows)
    write_csv(out / "per_image.csv", result.per_image)
    write_json(out / "sweep.json", {"settings": result.settings, "alphas": result.alphas, "points": rows})
    columns = ["method", "alpha", "images", "rmse_y", "pirm_rmse_y", "psnr_y", "ssim_y", "niqe"]
    columns += ["pi"] if perception == "pi" else []
    settings = "".join(
        f"<tr><td class='label'>{esc(k)}</td><td class='label'>{esc(v)}</td></tr>"
        for k, v in result.settings.items()
    )
    sections = [
        '<p class="note">Network interpolation blends the weights of the two models; image interpolation '
        "blends their output images. Metrics on the Y channel with a "
        f"{result.scale}-pixel border shaved; lower RMSE and lower {perception.upper()} are better. "
        "The plot's RMSE is the set's, as PIRM 2018 computed it (pirm_rmse_y: sqrt of the mean "
        "per-image MSE); rmse_y is the mean of the per-image RMSEs.</p>",
        '<img src="perception_distortion.png" alt="perception-distortion plot" width="640">',
        "<h2>Averages</h2>",
        html_table(rows, columns),
        "<h2>Settings</h2>",
        f"<table>{settings}</table>",
        *crops.sections(result.alphas, perception),
    ]
    write_text(out / "index.html", html_page("Perception-distortion sweep", sections))
    keys = ["rmse_y", "pirm_rmse_y", "psnr_y", "ssim_y", perception]
    return metric_rows_text(rows, ["method", "alpha"], keys)


def write_compare_report(result: ComparisonResult, out: Path, perception: str) -> str:
    """compare.png, compare.csv/.json, per_image.csv, crops/ and index.html; the summary text."""
    plot_grid(result, out / "compare.png", perception=perception)
    averages = result.averages()
    write_csv(out / "compare.csv", averages)
    write_csv(out / "per_image.csv", result.per_image)
    write_json(
        out / "compare.json",
        {"hr_dir": result.hr_dir, "scale": result.scale, "averages": averages, "per_image": result.per_image},
    )
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
            write_png(out / "crops" / name, enlarge(item.crops[label], ENLARGE_TO))
            figures.append(
                html_figure(f"crops/{name}", f"{label}\n{caption(item.metrics[label], perception)}")
            )
        sections.append(f"<h2>{esc(item.name)}</h2><div class='grid'>{''.join(figures)}</div>")
    write_text(out / "index.html", html_page("Model comparison", sections))
    return metric_rows_text(averages, ["model"], ["psnr_y", "ssim_y", perception])
