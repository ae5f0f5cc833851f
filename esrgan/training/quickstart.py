"""`esrgan quickstart`: the whole ESRGAN recipe, small enough for a CPU in about 15 minutes.

1. Real photos that ship inside installed packages are split into training and held-out sets.
2. Stage 1 trains a small RRDBNet with L1 (PSNR-oriented); stage 2 fine-tunes it with the
   perceptual + relativistic GAN + L1 loss, exactly the loop of `esrgan train`.
3. Bicubic, the stage-1 and the stage-2 models are evaluated on the held-out photos, and a report
   folder gets the metrics table, a crop grid, the loss curves and both checkpoints.

Short budgets are a trap (SPEC section 5): the paper's recipe for 1000 CPU iterations ends below
bicubic. What makes this run beat bicubic on held-out photos: the generator starts as smooth
upscaling (`generator.init=identity`), a higher learning rate with cosine decay, small crops and an
EMA with warm-up. Iteration counts are set from a measured step time so the run fits the budget.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from esrgan.analysis.compare import compare_models, plot_grid
from esrgan.analysis.report import (
    html_figure,
    html_page,
    html_table,
    new_figure,
    save_figure,
    write_json,
    write_text,
)
from esrgan.data.samples import materialize_sample_split
from esrgan.errors import ESRGANError
from esrgan.losses.vgg19 import load_vgg19_weights
from esrgan.models.loading import load_model
from esrgan.training import trainer  # trainer.train looked up at call time (tests wrap it)
from esrgan.training.config import TrainConfig, load_config


@dataclass(frozen=True)
class QuickstartPlan:
    minutes: float = 15.0
    stage1_share: float = 0.62  # of the budget; stage 2 gets stage2_share, the rest is evaluation
    stage2_share: float = 0.28
    num_feat: int = 32
    num_block: int = 3
    num_grow: int = 16
    min_iters: int = 20  # a multiple of 4
    max_iters: int = 20000
    step_seconds: float | None = None  # skip the timing of a few steps and assume this (tests)


# The two stages are these presets (README: presets table), with this run's folders, seed, device
# and model size put in. Read from the checkout (`pip install -e .`, as the README installs).
PRESETS = {1: "cpu_small_psnr.yaml", 2: "cpu_small_gan.yaml"}
PRESETS_DIR = Path(__file__).resolve().parents[2] / "configs"
STAGE_NAMES = {1: "stage1_psnr", 2: "stage2_gan"}


def stage_config(
    stage: int,
    out: Path,
    train_dir: Path,
    val_dir: Path,
    plan: QuickstartPlan,
    *,
    seed: int,
    device: str,
    vgg_weights: str | None = None,
    random_vgg: bool = False,
) -> TrainConfig:
    """Stage 1 or 2 of the quickstart: its preset file with this run's paths and model size."""
    path = PRESETS_DIR / PRESETS[stage]
    if not path.is_file():
        raise ESRGANError(f"quickstart reads its presets from the checkout's configs/: {path} is missing")
    runs = out / "runs"
    cfg = replace(load_config(path), name=STAGE_NAMES[stage], output_dir=str(runs), seed=seed, device=device)
    generator = replace(
        cfg.generator, num_feat=plan.num_feat, num_block=plan.num_block, num_grow=plan.num_grow
    )
    loss = cfg.loss
    if stage == 2:  # from the stage-1 run's final generator (trainer.py writes models/net_g_final.pth)
        pretrained = runs / STAGE_NAMES[1] / "models" / "net_g_final.pth"
        generator = replace(generator, pretrained=str(pretrained))
        loss = replace(loss, vgg_weights=vgg_weights or loss.vgg_weights, vgg_random_init=random_vgg)
    data = replace(cfg.data, train_hr=str(train_dir), val_hr=str(val_dir))
    return replace(cfg, generator=generator, data=data, loss=loss)


def measure_step_seconds(cfg: TrainConfig, steps: int = 3) -> float:
    """Seconds per iteration of this config: the median of `steps` real `train()` iterations after a
    warm-up one, from that run's own `speed/it_per_s` records (its log lines kept off the console)."""
    with tempfile.TemporaryDirectory(prefix="esrgan-timing-") as tmp:
        short = {"total_iters": steps + 1, "save_every": steps + 1, "log_every": 1, "keep_last": 1}
        quiet = {"tensorboard": False, "progress": False, "data": replace(cfg.data, val_hr=None)}
        run_cfg = replace(cfg, output_dir=tmp, name="timing", **short, **quiet)
        with contextlib.redirect_stderr(io.StringIO()):
            trainer.train(run_cfg)
        records = _records(Path(tmp) / "timing" / "metrics.jsonl")
    speeds = sorted(r["speed/it_per_s"] for r in records[1:] if r.get("speed/it_per_s"))
    if not speeds:
        raise ESRGANError("could not time the training step (no speed records)")
    return 1.0 / speeds[len(speeds) // 2]


def run_quickstart(
    out: Path,
    *,
    minutes: float = 15.0,
    seed: int = 0,
    device: str = "cpu",
    vgg_weights: str | None = None,
    random_vgg: bool | None = None,
    force: bool = False,
    plan: QuickstartPlan | None = None,
) -> Path:
    plan = plan or QuickstartPlan(minutes=minutes)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ESRGANError(f"{out} is not empty; pass --force to replace it, or choose another -o")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    def say(message: str) -> None:
        print(message, flush=True)
        with open(out / "quickstart.log", "a", encoding="utf-8") as f:
            f.write(message + "\n")

    say(f"esrgan quickstart: budget {plan.minutes:g} min, report in {out}")

    train_dir, val_dir = materialize_sample_split(out / "data")
    n_train, n_val = len(list(train_dir.iterdir())), len(list(val_dir.iterdir()))
    say(f"data: {n_train} training photos, {n_val} held-out photos (from installed packages)")

    if random_vgg is None:
        try:  # real VGG19 weights from a path, the hub cache or a download
            load_vgg19_weights(vgg_weights)
            random_vgg = False
        except ESRGANError as exc:
            random_vgg = True
            say(
                f"VGG19 weights not available ({str(exc).split(';')[0]}); stage 2 uses the explicit "
                "random-VGG option: its 'perceptual' loss is NOT a real perceptual loss"
            )
    budgets = {1: plan.minutes * 60 * plan.stage1_share, 2: plan.minutes * 60 * plan.stage2_share}
    finals = {}
    vgg = {"vgg_weights": vgg_weights, "random_vgg": random_vgg}
    for stage in (1, 2):
        cfg = stage_config(stage, out, train_dir, val_dir, plan, seed=seed, device=device, **vgg)
        step = plan.step_seconds or measure_step_seconds(cfg)
        iters = int(min(plan.max_iters, max(plan.min_iters, budgets[stage] / (step * 1.1))))
        iters = max(4, iters - iters % 4)  # validate and save at quarters, the last at the end
        cfg = replace(cfg, total_iters=iters, val_every=iters // 4, save_every=iters // 4)
        say(f"stage {stage}: {iters} iterations (~{step:.2f} s each, measured)")
        finals[stage] = trainer.train(cfg)

    models_dir = out / "models"
    models_dir.mkdir(exist_ok=True)
    psnr_path, gan_path = models_dir / "quickstart_psnr_x4.pth", models_dir / "quickstart_gan_x4.pth"
    shutil.copy2(finals[1], psnr_path)
    shutil.copy2(finals[2], gan_path)
    report = write_report(
        out, psnr_path, gan_path, val_dir, random_vgg=random_vgg, seconds=time.time() - started
    )
    say(f"done in {(time.time() - started) / 60:.1f} min: {report}")
    return report


def write_report(
    out: Path, psnr_path: Path, gan_path: Path, val_dir: Path, *, random_vgg: bool, seconds: float
) -> Path:
    """metrics table (bicubic vs PSNR vs GAN), crop grid PNG, loss curves, links to checkpoints."""
    labels = {"ESRGAN-PSNR (stage 1)": load_model(psnr_path), "ESRGAN-GAN (stage 2)": load_model(gan_path)}
    result = compare_models(labels, val_dir, crop_size=96, grid_images=3)
    rows = result.averages()
    write_json(
        out / "metrics.json",
        {"rows": rows, "per_image": result.per_image, "random_vgg": random_vgg, "seconds": seconds},
    )
    plot_grid(result, out / "crops.png")
    bicubic = next((r["psnr_y"] for r in rows if r["model"] == "bicubic"), None)
    plot_losses(out / "runs", out / "losses.png", bicubic_psnr=bicubic)

    columns = ["model", "psnr_y", "ssim_y", "niqe", "rmse_y"]
    shown = [{c: _fmt(r.get(c)) for c in columns} for r in rows if r["model"] != "ground truth"]
    md = ["# esrgan quickstart report", ""]
    if random_vgg:
        md += [
            "**Stage 2 used RANDOM VGG19 weights** (no `vgg19-dcbb9e9d.pth` was available): its "
            "'perceptual' term is not a real perceptual loss; expect GAN results unlike the paper's.",
            "",
        ]
    md += [
        f"Held-out photos: {len(result.per_image) // len(result.labels)}; x4; Y channel, 4-pixel border "
        "crop (PSNR/SSIM higher is better, NIQE lower is better).",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    md += ["| " + " | ".join(row.values()) + " |" for row in shown]
    md += [
        "",
        "![crops](crops.png)",
        "",
        "![losses](losses.png)",
        "",
        f"Checkpoints: `models/{psnr_path.name}`, `models/{gan_path.name}` "
        f"(try `esrgan upscale photo.png -m {psnr_path}` or `esrgan interpolate`).",
        f"Total time: {seconds / 60:.1f} min.",
    ]
    write_text(out / "report.md", "\n".join(md) + "\n")
    table = html_table(shown, columns)
    notices = ["Stage 2 used RANDOM VGG19 weights: not a real perceptual loss."] if random_vgg else []
    page = html_page(
        "esrgan quickstart",
        [table, html_figure("crops.png", "held-out crops"), html_figure("losses.png", "training curves")],
        notices=notices,
    )
    write_text(out / "report.html", page)
    print("\n".join(md[: md.index("![crops](crops.png)")]))
    return out / "report.md"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"
    return "-" if value is None else str(value)


def plot_losses(runs_dir: Path, path: Path, *, bicubic_psnr: float | None = None) -> None:
    """Stage 1 and stage 2 loss curves, and validation PSNR-Y over both stages (stage 2 after 1)."""
    stage1, stage2 = (_records(runs_dir / STAGE_NAMES[s] / "metrics.jsonl") for s in (1, 2))
    offset = max((r["iteration"] for r in stage1), default=0)
    fig = new_figure(10, 3.6)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    _curves(ax1, stage1, ["loss/pixel"])
    ax1.set_title("stage 1: L1")
    _curves(ax2, stage2, ["loss/perceptual", "loss/gan_g", "loss/d", "loss/pixel"])
    ax2.set_yscale("log")
    ax2.set_title("stage 2: weighted losses")
    _curves(ax3, stage1, ["val/psnr_y"], label="stage 1")
    _curves(ax3, stage2, ["val/psnr_y"], label="stage 2", offset=offset)
    if bicubic_psnr is not None:
        ax3.axhline(bicubic_psnr, color="grey", linestyle="--", label="bicubic")
    ax3.set_title("held-out PSNR-Y (dB)")
    for ax in (ax1, ax2, ax3):
        ax.set_xlabel("iteration")
        ax.legend(fontsize=7)
    save_figure(fig, path)


def _curves(ax, records: list[dict], keys: list[str], *, label: str | None = None, offset: int = 0) -> None:
    for key in keys:
        points = [(r["iteration"] + offset, r[key]) for r in records if key in r]
        if points:
            x, y = zip(*points, strict=True)
            ax.plot(x, y, marker="." if len(x) < 20 else None, label=label or key)


def _records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
