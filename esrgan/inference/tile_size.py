"""The tile option resolved to a tile size in LR pixels: a number checked, or `auto`, the largest
tile that fits the memory available (on the CPU no larger than the fastest size). Apart from
esrgan.inference.upscale because esrgan.inference.engine, which upscale runs, sizes `auto`'s probe."""

from __future__ import annotations

import math

import torch

from esrgan.errors import ESRGANError
from esrgan.memory import available_memory
from esrgan.models.descriptor import ModelDescriptor, describe

# Largest CPU tile (LR px). Per-tile RRDB throughput measured on 2 EPYC cores (channels_last,
# 23 blocks): 135 GFLOP/s at 144 px, 133 at 192, 124 at 256; larger tiles recompute less overlap
# (a 512 px side: 3 tiles of 182 rather than 4 of 140), so 192. See bench/bench_upscale.py.
CPU_TILE = 192
GPU_MAX_TILE = 1024
MIN_TILE = 32


def choose_tile(
    tile: int | str | None, model: torch.nn.Module | ModelDescriptor, device: torch.device, dtype: torch.dtype
) -> int | None:
    """Resolve the tile option to LR pixels (None = one whole-image pass)."""
    if tile is None or tile == 0:
        return None
    if tile == "auto":
        return auto_tile(model, device, dtype)
    if isinstance(tile, str):
        try:
            tile = int(tile)
        except ValueError:
            raise ESRGANError(f"tile must be a number of pixels or 'auto', not {tile!r}") from None
        return choose_tile(tile, model, device, dtype)
    return check_tile(tile)


def check_tile(tile: int) -> int:
    """A tile size in LR pixels, refused below MIN_TILE (the command line, web app and API share this)."""
    if tile < MIN_TILE:
        raise ESRGANError(f"tile must be at least {MIN_TILE} px (or 0 for no tiling), not {tile}")
    return int(tile)


def auto_tile(model: torch.nn.Module | ModelDescriptor, device: torch.device, dtype: torch.dtype) -> int:
    """Largest tile that fits the memory available; on CPU also no larger than CPU_TILE (the fastest:
    throughput is flat up to about 192 px tiles and falls for larger ones, as activations leave the cache).

    Peak activation bytes per LR pixel: the widest conv's features at HR a few times over (the
    upsampling tail dominates RRDBNet: about four 64-channel HR tensors alive at once) plus the dense
    blocks' concatenations at LR. CUDA: as large as fits in 60% of free memory, up to GPU_MAX_TILE (an
    out-of-memory error still halves it). Sizes are at the network body's resolution: x2/x1 models
    pixel-unshuffle their input by 2/4, so their tiles are 2/4x larger.
    """
    desc = describe(model)
    width = max((m.out_channels for m in desc.model.modules() if isinstance(m, torch.nn.Conv2d)), default=64)
    per_px = torch.empty(0, dtype=dtype).element_size() * width * (4 * desc.scale**2 + 8)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        fit = int(math.sqrt(0.6 * free / per_px))
        return max(MIN_TILE, min(GPU_MAX_TILE * desc.size_multiple, fit // 32 * 32))
    avail = available_memory()
    cap = CPU_TILE * desc.size_multiple
    fit = int(math.sqrt(0.25 * avail / per_px)) if avail else cap
    return max(MIN_TILE, min(cap, fit // 16 * 16))
