"""Read and write images without losing what users care about: bit depth, alpha, grayscale, ICC.

`read_pixels` returns the samples as the file holds them (uint8 or uint16, alpha too) plus the facts
needed to write the result back the same way (8 or 16 bits, alpha, colour profile); `read_image` is
the same as float32 in [0, 1], for code that computes on floats (4x the memory of uint8). The
integer <-> float scaling lives in `esrgan.images.scaling`. Pillow decodes almost everything, but it truncates
16-bit colour PNG and TIFF to 8 bits and cannot write 16-bit colour PNG: those paths live in
`codecs16`.

Every user-facing failure is an `ESRGANError` whose one-line message names the file. Writes are
atomic: a temporary file in the destination folder, then `os.replace`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from esrgan.atomic import atomic_path
from esrgan.errors import ESRGANError
from esrgan.images import codecs16
from esrgan.images.scaling import to_float, to_integer

log = logging.getLogger(__name__)

MAX_SIDE = 20000
MAX_PIXELS = MAX_SIDE * MAX_SIDE  # images claiming this many pixels or more are refused unread
_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}  # extension -> Pillow format
_FORMATS |= {".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}
IMAGE_EXTENSIONS = tuple(_FORMATS)
_ORIENTATION_TAG = 0x0112


@dataclass
class ImageData:
    """A decoded image: colour/gray pixels and optional alpha of the same type, uint8 or uint16 from
    `read_pixels`, float32 in [0, 1] from `read_image` and `as_float()`."""

    pixels: np.ndarray  # (H, W, C), C = 1 (grayscale) or 3 (colour): uint8/uint16 or float32
    alpha: np.ndarray | None = None  # (H, W), same type as pixels, or None
    bit_depth: int = 8  # 8 or 16: what the source held, and what to write back
    mode: str = ""  # human description, e.g. "16-bit RGBA"
    source_format: str = ""  # "PNG", "JPEG", ... or "" for in-memory data
    icc_profile: bytes | None = None  # carried over so colours look the same after writing

    def as_float(self) -> ImageData:
        """The same image with float32 samples in [0, 1] (itself if it already has floats)."""
        if self.pixels.dtype.kind == "f":
            return self
        alpha = to_float(self.alpha) if self.alpha is not None else None
        return replace(self, pixels=to_float(self.pixels), alpha=alpha)

    def stacked(self) -> np.ndarray:
        """One uint8/uint16 (H, W, C) array with alpha as the last channel (what `esrgan.upscale` takes)."""
        pixels = to_integer(self.pixels, self.bit_depth)
        if self.alpha is None:
            return pixels
        return np.concatenate([pixels, to_integer(self.alpha, self.bit_depth)[..., None]], axis=2)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


# Formats whose extra frames are images of their own (animations, pages). Others that Pillow
# reports with several frames (MPO camera JPEGs: previews, depth maps) read as their first image.
MULTI_FRAME_FORMATS = ("GIF", "PNG", "WEBP", "TIFF")


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding its pixels."""

    width: int
    height: int
    frames: int  # animation frames or pages; 1 for a still image
    source_format: str
    channels: int = 3  # as decoded, alpha included (palettes counted as RGBA)
    bytes_per_sample: int = 1  # 2 for 16-bit files

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width): the order of an array's shape."""
        return self.height, self.width


def read_header(path: str | os.PathLike[str]) -> ImageHeader:
    """Size (after the EXIF rotation, as `read_pixels` gives it), frame count and format from the
    header, with the same refusals as `read_image` for bad files."""
    name = os.fspath(path)
    try:
        with _open_header(name) as im:
            width, height = im.size
            if _exif_orientation(im) in _TRANSPOSING_ORIENTATIONS:
                width, height = height, width
            frames = int(getattr(im, "n_frames", 1) or 1) if im.format in MULTI_FRAME_FORMATS else 1
            return ImageHeader(width, height, frames, im.format or "?", *_decoded_layout(name, im))
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError) as exc:
        raise ESRGANError(f"{name}: truncated or corrupt image file ({_one_line(exc)})") from exc


def _decoded_layout(name: str, im: Image.Image) -> tuple[int, int]:
    """(channels, bytes per sample) that decoding will give, from the header (sizes memory up front)."""
    channels = len(im.getbands()) + ("transparency" in im.info)
    if im.mode in ("P", "PA"):
        channels = 4
    elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        channels = 3
    deep = im.mode.startswith("I")
    if im.format == "PNG":
        header = codecs16.png_header(name)
        deep = deep or (header is not None and header[2] == 16)
    elif im.format == "TIFF" and hasattr(im, "tag_v2"):
        bits = im.tag_v2.get(258)
        deep = deep or max(bits if isinstance(bits, (tuple, list)) else (bits or 8,)) > 8
    return min(channels, 4), 2 if deep else 1


def read_image(path: str | os.PathLike[str], *, frame: int = 0) -> ImageData:
    """`read_pixels` with float32 samples in [0, 1]."""
    return read_pixels(path, frame=frame).as_float()


def load_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image as (H, W, 3) uint8 (uint16 for 16-bit files), alpha dropped and grayscale
    expanded to RGB (what the models take); integers throughout, no float copy."""
    pixels = read_pixels(path).pixels
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels)


def read_pixels(path: str | os.PathLike[str], *, frame: int = 0) -> ImageData:
    """Decode an image file to uint8/uint16 samples, refusing huge, empty, truncated or non-image files;
    `frame` picks a frame of an animation or a page of a multi-page TIFF (0: the first)."""
    name = os.fspath(path)
    try:
        with _open_header(name) as im:
            fmt = im.format or "?"
            orientation = _exif_orientation(im)
            icc = im.info.get("icc_profile")
            if frame:
                im.seek(frame)  # later frames go through Pillow (no 16-bit colour paths)
                im.load()
                data = _from_pil(im)
            else:
                data = _decode(name, im)
    except ESRGANError as exc:
        if str(exc).startswith(name):
            raise
        raise ESRGANError(f"{name}: {exc}") from exc
    except Image.DecompressionBombError as exc:
        raise ESRGANError(f"{name}: image is too large to decode safely ({_one_line(exc)})") from exc
    except MemoryError as exc:
        raise ESRGANError(f"{name}: not enough memory to decode this image") from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError) as exc:
        raise ESRGANError(f"{name}: truncated or corrupt image file ({_one_line(exc)})") from exc
    data.source_format = fmt
    data.icc_profile = icc if isinstance(icc, bytes) and icc else None
    if orientation not in (None, 1):
        data.pixels = apply_orientation(data.pixels, orientation)
        if data.alpha is not None:
            data.alpha = apply_orientation(data.alpha, orientation)
    return data


def check_image_size(name: str, width: int, height: int) -> None:
    """Refuse sizes that are empty or huge (decompression bombs) from the header alone."""
    if width <= 0 or height <= 0:
        raise ESRGANError(f"{name}: image header claims an empty size {width}x{height}")
    if width * height >= MAX_PIXELS:
        limit = f"{MAX_SIDE}x{MAX_SIDE}"
        raise ESRGANError(f"{name}: {width}x{height} pixels claimed; {limit}+ are refused before decoding")


def _check_readable_file(name: str) -> None:
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise ESRGANError(f"{name}: no such file") from None
    except OSError as exc:
        raise ESRGANError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if os.path.isdir(name):
        raise ESRGANError(f"{name}: is a folder, not an image file")
    if st.st_size == 0:
        raise ESRGANError(f"{name}: empty file (0 bytes)")
    if not os.access(name, os.R_OK):
        raise ESRGANError(f"{name}: cannot read (permission denied)")


@contextlib.contextmanager
def _open_header(name: str) -> Iterator[Image.Image]:
    """Image.open (header only) of a readable file whose header size `check_image_size` accepts.

    Pillow's own bomb check (2 x MAX_IMAGE_PIXELS, about 179 MP by default) would refuse legitimate
    images below our 400 MP limit, so it is off for the call (which reads only the header), then restored."""
    _check_readable_file(name)
    saved = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(name)
    except UnidentifiedImageError:
        raise ESRGANError(f"{name}: not a recognised image file (unknown or corrupt format)") from None
    except PermissionError:
        raise ESRGANError(f"{name}: cannot read (permission denied)") from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    with im:
        check_image_size(name, *im.size)
        yield im


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def _exif_orientation(im: Image.Image) -> int | None:
    try:
        value = im.getexif().get(_ORIENTATION_TAG)
    except Exception:  # a broken EXIF block must not stop the image from being read
        return None
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else None


def apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip an (H, W, ...) array as the EXIF orientation tag says, so it displays upright."""
    swap = (1, 0) + tuple(range(2, a.ndim))
    ops = {
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: x.transpose(swap),
        6: lambda x: np.rot90(x, -1),
        7: lambda x: x.transpose(swap)[::-1, ::-1],
        8: lambda x: np.rot90(x, 1),
    }
    return np.ascontiguousarray(ops[orientation](a)) if orientation in ops else a


def _decode(name: str, im: Image.Image) -> ImageData:
    if im.format == "PNG":
        header = codecs16.png_header(name)
        if header is not None and header[2] == 16 and header[3] in (2, 4, 6):
            return _data(*codecs16.read_png16_colour(name, header))
    if im.format == "TIFF":
        bits = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
        bits = tuple(bits) if isinstance(bits, (tuple, list)) else (bits,) if bits else (8,)
        if max(bits) > 8 and im.mode not in ("I;16", "I;16B", "I;16L", "I;16N"):
            return _data(*codecs16.read_tiff(name))
    im.load()
    return _from_pil(im)


def _from_pil(im: Image.Image) -> ImageData:
    mode = im.mode
    has_trns = "transparency" in im.info
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        a = np.asarray(im).astype(np.uint16)
        alpha = None
        if has_trns and isinstance(im.info["transparency"], int):
            alpha = (a != im.info["transparency"]).astype(np.uint16) * np.uint16(65535)
        label = "16-bit grayscale" + (" + transparency" if alpha is not None else "")
        return _data(a[..., None], 16, alpha, label)
    if mode == "I":
        a = np.asarray(im)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise ESRGANError("32-bit integer images are not supported (values outside 0..65535)")
        return _data(a.astype(np.uint16)[..., None], 16, None, "16-bit grayscale")
    if mode == "F":
        raise ESRGANError("32-bit float images are not supported; convert to 8 or 16 bits first")
    if mode == "1":
        im, mode = im.convert("L"), "L"
    if mode == "P":
        if has_trns or "A" in im.palette.mode:
            im, mode = im.convert("RGBA"), "RGBA"
        else:
            im, mode = im.convert("RGB"), "RGB"
    elif mode == "L" and has_trns:
        im, mode = im.convert("LA"), "LA"
    elif mode == "RGB" and has_trns:
        im, mode = im.convert("RGBA"), "RGBA"
    elif mode in ("PA", "La", "RGBa"):  # palette+alpha and premultiplied alpha
        mode = "LA" if mode == "La" else "RGBA"
        im = im.convert(mode)
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        im, mode = im.convert("RGB"), "RGB"  # CMYK, YCbCr, LAB, HSV, RGBX
    a = np.asarray(im)
    if a.ndim == 2:
        a = a[..., None]
    if mode in ("LA", "RGBA"):
        return _data(a[..., :-1], 8, a[..., -1], f"8-bit {mode}")
    return _data(a, 8, None, f"8-bit {'grayscale' if mode == 'L' else mode}")


def _data(a: np.ndarray, bits: int, alpha: np.ndarray | None, mode: str) -> ImageData:
    target = np.uint8 if bits == 8 else np.uint16
    return ImageData(pixels=a.astype(target, copy=False), alpha=alpha, bit_depth=bits, mode=mode)


def write_image(
    path: str | os.PathLike[str],
    image: ImageData | np.ndarray,
    *,
    bit_depth: int | None = None,
    alpha: np.ndarray | None = None,
    quality: int = 95,
    icc_profile: bytes | None = None,
) -> None:
    """Write an image atomically; the format comes from the extension.

    `image` is ImageData or an (H, W) / (H, W, C) array (uint8, uint16 or float in [0, 1]) with
    C = 1 or 3, or 2 / 4 with the alpha last. `bit_depth` defaults to the source's (ImageData),
    16 for uint16 arrays, else 8. JPEG, WebP and BMP hold 8 bits; JPEG holds no alpha (dropped
    with a warning). `quality` applies to JPEG and WebP.
    """
    name = os.fspath(path)
    fmt = _FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        raise ESRGANError(f"{name}: unknown output extension (use one of {', '.join(IMAGE_EXTENSIONS)})")
    if isinstance(image, ImageData):
        pixels, alpha = image.pixels, image.alpha if alpha is None else alpha
        bit_depth = bit_depth or image.bit_depth
        icc_profile = icc_profile if icc_profile is not None else image.icc_profile
    else:
        pixels = np.asarray(image)
        if pixels.ndim == 2:
            pixels = pixels[..., None]
        if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4):
            raise ESRGANError(f"{name}: cannot write an array of shape {pixels.shape} as an image")
        if pixels.shape[2] in (2, 4):
            if alpha is not None:
                raise ESRGANError(f"{name}: alpha given twice (array has {pixels.shape[2]} channels)")
            pixels, alpha = pixels[..., :-1], pixels[..., -1]
        bit_depth = bit_depth or (16 if pixels.dtype == np.uint16 else 8)
    if bit_depth not in (8, 16):
        raise ESRGANError(f"bit depth must be 8 or 16, not {bit_depth}")
    if bit_depth == 16 and fmt not in ("PNG", "TIFF"):
        log.info("%s: %s holds 8 bits per channel; writing 8-bit", name, fmt)
        bit_depth = 8
    if alpha is not None and fmt == "JPEG":
        log.warning("%s: JPEG has no alpha channel; the alpha is dropped (use png or webp to keep it)", name)
        alpha = None
    pixels = to_integer(pixels, bit_depth)
    channels = [pixels] if alpha is None else [pixels, to_integer(alpha, bit_depth)[..., None]]
    # No parent folders made here: a missing output folder is the caller's mistake to report.
    with atomic_path(name, make_parents=False) as tmp, open(tmp, "xb") as f:
        _encode(f, channels, fmt, bit_depth, quality, icc_profile)


def _encode(f: Any, channels: list[np.ndarray], fmt: str, bits: int, quality: int, icc: bytes | None) -> None:
    array = channels[0] if len(channels) == 1 else np.concatenate(channels, axis=2)
    if bits == 16:  # PNG or TIFF
        (codecs16.encode_png16 if fmt == "PNG" else codecs16.encode_tiff16)(f, array, icc)
        return
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[array.shape[2]]
    im = Image.fromarray(array[..., 0] if mode == "L" else array)
    options: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = int(quality)
    if fmt == "TIFF":
        options["compression"] = "tiff_deflate"
    if fmt == "BMP" and mode == "LA":
        im = im.convert("RGBA")
    im.save(f, format=fmt, **options)
