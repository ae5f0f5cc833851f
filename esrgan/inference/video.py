"""Upscale videos and numbered frame sequences frame by frame, with the image path's `esrgan.upscale`.

- A few frames are in flight (one decoding ahead in a thread, one upscaling, the encoder's own
  look-ahead); nothing is written to disk but the output, unless frames are asked for.
- The output keeps every frame's timestamp (same frame count, rate and duration, variable rate
  included); audio and subtitle packets are copied unchanged.
- It is written as `NAME.partial.EXT` and renamed when complete. Ctrl-C or SIGTERM finish the
  partial file (playable, kept under that name); any error removes it. Only a SIGKILL, which no
  program can catch, leaves an mp4 partial without its index (unplayable; an mkv one still plays).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

import esrgan
from esrgan.atomic import make_folders, remove_if_empty
from esrgan.errors import ESRGANError
from esrgan.images.image_io import write_image
from esrgan.inference.batch import collect_inputs
from esrgan.inference.engine import on_engine
from esrgan.inference.video_io import (
    VIDEO_EXTENSIONS,
    Decoded,
    FrameSequence,
    VideoReader,
    VideoWriter,
    check_encoder,
    default_container,
    default_pix_fmt,
    even_sizes,
    prefetched,
)

log = logging.getLogger(__name__)

DEFAULT_CRF = 18  # libx264/libx265: visually near-lossless, as upscalers' outputs deserve
CONTAINERS = ("auto", "mp4", "mkv", "mov", "webm")
ODD_SIZES = ("pad", "crop")
PLAIN_PROGRESS_SECONDS = 5.0  # a progress line this often when stderr is not a terminal
Progress = Callable[[int, int], None]  # (frames done, expected total; 0 when unknown)


@dataclass
class VideoOptions:
    """How to write the upscaled video (the upscaling itself is the UpscaleJob's)."""

    codec: str = "libx264"
    crf: int | None = None  # default: DEFAULT_CRF for libx264/libx265, the encoder's own otherwise
    pix_fmt: str | None = None  # default: yuv420p where the encoder writes it
    container: str = "auto"  # mp4, or mkv where mp4 cannot hold the codec or a copied stream
    frames_out: str | Path | None = None  # write PNG frames into this folder instead of a video
    fps: str | float | None = None  # frame sequences (folders, globs of images): their frame rate
    odd_size: str = "pad"  # yuv420p needs even sizes: pad (repeat the edge) or crop one pixel


@dataclass
class VideoResult:
    source: Path
    target: Path  # the video written, or the frames folder
    frames: int = 0
    skipped_frames: int = 0  # frames-out with existing="skip"
    seconds: float = 0.0
    decode_seconds: float = 0.0  # demux, decode, YUV -> RGB (in its own thread)
    upscale_seconds: float = 0.0
    encode_seconds: float = 0.0  # RGB -> YUV, encode, mux


def is_video_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def parse_fps(value: str | float) -> Fraction:
    """`25`, `29.97` or `30000/1001` as an exact rate; 0, negative and non-numbers are refused."""
    try:
        rate = Fraction(str(value)).limit_denominator(1_000_000)
    except (ValueError, ZeroDivisionError):
        raise ESRGANError(f"--fps must be a number like 25, 29.97 or 30000/1001, not {value!r}") from None
    if rate <= 0:
        raise ESRGANError(f"--fps must be more than 0, not {value}")
    return rate


def open_source(spec: str | os.PathLike, fps: str | float | None = None) -> VideoReader | FrameSequence:
    """A video file, or (with fps) a folder or glob of numbered frames."""
    path = Path(spec)
    if fps is None:
        if path.is_dir():
            raise ESRGANError(f"{path}: a folder of frames needs --fps (the frame rate of the video)")
        if not path.is_file():
            raise ESRGANError(f"{path}: no such file")
        return VideoReader(path)

    rate = parse_fps(fps)
    files, failures = collect_inputs([str(spec)])
    if failures or not files:
        raise ESRGANError(f"{spec}: no frames found" if not failures else f"{spec}: {failures[0][1]}")
    files.sort(key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])
    name = path if path.is_dir() else Path(re.sub(r"[_\-. ]*\d+$", "", files[0].stem) or files[0].parent.name)
    return FrameSequence(files, rate, name)


def upscale_video(
    model: Any,
    source: str | os.PathLike,
    target: str | os.PathLike | None = None,
    *,
    options: VideoOptions | None = None,
    existing: str = "refuse",
    progress: bool | Progress = False,
    **upscale_options: Any,
) -> VideoResult:
    """Upscale every frame of `source` into the video `target` (or PNG frames in options.frames_out).

    `model` and `upscale_options`: what `esrgan.upscale` takes (the model is converted to the backend
    once, not per frame). `existing`: a target that exists is refused ("refuse"), replaced
    ("overwrite") or kept ("skip"; with frames_out: the frames already written are kept, a resume).
    """
    options = options or VideoOptions()
    opened = open_source(source, options.fps)
    try:
        if target is None and options.frames_out is None:
            raise ESRGANError("give a target video file or options.frames_out")
        frames_out = None if options.frames_out is None else Path(options.frames_out)
        out = Path(target) if frames_out is None else frames_out
        if frames_out is None and os.path.lexists(out) and existing == "skip":
            return VideoResult(Path(opened.path), out)
        if frames_out is None and os.path.lexists(out) and existing != "overwrite":
            raise ESRGANError(f"{out} exists; pass --force to overwrite or --skip-existing to keep it")
        info = opened.info
        work = info.width * info.height * (info.frames or math.inf)  # unknown count: a long job
        model, upscale_options = on_engine(model, upscale_options, work)
        run = _Run(opened, out, frames_out, options, existing, upscale_options, model)
        return run.go(_progress(progress, opened.path.name, opened.info.frames))
    finally:
        opened.close()


class _Run:
    """One video through decode -> upscale -> encode, timed, with the partial-file protocol."""

    def __init__(
        self,
        source: VideoReader | FrameSequence,
        out: Path,
        frames_out: Path | None,
        options: VideoOptions,
        existing: str,
        upscale_options: dict[str, Any],
        model: Any,
    ) -> None:
        self.source, self.out, self.frames_out, self.options = source, out, frames_out, options
        self.existing, self.kw, self.model = existing, upscale_options, model
        self.result = VideoResult(Path(source.path), out)
        self.writer: VideoWriter | None = None
        self._early: list[Any] = []  # packets demuxed before the first frame opened the writer
        self._created: list[Path] = []  # output folders made here, removed again if nothing is written
        self.partial = out.with_name(f"{out.stem}.partial{out.suffix}")
        codec = options.codec
        self.pix_fmt = options.pix_fmt or default_pix_fmt(codec)
        self.crf = DEFAULT_CRF if options.crf is None and codec in ("libx264", "libx265") else options.crf
        check_encoder(codec, self.pix_fmt, options.crf)
        if options.odd_size not in ODD_SIZES:
            raise ESRGANError(f"--odd-size must be one of {'/'.join(ODD_SIZES)}, not {options.odd_size!r}")
        if options.container not in CONTAINERS:
            raise ESRGANError(f"--container must be one of {'/'.join(CONTAINERS)}, not {options.container!r}")
        written = sorted(frames_out.glob(f"{self.out_stem}_*.png")) if frames_out else []  # none: no folder
        if written and existing == "refuse":
            raise ESRGANError(f"{written[0]} exists; pass --force to overwrite or --skip-existing to keep it")
        if frames_out is not None and source.others:
            log.warning("%s: --frames-out writes frames only; its audio/subtitles are not kept", source.path)

    def go(self, tick: Progress) -> VideoResult:
        start, decode = time.perf_counter(), [0.0]
        done = 0
        try:
            for item in prefetched(_timed(self.source.items(), decode)):
                if not isinstance(item, Decoded):
                    self._open_later_packet(item)
                    continue
                if self._frame_kept(item.index):
                    self.result.skipped_frames += 1
                else:
                    t = time.perf_counter()
                    image = esrgan.upscale(self.model, item.rgb, **self.kw)
                    self.result.upscale_seconds += time.perf_counter() - t
                    self._write(image, item)
                done += 1
                self.result.frames = done - self.result.skipped_frames
                tick(done, self.source.info.frames)
            if not done:
                raise ESRGANError(f"{self.source.path}: has no frames")
            self._finish()
        except KeyboardInterrupt:
            self._interrupted(done)
            raise
        except BaseException:
            self._abandon()
            raise
        finally:
            tick(-1, 0)  # closes a bar
        self.result.decode_seconds = decode[0]
        self.result.seconds = time.perf_counter() - start
        return self.result

    # -- output --------------------------------------------------------------------------------

    def _frame_path(self, index: int) -> Path:
        return self.frames_out / f"{self.out_stem}_{index + 1:06d}.png"  # type: ignore[operator]

    @property
    def out_stem(self) -> str:
        return self.source.path.stem if self.source.path.suffix else self.source.path.name

    def _frame_kept(self, index: int) -> bool:
        return self.existing == "skip" and self.frames_out is not None and self._frame_path(index).exists()

    def _write(self, image: np.ndarray, item: Decoded) -> None:
        t = time.perf_counter()
        if self.frames_out is not None:
            if item.index == 0 or not self.frames_out.is_dir():
                self._created = make_folders(self.frames_out)
            write_image(self._frame_path(item.index), image)
        else:
            image = self._even(image)
            if self.writer is None:
                self._open(image.shape[1], image.shape[0])
            self.writer.write(image, item.pts)  # type: ignore[union-attr]
        self.result.encode_seconds += time.perf_counter() - t

    def _even(self, image: np.ndarray) -> np.ndarray:
        mw, mh = even_sizes(self.pix_fmt)
        h, w = image.shape[:2]
        if not (h % mh or w % mw):
            return image
        if self.writer is None:
            how = "padded (edge repeated)" if self.options.odd_size == "pad" else "cropped"
            other = "crop" if self.options.odd_size == "pad" else "pad"
            log.warning(
                "%s: output %dx%d is odd and %s needs multiples of %dx%d: %s (--odd-size %s for the other "
                "choice, or --pix-fmt yuv444p)", self.source.path, w, h, self.pix_fmt, mw, mh, how, other,
            )  # fmt: skip
        if self.options.odd_size == "crop":
            return image[: h - h % mh, : w - w % mw]
        return np.pad(image, ((0, -h % mh), (0, -w % mw), (0, 0)), mode="edge")

    def _open(self, width: int, height: int) -> None:
        container = self.options.container
        if container == "auto":
            suffix = self.out.suffix.lstrip(".").lower()
            container = suffix or default_container(self.options.codec, self.source.others)
        container = {"mkv": "matroska", "m4v": "mp4"}.get(container, container)
        self._created = make_folders(self.partial.parent)
        self.writer = VideoWriter(
            self.partial,
            self.source.info,
            (width, height),
            codec=self.options.codec,
            crf=self.crf,
            pix_fmt=self.pix_fmt,
            container=container,
            copy=self.source.others,
        )
        for packet in self._early:
            self.writer.mux(packet)
        self._early.clear()

    def _open_later_packet(self, packet: Any) -> None:
        if self.frames_out is not None:
            return
        if self.writer is None:
            self._early.append(packet)
        else:
            t = time.perf_counter()
            self.writer.mux(packet)
            self.result.encode_seconds += time.perf_counter() - t

    def _finish(self) -> None:
        if self.writer is not None:
            t = time.perf_counter()
            self.writer.close()
            self.writer = None
            os.replace(self.partial, self.out)
            self.result.encode_seconds += time.perf_counter() - t

    def _interrupted(self, done: int) -> None:
        if self.writer is None:
            return
        try:
            self.writer.close()
        except BaseException:
            self._abandon()
            raise
        self.writer = None
        log.warning(
            "%s: interrupted after %d of %s frames; the part done is %s",
            self.source.path, done, self.source.info.frames or "?", self.partial,
        )  # fmt: skip

    def _abandon(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close(finish=False)
            self.writer = None
        with contextlib.suppress(OSError):
            self.partial.unlink()
        remove_if_empty(self._created)


def _timed(items: Iterator[Any], clock: list[float]) -> Iterator[Any]:
    """`items`, adding the time spent producing them to clock[0]."""
    while True:
        t = time.perf_counter()
        try:
            item = next(items)
        except StopIteration:
            return
        finally:
            clock[0] += time.perf_counter() - t
        yield item


def _progress(progress: bool | Progress, name: str, total: int) -> Progress:
    """A callable(done, total) for frames: given, a tqdm bar on a terminal, or plain lines."""
    if callable(progress):
        return lambda done, n: None if done < 0 else progress(done, n)
    if not progress:
        return lambda done, n: None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total or None, unit="frame", desc=name, dynamic_ncols=True)
        return lambda done, _: bar.close() if done < 0 else bar.update(done - bar.n)
    start, last = time.perf_counter(), [0.0]

    def on_line(done: int, n: int) -> None:
        now = time.perf_counter() - start
        if done < 0 or now - last[0] < PLAIN_PROGRESS_SECONDS:
            return
        last[0] = now
        rate = done / now if now else 0.0
        eta = f", ETA {_clock((n - done) / rate)}" if n and rate and n >= done else ""
        of = f"/{n}" if n else ""
        line = f"esrgan upscale: {name}: {done}{of} frames, {rate:.2f} frames/s{eta}"
        print(line, file=sys.stderr, flush=True)

    return on_line


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds + 0.5), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"
