"""Training and validation datasets (PyTorch map-style).

Training datasets are indexed by the keys of `esrgan.data.sampler.TrainingSampler`:
`dataset[(image_index, sample_seed)]` takes its crop position and flip/rotation from
`np.random.default_rng(sample_seed)` alone, so a sample depends on nothing but its key (any number
of DataLoader workers, resumed runs and DDP ranks all get the same patches). A plain integer `i`
means the key `(i, i)`.

Each sample is `{"lr": float32 CHW tensor, "hr": float32 CHW tensor, "name": file stem}`, values in
[0, 1], RGB (grayscale expanded, alpha dropped). Sizes are checked when the dataset is built, so a
bad file fails before training starts rather than in a worker an hour later.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from esrgan.data.augment import NUM_TRANSFORMS, aligned_crop_box, augmentation, dihedral, restrict
from esrgan.data.folders import list_images, match_lr_files, shown_names
from esrgan.errors import ESRGANError
from esrgan.images.bicubic import bicubic_downscale, mod_crop
from esrgan.images.image_io import load_rgb, read_header
from esrgan.images.scaling import to_integer, to_tensor

__all__ = ["PairedImageDataset", "SingleImageDataset", "ValidationDataset"]

log = logging.getLogger(__name__)

_DEFAULT_CACHE_LIMIT_MB = 4096


def _check_scale(scale: int) -> int:
    if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or scale < 1:
        raise ESRGANError(f"scale must be a positive integer, got {scale!r}")
    return int(scale)


def _key(key: Any, num_images: int) -> tuple[int, int]:
    if isinstance(key, (tuple, list)) and len(key) == 2:
        index, seed = int(key[0]), int(key[1])
    else:
        index = seed = int(key)
    if not 0 <= index < num_images:
        raise IndexError(f"image index {index} out of range for {num_images} images")
    return index, seed


class _ImageStore:
    """Decoded integer RGB images (uint8, uint16 for 16-bit files) of a list of files, decoded once at
    construction when `cache` is on and they fit in `limit_mb` (forked DataLoader workers then share
    them), else at every sample."""

    def __init__(self, files: list[Path], sizes: list[tuple[int, int]], cache: bool, limit_mb: int) -> None:
        self.files = files
        self.sizes = sizes
        self._cache: list[np.ndarray] | None = None
        total_mb = sum(3 * h * w for h, w in sizes) / 2**20  # at 8 bits; 16-bit files take twice this
        if cache and total_mb <= limit_mb:
            self._cache = [self._decode(i) for i in range(len(files))]
        elif cache:
            log.warning(
                f"not caching {len(files)} images ({total_mb:.0f} MB decoded, over the {limit_mb} MB limit): "
                "each sample decodes its image again; cut large images with `esrgan prepare`"
            )

    def __getitem__(self, index: int) -> np.ndarray:
        return self._cache[index] if self._cache is not None else self._decode(index)

    @property
    def cached(self) -> bool:
        return self._cache is not None

    def _decode(self, index: int) -> np.ndarray:
        """The pixels, refused when they disagree with the header the crops were planned from."""
        array = load_rgb(self.files[index])
        if array.shape[:2] != self.sizes[index]:
            h, w = self.sizes[index]
            raise ESRGANError(
                f"{self.files[index]}: decoded as {array.shape[1]}x{array.shape[0]}, header said {w}x{h}"
            )
        return array


class _TrainingDataset:
    scale: int
    hr_crop: int
    augment: str  # none | hflip | dihedral (esrgan.data.augment)
    hr_files: list[Path]

    def _open(
        self, hr_dir: str | Path, scale: int, hr_crop: int, augment: bool | str
    ) -> list[tuple[int, int]]:
        """Check the settings and list the HR images; returns their (height, width) from the headers."""
        self.scale = _check_scale(scale)
        if hr_crop < self.scale or hr_crop % self.scale:
            raise ESRGANError(
                f"the HR crop size {hr_crop} must be a positive multiple of the scale {self.scale}"
            )
        self.hr_crop = int(hr_crop)
        self.augment = augmentation(augment)
        files = self.hr_files = list_images(hr_dir, "HR")
        sizes = [read_header(p).shape for p in files]
        small = [f"{p.name} ({w}x{h})" for p, (h, w) in zip(files, sizes, strict=True) if min(h, w) < hr_crop]
        if small:
            raise ESRGANError(
                f"{len(small)} HR image(s) smaller than the {hr_crop}x{hr_crop} crop: "
                f"{shown_names(small)}; lower the crop size or remove them"
            )
        return sizes

    @property
    def lr_crop(self) -> int:
        return self.hr_crop // self.scale

    def __len__(self) -> int:
        return len(self.hr_files)

    def _sample(self, lr: np.ndarray, hr: np.ndarray, rng: np.random.Generator, name: str) -> dict[str, Any]:
        # Drawn whatever the augmentation, so that changing it keeps the same crops.
        k = restrict(int(rng.integers(NUM_TRANSFORMS)), self.augment)
        return {"lr": to_tensor(dihedral(lr, k)), "hr": to_tensor(dihedral(hr, k)), "name": name}


class PairedImageDataset(_TrainingDataset):
    """Random aligned crops of HR images and their LR images (files matched by name).

    LR names may carry a scale suffix (`0001x4.png` for `0001.png`). Every LR must be exactly
    1/scale of its HR in both sides; an HR whose sides are not multiples of the scale is an error
    here (no silent cropping of paired data: which side to drop is ambiguous).
    """

    def __init__(
        self,
        hr_dir: str | Path,
        lr_dir: str | Path,
        scale: int,
        hr_crop: int = 128,
        augment: bool | str = True,  # True: dihedral, False: none
        *,
        cache: bool = True,
        cache_limit_mb: int = _DEFAULT_CACHE_LIMIT_MB,
    ) -> None:
        hr_sizes = self._open(hr_dir, scale, hr_crop, augment)
        self.lr_files = match_lr_files(self.hr_files, lr_dir, self.scale)
        lr_sizes = [read_header(p).shape for p in self.lr_files]
        s = self.scale
        for hr, lr, (hh, hw), (lh, lw) in zip(self.hr_files, self.lr_files, hr_sizes, lr_sizes, strict=True):
            if hh % s or hw % s:
                raise ESRGANError(
                    f"HR image {hr} is {hw}x{hh}, not a multiple of the scale {s}: crop it to "
                    f"{hw - hw % s}x{hh - hh % s} (esrgan prepare does) or train from HR only"
                )
            if (lh * s, lw * s) != (hh, hw):
                raise ESRGANError(
                    f"LR image {lr} is {lw}x{lh} but its HR {hr.name} is {hw}x{hh}: at x{s} the LR "
                    f"must be {hw // s}x{hh // s}"
                )
        self._hr = _ImageStore(self.hr_files, hr_sizes, cache, cache_limit_mb)
        self._lr = _ImageStore(self.lr_files, lr_sizes, cache, cache_limit_mb)

    def __getitem__(self, key: Any) -> dict[str, Any]:
        index, seed = _key(key, len(self.hr_files))
        rng = np.random.default_rng(seed)
        hr, lr = self._hr[index], self._lr[index]
        c = self.lr_crop
        (lt, ll), (ht, hl) = aligned_crop_box(rng, lr.shape[:2], c, self.scale)
        lr_patch = lr[lt : lt + c, ll : ll + c]
        hr_patch = hr[ht : ht + self.hr_crop, hl : hl + self.hr_crop]
        return self._sample(lr_patch, hr_patch, rng, self.hr_files[index].stem)


class SingleImageDataset(_TrainingDataset):
    """Random crops of HR images, each LR made on the fly with MATLAB's bicubic (`imresize`, x1/scale).

    The HR crop is taken first and then downscaled, rather than cropping a downscaled full image:
    the two differ only within about 2 LR pixels of the crop's border (where MATLAB mirrors the
    crop instead of reading its real neighbours), and downscaling a 128x128 crop takes about 0.25 ms
    against 50 ms for a 2040x1356 image (measured here on one CPU core). Crops start on multiples
    of the scale, so the image is in effect mod-cropped. HR images smaller than the crop are an
    error when the dataset is built.
    """

    def __init__(
        self,
        hr_dir: str | Path,
        scale: int,
        hr_crop: int = 128,
        augment: bool | str = True,  # True: dihedral, False: none
        *,
        cache: bool = True,
        cache_limit_mb: int = _DEFAULT_CACHE_LIMIT_MB,
    ) -> None:
        sizes = self._open(hr_dir, scale, hr_crop, augment)
        self._hr = _ImageStore(self.hr_files, sizes, cache, cache_limit_mb)

    def __getitem__(self, key: Any) -> dict[str, Any]:
        index, seed = _key(key, len(self.hr_files))
        rng = np.random.default_rng(seed)
        hr = self._hr[index]
        h, w = hr.shape[:2]
        _, (top, left) = aligned_crop_box(rng, (h // self.scale, w // self.scale), self.lr_crop, self.scale)
        hr_patch = hr[top : top + self.hr_crop, left : left + self.hr_crop]
        lr_patch = bicubic_downscale(hr_patch, self.scale)
        return self._sample(lr_patch, hr_patch, rng, self.hr_files[index].stem)


class ValidationDataset:
    """Whole images for validation and benchmarks: `{"name", "lr", "hr"}`, float32 CHW in [0, 1].

    The HR is mod-cropped to the scale (its last rows/columns dropped); the LR comes from `lr_dir`
    (matched by name, and then it must be exactly 1/scale of the mod-cropped HR) or is made from the
    HR with MATLAB's bicubic. `pair(i)` gives the integer arrays. Decoded pairs are cached.
    """

    def __init__(
        self,
        hr_dir: str | Path,
        lr_dir: str | Path | None = None,
        scale: int = 4,
        *,
        max_images: int | None = None,
        cache: bool = True,
    ) -> None:
        self.scale = _check_scale(scale)
        self.hr_files = list_images(hr_dir, "HR")
        if max_images:
            self.hr_files = self.hr_files[:max_images]
        self.lr_files = match_lr_files(self.hr_files, lr_dir, self.scale) if lr_dir is not None else None
        self.cache = cache
        self._pairs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i, hr_file in enumerate(self.hr_files):
            h, w = read_header(hr_file).shape
            if h < self.scale or w < self.scale:
                raise ESRGANError(f"HR image {hr_file} ({w}x{h}) is smaller than the scale {self.scale}")
            if self.lr_files is None:
                continue
            lh, lw = read_header(self.lr_files[i]).shape
            s, mh, mw = self.scale, h - h % self.scale, w - w % self.scale
            if (lh * s, lw * s) != (mh, mw):
                raise ESRGANError(
                    f"LR image {self.lr_files[i]} is {lw}x{lh} but its HR {hr_file.name} is {w}x{h}: "
                    f"at x{s} the LR must be {mw // s}x{mh // s}"
                )

    @property
    def names(self) -> list[str]:
        return [p.stem for p in self.hr_files]

    def __len__(self) -> int:
        return len(self.hr_files)

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(lr, hr) integer HWC RGB arrays of image `index`; hr is mod-cropped, lr * scale == hr in size."""
        if index in self._pairs:
            return self._pairs[index]
        hr = mod_crop(load_rgb(self.hr_files[index]), self.scale)
        if self.lr_files is None:
            lr = bicubic_downscale(hr, self.scale)
        else:
            lr = load_rgb(self.lr_files[index])
            if lr.dtype != hr.dtype:  # one 8-bit and one 16-bit file: use both at 16 bits
                lr, hr = to_integer(lr, 16), to_integer(hr, 16)
        if self.cache:
            self._pairs[index] = (lr, hr)
        return lr, hr

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"image index {index} out of range for {len(self)} images")
        lr, hr = self.pair(index)
        return {"name": self.hr_files[index].stem, "lr": to_tensor(lr), "hr": to_tensor(hr)}
