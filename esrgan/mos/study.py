"""`esrgan mos create`: a study folder holding anonymised copies of every image to rate.

    STUDY/study.json      methods, images, items (id -> image, method), calibration pairs
    STUDY/images/ID.png   one file per item; ids are random, so neither a file name nor a URL
                          tells a rater which method made the image
    STUDY/ratings.sqlite  the ratings (see storage.py), created empty

Each method folder must hold one image per HR image, of the HR image's size, named like it (same
stem, or `<stem>_x<scale>` as `esrgan upscale` names its outputs). The nearest-neighbour version is
made from the HR image: MATLAB bicubic down by `scale` (how the LR inputs are made), then
nearest-neighbour back up.

Calibration, as SRGAN's: nearest-neighbour (score 1) and HR (score 5) versions of images outside
the rated set, so that no rater sees a test image labelled "5" before rating it. By default they are
the sample photos that installed packages ship (`esrgan.data.samples`), skipping any whose pixels
equal a rated HR image's; `calibration_hr` names a folder instead, and one of its images with the
pixels of a rated image is refused unless `allow_overlap`.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from esrgan.atomic import atomic_directory, write_text_atomic
from esrgan.data import samples
from esrgan.errors import ESRGANError
from esrgan.images.bicubic import imresize
from esrgan.images.image_io import IMAGE_EXTENSIONS, read_image, write_image
from esrgan.mos.storage import Ratings

HR, NEAREST = "HR", "nearest"
STUDY_FORMAT = "esrgan-mos-1"
DEFAULT_CALIBRATION = 3
METHOD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,39}$")


@dataclass(frozen=True)
class Item:
    id: str
    image: str  # the HR image's stem
    method: str  # a method name, "HR" or "nearest"


@dataclass
class Study:
    folder: Path
    methods: list[str]  # the methods compared, HR and nearest included (report order)
    images: list[str]
    items: list[Item]
    calibration: list[dict[str, str]]  # [{"image", "low": item id, "high": item id}]
    scale: int
    seed: int

    def image_path(self, item_id: str) -> Path | None:
        """The file of an item or calibration image id; None for any other string."""
        known = {i.id for i in self.items} | {c[k] for c in self.calibration for k in ("low", "high")}
        return self.folder / "images" / f"{item_id}.png" if item_id in known else None

    @property
    def ratings_path(self) -> Path:
        return self.folder / "ratings.sqlite"


def parse_method(text: str) -> tuple[str, Path]:
    """`NAME=DIR` -> (name, folder)."""
    name, sep, folder = text.partition("=")
    name = name.strip()
    if not sep or not folder:
        raise ESRGANError(f"--method must be NAME=DIR, not {text!r}")
    if not METHOD_NAME.match(name):
        raise ESRGANError(f"method name {name!r}: use letters, digits and _.+- (up to 40 characters)")
    if name in (HR, NEAREST):
        raise ESRGANError(f"method name {name!r} is reserved for the study's own {name} images")
    return name, Path(folder)


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ESRGANError(f"{folder}: no such folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def match_image(stem: str, files: list[Path], method: str, scale: int) -> Path:
    pattern = re.compile(rf"^{re.escape(stem)}(_x\d+(\.\d+)?)?$")
    found = [p for p in files if pattern.match(p.stem)]
    if not found:
        raise ESRGANError(f"method {method}: no image for HR image {stem!r} (name it {stem}_x{scale}.png)")
    if len(found) > 1:
        raise ESRGANError(
            f"method {method}: several images match HR image {stem!r}: {', '.join(p.name for p in found)}"
        )
    return found[0]


def nearest_version(pixels: np.ndarray, scale: int) -> np.ndarray:
    """HR -> MATLAB-bicubic LR (1/scale) -> nearest-neighbour up to the HR size."""
    height, width = pixels.shape[:2]
    lr = imresize(pixels, 1.0 / scale)
    up = np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)
    return np.ascontiguousarray(up[:height, :width])


def create_study(
    folder: str | Path,
    methods: list[tuple[str, Path]],
    hr: str | Path,
    *,
    scale: int = 4,
    calibration: int | None = None,
    calibration_hr: str | Path | None = None,
    allow_overlap: bool = False,
    seed: int | None = None,
    force: bool = False,
) -> Study:
    folder, hr = Path(folder), Path(hr)
    if not methods:
        raise ESRGANError("give at least one --method NAME=DIR")
    names = [n for n, _ in methods]
    if len(set(names)) != len(names):
        raise ESRGANError("method names must be different")
    if scale < 2:
        raise ESRGANError(f"--scale must be at least 2, not {scale}")
    hr_files = image_files(hr)
    if not hr_files:
        raise ESRGANError(f"{hr}: no images")
    stems = [p.stem for p in hr_files]
    if len(set(stems)) != len(stems):
        raise ESRGANError(f"{hr}: two HR images share a name (stem)")
    calib_files = image_files(Path(calibration_hr)) if calibration_hr else samples.sample_photos()
    if not calib_files and not calibration_hr:
        raise ESRGANError("no sample photos for calibration (pip install scikit-image): use --calibration-hr")
    if calibration is None:
        calibration = min(DEFAULT_CALIBRATION, len(calib_files))
    if calibration < 1 or calibration > len(calib_files):
        raise ESRGANError(f"--calibration must be 1..{len(calib_files)} (the calibration images available)")
    method_files = {name: image_files(path) for name, path in methods}

    items: list[Item] = []
    calib: list[dict[str, str]] = []
    with atomic_directory(folder, replace=force) as tmp:
        (tmp / "images").mkdir()

        def store(pixels: Any, bit_depth: int) -> str:
            item_id = secrets.token_hex(6)
            write_image(tmp / "images" / f"{item_id}.png", pixels, bit_depth=bit_depth)
            return item_id

        rated: dict[str, str] = {}  # pixel digest -> the rated HR image's name
        for path in hr_files:
            ref = read_image(path)
            hr_pixels = _with_alpha(ref)
            rated.setdefault(_digest(hr_pixels), path.name)
            entries = {
                HR: (hr_pixels, ref.bit_depth),
                NEAREST: (nearest_version(hr_pixels, scale), ref.bit_depth),
            }
            for name, _ in methods:
                found = match_image(path.stem, method_files[name], name, scale)
                data = read_image(found)
                if (data.width, data.height) != (ref.width, ref.height):
                    size = f"{data.width}x{data.height} but HR {path.name} is {ref.width}x{ref.height}"
                    raise ESRGANError(f"method {name}: {found.name} is {size}")
                entries[name] = (_with_alpha(data), data.bit_depth)
            for method in [NEAREST, *names, HR]:
                pixels, bits = entries[method]
                items.append(Item(store(pixels, bits), path.stem, method))
        for path, data in _calibration_images(calib_files, calibration, rated, calibration_hr, allow_overlap):
            pixels = _with_alpha(data)
            low = store(nearest_version(pixels, scale), data.bit_depth)
            calib.append({"image": path.stem, "low": low, "high": store(pixels, data.bit_depth)})
        seed = secrets.randbits(32) if seed is None else seed
        study = Study(folder, [NEAREST, *names, HR], stems, items, calib, scale, seed)
        meta = {
            "format": STUDY_FORMAT,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "scale": scale,
            "seed": study.seed,
            "methods": study.methods,
            "method_sources": {name: str(path) for name, path in methods} | {HR: str(hr)},
            "calibration_source": str(calibration_hr or "sample photos (esrgan.data.samples)"),
            "images": stems,
            "items": [{"id": i.id, "image": i.image, "method": i.method} for i in items],
            "calibration": calib,
        }
        write_text_atomic(tmp / "study.json", json.dumps(meta, indent=1))
        Ratings(tmp / "ratings.sqlite").close()
    return study


def _digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(repr((pixels.shape, pixels.dtype.str)).encode() + pixels.tobytes()).hexdigest()


def _calibration_images(
    files: list[Path], count: int, rated: dict[str, str], folder: str | Path | None, allow_overlap: bool
) -> list[tuple[Path, Any]]:
    """The first `count` calibration images not among the rated ones (by pixels): sample photos
    that are rated are skipped; an image of `folder` that is rated is refused unless `allow_overlap`."""
    chosen = []
    for path in files:
        data = read_image(path)
        same = rated.get(_digest(_with_alpha(data)))
        if same is not None and not allow_overlap:
            if folder is not None:
                overlap = f"has the pixels of rated HR image {same}: see --allow-calibration-overlap"
                raise ESRGANError(f"calibration image {path} {overlap}")
            continue
        chosen.append((path, data))
        if len(chosen) == count:
            return chosen
    raise ESRGANError(f"only {len(chosen)} calibration image(s) outside the rated set, {count} asked")


def _with_alpha(data: Any) -> np.ndarray:
    if data.alpha is None:
        return data.pixels
    return np.concatenate([data.pixels, data.alpha[..., None]], axis=2)


def load_study(folder: str | Path) -> Study:
    folder = Path(folder)
    path = folder / "study.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ESRGANError(f"{folder}: not a MOS study (no study.json; see `esrgan mos create`)") from None
    except (OSError, ValueError) as exc:
        raise ESRGANError(f"{path}: unreadable ({exc})") from None
    if meta.get("format") != STUDY_FORMAT:
        raise ESRGANError(f"{path}: not an {STUDY_FORMAT} study file")
    return Study(
        folder=folder,
        methods=list(meta["methods"]),
        images=list(meta["images"]),
        items=[Item(i["id"], i["image"], i["method"]) for i in meta["items"]],
        calibration=list(meta["calibration"]),
        scale=int(meta["scale"]),
        seed=int(meta["seed"]),
    )
