"""Training step time with the Real-ESRGAN (and Gaussian) degradation against bicubic, same run.

Runs the real trainer (through bench_train's `run`) on the same model, batch and crop, once per
degradation, alternating the order over `--repeats` rounds, and prints the steady-state step time of
each and the ratio to bicubic (the goal for realesrgan on CPU: at most 1.3x). Then the same
comparison interleaved step by step (robust to a shared machine's load drifting between runs).

    python bench/bench_degrade.py [--iters 40] [--repeats 2] [--crop 64] [--batch 16] [--device auto]
    python bench/bench_degrade.py --interleaved-only
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_train import run as run_training

KINDS = ("bicubic", "realesrgan", "bd")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--interleaved-only", action="store_true", help="skip the whole-trainer runs")
    args = parser.parse_args()

    import torch

    from esrgan.data.samples import materialize_sample_split

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if args.interleaved_only:
        interleaved(device, args.batch, args.crop, max(6, args.iters // 2))
        return
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

    interleaved(device, args.batch, args.crop, max(6, args.iters // 2))


def interleaved(device: str, batch: int, crop: int, rounds: int) -> None:
    """Shared machines drift between whole runs; this alternates the two step kinds one by one:
    an L1 step of the same RRDBNet on a bicubic batch, then the same with the realesrgan LR made first."""
    import torch

    from esrgan.data.degradations.config import RealESRGANDegradation
    from esrgan.data.degradations.pipeline import degradation_seed, realesrgan_degrade
    from esrgan.data.samples import sample_photos
    from esrgan.images.bicubic import bicubic_downscale
    from esrgan.images.image_io import load_rgb
    from esrgan.images.scaling import to_tensor
    from esrgan.models.rrdbnet import RRDBNet

    photo = load_rgb(sample_photos()[0])
    hr = torch.stack([to_tensor(photo[8 * i : 8 * i + crop, 8 * i : 8 * i + crop]) for i in range(batch)])
    bicubic = torch.stack(
        [
            to_tensor(bicubic_downscale(photo[8 * i : 8 * i + crop, 8 * i : 8 * i + crop], 4))
            for i in range(batch)
        ]
    )
    hr, bicubic = hr.to(device), bicubic.to(device)
    net = RRDBNet(3, 3, 4, num_feat=32, num_block=3, num_grow=16).to(device)
    opt = torch.optim.Adam(net.parameters(), 2e-4)
    cfg = RealESRGANDegradation()

    def step(lr: torch.Tensor) -> None:
        loss = (net(lr) - hr).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    def timed(fn) -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    plain, degraded, alone = [], [], []
    for r in range(rounds + 1):
        seeds = [degradation_seed(r, n) for n in range(batch)]
        a = timed(lambda: step(bicubic))
        d = timed(lambda s=seeds: realesrgan_degrade(hr, 4, cfg, s))
        b = timed(lambda s=seeds: step(realesrgan_degrade(hr, 4, cfg, s)))
        if r:  # the first round warms up
            plain.append(a)
            degraded.append(b)
            alone.append(d)
    p, q, d = (statistics.median(v) for v in (plain, degraded, alone))
    print(
        f"interleaved, {rounds} rounds: bicubic step {1000 * p:.1f} ms, realesrgan step {1000 * q:.1f} ms "
        f"({q / p:.2f}x), degradation alone {1000 * d:.1f} ms per batch"
    )


if __name__ == "__main__":
    main()
