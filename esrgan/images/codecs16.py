"""16-bit PNG and TIFF, which Pillow truncates to 8 bits or cannot write.

Reading 16-bit colour PNG runs Pillow's own C inflate/unfilter decoder twice (high bytes, then low
bytes); 16-bit TIFF goes through `tifffile` when it is installed. Writing 16-bit PNG uses the small
encoder below. `image_io` turns the `Decoded` tuples into `ImageData`.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from esrgan.errors import ESRGANError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Decoded(NamedTuple):
    colour: np.ndarray  # HWC uint8/uint16
    bits: int
    alpha: np.ndarray | None  # HW, integer samples of the same depth
    mode: str


def png_header(name: str) -> tuple[int, int, int, int, int] | None:
    """(width, height, bit_depth, colour_type, interlace) from the IHDR chunk, or None."""
    with open(name, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return width, height, depth, colour, interlace


def png_chunks(name: str) -> tuple[bytes, bytes | None]:
    """Concatenated IDAT data and the tRNS chunk, checking each chunk's CRC."""
    with open(name, "rb") as f:
        blob = f.read()
    pos, idat, trns = 8, [], None
    while pos + 8 <= len(blob):
        (length,) = struct.unpack(">I", blob[pos : pos + 4])
        kind = blob[pos + 4 : pos + 8]
        body = blob[pos + 8 : pos + 8 + length]
        crc = blob[pos + 8 + length : pos + 12 + length]
        if len(body) < length or len(crc) < 4:
            raise ValueError(f"PNG chunk {kind!r} is cut short")
        if zlib.crc32(kind + body) & 0xFFFFFFFF != struct.unpack(">I", crc)[0]:
            raise ValueError(f"PNG chunk {kind!r} fails its CRC check")
        if kind == b"IDAT":
            idat.append(body)
        elif kind == b"tRNS":
            trns = body
        elif kind == b"IEND":
            break
        pos += 12 + length
    else:
        raise ValueError("PNG file ends before its IEND chunk")
    if not idat:
        raise ValueError("PNG file has no image data")
    return b"".join(idat), trns


def read_png16_colour(name: str, header: tuple[int, int, int, int, int]) -> Decoded:
    """16-bit RGB / RGBA / gray+alpha PNG at full depth.

    Pillow's "zip" decoder does PNG's inflate and row unfiltering in C; its RGB;16B and RGB;16L
    unpackers keep the first or second byte of each big-endian sample, so two decodes give the
    high and the low bytes. Gray+alpha (4 bytes per pixel) unfilters exactly like 8-bit RGBA.
    """
    width, height, _, colour, interlace = header
    data, trns = png_chunks(name)
    size = (width, height)
    if colour == 4:
        raw = np.asarray(Image.frombytes("RGBA", size, data, "zip", "RGBA", interlace)).astype(np.uint16)
        gray = (raw[..., 0] << 8) | raw[..., 1]
        alpha = (raw[..., 2] << 8) | raw[..., 3]
        return Decoded(gray[..., None], 16, alpha.astype(np.uint16), "16-bit grayscale + alpha")
    mode = "RGB" if colour == 2 else "RGBA"
    hi = np.asarray(Image.frombytes(mode, size, data, "zip", f"{mode};16B", interlace)).astype(np.uint16)
    lo = np.asarray(Image.frombytes(mode, size, data, "zip", f"{mode};16L", interlace))
    full = (hi << 8) | lo
    if mode == "RGBA":
        return Decoded(full[..., :3], 16, full[..., 3].astype(np.uint16), "16-bit RGBA")
    alpha = None
    if trns is not None and len(trns) == 6:  # one fully transparent colour
        key = np.array(struct.unpack(">HHH", trns), dtype=np.uint16)
        alpha = (~np.all(full == key, axis=-1)).astype(np.uint16) * np.uint16(65535)
    return Decoded(full, 16, alpha, "16-bit RGB" + (" + transparency" if alpha is not None else ""))


def read_tiff(name: str) -> Decoded:
    try:
        import tifffile
    except ImportError:
        raise ESRGANError(f"{name}: 16-bit colour TIFF needs tifffile (pip install tifffile)") from None
    try:
        a = tifffile.imread(name, key=0)
    except Exception as exc:  # tifffile raises many types for broken or exotic files
        raise ESRGANError(f"{name}: cannot decode TIFF ({' '.join(str(exc).split())[:200]})") from exc
    if a.dtype != np.uint16 and a.dtype != np.uint8:
        raise ESRGANError(f"{name}: TIFF sample type {a.dtype} is not supported (8 or 16-bit only)")
    bits = 16 if a.dtype == np.uint16 else 8
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ESRGANError(f"{name}: TIFF layout {a.shape} is not supported")
    channels = a.shape[2]
    alpha = a[..., -1] if channels in (2, 4) else None
    colour = a[..., :-1] if alpha is not None else a
    kind = "grayscale" if colour.shape[2] == 1 else "RGB"
    return Decoded(colour, bits, alpha, f"{bits}-bit {kind}" + (" + alpha" if alpha is not None else ""))


def encode_png16(f: Any, array: np.ndarray, icc: bytes | None = None, rows_per_chunk: int = 256) -> None:
    """Write a 16-bit PNG (gray, gray+alpha, RGB or RGBA) to the binary file `f`.

    Rows use the Sub filter (difference to the pixel on the left, byte-wise modulo 256), which
    compresses photos well and vectorises; the image is deflated in bands to bound memory.
    """
    height, width, channels = array.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    bpp = 2 * channels

    def chunk(kind: bytes, body: bytes) -> None:
        f.write(struct.pack(">I", len(body)) + kind + body)
        f.write(struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    f.write(PNG_SIGNATURE)
    chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0))
    if icc:
        chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc))
    deflate = zlib.compressobj(6)
    for y0 in range(0, height, rows_per_chunk):
        band = np.ascontiguousarray(array[y0 : y0 + rows_per_chunk], dtype=">u2")
        raw = band.view(np.uint8).reshape(band.shape[0], width * bpp)
        filtered = np.empty((raw.shape[0], raw.shape[1] + 1), np.uint8)
        filtered[:, 0] = 1  # filter type Sub
        filtered[:, 1 : 1 + bpp] = raw[:, :bpp]
        np.subtract(raw[:, bpp:], raw[:, :-bpp], out=filtered[:, 1 + bpp :])
        data = deflate.compress(filtered.tobytes())
        if data:
            chunk(b"IDAT", data)
    chunk(b"IDAT", deflate.flush())
    chunk(b"IEND", b"")


def encode_tiff16(f: Any, array: np.ndarray, icc: bytes | None) -> None:
    try:
        import tifffile
    except ImportError:
        if array.shape[2] == 1:  # Pillow writes 16-bit grayscale TIFF itself
            Image.fromarray(array[..., 0].copy()).save(f, format="TIFF", compression="tiff_deflate")
            return
        raise ESRGANError("writing 16-bit colour TIFF needs tifffile (pip install tifffile)") from None
    extras = {"extrasamples": ["unassalpha"]} if array.shape[2] in (2, 4) else {}
    photometric = "rgb" if array.shape[2] >= 3 else "minisblack"
    kwargs: dict[str, Any] = {"photometric": photometric, "compression": "zlib", **extras}
    if icc:
        kwargs["iccprofile"] = icc
    buffer = io.BytesIO()  # tifffile takes a path or a BytesIO, not an os.fdopen file
    tifffile.imwrite(buffer, array if array.shape[2] > 1 else array[..., 0], **kwargs)
    f.write(buffer.getbuffer())
