"""Short test clips made with PyAV: moving frames and a tone on the audio track."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def moving_frames(count: int, height: int = 24, width: int = 32) -> list[np.ndarray]:
    """A gradient with a bright square that moves 2 px right and 1 px down per frame (uint8 RGB)."""
    yy, xx = np.mgrid[:height, :width]
    frames = []
    for k in range(count):
        rgb = np.stack([(xx * 255 // width), (yy * 255 // height), np.full_like(xx, 40 + 8 * k)], axis=2)
        y, x = k % (height - 6), (2 * k) % (width - 6)
        rgb[y : y + 6, x : x + 6] = (250, 230, 20)
        frames.append(rgb.astype(np.uint8))
    return frames


def make_clip(
    path: Path,
    frames: list[np.ndarray],
    *,
    rate: Fraction | int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    options: dict | None = None,
    tone_hz: float | None = 440.0,
    colorspace: int | None = None,
    color_range: int | None = None,
) -> None:
    """Encode `frames` (RGB uint8) into `path`, with a sine tone (AAC in mp4, else FLAC)."""
    import av

    container = av.open(str(path), "w")
    video = container.add_stream(codec, rate=rate)
    video.width, video.height = frames[0].shape[1], frames[0].shape[0]
    video.pix_fmt = pix_fmt
    if options:
        video.options = options
    if colorspace is not None:
        video.codec_context.colorspace = colorspace
    if color_range is not None:
        video.codec_context.color_range = color_range
    audio = None
    if tone_hz is not None:
        audio = container.add_stream("aac" if path.suffix == ".mp4" else "flac", rate=48000)
        audio.layout = "mono"
    for k, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if colorspace is not None:
            frame = frame.reformat(
                format=pix_fmt, dst_colorspace=colorspace, dst_color_range=color_range or 1
            )
        frame.pts = k
        for packet in video.encode(frame):
            container.mux(packet)
    if audio is not None:
        seconds = len(frames) / float(rate)
        t = np.arange(int(48000 * seconds)) / 48000
        tone = (0.3 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
        fmt = "fltp" if audio.codec_context.name == "aac" else "s16"
        for start in range(0, len(tone), 1024):
            chunk = tone[start : start + 1024]
            data = chunk[None] if fmt == "fltp" else (chunk * 32767).astype(np.int16)[None]
            aframe = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
            aframe.sample_rate, aframe.pts = 48000, start
            for packet in audio.encode(aframe):
                container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)
    for packet in video.encode(None):
        container.mux(packet)
    container.close()
