"""`samples:train` / `samples:val` in a training config name the fixed split of the sample photos."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esrgan.data import samples
from esrgan.errors import ESRGANError
from esrgan.training.config import load_config


@pytest.fixture
def three_photos(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for name in ("chelsea", "astronaut", "coffee"):
        path = src / f"{name}.png"
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    monkeypatch.setattr(samples, "sample_photos", lambda: paths)
    return paths


def test_sample_folders_are_materialized_with_the_fixed_holdout(three_photos, tmp_path):
    cfg = load_config(
        None, [f"output_dir={tmp_path / 'runs'}", "data.train_hr=samples:train", "data.val_hr=samples:val"]
    )
    resolved = samples.with_sample_folders(cfg)
    train, val = Path(resolved.data.train_hr), Path(resolved.data.val_hr)
    assert train == tmp_path / "runs" / "sample_photos" / "train"
    assert sorted(p.name for p in val.iterdir()) == ["chelsea.png"]  # DEFAULT_HOLDOUT, by name
    assert sorted(p.name for p in train.iterdir()) == ["astronaut.png", "coffee.png"]
    source = np.asarray(Image.open(three_photos[1]))
    assert np.array_equal(np.asarray(Image.open(train / "astronaut.png")), source)
    assert cfg.data.train_hr == "samples:train"  # the given config is not modified


def test_plain_folders_untouched_and_bad_split_refused(three_photos, tmp_path):
    cfg = load_config(None, ["data.train_hr=some/folder"])
    assert samples.with_sample_folders(cfg) is cfg
    bad = load_config(None, [f"output_dir={tmp_path}", "data.train_hr=samples:test"])
    with pytest.raises(ESRGANError, match="samples:train or samples:val"):
        samples.with_sample_folders(bad)
