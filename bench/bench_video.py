"""Frames/s of `esrgan upscale clip.mp4` against the same frames through the image path.

    python bench/bench_video.py                # 480p (854x480), 3 frames, built-in x4 model
    python bench/bench_video.py --frames 6 --height 240

A clip of moving frames (skimage's astronaut, panned) with a tone is made with PyAV (H.264 +
AAC, in mp4). Then, in the same process and with the same loaded model:
  video   esrgan.inference.video_batch.run_video_job: decode -> upscale -> encode H.264 (crf 18),
          the audio copied; its decode and encode time are reported as shares of the total
  images  the frames written as PNGs first (not timed), then `esrgan upscale FOLDER -o OUT`'s
          job (esrgan.inference.batch.run_job): read PNG -> upscale -> write PNG, one by one
The ratio video/images in frames/s is what matters (>= 1: the video path is not slower). Both
run --reps times, alternating which goes first, best of each.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data, transform

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from esrgan.inference.batch import UpscaleJob, run_job  # noqa: E402
from esrgan.inference.video import VideoOptions  # noqa: E402
from esrgan.inference.video_batch import run_video_job  # noqa: E402
from tests.video_clips import make_clip  # noqa: E402


def panned_frames(count: int, height: int) -> list[np.ndarray]:
    width = round(height * 16 / 9 / 2) * 2
    photo = transform.resize(data.astronaut(), (height, height * 2), anti_aliasing=True)
    photo = (photo * 255).round().astype(np.uint8)
    step = max(1, (photo.shape[1] - width) // max(1, count))
    return [np.ascontiguousarray(photo[:, k * step : k * step + width]) for k in range(count)]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-video-"))
    try:
        frames = panned_frames(args.frames, args.height)
        clip = work / "clip.mp4"
        make_clip(clip, frames)
        folder = work / "frames"
        folder.mkdir()
        for k, rgb in enumerate(frames):
            Image.fromarray(rgb).save(folder / f"frame_{k:04d}.png")
        h, w = frames[0].shape[:2]
        print(f"{args.frames} frames of {w}x{h}, model {args.model}, torch {torch.__version__}, ")
        print(f"{cpu_name()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")

        best_video = best_images = float("inf")
        shares = (0.0, 0.0)
        for rep in range(args.reps):
            for path in ("video", "images") if rep % 2 == 0 else ("images", "video"):  # alternate order
                start = time.perf_counter()
                if path == "video":
                    job = UpscaleJob(inputs=[str(clip)], output=work / f"video{rep}", model=args.model)
                    v = run_video_job(job, VideoOptions()).videos[0]
                    seconds = time.perf_counter() - start
                    if seconds < best_video:
                        best_video = seconds
                        shares = (v.decode_seconds / v.seconds, v.encode_seconds / v.seconds)
                else:
                    job = UpscaleJob(inputs=[str(folder)], output=work / f"images{rep}", model=args.model)
                    run_job(job)
                    seconds = time.perf_counter() - start
                    best_images = min(best_images, seconds)
                print(f"rep {rep}: {path} {seconds:.1f} s", flush=True)
        video_fps, image_fps = args.frames / best_video, args.frames / best_images
        print(f"video path : {video_fps:.3f} frames/s (decode {shares[0]:.1%}, encode {shares[1]:.1%} of it)")
        print(f"image path : {image_fps:.3f} frames/s")
        print(f"ratio video/images: {video_fps / image_fps:.2f}x (model load included in both)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
