"""Cut large HR images into overlapping sub-images and make their LR copies (`esrgan prepare`).

This is how ESRGAN's DIV2K/Flickr2K training data was made: 480x480 crops every 240 pixels, so
that training reads small files instead of decoding a 2K image per 128x128 patch. Positions along
each axis are `0, step, 2*step, ...` while the crop fits, plus one last crop flush with the
right/bottom edge when the pixels it would otherwise miss are more than `thresh_size` (the
reference's rule; with the default 0 every pixel is covered). An image side shorter than the
crop gives one position covering that whole side.

As BasicSR does for DIV2K (`scripts/data_preparation/extract_subimages.py` run on the HR folder
and on the LR folders made from the whole images), the LR sub-images are cut out of the LR of the
whole image, at `position / s` with size `crop / s`: so the LR pixels near a sub-image's edge come
from HR pixels outside it, as in the LR a model meets at test time. (Downscaling each HR sub-image
on its own would change a 3-pixel ring of every LR sub-image at x4, where the bicubic kernel
reaches past the sub-image's edge.) To make this exact, the whole image is first mod-cropped to a
multiple of every LR scale, and `crop` and `step` must be multiples of them too (refused
otherwise, with the nearest valid values). The LR is MATLAB's bicubic in the image's integer
class. Sub-images go to `OUT/hr/<stem>_sNNN.png` and `OUT/lr_x<s>/<stem>_sNNN.png`. Outputs are
RGB (alpha dropped, gray expanded), 8-bit, or 16-bit for 16-bit inputs.

Re-running is safe: an output that exists with the same pixels is left alone; one with different
pixels stops the run unless `force=True`. Writes are atomic. A bad input image is recorded in the
summary and the others are still processed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from esrgan.atomic import make_folders, remove_if_empty
from esrgan.data.folders import list_images
from esrgan.errors import ESRGANError
from esrgan.images.bicubic import bicubic_downscale, mod_crop
from esrgan.images.image_io import load_rgb, write_image

__all__ = ["PrepareSummary", "prepare_subimages", "subimage_positions"]


@dataclass
class PrepareSummary:
    """What a `prepare_subimages` run did."""

    out_dir: Path
    lr_scales: tuple[int, ...]
    images: int = 0  # input images processed without error
    subimages: int = 0
    written: int = 0  # files written (HR and LR)
    unchanged: int = 0  # files already there with the same pixels
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input file, reason)

    def line(self) -> str:
        folders = ", ".join(["hr", *(f"lr_x{s}" for s in self.lr_scales)])
        text = (
            f"{self.images} image(s) -> {self.subimages} sub-image(s) in {self.out_dir} ({folders}): "
            f"{self.written} file(s) written, {self.unchanged} unchanged"
        )
        if self.failed:
            text += f"; {len(self.failed)} image(s) failed"
        return text


def subimage_positions(length: int, crop: int, step: int, thresh_size: int = 0) -> list[int]:
    """Start positions of the crops along one axis (see the module docstring)."""
    if length <= crop:
        return [0]
    positions = list(range(0, length - crop + 1, step))
    if length - (positions[-1] + crop) > thresh_size:
        positions.append(length - crop)
    return positions


def prepare_subimages(
    input_dir: str | Path,
    out_dir: str | Path,
    *,
    crop: int = 480,
    step: int = 240,
    thresh_size: int = 0,
    scale: int = 4,
    lr_scales: Sequence[int] | None = None,
    force: bool = False,
    progress: bool = False,
    report: Callable[[str], None] | None = None,
) -> PrepareSummary:
    """Cut every image of `input_dir` into sub-images (module docstring); `lr_scales` defaults to
    `(scale,)`, `report` receives one line per failed input."""
    lr_scales = tuple(int(s) for s in (lr_scales if lr_scales else (scale,)))
    _check_options(crop, step, thresh_size, lr_scales)
    files = list_images(input_dir, "input")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ESRGANError(f"output '{out}' exists and is not a folder")
    multiple = math.lcm(*lr_scales)
    summary = PrepareSummary(out_dir=out, lr_scales=lr_scales)
    hr_dir = out / "hr"
    lr_dirs = {s: out / f"lr_x{s}" for s in lr_scales}
    made = [f for folder in (hr_dir, *lr_dirs.values()) for f in make_folders(folder)]

    for path in tqdm(files, desc="prepare", unit="img", dynamic_ncols=True, disable=not progress):
        try:
            hr = load_rgb(path)
            if min(hr.shape[:2]) < multiple:
                raise ESRGANError(f"image {hr.shape[1]}x{hr.shape[0]} is smaller than the scale {multiple}")
            hr = np.ascontiguousarray(mod_crop(hr, multiple))
            lrs = {s: bicubic_downscale(hr, s) for s in lr_scales}  # LR of the whole image, as BasicSR
        except ESRGANError as exc:
            summary.failed.append((str(path), str(exc)))
            if report is not None:
                reason = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
                report(f"skipped {reason}")
            continue
        rows = subimage_positions(hr.shape[0], crop, step, thresh_size)
        boxes = [
            (top, left) for top in rows for left in subimage_positions(hr.shape[1], crop, step, thresh_size)
        ]
        for index, (top, left) in enumerate(boxes, start=1):
            name = f"{path.stem}_s{index:03d}.png"
            _store(summary, hr_dir / name, _window(hr, top, left, crop, 1), force)
            for s, folder in lr_dirs.items():
                _store(summary, folder / name, _window(lrs[s], top, left, crop, s), force)
        summary.images += 1
        summary.subimages += len(boxes)
    remove_if_empty(sorted(made, key=lambda p: len(p.parts), reverse=True))  # all failed: no debris
    return summary


def _check_options(crop: int, step: int, thresh_size: int, lr_scales: tuple[int, ...]) -> None:
    if crop < 1 or step < 1:
        raise ESRGANError(f"crop and step must be positive, got crop={crop}, step={step}")
    if thresh_size < 0:
        raise ESRGANError(f"thresh_size must be >= 0, got {thresh_size}")
    if not lr_scales or any(s < 1 for s in lr_scales):
        raise ESRGANError(f"LR scales must be positive integers, got {lr_scales}")
    multiple = math.lcm(*lr_scales)
    for name, value in (("crop", crop), ("step", step)):
        if value % multiple:
            low, high = value // multiple * multiple, (value // multiple + 1) * multiple
            valid = f"{low} or {high}" if low else str(high)
            raise ESRGANError(
                f"{name} {value} is not a multiple of the LR scale(s) {', '.join(map(str, lr_scales))}: "
                f"use a multiple of {multiple} (e.g. {valid})"
            )


def _window(image: np.ndarray, top: int, left: int, crop: int, scale: int) -> np.ndarray:
    """The sub-image at HR position (top, left) of `image`, an HR image (scale 1) or its LR."""
    t, l, c = top // scale, left // scale, crop // scale
    return np.ascontiguousarray(image[t : t + c, l : l + c])


def _store(summary: PrepareSummary, path: Path, pixels: np.ndarray, force: bool) -> None:
    """Write `pixels` to `path` unless the same pixels are already there."""
    if path.exists():
        try:
            same = np.array_equal(load_rgb(path), pixels)
        except ESRGANError:
            same = False
        if same:
            summary.unchanged += 1
            return
        if not force:
            raise ESRGANError(f"{path} already exists with different content; use --force to overwrite")
    write_image(path, pixels)
    summary.written += 1
