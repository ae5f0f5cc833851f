"""Brightness of SR results against the ground truth (ESRGAN paper, Fig. 9a).

The paper shows that a perceptual loss on features *after* activation shifts the brightness of the
results; it compares Gaussian-smoothed grey-level histograms of the outputs with the ground
truth's. Here each SR folder's pixels (all images pooled) give one histogram; the distances to the
ground-truth histogram are

- `mean_shift`: mean grey level of the results minus that of the ground truth (grey levels);
- `emd`: earth mover's distance between the two grey-level distributions (grey levels); a pure
  brightness offset of d levels gives d;
- `l1`: sum of absolute differences of the smoothed, normalised histograms (0 = same, 2 = disjoint).

Grey level: MATLAB `rgb2gray` (0.2989 R + 0.5870 G + 0.1140 B) on the 0..255 scale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from esrgan.analysis.report import new_figure, save_figure
from esrgan.data.folders import list_images
from esrgan.errors import ESRGANError
from esrgan.images.image_io import read_header, read_image
from esrgan.metrics.filtering import gaussian_kernel_1d

GREY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)  # MATLAB rgb2gray
LEVELS = 256


def grey_levels(image: np.ndarray) -> np.ndarray:
    """Grey levels (float64, 0..255) of an HWC/HW image that is uint8, uint16 or float in [0, 1]."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        x = image.astype(np.float64)
    elif image.dtype == np.uint16:
        x = image.astype(np.float64) / 257.0
    else:
        x = np.clip(image.astype(np.float64), 0.0, 1.0) * 255.0
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    if x.ndim == 3:
        x = GREY_WEIGHTS[0] * x[..., 0] + GREY_WEIGHTS[1] * x[..., 1] + GREY_WEIGHTS[2] * x[..., 2]
    return x


def grey_histogram(images: Iterable[np.ndarray]) -> np.ndarray:
    """Counts of rounded grey levels 0..255, pooled over all images (float64, not normalised)."""
    counts = np.zeros(LEVELS, dtype=np.float64)
    for image in images:
        levels = np.clip(np.floor(grey_levels(image) + 0.5), 0, LEVELS - 1).astype(np.int64)
        counts += np.bincount(levels.ravel(), minlength=LEVELS)
    return counts


def smooth_histogram(counts: np.ndarray, sigma: float) -> np.ndarray:
    """Normalise to a distribution and filter with a Gaussian of `sigma` grey levels (0 = none)."""
    total = counts.sum()
    if total <= 0:
        raise ESRGANError("empty histogram: no pixels were read")
    p = counts / total
    if sigma <= 0:
        return p
    radius = int(np.ceil(4 * sigma))
    kernel = gaussian_kernel_1d(2 * radius + 1, sigma)
    # Mirror the ends so mass near 0 and 255 stays in range instead of leaking out.
    padded = np.pad(p, radius, mode="symmetric")
    smoothed = np.convolve(padded, kernel, mode="valid")
    return smoothed / smoothed.sum()


def histogram_distances(counts: np.ndarray, reference: np.ndarray, sigma: float) -> dict[str, float]:
    """`mean_shift`, `emd` (grey levels) and `l1` (smoothed histograms) of `counts` vs `reference`."""
    p, q = counts / counts.sum(), reference / reference.sum()
    levels = np.arange(LEVELS, dtype=np.float64)
    return {
        "mean_shift": float((p * levels).sum() - (q * levels).sum()),
        "emd": float(np.abs(np.cumsum(p) - np.cumsum(q)).sum()),
        "l1": float(np.abs(smooth_histogram(counts, sigma) - smooth_histogram(reference, sigma)).sum()),
    }


@dataclass
class BrightnessResult:
    sigma: float
    reference: np.ndarray  # smoothed ground-truth histogram
    histograms: dict[str, np.ndarray] = field(default_factory=dict)  # label -> smoothed histogram
    distances: dict[str, dict[str, float]] = field(default_factory=dict)  # label -> distances
    images: dict[str, int] = field(default_factory=dict)  # label -> images compared

    def rows(self) -> list[dict[str, float | str | int]]:
        return [{"results": label, "images": self.images[label], **d} for label, d in self.distances.items()]


def match_to_hr(sr_files: Sequence[Path], hr_files: Sequence[Path]) -> list[tuple[Path, Path]]:
    """Pairs (sr, hr): same stem, or the HR stem followed by '_' or '-' and a tag ('baboon_ESRGAN');
    files with no match are left out (`analyze_brightness` refuses them)."""
    by_stem = {p.stem: p for p in hr_files}
    pairs = []
    for sr in sr_files:
        hr = by_stem.get(sr.stem)
        if hr is None:
            candidates = [h for stem, h in by_stem.items() if re.match(rf"{re.escape(stem)}[_-]", sr.stem)]
            hr = max(candidates, key=lambda h: len(h.stem)) if candidates else None
        if hr is not None:
            pairs.append((sr, hr))
    return pairs


# An SR image may lack up to this many right/bottom pixels of its ground truth: the HR was
# mod-cropped to the scale (at most x8) before its LR was made. Anything else is another image.
MAX_MOD_CROP = 7


def analyze_brightness(
    sr_dirs: Mapping[str, str | Path], hr_dir: str | Path, *, sigma: float = 2.0
) -> BrightnessResult:
    """Histograms and distances for each SR folder (label -> folder) against the HR folder.

    Every SR image must match a ground-truth image by name and have its size, or be at most
    `MAX_MOD_CROP` pixels smaller (SR of an LR made from a mod-cropped HR); the pair is then cut to
    its common top-left part. Anything else is refused, before any image is decoded.
    """
    if sigma < 0:
        raise ESRGANError(f"sigma must be >= 0, got {sigma}")
    hr_files = list_images(hr_dir, "HR")
    # (HR file, SR height, SR width) -> (counts of the HR crop, crop size)
    hr_counts_cache: dict[tuple[Path, int, int], tuple[np.ndarray, tuple[int, int]]] = {}
    per_label: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    for label, folder in sr_dirs.items():
        sr_files = list_images(folder, f"SR ({label})")
        pairs = match_to_hr(sr_files, hr_files)
        unmatched = sorted(set(sr_files) - {sr for sr, _ in pairs})
        if unmatched:
            names = ", ".join(p.name for p in unmatched[:3]) + (" ..." if len(unmatched) > 3 else "")
            count = f"{len(unmatched)} of {len(sr_files)} image(s) in {folder}"
            raise ESRGANError(f"{count} match no ground truth in {hr_dir} by name: {names}")
        for sr_path, hr_path in pairs:
            (sh, sw), (hh, hw) = read_header(sr_path).shape, read_header(hr_path).shape
            if not (0 <= hh - sh <= MAX_MOD_CROP and 0 <= hw - sw <= MAX_MOD_CROP):
                problem = f"{sr_path} is {sw}x{sh} but its ground truth {hr_path} is {hw}x{hh}"
                raise ESRGANError(f"{problem}: it must have that size (or up to {MAX_MOD_CROP} px less)")
        sr_counts, hr_counts = np.zeros(LEVELS), np.zeros(LEVELS)
        for sr_path, hr_path in pairs:
            sr = read_image(sr_path).pixels
            key = (hr_path, sr.shape[0], sr.shape[1])
            if key not in hr_counts_cache:
                hr = read_image(hr_path).pixels[: sr.shape[0], : sr.shape[1]]
                hr_counts_cache[key] = (grey_histogram([hr]), hr.shape[:2])
            counts, (h, w) = hr_counts_cache[key]
            sr_counts += grey_histogram([sr[:h, :w]])
            hr_counts += counts
        per_label[label] = (sr_counts, hr_counts, len(pairs))
    # One reference curve for the plot: the ground truth over every image any folder matched (the
    # first crop seen of each, hence reversed).
    reference = {hr_path: counts for (hr_path, _, _), (counts, _) in reversed(hr_counts_cache.items())}
    all_hr = np.sum(list(reference.values()), axis=0)
    result = BrightnessResult(sigma=sigma, reference=smooth_histogram(all_hr, sigma))
    for label, (sr_counts, hr_counts, n) in per_label.items():
        result.histograms[label] = smooth_histogram(sr_counts, sigma)
        result.distances[label] = histogram_distances(sr_counts, hr_counts, sigma)
        result.images[label] = n
    return result


def plot_brightness(result: BrightnessResult, path: str | Path, *, title: str = "") -> None:
    """Overlaid smoothed grey-level histograms: ground truth in black, each result set in colour."""
    fig = new_figure(7.5, 4.2)
    ax = fig.add_subplot()
    levels = np.arange(LEVELS)
    ax.plot(levels, 100 * result.reference, color="black", linewidth=2.2, label="ground truth")
    for label, hist in result.histograms.items():
        d = result.distances[label]
        legend = f"{label}  (mean shift {d['mean_shift']:+.2f}, EMD {d['emd']:.2f})"
        ax.plot(levels, 100 * hist, linewidth=1.4, label=legend)
    ax.set_xlim(0, 255)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("grey level")
    ax.set_ylabel(f"share of pixels (%), Gaussian sigma = {result.sigma:g}")
    ax.set_title(title or "Grey-level histograms vs ground truth", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)
