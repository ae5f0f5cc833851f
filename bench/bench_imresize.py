"""Time MATLAB-exact bicubic x1/4 (esrgan.imresize) against Pillow's C resize on a 2040x1356 RGB photo.

    python bench/bench_imresize.py [--repeats 10] [--scale 0.25]

The photo is skimage's astronaut resized to DIV2K's typical 2040x1356 with Pillow. Pillow is timed
on the uint8 RGB image (its fast path) and on float32 'F' images, one per channel. Our NumPy path is
timed on float32 and uint8, the torch path on a float32 NCHW tensor (large CPU tensors without
a gradient take the NumPy route; with one, the dense differentiable matmuls); the first (cold) call, which
builds and caches the weights, is reported separately. Times are medians over the repeats, the
candidates taking turns. NumPy's BLAS and torch use all cores while Pillow uses one; on a shared,
busy machine multi-threaded BLAS can stall, so compare with OPENBLAS_NUM_THREADS=1 as well.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image
from skimage import data

from esrgan import imresize

WIDTH, HEIGHT = 2040, 1356


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per candidate; the candidates take turns so a busy machine slows all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--scale", type=float, default=0.25)
    args = parser.parse_args()

    photo = Image.fromarray(data.astronaut()).resize((WIDTH, HEIGHT), Image.BICUBIC)
    rgb8 = np.asarray(photo)
    rgbf = rgb8.astype(np.float32) / 255
    tensor = torch.from_numpy(rgbf.transpose(2, 0, 1).copy())[None]
    tensor_grad = tensor.clone().requires_grad_()
    out_h, out_w = int(np.ceil(HEIGHT * args.scale)), int(np.ceil(WIDTH * args.scale))
    planes = [Image.fromarray(rgbf[:, :, c], mode="F") for c in range(3)]

    start = time.perf_counter()
    ours = imresize(rgbf, args.scale)
    cold = time.perf_counter() - start
    timings = {
        "pillow uint8 RGB": lambda: photo.resize((out_w, out_h), Image.BICUBIC),
        "pillow float32 F x3": lambda: [p.resize((out_w, out_h), Image.BICUBIC) for p in planes],
        "esrgan numpy float32": lambda: imresize(rgbf, args.scale),
        "esrgan numpy uint8": lambda: imresize(rgb8, args.scale),
        "esrgan torch float32 (cpu)": lambda: imresize(tensor, args.scale),
    }
    if args.scale <= 1:  # the dense, differentiable route takes seconds for large upscales on a CPU
        timings["esrgan torch float32 (cpu, grad: dense)"] = lambda: imresize(tensor_grad, args.scale)
    for fn in timings.values():
        fn()  # warm caches
    results = interleaved_medians(timings, args.repeats)

    exact = imresize(torch.from_numpy(rgbf.astype(np.float64).transpose(2, 0, 1).copy()), args.scale)
    max_err = float(np.abs(ours - exact.numpy().transpose(1, 2, 0)).max())

    print(f"x{args.scale:g} of a {WIDTH}x{HEIGHT} RGB photo -> {out_w}x{out_h}, median of {args.repeats}")
    print(f"  {'esrgan numpy float32 (cold, builds weights)':44s} {cold * 1e3:8.2f} ms")
    for name, seconds in results.items():
        print(f"  {name:44s} {seconds * 1e3:8.2f} ms")
    pillow = results["pillow uint8 RGB"]
    for name in list(results)[2:]:
        print(f"  ratio {name} / pillow uint8 RGB: {results[name] / pillow:.2f}")
    ratio_f = results["esrgan numpy float32"] / results["pillow float32 F x3"]
    print(f"  ratio esrgan numpy float32 / pillow float32 F x3: {ratio_f:.2f}")
    print(f"  float32 result vs float64 torch path: max abs diff {max_err:.2e} (pixel range 0..1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
