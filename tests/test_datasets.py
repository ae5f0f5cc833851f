"""Training/validation datasets, the deterministic sampler, augmentation and the sample photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from esrgan.data import samples
from esrgan.data.datasets import PairedImageDataset, SingleImageDataset, ValidationDataset
from esrgan.data.sampler import TrainingSampler
from esrgan.errors import ESRGANError
from esrgan.images.bicubic import imresize
from esrgan.images.image_io import write_image

SCALE = 4


def _random_image(rng: np.random.Generator, h: int, w: int, channels: int = 3) -> np.ndarray:
    # Smooth-ish content plus noise, so crops at different positions differ.
    base = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, channels)).astype(np.float64)
    big = np.kron(base, np.ones((4, 4, 1)))[:h, :w]
    return np.clip(big + rng.normal(0, 20, big.shape), 0, 255).astype(np.uint8)


def _block_mean(hr: np.ndarray, s: int) -> np.ndarray:
    """Independent LR: the rounded mean of each s x s block (commutes with flips and rotations)."""
    h, w, c = hr.shape
    blocks = hr.astype(np.float64).reshape(h // s, s, w // s, s, c)
    return np.floor(blocks.mean(axis=(1, 3)) + 0.5).astype(np.uint8)


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return np.rint(t.numpy().transpose(1, 2, 0) * 255).astype(np.uint8)


def _symmetries(a: np.ndarray) -> list[np.ndarray]:
    """The 8 rotations/reflections of a square image, written with numpy's rot90 and fliplr."""
    return [np.rot90(a, k) for k in range(4)] + [np.rot90(np.fliplr(a), k) for k in range(4)]


def _which(patch: np.ndarray, candidates: list[np.ndarray]) -> int:
    matches = [i for i, c in enumerate(candidates) if c.shape == patch.shape and np.array_equal(c, patch)]
    assert len(matches) == 1, f"patch matches {len(matches)} of the candidates"
    return matches[0]


@pytest.fixture()
def paired_dirs(tmp_path: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    hr_dir, lr_dir = tmp_path / "hr", tmp_path / "lr"
    hr_dir.mkdir()
    lr_dir.mkdir()
    images = {}
    for name, lr_name, (h, w) in (("0001", "0001x4", (48, 64)), ("0002", "0002", (40, 40))):
        hr = _random_image(rng, h, w)
        images[name] = hr
        Image.fromarray(hr).save(hr_dir / f"{name}.png")
        Image.fromarray(_block_mean(hr, SCALE)).save(lr_dir / f"{lr_name}.png")
    return hr_dir, lr_dir, images


# --- sampler ------------------------------------------------------------------------------------


def _keys(sampler: TrainingSampler, count: int) -> list[tuple[int, int]]:
    it = iter(sampler)
    return [next(it) for _ in range(count)]


def test_sampler_resume_gives_the_same_keys() -> None:
    full = _keys(TrainingSampler(7, 4, seed=3), 4 * 10)
    resumed = _keys(TrainingSampler(7, 4, seed=3, start_iteration=6), 4 * 4)
    assert resumed == full[4 * 6 :]
    assert _keys(TrainingSampler(7, 4, seed=3), 40) == full  # a pure function of the seed
    assert _keys(TrainingSampler(7, 4, seed=4), 40) != full


def test_sampler_ranks_split_the_global_batch() -> None:
    batch, iterations = 8, 5
    single = _keys(TrainingSampler(5, batch, seed=1), batch * iterations)
    for world in (2, 4):
        per_rank = [
            _keys(TrainingSampler(5, batch, 1, rank=r, world_size=world), batch // world * iterations)
            for r in range(world)
        ]
        local = batch // world
        for it in range(iterations):
            union = [k for r in range(world) for k in per_rank[r][it * local : (it + 1) * local]]
            assert union == single[it * batch : (it + 1) * batch]
    with pytest.raises(ESRGANError, match="divisible"):
        TrainingSampler(5, 6, 0, rank=0, world_size=4)


def test_sampler_visits_every_image_once_per_epoch() -> None:
    n = 6
    keys = _keys(TrainingSampler(n, 4, seed=9), n * 5)
    for epoch in range(5):
        assert sorted(k[0] for k in keys[epoch * n : (epoch + 1) * n]) == list(range(n))
    assert len({k[1] for k in keys}) == len(keys)  # a distinct crop seed per sample


def test_dataloader_workers_and_resume_give_identical_batches(paired_dirs) -> None:
    hr_dir, lr_dir, _ = paired_dirs
    dataset = PairedImageDataset(hr_dir, lr_dir, SCALE, hr_crop=16)

    def batches(workers: int, start: int, count: int) -> list[dict]:
        sampler = TrainingSampler(len(dataset), 4, seed=5, start_iteration=start)
        loader = torch.utils.data.DataLoader(dataset, batch_size=4, sampler=sampler, num_workers=workers)
        it = iter(loader)
        return [next(it) for _ in range(count)]

    plain = batches(0, 0, 4)
    workers = batches(2, 0, 4)
    resumed = batches(0, 2, 2)
    for a, b in zip(plain, workers, strict=True):
        assert torch.equal(a["hr"], b["hr"]) and torch.equal(a["lr"], b["lr"]) and a["name"] == b["name"]
    for a, b in zip(plain[2:], resumed, strict=True):
        assert torch.equal(a["hr"], b["hr"]) and torch.equal(a["lr"], b["lr"])
    assert plain[0]["hr"].shape == (4, 3, 16, 16) and plain[0]["lr"].shape == (4, 3, 4, 4)
    assert plain[0]["hr"].dtype == torch.float32


# --- paired dataset -----------------------------------------------------------------------------


def test_paired_crops_stay_aligned(paired_dirs) -> None:
    hr_dir, lr_dir, images = paired_dirs
    dataset = PairedImageDataset(hr_dir, lr_dir, SCALE, hr_crop=16)
    assert [p.name for p in dataset.lr_files] == ["0001x4.png", "0002.png"]
    for seed in range(20):
        sample = dataset[(seed % 2, seed)]
        hr, lr = _to_uint8(sample["hr"]), _to_uint8(sample["lr"])
        assert hr.shape == (16, 16, 3) and lr.shape == (4, 4, 3)
        np.testing.assert_array_equal(lr, _block_mean(hr, SCALE))
        assert sample["name"] == ["0001", "0002"][seed % 2]
    again = dataset[(0, 7)]
    assert torch.equal(again["hr"], dataset[(0, 7)]["hr"])


def test_paired_crop_positions_are_on_the_scale_grid(paired_dirs) -> None:
    hr_dir, lr_dir, images = paired_dirs
    dataset = PairedImageDataset(hr_dir, lr_dir, SCALE, hr_crop=16, augment=False)
    full = images["0001"]
    for seed in range(10):
        patch = _to_uint8(dataset[(0, seed)]["hr"])
        found = [
            (t, l)
            for t in range(0, full.shape[0] - 15)
            for l in range(0, full.shape[1] - 15)
            if np.array_equal(full[t : t + 16, l : l + 16], patch)
        ]
        assert found and all(t % SCALE == 0 and l % SCALE == 0 for t, l in found)


def test_paired_errors(tmp_path: Path, paired_dirs) -> None:
    hr_dir, lr_dir, images = paired_dirs
    Image.fromarray(np.zeros((11, 15, 3), np.uint8)).save(lr_dir / "0002.png")  # should be 10x10
    with pytest.raises(ESRGANError, match=r"0002\.png.*15x11.*40x40"):
        PairedImageDataset(hr_dir, lr_dir, SCALE, hr_crop=16)
    (lr_dir / "0002.png").unlink()
    with pytest.raises(ESRGANError, match="no LR image.*0002"):
        PairedImageDataset(hr_dir, lr_dir, SCALE, hr_crop=16)
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(lr_dir / "0002.png")
    with pytest.raises(ESRGANError, match="smaller than the 48x48 crop"):
        PairedImageDataset(hr_dir, lr_dir, SCALE, hr_crop=48)
    with pytest.raises(ESRGANError, match="multiple of the scale"):
        PairedImageDataset(hr_dir, lr_dir, SCALE, hr_crop=18)
    Image.fromarray(np.zeros((41, 40, 3), np.uint8)).save(hr_dir / "0002.png")
    with pytest.raises(ESRGANError, match="not a multiple of the scale"):
        PairedImageDataset(hr_dir, lr_dir, SCALE, hr_crop=16)
    with pytest.raises(ESRGANError, match="does not exist"):
        PairedImageDataset(tmp_path / "nowhere", lr_dir, SCALE)


# --- HR-only dataset ----------------------------------------------------------------------------


def test_single_image_lr_is_matlab_bicubic_of_the_crop(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    hr = _random_image(rng, 32, 32)
    Image.fromarray(hr).save(tmp_path / "a.png")
    plain = SingleImageDataset(tmp_path, SCALE, hr_crop=32, augment=False)[(0, 3)]
    np.testing.assert_array_equal(_to_uint8(plain["hr"]), hr)
    expected_lr = imresize(hr, 1 / SCALE)  # MATLAB imresize of a uint8 image, uint8 out
    np.testing.assert_array_equal(_to_uint8(plain["lr"]), expected_lr)

    dataset = SingleImageDataset(tmp_path, SCALE, hr_crop=32)
    seen = set()
    for seed in range(48):
        sample = dataset[(0, seed)]
        k = _which(_to_uint8(sample["hr"]), _symmetries(hr))
        seen.add(k)
        lr_expected = _symmetries(expected_lr)[k].astype(int)
        # The same transform of the LR; MATLAB rounds after each axis, so a transposed crop may
        # differ by one grey level.
        assert np.abs(_to_uint8(sample["lr"]).astype(int) - lr_expected).max() <= 1
    assert seen == set(range(8))


def test_augmentation_modes(tmp_path: Path) -> None:
    """`hflip` (Real-ESRGAN's use_hflip without use_rot) gives the crop or its left-right mirror,
    each about half the time; `none` the crop; `dihedral` (and True) all 8."""
    rng = np.random.default_rng(7)
    hr = _random_image(rng, 32, 32)
    Image.fromarray(hr).save(tmp_path / "a.png")
    symmetries = _symmetries(hr)
    identity, mirror = 0, _which(hr[:, ::-1], symmetries)
    seen: dict[object, list[int]] = {}
    for mode in ("none", "hflip", "dihedral", True, False):
        dataset = SingleImageDataset(tmp_path, SCALE, hr_crop=32, augment=mode)
        seen[mode] = [_which(_to_uint8(dataset[(0, seed)]["hr"]), symmetries) for seed in range(64)]
    assert set(seen["none"]) == {identity} and seen[False] == seen["none"]
    assert set(seen["hflip"]) == {identity, mirror} and 16 < seen["hflip"].count(mirror) < 48
    assert set(seen["dihedral"]) == set(range(8)) and seen[True] == seen["dihedral"]
    with pytest.raises(ESRGANError, match="augmentation must be one of none, hflip, dihedral"):
        SingleImageDataset(tmp_path, SCALE, hr_crop=32, augment="rot90")


def test_single_image_crop_then_downscale(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    hr = _random_image(rng, 50, 45)  # not multiples of 4: crops stay inside the 48x44 mod-crop
    Image.fromarray(hr).save(tmp_path / "a.png")
    dataset = SingleImageDataset(tmp_path, SCALE, hr_crop=16, augment=False, cache=False)
    for seed in range(10):
        sample = dataset[(0, seed)]
        patch = _to_uint8(sample["hr"])
        positions = [
            (t, l)
            for t in range(0, 48 - 15, SCALE)
            for l in range(0, 44 - 15, SCALE)
            if np.array_equal(hr[t : t + 16, l : l + 16], patch)
        ]
        assert len(positions) == 1
        np.testing.assert_array_equal(_to_uint8(sample["lr"]), imresize(patch, 0.25))


def test_single_image_modes_and_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    gray = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    rgba = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    deep = rng.integers(0, 65536, (16, 16, 3), dtype=np.uint16)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    write_image(tmp_path / "deep.png", deep)
    dataset = SingleImageDataset(tmp_path, SCALE, hr_crop=16, augment=False)
    by_name = {dataset[i]["name"]: dataset[i] for i in range(len(dataset))}
    np.testing.assert_array_equal(_to_uint8(by_name["gray"]["hr"]), np.repeat(gray[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(_to_uint8(by_name["rgba"]["hr"]), rgba[:, :, :3])
    deep_hr = by_name["deep"]["hr"].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(deep_hr, deep / 65535.0, atol=1e-6)
    assert not np.array_equal(np.rint(deep_hr * 255), deep_hr * 255)  # kept at 16 bits
    Image.fromarray(gray[:12]).save(tmp_path / "small.png")
    with pytest.raises(ESRGANError, match=r"small\.png \(16x12\)"):
        SingleImageDataset(tmp_path, SCALE, hr_crop=16)


def test_cache_off_gives_the_same_samples(paired_dirs) -> None:
    hr_dir, _, _ = paired_dirs
    cached = SingleImageDataset(hr_dir, SCALE, hr_crop=16, cache=True)
    uncached = SingleImageDataset(hr_dir, SCALE, hr_crop=16, cache=False)
    assert cached._hr.cached and not uncached._hr.cached
    for key in [(0, 1), (1, 2), (0, 99)]:
        assert torch.equal(cached[key]["hr"], uncached[key]["hr"])
        assert torch.equal(cached[key]["lr"], uncached[key]["lr"])


# --- validation dataset -------------------------------------------------------------------------


def test_validation_mod_crops_and_makes_lr(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    hr = _random_image(rng, 37, 30)
    (tmp_path / "hr").mkdir()
    Image.fromarray(hr).save(tmp_path / "hr" / "img.png")
    sample = ValidationDataset(tmp_path / "hr", scale=SCALE)[0]
    assert sample["name"] == "img"
    np.testing.assert_array_equal(_to_uint8(sample["hr"]), hr[:36, :28])
    np.testing.assert_array_equal(_to_uint8(sample["lr"]), imresize(hr[:36, :28], 0.25))

    (tmp_path / "lr").mkdir()
    lr = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(lr).save(tmp_path / "lr" / "img_x4.png")
    sample = ValidationDataset(tmp_path / "hr", tmp_path / "lr", SCALE)[0]
    np.testing.assert_array_equal(_to_uint8(sample["lr"]), lr)
    Image.fromarray(lr[:8]).save(tmp_path / "lr" / "img_x4.png")
    with pytest.raises(ESRGANError, match=r"img_x4\.png is 7x8.*must be 7x9"):
        ValidationDataset(tmp_path / "hr", tmp_path / "lr", SCALE)


# --- sample photos ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_split(tmp_path_factory: pytest.TempPathFactory):
    # A small stand-in for Debian's mate-backgrounds (2K wallpapers take seconds each to encode).
    mate = tmp_path_factory.mktemp("mate")
    Image.fromarray(_random_image(np.random.default_rng(5), 48, 64)).save(mate / "Fake Meadow.jpg")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(samples, "MATE_NATURE", mate)
        if len(samples.sample_photos()) < 3:
            pytest.skip("no sample photos installed (scikit-image / scikit-learn / matplotlib)")
        yield samples.materialize_sample_split(tmp_path_factory.mktemp("samples"))


def test_sample_split_copies_photos_as_rgb_png(sample_split) -> None:
    train_dir, val_dir = sample_split
    photos = {samples.photo_name(p): p for p in samples.sample_photos()}
    assert "mate-fake_meadow" in photos
    train = {p.stem for p in train_dir.glob("*.png")}
    val = {p.stem for p in val_dir.glob("*.png")}
    assert train | val == set(photos) and not train & val
    assert val == set(samples.DEFAULT_HOLDOUT) & set(photos)
    assert train
    for name in sorted(photos)[:2]:
        copy = val_dir / f"{name}.png" if name in val else train_dir / f"{name}.png"
        with Image.open(copy) as im:
            assert im.mode == "RGB"
            copied = np.asarray(im)
        with Image.open(photos[name]) as im:
            np.testing.assert_array_equal(copied, np.asarray(im.convert("RGB")))


def test_sample_split_is_rerunnable_and_moves_photos(sample_split) -> None:
    train_dir, val_dir = sample_split
    out = train_dir.parent
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    samples.materialize_sample_split(out)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == stamps
    names = sorted(p.stem for p in train_dir.glob("*.png"))
    samples.materialize_sample_split(out, holdout=[names[0]])
    assert {p.stem for p in val_dir.glob("*.png")} == {names[0]}
    assert not (train_dir / f"{names[0]}.png").exists()
    samples.materialize_sample_split(out)  # back to the default split
    with pytest.raises(ESRGANError, match="unknown sample photo"):
        samples.materialize_sample_split(out, holdout=["not_a_photo"])


def test_no_sample_photos_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(samples, "PACKAGE_PHOTOS", (("no_such_package_xyz", "data", ("a.png",)),))
    monkeypatch.setattr(samples, "MATE_NATURE", tmp_path / "missing")
    assert samples.sample_photos() == []
    with pytest.raises(ESRGANError, match="pip install scikit-image"):
        samples.materialize_sample_split(tmp_path)


def test_an_image_that_changed_since_the_dataset_was_built_is_a_clear_error(tmp_path: Path) -> None:
    """Crops are planned from the headers: pixels of another size must not reach the batch."""
    rng = np.random.default_rng(2)
    Image.fromarray(_random_image(rng, 48, 48)).save(tmp_path / "a.png")
    dataset = SingleImageDataset(tmp_path, SCALE, hr_crop=32, cache=False)
    Image.fromarray(_random_image(rng, 40, 56)).save(tmp_path / "a.png")
    with pytest.raises(ESRGANError, match="decoded as 56x40, header said 48x48"):
        dataset[(0, 0)]
