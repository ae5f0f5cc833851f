"""Hand-made PNG files for tests: every filter type, Adam7 interlacing, lying headers.

Written from the PNG specification independently of esrgan.images.image_io, so reading these back
checks our decoder against the format rather than against itself.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def ihdr(width: int, height: int, depth: int, colour_type: int, interlace: int = 0) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, interlace))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows: list[bytes], bpp: int, filters: list[int]) -> bytes:
    """Apply PNG filter `filters[i]` (0..4) to row i, byte by byte, as the specification defines."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for row, kind in zip(rows, filters, strict=True):
        out.append(kind)
        for j, value in enumerate(row):
            left = row[j - bpp] if j >= bpp else 0
            up = prev[j]
            up_left = prev[j - bpp] if j >= bpp else 0
            predictor = [0, left, up, (left + up) // 2, _paeth(left, up, up_left)][kind]
            out.append((value - predictor) & 0xFF)
        prev = row
    return bytes(out)


def encode_png(a: np.ndarray, depth: int = 16, interlace: bool = False, extra: bytes = b"") -> bytes:
    """(H, W, C) uint8/uint16 -> PNG bytes, rows cycling through all five filter types."""
    height, width, channels = a.shape
    samples = a.astype(">u2" if depth == 16 else np.uint8)
    bpp = channels * depth // 8
    data = b""
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        rows = [sub[i].tobytes() for i in range(sub.shape[0])]
        data += filter_rows(rows, bpp, [i % 5 for i in range(len(rows))])
    return (
        SIGNATURE
        + ihdr(width, height, depth, COLOUR_TYPES[channels], int(interlace))
        + extra
        + chunk(b"IDAT", zlib.compress(data))
        + chunk(b"IEND", b"")
    )


def huge_header_png(width: int = 20000, height: int = 20000) -> bytes:
    """A well-formed PNG whose header claims width x height but whose data is a few bytes."""
    return (
        SIGNATURE
        + ihdr(width, height, 8, 2)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )
