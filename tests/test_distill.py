"""Knowledge distillation (esrgan/training/distill.py): the grid, the seeds, and the pairs being the
teacher's output on the degraded LR."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import esrgan
from esrgan.data.degradations.pipeline import degrade_image
from esrgan.images.image_io import load_rgb, write_image
from esrgan.models.srvgg import SRVGGNetCompact
from esrgan.training.config import load_config
from esrgan.training.distill import (
    grid_starts,
    square_seed,
    squares,
    texture,
    textured_subset,
    with_distillation,
)
from esrgan.training.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_grid_covers_every_pixel_and_ends_flush():
    for length, crop, offset in [(600, 384, 0), (1000, 384, 192), (384, 384, 0), (500, 128, 64)]:
        starts = grid_starts(length, crop, offset)
        covered = set()
        for s in starts:
            covered.update(range(s, s + crop))
        assert covered == set(range(offset if length - offset >= crop else length - crop, length))
        assert max(starts) + crop == length and min(starts) >= 0
    assert grid_starts(300, 384, 0) == []


def test_squares_offsets_are_multiples_of_the_scale_and_seeds_depend_only_on_the_square():
    assert all(y % 4 == 0 and x % 4 == 0 for _, y, x in squares((427, 640), 100, 3, 4))
    assert square_seed(0, 0, 1, "a", 8, 16) == square_seed(0, 0, 1, "a", 8, 16)
    assert len({square_seed(0, 0, v, n, 0, 0) for v in (0, 1) for n in ("a", "b")}) == 4


def test_pairs_are_the_teachers_output_on_the_degraded_square(tmp_path: Path):
    from skimage import data

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(data.astronaut()[:96, :128]).save(photos / "p0.png")
    torch.manual_seed(0)
    teacher = SRVGGNetCompact(scale=4, num_feat=8, num_conv=1)
    esrgan.save_model(teacher, tmp_path / "teacher.pth")
    overrides = [
        f"output_dir={tmp_path / 'runs'}",
        f"data.train_hr={photos}",
        "data.val_hr=null",
        f"data.distill.teacher={tmp_path / 'teacher.pth'}",
        "data.distill.crop=64",
        "data.distill.variants=2",
        "data.distill.precision=fp32",
        "generator.pretrained=null",
        "generator.num_feat=8",
        "generator.num_conv=1",
        "data.hr_crop=32",
        "data.batch_size=2",
        "total_iters=1",
        "tensorboard=false",
    ]
    cfg = load_config(Path(__file__).parents[1] / "configs" / "builtin_real_x4.yaml", overrides)
    made = with_distillation(cfg, progress=False)
    lr_files = sorted(Path(made.data.train_lr).glob("*.png"))
    # 96x128 with 64 px squares: grid 0 at y {0, 32} x {0, 64}; grid 1 (offset 32) at y {32} x {32, 64}
    assert [p.stem for p in lr_files] == sorted(
        f"p0_v{v}_{y}_{x}"
        for v, y, x in [(0, 0, 0), (0, 0, 64), (0, 32, 0), (0, 32, 64), (1, 32, 32), (1, 32, 64)]
    )
    photo = load_rgb(photos / "p0.png")
    square = photo[32:96, 64:128]
    lr = degrade_image(square, "realesrgan", 4, square_seed(0, 0, 1, "p0", 32, 64))
    assert np.array_equal(load_rgb(Path(made.data.train_lr) / "p0_v1_32_64.png"), lr)
    with torch.no_grad():
        x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
        expected = (teacher.eval()(x)[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    got = load_rgb(Path(made.data.train_hr) / "p0_v1_32_64.png")
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert made.data.degradation == "bicubic"
    # Cached: a second call makes nothing new; training runs on the pairs.
    stamp = (Path(made.data.train_hr) / "p0_v0_0_0.png").stat().st_mtime_ns
    assert with_distillation(cfg, progress=False).data == made.data
    assert (Path(made.data.train_hr) / "p0_v0_0_0.png").stat().st_mtime_ns == stamp
    assert train(cfg).is_file()


def test_texture_is_the_mean_luma_step():
    ramp = np.repeat(np.arange(64, dtype=np.uint8)[None, :, None], 32, axis=0).repeat(3, axis=2)
    assert texture(ramp) == pytest.approx(1.0, abs=1e-4)  # 1 level per column, 0 per row
    stripes = np.zeros((8, 8, 3), np.uint8)
    stripes[::2] = 200  # rows alternate 0 / 200: vertical steps of 200, no horizontal ones
    assert texture(stripes) == pytest.approx(200.0 * 0.299 + 200 * 0.587 + 200 * 0.114, rel=1e-4)


def test_textured_subset_keeps_the_most_textured_pairs_once(tmp_path: Path):
    rng = np.random.default_rng(0)
    for kind in ("train_lr", "train_target"):
        (tmp_path / kind).mkdir()
    for name, amplitude in [("flat", 0), ("faint", 8), ("busy", 80), ("busiest", 120)]:
        target = np.clip(128 + rng.normal(0, amplitude + 1e-3, (16, 16, 3)), 0, 255).astype(np.uint8)
        write_image(tmp_path / "train_target" / f"{name}.png", target)
        write_image(tmp_path / "train_lr" / f"{name}.png", target[::4, ::4])
    subset = textured_subset(tmp_path, 0.5)
    for kind in ("train_lr", "train_target"):
        assert sorted(p.stem for p in (subset / kind).iterdir()) == ["busiest", "busy"]
        assert np.array_equal(load_rgb(subset / kind / "busy.png"), load_rgb(tmp_path / kind / "busy.png"))
    (tmp_path / "train_target" / "flat.png").unlink()  # made once: a second call does not look again
    assert textured_subset(tmp_path, 0.5) == subset
    with pytest.raises(esrgan.ESRGANError, match="textured must be in"):
        load_config(None, ["data.distill.textured=0"])


def test_distillation_with_train_lr_is_refused(tmp_path: Path):
    with pytest.raises(esrgan.ESRGANError, match="data.train_lr is made by data.distill"):
        load_config(None, ["data.distill.teacher=builtin", f"data.train_lr={tmp_path}"])


def test_builtin_real_is_a_packaged_name_with_its_teacher_and_license():
    from esrgan.models import hub

    meta = hub.builtin_metadata("builtin-real")
    assert (
        "RealESRGAN_x4plus" in json.loads(meta["teacher"]) and json.loads(meta["license"]) == "BSD-3-Clause"
    )
    model = esrgan.load_model("builtin-real")
    assert model.scale == 4 and "builtin-real" in hub.available_models()
