"""`esrgan upscale clip.mp4 -o OUT`: the image batch's checks, then each video through `upscale_video`.

Everything that can be known before the first frame is checked first, with one ESRGANError: a
file that is not a video, no video stream, a codec that cannot be decoded, no frame rate, an
output folder that cannot be written, an output that exists (unless --force / --skip-existing),
an output on an input. The model is loaded once for all videos.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esrgan.errors import ESRGANError
from esrgan.inference.batch import (
    Task,
    UpscaleJob,
    check_existing,
    check_not_inputs,
    check_options,
    check_output_folder,
    output_name,
    upscale_options,
)
from esrgan.inference.job_model import load_job_model, resolve_job_device
from esrgan.inference.video import VideoOptions, VideoResult, is_video_file, open_source, upscale_video
from esrgan.inference.video_io import default_container
from esrgan.models.descriptor import describe


@dataclass
class VideoBatchResult:
    videos: list[VideoResult] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # outputs that existed and were kept
    exit_code: int = 0

    def summary(self) -> str:
        kept = f", {len(self.skipped)} skipped (output exists)" if self.skipped else ""
        frames = sum(v.frames for v in self.videos)
        seconds = sum(v.seconds for v in self.videos)
        rate = f", {frames / seconds:.2f} frames/s" if seconds else ""
        where = ", ".join(str(v.target) for v in self.videos) or "nothing new"
        return f"upscaled {len(self.videos)} video(s), {frames} frames{rate}: {where}{kept}"


def is_video_job(inputs: list[str], fps: Any = None) -> bool:
    """Video files among the inputs, or frames with a frame rate; a mix with images is refused."""
    videos = [spec for spec in inputs if is_video_file(spec)]
    if videos and len(videos) != len(inputs):
        raise ESRGANError("upscale videos and images in separate runs (videos: " + ", ".join(videos) + ")")
    if videos and fps is not None:
        raise ESRGANError("--fps is for folders or globs of numbered frames; a video file has its own rate")
    return bool(videos) or fps is not None


def run_video_job(job: UpscaleJob, options: VideoOptions, *, progress: bool = False) -> VideoBatchResult:
    check_options(job)
    device, vulkan = resolve_job_device(job)
    frames_out = None if options.frames_out is None else Path(options.frames_out)
    if frames_out is not None and len(job.inputs) > 1:
        raise ESRGANError("--frames-out takes one video (or frame sequence) per run")
    outdir = Path(job.output) if frames_out is None else frames_out
    check_output_folder(outdir)
    sources = []  # probed now, reopened when their turn comes: bad inputs fail before any work
    for spec in job.inputs:
        opened = open_source(spec, options.fps)
        base = opened.path.name if opened.path.is_dir() or not opened.path.suffix else opened.path.stem
        sources.append((spec, base, _container(options, opened.others)))
        opened.close()

    model = load_job_model(job, device, vulkan)
    desc = describe(model)
    scale = job.outscale if job.outscale is not None else desc.scale
    tasks = []
    for spec, name, container in sources:
        if frames_out is not None:
            tasks.append(Task(Path(spec), frames_out, None, None))
            continue
        target = outdir / Path(output_name(Path(f"{name}.png"), scale, "png")).with_suffix(container)
        clash = next((t.source for t in tasks if t.target == target), None)
        if clash is not None:
            raise ESRGANError(
                f"{spec} and {clash} would both be written to {target}; upscale them into different "
                "folders or with --container"
            )
        tasks.append(Task(Path(spec), target, None, None))
    check_not_inputs(tasks, [Path(spec) for spec in job.inputs])
    result = VideoBatchResult()
    if frames_out is None:
        tasks, result.skipped = check_existing(tasks, job.existing)
    kw = upscale_options(job, vulkan or device)
    for task in tasks:
        target = None if frames_out is not None else task.target
        video = upscale_video(
            model, task.source, target, options=options, existing=job.existing, progress=progress, **kw
        )
        result.videos.append(video)
    return result


def _container(options: VideoOptions, others: list[Any]) -> str:
    """The output's extension: --container, or mp4 where it holds everything (else mkv)."""
    chosen = options.container if options.container != "auto" else default_container(options.codec, others)
    return f".{chosen}"


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a plain `kill`) handled as Ctrl-C while videos are written: partial files finish."""

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
