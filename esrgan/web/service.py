"""What the upscale page does, without HTTP: uploaded images, upscale and crop jobs, encodings.

Uploads are decoded with `esrgan.images.image_io.read_pixels`, so the web app refuses exactly what the
CLI refuses (decompression bombs from the header, truncated or non-image files). Results are kept as
the integer arrays `esrgan.upscale` returns (uint8 or uint16, alpha last), and encoded on request
with `write_image`, so PNG keeps 16 bits and alpha, WebP keeps alpha, JPEG drops alpha: as the CLI.
"""

from __future__ import annotations

import io
import re
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import esrgan
from esrgan.errors import ESRGANError
from esrgan.images.bicubic import imresize
from esrgan.images.image_io import read_pixels, write_image
from esrgan.images.scaling import to_float, to_integer
from esrgan.inference.interpolation import validate_alpha
from esrgan.inference.tile_size import check_tile
from esrgan.web.blend import PairBlender
from esrgan.web.catalog import ModelCatalog
from esrgan.web.jobs import Job, JobQueue, Progress
from esrgan.web.lru import LRU

MAX_CROP = 256  # LR pixels per side of a slider preview
CROP_MARGIN = 8  # LR pixels of context around a crop, so its borders match the full image
DOWNLOAD_FORMATS = {
    "png": ("image/png", ".png"),
    "jpeg": ("image/jpeg", ".jpg"),
    "webp": ("image/webp", ".webp"),
}


@dataclass
class Uploaded:
    id: str
    name: str
    pixels: np.ndarray  # uint8/uint16 (H, W, C [+ alpha])
    bit_depth: int
    has_alpha: bool
    icc_profile: bytes | None
    mode: str

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


@dataclass
class Result:
    pixels: np.ndarray
    bit_depth: int
    has_alpha: bool
    icc_profile: bytes | None
    name: str
    source: Uploaded | None = None


def safe_name(name: str | None) -> str:
    """A display/download name from a client-supplied file name: base name, harmless characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")[:80]
    return base or "image"


def encode(pixels: np.ndarray, fmt: str, *, bit_depth: int, icc: bytes | None = None) -> bytes:
    """Bytes of `pixels` as PNG/JPEG/WebP, written by the package's own writer."""
    suffix = DOWNLOAD_FORMATS[fmt][1]
    with tempfile.TemporaryDirectory(prefix="esrgan-web-") as tmp:
        path = Path(tmp) / f"out{suffix}"
        write_image(path, pixels, bit_depth=bit_depth, icc_profile=icc)  # quality 95
        return path.read_bytes()


def view_png(pixels: np.ndarray) -> bytes:
    """An 8-bit PNG for display in the browser (alpha kept; fast compression)."""
    a = to_integer(pixels, 8)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[a.shape[2]]
    buf = io.BytesIO()
    Image.fromarray(a[..., 0] if mode == "L" else a, mode).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class UpscaleService:
    def __init__(self, catalog: ModelCatalog, queue: JobQueue, *, keep_images: int = 8) -> None:
        self.catalog, self.queue = catalog, queue
        self.blends: LRU[tuple[str, str], PairBlender] = LRU(2)  # by (psnr id, gan id)
        self._images: LRU[str, Uploaded] = LRU(keep_images)
        self._encoded: LRU[tuple[str, str], bytes] = LRU(8)

    def add_image(self, path: Path, client_name: str | None) -> Uploaded:
        name = safe_name(client_name)
        try:
            data = read_pixels(path)
        except ESRGANError as exc:
            raise ESRGANError(str(exc).replace(str(path), name)) from None
        has_alpha = data.alpha is not None
        image = Uploaded(
            secrets.token_hex(8), name, data.stacked(), data.bit_depth, has_alpha, data.icc_profile, data.mode
        )
        return self._images.put(image.id, image)

    def image(self, image_id: Any) -> Uploaded:
        image = self._images.get(image_id) if isinstance(image_id, str) else None
        if image is None:
            raise LookupError("unknown or expired image; upload it again")
        return image

    def _model(self, model_id: str, psnr_id: str | None, alpha: float | None) -> Any:
        """Runs on the worker thread: the model, or the in-place blend of the PSNR/GAN pair."""
        gan = self.catalog.load(model_id)
        if not psnr_id:
            return gan
        psnr = self.catalog.load(psnr_id)
        blender = self.blends.get_or_make((psnr_id, model_id), lambda: PairBlender(psnr, gan))
        return blender.at(1.0 if alpha is None else alpha)

    def check_request(self, model_id: Any, psnr_id: Any, alpha: Any) -> float | None:
        """Validate before queueing, so a bad request is an error now rather than a failed job."""
        self.catalog.resolve(model_id)
        if psnr_id:
            self.catalog.resolve(psnr_id)
            return validate_alpha(1.0 if alpha is None else alpha)
        return None

    def submit_upscale(
        self,
        image: Uploaded,
        model_id: str,
        *,
        psnr_id: str | None,
        alpha: float | None,
        outscale: float | None,
        tile: int | None,
    ) -> Job:
        if outscale is not None and not 0 < outscale <= 16:
            raise ESRGANError(f"outscale must be in (0, 16], not {outscale}")
        if tile:  # checked here so that a bad size is an error of the request, not of the job
            check_tile(tile)

        tiling = "auto" if tile is None else (tile or None)

        def work(progress: Progress) -> Result:
            model = self._model(model_id, psnr_id, alpha)
            out = esrgan.upscale(model, image.pixels, tile=tiling, outscale=outscale, progress=progress)
            return Result(out, image.bit_depth, image.has_alpha, image.icc_profile, image.name, image)

        info = {"image": image.id, "model": model_id, "psnr_model": psnr_id, "alpha": alpha}
        return self.queue.submit("upscale", work, info=info)

    def submit_crop(
        self,
        image: Uploaded,
        model_id: str,
        psnr_id: str | None,
        alpha: float | None,
        box: tuple[int, int, int, int],
    ) -> Job:
        width, height = image.size
        x, y, w, h = clamp_box(box, width, height)

        def work(progress: Progress) -> Result:
            model = self._model(model_id, psnr_id, alpha)
            x0, y0 = max(0, x - CROP_MARGIN), max(0, y - CROP_MARGIN)
            x1, y1 = min(width, x + w + CROP_MARGIN), min(height, y + h + CROP_MARGIN)
            out = esrgan.upscale(model, image.pixels[y0:y1, x0:x1], tile=None, progress=progress)
            s = model.scale
            out = out[(y - y0) * s : (y - y0 + h) * s, (x - x0) * s : (x - x0 + w) * s]
            return Result(np.ascontiguousarray(out), image.bit_depth, image.has_alpha, None, image.name)

        info = {"box": [x, y, w, h], "alpha": alpha}
        return self.queue.submit("crop", work, priority=-1, info=info)

    def finished_result(self, job_id: Any) -> Result:
        job = self.queue.get(job_id) if isinstance(job_id, str) else None
        if job is None:
            raise LookupError("unknown or expired job")
        if job.state != "done":
            raise ESRGANError(f"job is {job.state}" + (f": {job.error}" if job.error else ""))
        return job.result

    def cached(self, key: tuple[str, str], make: Callable[[], bytes]) -> bytes:
        return self._encoded.get_or_make(key, make)

    def bicubic(self, result: Result) -> np.ndarray:
        """The source resized to the result's size with MATLAB-style bicubic (the 'before' view)."""
        src = result.source
        if src is None:
            raise ESRGANError("no source image for this result")
        h, w = result.pixels.shape[:2]
        return to_integer(imresize(to_float(src.pixels), None, output_size=(h, w)), 8)


def clamp_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """A crop inside the image, at most MAX_CROP per side (whole numbers; too small made 1 px)."""
    x, y, w, h = box
    w, h = max(1, min(w, MAX_CROP, width)), max(1, min(h, MAX_CROP, height))
    x, y = min(max(0, x), width - w), min(max(0, y), height - h)
    return x, y, w, h
