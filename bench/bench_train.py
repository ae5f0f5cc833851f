"""Training throughput: the optimised path against a plain fp32 NCHW loop, same config, same run.

Runs the real trainer (`esrgan.training.trainer.train`) twice on a small stage-1 config over photos
from installed packages and prints iterations/s of each and their ratio. Optimised means
channels_last, and on CUDA bf16 autocast and DataLoader workers (+ `--compile` if asked).

    python bench/bench_train.py [--iters 60] [--device auto] [--compile] [--gan]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def run(name: str, out: Path, train_dir: Path, device: str, iters: int, extra: list[str]) -> float:
    from esrgan.training.config import load_config
    from esrgan.training.trainer import train

    over = [
        f"name={name}",
        f"output_dir={out}",
        f"device={device}",
        f"total_iters={iters}",
        "log_every=10",
        f"save_every={iters}",
        f"val_every={iters}",
        "generator.num_feat=32",
        "generator.num_block=3",
        "generator.num_grow=16",
        "generator.init=identity",
        f"data.train_hr={train_dir}",
        "data.hr_crop=64",
        "data.batch_size=16",
        "progress=false",
        "tensorboard=false",
        *extra,
    ]
    start = time.perf_counter()
    train(load_config(None, over))
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in (out / name / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["speed/it_per_s"] for r in records if "speed/it_per_s" in r][1:]  # drop warm-up window
    print(f"  {name}: {sum(speeds) / len(speeds):.2f} it/s (steady state), {wall:.1f} s wall")
    return sum(speeds) / len(speeds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--gan", action="store_true", help="benchmark a stage-2 step (random VGG) instead")
    args = parser.parse_args()

    import torch

    from esrgan.data.samples import materialize_sample_split

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        train_dir, _ = materialize_sample_split(out / "data")
        stage = (
            [
                "loss.gan_weight=5e-3",
                "loss.perceptual_weight=1",
                "loss.vgg_random_init=true",
                "loss.pixel_weight=1e-2",
            ]
            if args.gan
            else []
        )
        optimised = ["channels_last=true"]
        if device.startswith("cuda"):
            # Loader workers only pay off when the main process is not competing for the cores.
            optimised += ["amp=bf16", "data.num_workers=4"]
        if args.compile:
            optimised.append("compile=true")
        print(
            f"device {device}, {args.iters} iterations, batch 16, HR crop 64, RRDBNet 32f/3b"
            + (", GAN stage" if args.gan else "")
        )
        plain = run("plain", out, train_dir, device, args.iters, [*stage, "data.num_workers=0"])
        fast = run("optimised", out, train_dir, device, args.iters, [*stage, *optimised])
        print(f"optimised / plain: {fast / plain:.2f}x  ({' '.join(optimised)})")


if __name__ == "__main__":
    main()
