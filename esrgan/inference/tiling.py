"""Overlapping tiles, blended without seams, assembled band by band into the final output.

The LR image is cut into a grid of equal tiles that overlap by at least `overlap` LR pixels. Each
tile's output is weighted by a separable raised-cosine ramp that falls towards the tile edges
that face a neighbour (never towards the image border), and the blended value is
sum(w * out) / sum(w), so any overlap pattern gives a partition of unity without seams.

Memory: float32 accumulators exist only for one row of tiles (a band). When a band is done, the
rows no later band touches are normalised, converted to the output dtype and written straight
into the caller's output array (uint8 for photos), so upscaling a 4K photo x4 needs the output
itself plus about 130 MB, not 1.6 GB of float32 accumulators.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from esrgan.errors import ESRGANError

RunBatch = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AxisPlan:
    """Tiles along one axis: all of length `tile`, starting at `starts` (multiples of the size multiple)."""

    tile: int
    starts: tuple[int, ...]

    @property
    def padded_length(self) -> int:
        return self.starts[-1] + self.tile


def _ceil_to(x: int, m: int) -> int:
    return -(-x // m) * m


def effective_overlap(overlap: int, multiple: int = 1) -> int:
    """The overlap actually planned: a multiple of `multiple`, and at least 2 x `multiple`.

    Tile starts are rounded to multiples of `multiple`, which can eat up to 2 * (multiple - 1)
    pixels of overlap; the floor keeps neighbouring tiles overlapping whatever the rounding.
    """
    return max(_ceil_to(max(overlap, 1), multiple), 2 * multiple)


def check_overlap(tile: int, overlap: int, multiple: int = 1) -> tuple[int, int]:
    """(tile, overlap) as planned; ESRGANError if that overlap is more than half the tile."""
    tile = max(multiple, tile // multiple * multiple)
    planned = effective_overlap(overlap, multiple)
    if planned * 2 > tile:
        raise ESRGANError(f"tile overlap {planned} is too large for {tile} px tiles (at most half)")
    return tile, planned


def plan_axis(length: int, max_tile: int | None, overlap: int, multiple: int = 1) -> AxisPlan:
    """The fewest equal tiles of at most `max_tile` covering `length` with at least ~`overlap` overlap.

    The tile is then shrunk to the smallest size that still covers the axis with that many tiles,
    so a 160 px side with 128 px tiles costs two 88 px tiles rather than two 128 px ones. `None`
    (or a tile at least as long as the axis) gives a single tile: the whole image, padded up to a
    multiple of `multiple`.
    """
    whole = _ceil_to(length, multiple)
    if max_tile is None or max_tile >= whole:
        return AxisPlan(whole, (0,))
    max_tile, overlap = check_overlap(max_tile, overlap, multiple)
    count = math.ceil((length - overlap) / (max_tile - overlap))
    tile = min(max_tile, _ceil_to(math.ceil((length + (count - 1) * overlap) / count), multiple))
    last = _ceil_to(length - tile, multiple)  # may run past the end by < multiple: padded
    starts = [(round(i * last / (count - 1)) // multiple) * multiple for i in range(count - 1)] + [last]
    return AxisPlan(tile, tuple(starts))


def ramp_weights(length: int, ramp: int, rise: bool, fall: bool) -> np.ndarray:
    """1-D blending weights: raised cosine over `ramp` samples at the ends that meet a neighbour.

    Samples sit at half-integer positions, so every weight is strictly positive and a pixel
    covered by a single tile still gets a well-defined value.
    """
    w = np.ones(length, np.float32)
    ramp = min(ramp, length // 2)
    if ramp > 0:
        r = (0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)).astype(np.float32)
        if rise:
            w[:ramp] = r
        if fall:
            w[length - ramp :] = np.minimum(w[length - ramp :], r[::-1])
    return w


def count_tiles(height: int, width: int, tile: int | None, overlap: int, multiple: int = 1) -> int:
    rows, cols = (plan_axis(n, tile, overlap, multiple).starts for n in (height, width))
    return len(rows) * len(cols)


def tiled_upscale(
    run: RunBatch,
    src: np.ndarray,
    dst: np.ndarray,
    *,
    scale: int,
    tile: int | None,
    overlap: int,
    multiple: int = 1,
    batch_size: int = 1,
    on_tiles: Callable[[int], None] | None = None,
) -> None:
    """Upscale `src` (H, W, C_in) into `dst` (H*scale, W*scale, C_dst) through `run`, tile by tile.

    `src` may be uint8, uint16 (scaled to [0, 1]) or float. `run` maps a float32 NCHW batch of
    tiles to a float32 NCHW batch `scale` times larger (on the CPU). `dst` is uint8, uint16 or
    float and receives clipped, rounded values; if it has one channel and the model returns
    several, their mean is written (grayscale and alpha passes). Any error in `run` propagates:
    no tile is ever skipped.
    """
    height, width = src.shape[:2]
    ys, xs = plan_axis(height, tile, overlap, multiple), plan_axis(width, tile, overlap, multiple)
    ramp = effective_overlap(overlap, multiple) * scale
    band_rows, acc_cols = ys.tile * scale, xs.padded_length * scale
    acc: np.ndarray | None = None  # (band_rows, acc_cols, C_out) float32, allocated on first output
    wacc = np.zeros((band_rows, acc_cols), np.float32)
    tiles_in_band = [(x0, i) for i, x0 in enumerate(xs.starts)]

    for yi, y0 in enumerate(ys.starts):
        wy = ramp_weights(band_rows, ramp, rise=yi > 0, fall=yi < len(ys.starts) - 1)
        for b in range(0, len(tiles_in_band), batch_size):
            batch = tiles_in_band[b : b + batch_size]
            x = np.stack([_read_tile(src, y0, x0, ys.tile, xs.tile) for x0, _ in batch])
            out = run(torch.from_numpy(x))
            expected = (len(batch), out.shape[1], ys.tile * scale, xs.tile * scale)
            if tuple(out.shape) != expected:
                raise ESRGANError(f"the model returned shape {tuple(out.shape)} for input {tuple(x.shape)}")
            hwc = out.detach().to("cpu", torch.float32).permute(0, 2, 3, 1).numpy()
            if acc is None:
                acc = np.zeros((band_rows, acc_cols, hwc.shape[3]), np.float32)
            for (x0, xi), tile_out in zip(batch, hwc, strict=True):
                w = np.outer(wy, ramp_weights(xs.tile * scale, ramp, xi > 0, xi < len(xs.starts) - 1))
                c0 = x0 * scale
                acc[:, c0 : c0 + xs.tile * scale] += tile_out * w[..., None]
                wacc[:, c0 : c0 + xs.tile * scale] += w
            if on_tiles is not None:
                on_tiles(len(batch))
        assert acc is not None
        last_band = yi == len(ys.starts) - 1
        done = band_rows if last_band else (ys.starts[yi + 1] - y0) * scale
        _finalise_rows(acc[:done], wacc[:done], dst, y0 * scale)
        if not last_band:  # keep the rows the next band overlaps; clear the rest
            keep = band_rows - done
            for a in (acc, wacc):
                a[:keep] = a[done:]
                a[keep:] = 0.0


def _read_tile(src: np.ndarray, y0: int, x0: int, th: int, tw: int) -> np.ndarray:
    """One (C, th, tw) float32 tile; parts past the image edge are mirrored in (reflect)."""
    part = src[y0 : y0 + th, x0 : x0 + tw]
    h, w = part.shape[:2]
    peak = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}.get(part.dtype, 1)
    part = part.astype(np.float32) * np.float32(1 / peak)
    if h < th or w < tw:
        # Reflect needs the pad to be shorter than the image; tiny images fall back to edge copies.
        mode = "reflect" if th - h < h and tw - w < w else "edge"
        part = np.pad(part, ((0, th - h), (0, tw - w), (0, 0)), mode=mode)
    return np.ascontiguousarray(part.transpose(2, 0, 1))


def _finalise_rows(acc: np.ndarray, wacc: np.ndarray, dst: np.ndarray, row0: int) -> None:
    """Normalise accumulated rows and write the part inside the image into `dst` starting at row0."""
    rows = min(acc.shape[0], dst.shape[0] - row0)
    if rows <= 0:
        return
    cols = dst.shape[1]
    dst[row0 : row0 + rows] = _for_dst(acc[:rows, :cols] / wacc[:rows, :cols, None], dst)


def _for_dst(values: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Float (H, W, C) output in `dst`'s channels (the mean for a 1-channel pass) and dtype."""
    if dst.shape[2] == 1 and values.shape[2] > 1:
        values = values.mean(axis=2, keepdims=True)
    elif dst.shape[2] != values.shape[2]:
        raise ESRGANError(f"the model returns {values.shape[2]} channels, expected {dst.shape[2]}")
    return quantise(values, dst.dtype)


def quantise(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float [0, 1] -> dtype: rounded and clipped for integers, clipped for floats."""
    np.clip(values, 0.0, 1.0, out=values)
    if dtype == np.uint8 or dtype == np.uint16:
        values *= np.float32(255 if dtype == np.uint8 else 65535)
        np.rint(values, out=values)
    return values.astype(dtype, copy=False)


def mirror_index(i: np.ndarray, n: int) -> np.ndarray:
    """Positions past [0, n) folded back without repeating the edge, as realesrgan-ncnn-vulkan's
    preproc shader does (x -> |x|, then (n - 1) - |x - (n - 1)|)."""
    i = np.abs(i)
    return (n - 1) - np.abs(i - (n - 1))


def prepadded_tiles(
    run: RunBatch,
    src: np.ndarray,
    dst: np.ndarray,
    *,
    scale: int,
    tile: int | None,
    pad: int,
    multiple: int = 1,
    on_tiles: Callable[[int], None] | None = None,
) -> None:
    """realesrgan-ncnn-vulkan's tiling (src/realesrgan.cpp): tiles of `tile` px (None: one tile) from
    the top left, each run with `pad` px of context on every side (mirrored past the image border)
    and cropped back; outputs are placed side by side, not blended."""
    height, width = src.shape[:2]
    step = tile or max(height, width)
    for y0 in range(0, height, step):
        y1 = min(y0 + step, height)
        for x0 in range(0, width, step):
            x1 = min(x0 + step, width)
            # Rows/columns beyond the context up to the size multiple are edge copies, cropped off.
            th, tw = _ceil_to(y1 - y0 + 2 * pad, multiple), _ceil_to(x1 - x0 + 2 * pad, multiple)
            ys = mirror_index(np.minimum(np.arange(y0 - pad, y0 - pad + th), y1 + pad - 1), height)
            xs = mirror_index(np.minimum(np.arange(x0 - pad, x0 - pad + tw), x1 + pad - 1), width)
            part = _read_tile(src[ys][:, xs], 0, 0, th, tw)
            out = run(torch.from_numpy(part[None]))
            if tuple(out.shape[2:]) != (th * scale, tw * scale):
                raise ESRGANError(f"the model returned shape {tuple(out.shape)} for input {part.shape}")
            c = pad * scale
            hwc = out[0, :, c : c + (y1 - y0) * scale, c : c + (x1 - x0) * scale].float().permute(1, 2, 0)
            dst[y0 * scale : y1 * scale, x0 * scale : x1 * scale] = _for_dst(hwc.cpu().numpy().copy(), dst)
            if on_tiles is not None:
                on_tiles(1)
