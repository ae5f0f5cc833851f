"""Real photographs that installed packages already ship, for quick training runs and demos.

No network: the photos come from scikit-image (`skimage/data`), scikit-learn
(`sklearn/datasets/images`), matplotlib (`mpl-data/sample_data`) and, where installed, Debian's
`mate-backgrounds` (`/usr/share/backgrounds/mate/nature`). Only colour photographs of natural
scenes are listed, by name: the synthetic, text, binary, grayscale and microscopy/medical images
those packages also ship would teach a super-resolution model the wrong statistics. Left out on
purpose: skimage's `motorcycle_right` (the stereo twin of `motorcycle_left`, a near duplicate that
could leak between train and val) and `hubble_deep_field` (mostly black sky).

`materialize_sample_split` copies them as RGB PNG into `train/` and `val/`; the split is fixed by
name (`DEFAULT_HOLDOUT`), so it is the same on every machine that has the same packages.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from esrgan.errors import ESRGANError
from esrgan.images.image_io import load_rgb, write_image

__all__ = [
    "DEFAULT_HOLDOUT",
    "PACKAGE_PHOTOS",
    "SAMPLES",
    "materialize_sample_split",
    "photo_name",
    "sample_photos",
    "with_sample_folders",
]

# (importable package, folder inside it, photo file names)
PACKAGE_PHOTOS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("skimage", "data", ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")),
    ("sklearn", "datasets/images", ("china.jpg", "flower.jpg")),
    ("matplotlib", "mpl-data/sample_data", ("grace_hopper.jpg",)),
)
MATE_NATURE = Path("/usr/share/backgrounds/mate/nature")
_MATE_PREFIX = "mate-"
_PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png")

# A cat, a portrait and a building with trees: three different kinds of texture, from the three
# pip packages, so a run has validation photos whenever any two of those packages are installed.
DEFAULT_HOLDOUT = ("chelsea", "grace_hopper", "china")


def _package_dir(package: str) -> Path | None:
    """Where an installed package lives, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sample_photos() -> list[Path]:
    """The photographs available on this machine, in a fixed order (packages first, then MATE's)."""
    photos: list[Path] = []
    for package, folder, names in PACKAGE_PHOTOS:
        root = _package_dir(package)
        if root is None:
            continue
        photos += [root / folder / name for name in names if (root / folder / name).is_file()]
    if MATE_NATURE.is_dir():
        photos += sorted(
            p for p in MATE_NATURE.iterdir() if p.is_file() and p.suffix.lower() in _PHOTO_EXTENSIONS
        )
    return photos


def photo_name(path: Path) -> str:
    """The name a sample photo is stored under: its stem, with a prefix for MATE's wallpapers."""
    if path.parent == MATE_NATURE:
        return _MATE_PREFIX + path.stem.lower().replace(" ", "_")
    return path.stem


def materialize_sample_split(
    out_dir: str | Path, holdout: Sequence[str] | None = DEFAULT_HOLDOUT
) -> tuple[Path, Path]:
    """Copy the sample photos as RGB PNG into `out_dir/train` and `out_dir/val`; return the two folders.

    `holdout` names the photos (see `photo_name`) that go to `val`; listed photos whose package is
    not installed are skipped, unknown names are an error. If none of them is installed, every fifth
    photo (by name) is held out instead, so that `val` is never empty. Files already there with the
    same pixels are left alone; a sample photo lying in the wrong folder (from a run with another
    split) is removed so it cannot leak.
    """
    photos = {photo_name(p): p for p in sample_photos()}
    if not photos:
        raise ESRGANError(
            "no sample photos found: pip install scikit-image scikit-learn matplotlib "
            "(or apt install mate-backgrounds)"
        )
    if len(photos) < 2:
        raise ESRGANError(f"only one sample photo found ({next(iter(photos))}); a train/val split needs two")
    val_names = _holdout_names(sorted(photos), holdout)
    out = Path(out_dir)
    folders = {"train": out / "train", "val": out / "val"}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for name, source in photos.items():
        held_out = name in val_names
        # A copy in the other folder (from a run with another split) would leak: removed.
        (folders["train" if held_out else "val"] / f"{name}.png").unlink(missing_ok=True)
        target = folders["val" if held_out else "train"] / f"{name}.png"
        pixels = load_rgb(source)
        if not (target.is_file() and _same_pixels(target, pixels)):
            write_image(target, pixels)
    return folders["train"], folders["val"]


def _holdout_names(names: list[str], holdout: Sequence[str] | None) -> set[str]:
    holdout = DEFAULT_HOLDOUT if holdout is None else (holdout,) if isinstance(holdout, str) else holdout
    known = set(names) | {Path(f).stem for _, _, files in PACKAGE_PHOTOS for f in files}
    unknown = [n for n in holdout if n not in known]
    if unknown:
        raise ESRGANError(
            f"unknown sample photo(s) to hold out: {', '.join(unknown)}; available: {', '.join(names)}"
        )
    chosen = {n for n in holdout if n in names}
    if not chosen:
        chosen = set(names[4::5]) or {names[-1]}
    if len(chosen) == len(names):
        raise ESRGANError(f"holding out {sorted(chosen)} leaves no photo for training")
    return chosen


def _same_pixels(path: Path, pixels: np.ndarray) -> bool:
    try:
        existing = load_rgb(path)
    except ESRGANError:
        return False
    return existing.dtype == pixels.dtype and np.array_equal(existing, pixels)


SAMPLES = "samples:"  # `data.train_hr: samples:train`, `data.val_hr: samples:val` in a training config


def with_sample_folders(cfg: Any) -> Any:
    """The training config with `samples:train` / `samples:val` folders made real.

    They name this module's fixed split of the sample photos, copied into `<output_dir>/sample_photos`
    on first use; so `esrgan train configs/builtin_x4.yaml` alone reproduces the built-in model on
    any machine with the same packages. Other folders are left as they are.
    """
    keys = [k for k in ("train_hr", "val_hr") if str(getattr(cfg.data, k) or "").startswith(SAMPLES)]
    if not keys:
        return cfg
    splits = {k: str(getattr(cfg.data, k))[len(SAMPLES) :] for k in keys}
    for key, value in splits.items():
        if value not in ("train", "val"):
            raise ESRGANError(
                f"data.{key}: {SAMPLES}{value} is not a sample split; use {SAMPLES}train or {SAMPLES}val"
            )
    train_dir, val_dir = materialize_sample_split(Path(cfg.output_dir) / "sample_photos")
    folders = {"train": str(train_dir), "val": str(val_dir)}
    data = dataclasses.replace(cfg.data, **{k: folders[v] for k, v in splits.items()})
    return dataclasses.replace(cfg, data=data)
