"""Image folders: listing the images in one, and pairing LR files with HR files by name.

LR files match an HR file by stem, with or without a scale suffix: for `0001.png` at x4 any of
`0001.png`, `0001x4.png` (DIV2K), `0001_x4.png` or `0001-x4.png` (any image extension) is its LR.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from esrgan.errors import ESRGANError
from esrgan.images.image_io import IMAGE_EXTENSIONS

__all__ = ["IMAGE_EXTENSIONS", "list_images", "match_lr_files"]

_SHOWN = 3  # names shown in an error message before "and N more"


def list_images(folder: str | Path, what: str = "image") -> list[Path]:
    """The image files directly inside `folder`, sorted by name (hidden files skipped)."""
    path = Path(folder)
    if not path.exists():
        raise ESRGANError(f"{what} folder '{path}' does not exist")
    if not path.is_dir():
        raise ESRGANError(f"{what} folder '{path}' is not a folder")
    files = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise ESRGANError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {what} folder '{path}'")
    seen: dict[str, Path] = {}
    for p in files:
        if (first := seen.setdefault(p.stem, p)) is not p:
            raise ESRGANError(f"{what} folder has two images named '{p.stem}': {first.name} and {p.name}")
    return files


def match_lr_files(hr_files: Sequence[Path], lr_dir: str | Path, scale: int) -> list[Path]:
    """The LR file of each HR file, in the same order; a clear error if any is missing or ambiguous."""
    lr_files = list_images(lr_dir, "LR")
    suffix = re.compile(rf"[_-]?[xX]{scale}$")
    exact = {p.stem: p for p in lr_files}
    by_base: dict[str, list[Path]] = {}
    for p in lr_files:
        base = suffix.sub("", p.stem)
        if base and base != p.stem:
            by_base.setdefault(base, []).append(p)
    matched, missing = [], []
    for hr in hr_files:
        candidates = [exact[hr.stem]] if hr.stem in exact else by_base.get(hr.stem, [])
        if len(candidates) > 1:
            names = ", ".join(p.name for p in candidates)
            raise ESRGANError(f"several LR images match HR '{hr.name}' in '{lr_dir}': {names}")
        if not candidates:
            missing.append(hr.name)
        else:
            matched.append(candidates[0])
    if missing:
        raise ESRGANError(
            f"no LR image in '{lr_dir}' for {len(missing)} HR image(s): {shown_names(missing)} "
            f"(name LR files as the HR, or with an 'x{scale}' suffix: '{Path(missing[0]).stem}x{scale}.png')"
        )
    return matched


def shown_names(names: list[str]) -> str:
    """The first few names of a list for an error message, then "and N more"."""
    shown = ", ".join(names[:_SHOWN])
    return shown if len(names) <= _SHOWN else f"{shown} and {len(names) - _SHOWN} more"
