"""Training step time with the Real-ESRGAN (and Gaussian) degradation against bicubic, same run.

Runs the real trainer (through bench_train's `run`) on the same model, batch and crop, once per
degradation, alternating the order over `--repeats` rounds, and prints the steady-state step time of
each and the ratio to bicubic (the goal for realesrgan on CPU: at most 1.3x). Then times the
degradation alone on one batch.

    python bench/bench_degrade.py [--iters 40] [--repeats 2] [--crop 64] [--batch 16] [--device auto]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_train import run as run_training

KINDS = ("bicubic", "realesrgan", "gaussian")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import torch

    from esrgan.data.degradations.config import RealESRGANDegradation
    from esrgan.data.degradations.pipeline import degradation_seed, realesrgan_degrade
    from esrgan.data.samples import materialize_sample_split

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    shape = [f"data.hr_crop={args.crop}", f"data.batch_size={args.batch}", "data.num_workers=0"]
    print(
        f"device {device}, {args.iters} iterations x {args.repeats} rounds, batch {args.batch}, "
        f"HR crop {args.crop}, RRDBNet 32f/3b, torch threads {torch.get_num_threads()}"
    )
    steps: dict[str, list[float]] = {k: [] for k in KINDS}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        train_dir, _ = materialize_sample_split(out / "data")
        for r in range(args.repeats):
            order = KINDS if r % 2 == 0 else KINDS[::-1]
            for kind in order:
                extra = [*shape, f"data.degradation={kind}"]
                speed = run_training(f"{kind}_{r}", out, train_dir, device, args.iters, extra)
                steps[kind].append(1.0 / speed)
    base = statistics.median(steps["bicubic"])
    for kind in KINDS:
        step = statistics.median(steps[kind])
        runs = len(steps[kind])
        print(f"{kind:>10}: {1000 * step:7.1f} ms/step (median of {runs}), {step / base:.2f}x bicubic")

    hr = torch.rand(args.batch, 3, args.crop, args.crop, device=device)
    seeds = [degradation_seed(0, n) for n in range(args.batch)]
    cfg = RealESRGANDegradation()
    realesrgan_degrade(hr, 4, cfg, seeds)  # warm-up
    start = time.perf_counter()
    for i in range(5):
        realesrgan_degrade(hr, 4, cfg, [degradation_seed(i, n) for n in range(args.batch)])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    per_batch = 1000 * (time.perf_counter() - start) / 5
    print(f"realesrgan degradation alone: {per_batch:.1f} ms per batch (random-noise images)")


if __name__ == "__main__":
    main()
