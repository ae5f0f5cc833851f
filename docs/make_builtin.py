"""Package a `builtin_x4` training run as the built-in model, with its held-out scores and a crop figure.

    esrgan train configs/builtin_x4.yaml                      # the training (CPU hours)
    PYTHONPATH=. python docs/make_builtin.py runs/builtin_x4  # this script

Writes `esrgan/weights/builtin_x4.safetensors` (the EMA weights, with metadata naming the training
data, iterations, config and held-out scores: the keys `esrgan.models.hub` documents),
`docs/builtin_scores.json` and `docs/builtin_crop.png`. The scores are `esrgan eval`'s: PSNR-Y /
SSIM-Y with a 4-pixel shave and NIQE, on the held-out sample photos against MATLAB-bicubic LR;
`esrgan eval -m builtin -m bicubic --hr RUN/../sample_photos/val --metrics psnr,ssim,niqe` prints
the same table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

import esrgan
from esrgan.data.samples import DEFAULT_HOLDOUT
from esrgan.evaluation import evaluate

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "esrgan" / "weights" / "builtin_x4.safetensors"
SAMPLE_FOLDERS = {"train_hr": "samples:train", "val_hr": "samples:val"}


def main(run_dir: Path) -> None:
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    val_dir = Path(config["data"]["val_hr"])
    train_dir = Path(config["data"]["train_hr"])
    final = run_dir / "models" / "net_g_final.pth"
    model = esrgan.load_model(final)  # params_ema, as training saved it
    result = evaluate(
        {"builtin": model}, val_dir, metrics=("psnr", "ssim", "niqe"), tile="auto", progress=True
    )
    scores = {
        row: {
            "set_mean": result.mean(row),
            "per_image": {image: result.values[row][image] for image in result.images},
        }
        for row in result.models
    }
    iterations = int(config["total_iters"])
    metadata = {
        "name": "builtin",
        "training_data": {
            "train": sorted(p.stem for p in train_dir.glob("*.png")),
            "heldout": sorted(p.stem for p in val_dir.glob("*.png")),
            "sources": "scikit-image skimage/data, scikit-learn sklearn/datasets/images, matplotlib "
            "sample_data, Debian mate-backgrounds backgrounds/mate/nature",
            "degradation": "MATLAB bicubic x1/4",
        },
        "iterations": iterations,
        # The folders as configs/builtin_x4.yaml names them (the same fixed split of the sample photos).
        "config": {**config, "data": {**config["data"], **SAMPLE_FOLDERS}},
        "heldout_scores": {
            "protocol": "Y channel, 4-pixel shave, MATLAB-bicubic LR; NIQE on the full image",
            **{row: scores[row]["set_mean"] for row in scores},
        },
        "license": "Apache-2.0",
    }
    esrgan.save_model(model, TARGET, metadata=metadata)
    (ROOT / "docs" / "builtin_scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    figure = ROOT / "docs" / "builtin_crop.png"
    crop_figure(esrgan.load_model(TARGET), val_dir / f"{DEFAULT_HOLDOUT[0]}.png", figure)
    for row in result.models:
        print(row, {k: None if v is None else round(v, 4) for k, v in result.mean(row).items()})
    print(f"wrote {TARGET} ({TARGET.stat().st_size / 1e6:.1f} MB)")


def crop_figure(model, hr_path: Path, out: Path, box: tuple[int, int, int] = (96, 160, 128)) -> None:
    """HR crop | bicubic x4 | built-in x4, from the MATLAB-bicubic LR of the whole photo."""
    from esrgan.images.image_io import load_rgb

    hr = load_rgb(hr_path)
    h, w = (hr.shape[0] // 4) * 4, (hr.shape[1] // 4) * 4
    hr = hr[:h, :w]
    lr = np.clip(np.rint(esrgan.imresize(hr.astype(np.float64), 1 / 4)), 0, 255).astype(np.uint8)
    bic = np.clip(np.rint(esrgan.imresize(lr.astype(np.float64), 4)), 0, 255).astype(np.uint8)
    sr = esrgan.upscale(model, lr)
    top, left, size = box
    panels = [("HR", hr), ("bicubic x4", bic), ("builtin x4", sr)]
    zoom, label = 2, 20
    sheet = Image.new("RGB", (3 * size * zoom, size * zoom + label), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, image) in enumerate(panels):
        crop = Image.fromarray(np.ascontiguousarray(image[top : top + size, left : left + size]))
        big = crop.resize((size * zoom, size * zoom), Image.Resampling.NEAREST)
        sheet.paste(big, (i * size * zoom, label))
        draw.text((i * size * zoom + 4, 4), name, fill="black")
    sheet.save(out, optimize=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
