"""JPEG compression artefacts through Pillow's libjpeg(-turbo): the real codec, not a model of it.

Why not a differentiable torch JPEG (Real-ESRGAN's DiffJPEG): the artefacts a model must learn to
remove come from libjpeg in the wild, so the exact encoder (its quantisation tables, 4:2:0 chroma
subsampling, rounding) is the better source; nothing differentiates through the degradation anyway.
The cost: each image goes to the CPU and back (a few ms per 256 x 256 image; the encoder releases
the GIL, so images are coded in parallel threads), and the quality is an integer.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def jpeg_roundtrip(image: Tensor, quality: int) -> Tensor:
    """Encode a (3, H, W) float image in [0, 1] as JPEG at `quality` (1..100) and decode it again."""
    array = (image.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array), "RGB").save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        out = np.asarray(decoded.convert("RGB"))
    return torch.from_numpy(out.copy()).permute(2, 0, 1).to(image.device, image.dtype) / 255


def jpeg_roundtrip_many(images: Sequence[Tensor], qualities: Sequence[int]) -> list[Tensor]:
    """`jpeg_roundtrip` of each image at its own quality, in threads (same result as one by one)."""
    # Threads pay off only with cores to spare (a GPU machine); on a few cores they only add overhead.
    workers = min(len(images), (os.cpu_count() or 1) // 2, 8)
    if workers < 2:
        return [jpeg_roundtrip(x, q) for x, q in zip(images, qualities, strict=True)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(jpeg_roundtrip, images, qualities))
