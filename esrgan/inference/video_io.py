"""Video in and out with PyAV: decode frames to RGB arrays, encode RGB arrays, copy other streams.

PyAV wraps FFmpeg's own libraries (bundled in its wheel), so no ffmpeg program is needed; frames
stream one at a time as numpy arrays, and audio/subtitle packets are remuxed without re-encoding.

Colour: YUV is converted to full-range RGB with the matrix and range the stream is tagged with
(untagged streams: BT.709 from 720 lines up, BT.601 below, as players guess), and the upscaled
RGB back to YUV with that same matrix and range; the output is tagged explicitly, so a bigger
picture is not re-guessed as BT.709 by players. BT.709 stays BT.709, limited range stays limited.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from esrgan.errors import ESRGANError
from esrgan.images.image_io import read_header, read_pixels

VIDEO_EXTENSIONS = {".mp4", ".mkv", ".webm", ".mov", ".m4v", ".avi", ".ts", ".mpg", ".mpeg", ".wmv", ".flv"}
# What mp4 holds (else the default container is mkv, which holds nearly anything).
MP4_CODECS = {"h264", "hevc", "vp9", "av1", "mpeg4", "aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"}
MP4_SUBTITLES = {"mov_text"}
CRF_CODECS = {"libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"}
# AVColorSpace values (libavutil/pixfmt.h) -> the matrix swscale converts with.
_MATRIX = {1: "ITU709", 5: "ITU601", 6: "ITU601", 4: "FCC", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}
_MATRIX_TAG = {"ITU709": 1, "ITU601": 6, "FCC": 4, "SMPTE240M": 7, "BT2020": 9}
LIMITED, FULL = 1, 2  # AVColorRange: MPEG (16-235) and JPEG (0-255)
ACCURATE = "ACCURATE_RND"  # exact rounding in swscale: colours round-trip within one level


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise ESRGANError("video needs PyAV: pip install 'esrgan[video]'") from None
    av.logging.set_level(av.logging.ERROR)  # FFmpeg's chatter is not ours to print
    return av


@dataclass(frozen=True)
class Colour:
    """How YUV maps to RGB for a stream: matrix (swscale name), range, and tags copied to the output."""

    matrix: str = "ITU709"
    full_range: bool = False
    primaries: int = 2  # AVColorPrimaries; 2: unspecified
    trc: int = 2  # AVColorTransferCharacteristic

    @classmethod
    def of_stream(cls, ctx: Any, height: int) -> Colour:
        matrix = _MATRIX.get(int(ctx.colorspace), "ITU709" if height >= 720 else "ITU601")
        full = int(ctx.color_range) == FULL or str(ctx.format.name).startswith("yuvj")
        return cls(matrix, full, int(ctx.color_primaries), int(ctx.color_trc))

    @property
    def range(self) -> int:
        return FULL if self.full_range else LIMITED


@dataclass
class VideoInfo:
    """What the output must match: size, frame rate, timing, colour."""

    width: int
    height: int
    rate: Fraction  # average frame rate
    time_base: Fraction  # of the frame timestamps
    frames: int  # expected frame count; 0: unknown
    colour: Colour = field(default_factory=Colour)


@dataclass
class Decoded:
    """One decoded frame: RGB uint8 (H, W, 3) and its timestamp in `VideoInfo.time_base` units."""

    rgb: np.ndarray
    pts: int
    index: int


class VideoReader:
    """A video file: its first video stream decoded to RGB; audio/subtitle packets passed through."""

    def __init__(self, path: Path) -> None:
        av = _av()
        self.path = path
        try:
            self.container = av.open(str(path))
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise ESRGANError(f"{path}: not a readable video ({_reason(exc)})") from None
        try:
            self._probe()
        except BaseException:
            self.container.close()
            raise

    def _probe(self) -> None:
        if not self.container.streams.video:
            raise ESRGANError(f"{self.path}: has no video stream")
        stream = self.stream = self.container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or ctx.codec is None or not ctx.codec.name or not ctx.width:
            name = ctx.codec_tag if ctx is not None and ctx.codec_tag else "unknown"
            raise ESRGANError(f"{self.path}: its video codec ({name}) cannot be decoded")
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        if not rate or rate <= 0:
            raise ESRGANError(f"{self.path}: the video stream has no frame rate (0 fps)")
        frames = stream.frames
        if not frames:
            seconds = (stream.duration * stream.time_base) if stream.duration else None
            if seconds is None and self.container.duration:
                seconds = Fraction(self.container.duration, 1_000_000)
            frames = round(seconds * rate) if seconds else 0
        stream.thread_type = "AUTO"  # frame threads: decoding keeps up with several cores
        self.info = VideoInfo(
            ctx.width, ctx.height, Fraction(rate), Fraction(stream.time_base), frames,
            Colour.of_stream(ctx, ctx.height),
        )  # fmt: skip
        streams = self.container.streams
        self.others = [s for s in streams if s.type in ("audio", "subtitle") and s.codec_context is not None]

    def items(self) -> Iterator[Decoded | Any]:
        """Decoded video frames and the other streams' packets, in file order."""
        av = _av()
        colour, index, last = self.info.colour, 0, None
        step = max(1, round(1 / (self.info.rate * self.info.time_base)))
        wanted = [self.stream, *self.others]
        try:
            for packet in self.container.demux(wanted):
                if packet.stream is not self.stream:
                    if packet.size:
                        yield packet
                    continue
                for frame in packet.decode():
                    rgb = frame.reformat(
                        format="rgb24",
                        src_colorspace=colour.matrix,
                        src_color_range=colour.range,
                        dst_color_range=FULL,
                        interpolation=ACCURATE,
                    ).to_ndarray()
                    rgb = np.ascontiguousarray(rgb)  # rows are padded: tiles cut ~20% faster from a copy
                    pts = frame.pts if frame.pts is not None else (0 if last is None else last + step)
                    last = pts
                    yield Decoded(rgb, pts, index)
                    index += 1
        except av.FFmpegError as exc:
            raise ESRGANError(f"{self.path}: cannot decode frame {index + 1} ({_reason(exc)})") from None
        expected = self.info.frames
        if expected and index < expected - max(2, expected // 100):
            raise ESRGANError(f"{self.path}: truncated: {index} of {expected} frames could be decoded")

    def close(self) -> None:
        self.container.close()


class VideoWriter:
    """Encode RGB frames into `path` and mux copied packets; `close()` finishes a playable file."""

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        size: tuple[int, int],
        *,
        codec: str,
        crf: int | None,
        pix_fmt: str | None,
        container: str,
        copy: list[Any],
    ) -> None:
        av = _av()
        self.path, self.info = path, info
        # moov first, for streaming. Not fragmented: fragments lose the edit lists that trim AAC
        # priming, so the audio would no longer be the same length.
        options = {"movflags": "+faststart"} if container in ("mp4", "mov") else {}
        try:
            self.container = av.open(str(path), "w", format=container, options=options)
        except (av.FFmpegError, OSError) as exc:
            raise ESRGANError(f"{path}: cannot write ({_reason(exc)})") from None
        try:
            self.stream = self.container.add_stream(codec, rate=info.rate)
            self.stream.width, self.stream.height = size
            self.stream.pix_fmt = pix_fmt or default_pix_fmt(codec)
            self.stream.codec_context.time_base = info.time_base
            self.stream.time_base = info.time_base
            if crf is not None:
                self.stream.options = {"crf": str(crf), **({"b": "0"} if codec == "libvpx-vp9" else {})}
            self.rgb_out = av.VideoFormat(self.stream.pix_fmt).is_rgb
            if not self.rgb_out:  # tag what the YUV is (an untagged HD picture is guessed BT.709)
                ctx, colour = self.stream.codec_context, info.colour
                ctx.colorspace = _MATRIX_TAG[colour.matrix]
                ctx.color_range = colour.range
                ctx.color_primaries, ctx.color_trc = colour.primaries, colour.trc
            self.copied = {s.index: self.container.add_stream_from_template(s) for s in copy}
        except (av.FFmpegError, ValueError) as exc:
            self.container.close()
            raise ESRGANError(f"{path}: cannot set up {codec} in {container} ({_reason(exc)})") from None

    def write(self, rgb: np.ndarray, pts: int) -> None:
        av = _av()
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        colour = self.info.colour
        if self.rgb_out:
            frame = frame.reformat(format=self.stream.pix_fmt)
        else:
            frame = frame.reformat(
                format=self.stream.pix_fmt,
                src_colorspace=colour.matrix,
                dst_colorspace=colour.matrix,
                src_color_range=FULL,
                dst_color_range=colour.range,
                interpolation=ACCURATE,
            )
        frame.pts, frame.time_base = pts, self.info.time_base
        self._mux(self.stream.encode(frame))

    def mux(self, packet: Any) -> None:
        """Copy one packet of an audio/subtitle stream unchanged."""
        out = self.copied.get(packet.stream.index)
        if out is not None:
            packet.stream = out
            self._mux([packet])

    def _mux(self, packets: Iterable[Any]) -> None:
        av = _av()
        try:
            for packet in packets:
                self.container.mux(packet)
        except av.FFmpegError as exc:
            raise ESRGANError(f"{self.path}: cannot write ({_reason(exc)})") from None

    def close(self, finish: bool = True) -> None:
        try:
            if finish:
                self._mux(self.stream.encode(None))  # the frames the encoder still holds
        finally:
            self.container.close()


def default_pix_fmt(codec: str) -> str:
    formats = [f.name for f in (_codec(codec).video_formats or [])]
    return "yuv420p" if "yuv420p" in formats or not formats else formats[0]


def _codec(name: str) -> Any:
    av = _av()
    try:
        codec = av.Codec(name, "w")
    except (av.FFmpegError, ValueError):
        raise ESRGANError(f"unknown video encoder {name!r} (e.g. libx264, libvpx-vp9, ffv1)") from None
    if codec.type != "video":
        raise ESRGANError(f"{name} is not a video encoder")
    return codec


def check_encoder(codec: str, pix_fmt: str | None, crf: int | None) -> None:
    """Refuse an unknown encoder, a pixel format it cannot write, or --crf where it has none."""
    formats = [f.name for f in (_codec(codec).video_formats or [])]
    if pix_fmt is not None and formats and pix_fmt not in formats:
        raise ESRGANError(f"{codec} cannot write {pix_fmt}; it writes {', '.join(formats)}")
    if crf is not None and codec not in CRF_CODECS:
        raise ESRGANError(f"--crf applies to {', '.join(sorted(CRF_CODECS))}, not {codec}")
    if crf is not None and not 0 <= crf <= 63:
        raise ESRGANError(f"--crf must be 0..63, not {crf}")


def even_sizes(pix_fmt: str) -> tuple[int, int]:
    """(width multiple, height multiple) the pixel format's chroma subsampling needs."""
    fmt = _av().VideoFormat(pix_fmt, 2, 2)
    chroma = [c for c in fmt.components if c.is_chroma]
    return (2 if chroma and chroma[0].width == 1 else 1), (2 if chroma and chroma[0].height == 1 else 1)


def default_container(codec: str, others: list[Any]) -> str:
    """mp4 when it holds the video codec and every copied stream, else mkv."""
    names = {_codec(codec).name.removeprefix("lib").replace("x264", "h264").replace("x265", "hevc")}
    names |= {"vp9" if "vpx-vp9" in n else "av1" if "av1" in n else n for n in set(names)}
    video_ok = bool(names & MP4_CODECS)
    streams_ok = all(
        s.codec_context.name in (MP4_SUBTITLES if s.type == "subtitle" else MP4_CODECS) for s in others
    )
    return "mp4" if video_ok and streams_ok else "mkv"


def prefetched(items: Iterator[Any], depth: int = 3) -> Iterator[Any]:
    """`items` produced by a thread `depth` ahead, so decoding overlaps upscaling (bounded memory)."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((end, exc))

    thread = threading.Thread(target=produce, name="esrgan-video-decode", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = slots.get()
            if exc is not None:
                raise exc
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


class FrameSequence:
    """Numbered image files read as the frames of a video at `rate` frames per second."""

    def __init__(self, paths: list[Path], rate: Fraction, name: Path) -> None:
        self.path, self.paths, self.others = name, paths, []
        header = read_header(paths[0])
        colour = Colour("ITU709", False, 1, 1)  # images are sRGB-like: tag the video BT.709
        self.info = VideoInfo(header.width, header.height, rate, 1 / rate, len(paths), colour)

    def items(self) -> Iterator[Decoded]:
        for index, path in enumerate(self.paths):
            rgb = rgb8(read_pixels(path).stacked())
            if rgb.shape[:2] != (self.info.height, self.info.width):
                h, w = rgb.shape[:2]
                raise ESRGANError(
                    f"{path}: is {w}x{h}, the frames before it {self.info.width}x{self.info.height}; "
                    "a video's frames all have one size"
                )
            yield Decoded(rgb, index, index)

    def close(self) -> None:
        pass


def rgb8(pixels: np.ndarray) -> np.ndarray:
    """Any decoded image (gray, RGBA, 16-bit) as RGB uint8, what a video frame holds."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[2] in (2, 4):
        pixels = pixels[..., :-1]  # a video holds no alpha
    if pixels.dtype == np.uint16:
        pixels = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels)
