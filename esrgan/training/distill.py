"""Knowledge distillation data: degraded squares of the training photos and a teacher's output on each.

With `data.distill.teacher` set (a model name or file, e.g. RealESRGAN_x4plus), training aims at
the teacher rather than at the photos. Before the first iteration:

- every training photo is cut into a grid of `crop` px squares (`variants` grids, each shifted by
  crop/variants; a last square flush with the right and bottom edges so every pixel is covered);
- each square is degraded by `data.degradation` (e.g. `realesrgan`) with a seed that is a pure
  function of (seed, grid, photo name, position), so the LR does not depend on which other photos exist;
- the teacher upscales each LR square whole; its 8-bit output is the L1 target;
- validation photos are degraded whole (their own seeds) and their targets are the teacher's too,
  so validation PSNR says how close the student gets to the teacher;
- with `textured` < 1, training uses only that fraction of the squares, those whose target has the
  largest mean luma gradient (a subset folder of hard links beside the pairs; the cache is shared).

The pairs are written once as PNG into `<output_dir>/distill/<key>/` and training reads them as a
paired folder (`train_lr` / `train_hr`, degradation `bicubic`: the LR is used as it comes). The
key hashes everything the pairs depend on (the teacher file's sha256, degradation settings, seed,
crop, variants, precision, photo names), so a changed setting makes a new cache and a rerun or a
resumed run reuses the old one. An interrupted preparation keeps the pairs it finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from esrgan.atomic import write_text_atomic
from esrgan.data.degradations.pipeline import degrade_image
from esrgan.data.folders import list_images
from esrgan.errors import ESRGANError
from esrgan.images.bicubic import mod_crop
from esrgan.images.image_io import load_rgb, read_header, write_image
from esrgan.inference.precision import cpu_has_native_bf16
from esrgan.inference.upscale import upscale
from esrgan.models import hub
from esrgan.models.download import sha256_of
from esrgan.models.loading import load_model

log = logging.getLogger("esrgan.distill")
MANIFEST = "manifest.json"


def grid_starts(length: int, crop: int, offset: int) -> list[int]:
    """Starts of `crop`-long windows from `offset` every `crop`, plus one flush with the end.

    Every position in [offset, length) is covered when `length - offset >= crop`; a side shorter
    than `offset + crop` gets the one flush window (none when `length < crop`).
    """
    if length < crop:
        return []
    starts = list(range(offset, length - crop + 1, crop))
    if not starts or starts[-1] + crop < length:
        starts.append(length - crop)
    return starts


def square_seed(seed: int, split: int, variant: int, name: str, y: int, x: int) -> int:
    """The degradation seed of one square (split 0: training, 1: validation): a pure function."""
    entropy = [seed, split, variant, zlib.crc32(name.encode()), y, x]
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 32) | int(state[1])


def squares(shape: tuple[int, ...], crop: int, variants: int, scale: int) -> list[tuple[int, int, int]]:
    """(variant, y, x) of every square of a photo of `shape`; offsets are multiples of the scale."""
    h, w = shape[0] // scale * scale, shape[1] // scale * scale
    offsets = [(v, (v * crop // variants) // scale * scale) for v in range(variants)]
    return sorted(
        {(v, y, x) for v, o in offsets for y in grid_starts(h, crop, o) for x in grid_starts(w, crop, o)}
    )


def with_distillation(cfg: Any, *, progress: bool = True) -> Any:
    """The training config with its distillation pairs made (or found) and named as paired folders."""
    distill = cfg.data.distill
    if not distill.teacher:
        return cfg
    scale = cfg.generator.scale
    if distill.crop % scale:
        raise ESRGANError(f"data.distill.crop {distill.crop} must be a multiple of the scale {scale}")
    teacher_file = hub.resolve_model(distill.teacher)
    train = list_images(cfg.data.train_hr, "training image")
    val = list_images(cfg.data.val_hr, "validation image") if cfg.data.val_hr else []
    precision = distill.precision
    if precision == "auto":
        precision = "bf16" if cpu_has_native_bf16() else "fp32"
    facts = {
        "teacher": str(distill.teacher),
        "teacher_sha256": sha256_of(teacher_file),
        "precision": precision,
        "degradation": cfg.data.degradation,
        "settings": [dataclasses.asdict(cfg.data.gaussian), dataclasses.asdict(cfg.data.realesrgan)],
        "seed": cfg.seed,
        "scale": scale,
        "crop": distill.crop,
        "variants": distill.variants,
        "train": [p.stem for p in train],
        "val": [p.stem for p in val],
    }
    key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]
    root = Path(cfg.output_dir) / "distill" / f"{Path(str(distill.teacher)).stem}-{key}"
    if not (root / MANIFEST).is_file():
        _make_pairs(cfg, root, teacher_file, train, val, precision, progress)
        write_text_atomic(root / MANIFEST, json.dumps(facts, indent=2) + "\n")
    log.info("distillation pairs from %s (%s) in %s", distill.teacher, precision, root)
    train_dir = root if distill.textured >= 1 else textured_subset(root, distill.textured)
    data = dataclasses.replace(
        cfg.data,
        train_lr=str(train_dir / "train_lr"),
        train_hr=str(train_dir / "train_target"),
        val_lr=str(root / "val_lr") if val else None,
        val_hr=str(root / "val_target") if val else None,
        degradation="bicubic",
    )
    return dataclasses.replace(cfg, data=data)


def texture(image: np.ndarray) -> float:
    """Mean absolute horizontal + vertical difference of the luma (levels of 255): ~1 on flat sky."""
    y = image[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return float(np.abs(np.diff(y, axis=0)).mean() + np.abs(np.diff(y, axis=1)).mean())


def textured_subset(root: Path, fraction: float) -> Path:
    """`root/textured-<percent>/` holding train_lr/ and train_target/ for the `fraction` of the
    training pairs with the most textured targets (hard links, else copies); made once."""
    subset = root / f"textured-{fraction * 100:g}"
    if (subset / MANIFEST).is_file():
        return subset
    targets = list_images(root / "train_target", "distillation target")
    scores = {p.name: texture(load_rgb(p)) for p in targets}
    keep = sorted(scores, key=lambda name: (-scores[name], name))[: max(1, round(fraction * len(scores)))]
    for kind in ("train_lr", "train_target"):
        (subset / kind).mkdir(parents=True, exist_ok=True)
        for name in keep:
            dst = subset / kind / name
            if not dst.exists():
                try:
                    os.link(root / kind / name, dst)
                except OSError:  # a file system without hard links
                    shutil.copyfile(root / kind / name, dst)
    log.info("training on %d of %d squares, texture >= %.2f", len(keep), len(scores), scores[keep[-1]])
    write_text_atomic(subset / MANIFEST, json.dumps({"texture": {n: scores[n] for n in keep}}, indent=1))
    return subset


def _make_pairs(
    cfg: Any,
    root: Path,
    teacher_file: Path,
    train: list[Path],
    val: list[Path],
    precision: str,
    progress: bool,
) -> None:
    scale = cfg.generator.scale
    teacher = load_model(str(teacher_file))
    data = cfg.data
    d = data.distill
    if teacher.scale != scale:
        raise ESRGANError(f"data.distill.teacher {d.teacher} is x{teacher.scale}, the student x{scale}")
    # (photo, split folder prefix, split, variant, y, x, size) of every pair; size 0: the whole photo
    jobs = [
        (p, "train", 0, *vyx, d.crop)
        for p in train
        for vyx in squares(read_header(p).shape, d.crop, d.variants, scale)
    ]
    jobs += [(photo, "val", 1, 0, 0, 0, 0) for photo in val]
    for folder in {f"{split}_{kind}" for _, split, *_ in jobs for kind in ("lr", "target")}:
        (root / folder).mkdir(parents=True, exist_ok=True)
    current: Path | None = None  # jobs come photo by photo: each is decoded once
    with torch.inference_mode():
        for photo, split, split_id, v, y, x, size in tqdm(
            jobs, desc=f"distill ({d.teacher})", disable=not progress, unit="pair"
        ):
            stem = photo.stem if split == "val" else f"{photo.stem}_v{v}_{y}_{x}"
            lr_path = root / f"{split}_lr" / f"{stem}.png"
            target_path = root / f"{split}_target" / f"{stem}.png"
            if lr_path.is_file() and target_path.is_file():
                continue  # made by an interrupted earlier preparation (each file written atomically)
            if photo != current:
                current, image = photo, load_rgb(photo)
            hr = mod_crop(image, scale) if size == 0 else image[y : y + size, x : x + size]
            seed = square_seed(cfg.seed, split_id, v, photo.stem, y, x)
            lr = degrade_image(
                hr, data.degradation, scale, seed, gaussian=data.gaussian, realesrgan=data.realesrgan
            )
            target = upscale(teacher, lr, tile=None if size else "auto", precision=precision)
            write_image(lr_path, lr)
            write_image(target_path, target)
