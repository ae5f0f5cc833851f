"""Training with degradations: the Real-ESRNet/Real-ESRGAN presets, seeded batches across runs and
resumes, and `esrgan degrade`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import esrgan
from esrgan.cli.main import main
from esrgan.data.degradations import pipeline
from esrgan.models.rrdbnet import RRDBNet
from esrgan.training.config import load_config
from esrgan.training.trainer import train

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    from skimage import data

    photo = data.astronaut()
    root = tmp_path_factory.mktemp("photos")
    for i, (y, x) in enumerate([(0, 0), (100, 200), (300, 50)]):
        Image.fromarray(photo[y : y + 64, x : x + 64]).save(root / f"p{i}.png")
    return root


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("pretrained") / "tiny_psnr.pth"
    esrgan.save_model(RRDBNet(3, 3, 4, num_feat=8, num_block=1, num_grow=4), path)
    return path


def tiny(photos: Path, out: Path, name: str, **extra) -> list[str]:
    settings = {
        "name": name,
        "output_dir": str(out),
        "total_iters": 2,
        "generator.num_feat": 8,
        "generator.num_block": 1,
        "generator.num_grow": 4,
        "generator.pretrained": "null",
        "discriminator.num_feat": 8,
        "data.train_hr": str(photos),
        "data.val_hr": "null",
        "data.hr_crop": 32,
        "data.batch_size": 2,
        "data.num_workers": 0,
        "loss.vgg_random_init": True,
        "log_every": 1,
        "save_every": 2,
        "val_every": 1000,
        "tensorboard": False,
        "progress": False,
    }
    settings.update(extra)
    return [f"{k}={v}" for k, v in settings.items()]


def final_weights(path: Path) -> dict[str, torch.Tensor]:
    blob = torch.load(path, weights_only=True)
    return {f"{wrapper}.{k}": v for wrapper in ("params", "params_ema") for k, v in blob[wrapper].items()}


@pytest.mark.parametrize("preset", ["realesrnet_x4plus", "realesrgan_x4plus"])
def test_preset_trains_without_nan_and_its_checkpoint_upscales(
    preset, photos, tiny_generator, tmp_path, capsys
):
    cfg = load_config(
        REPO / f"configs/{preset}.yaml",
        tiny(photos, tmp_path, preset, **{"generator.pretrained": tiny_generator}),
    )
    assert cfg.data.degradation == "realesrgan" and cfg.data.usm_sharpen_gt
    final = train(cfg)
    records = [
        line for line in (tmp_path / preset / "metrics.jsonl").read_text().splitlines() if "loss/" in line
    ]
    losses = [v for r in records for k, v in json.loads(r).items() if k.startswith("loss/")]
    assert len(records) == 2 and losses and all(math.isfinite(v) for v in losses)
    if preset == "realesrgan_x4plus":
        assert cfg.discriminator.architecture == "unet" and cfg.loss.gan_type == "vanilla"
        netd = torch.load(tmp_path / preset / "models/net_d_0000002.pth", weights_only=True)["params"]
        assert "conv1.weight_orig" in netd and "conv9.bias" in netd  # Real-ESRGAN's key layout
        assert "d" in records[-1] and "gan_g" in records[-1]
    capsys.readouterr()
    rc = main(["upscale", str(photos / "p0.png"), "-o", str(tmp_path / "up"), "-m", str(final)])
    assert rc == 0, capsys.readouterr().err
    with Image.open(tmp_path / "up" / "p0_x4.png") as im:
        assert im.size == (256, 256)


def record_batches(monkeypatch):
    """Wrap the trainer's degradation call to keep every LR batch it makes, per run name."""
    seen: dict[str, list[tuple[int, torch.Tensor]]] = {}
    original = pipeline.TrainingDegradation.__call__

    def spy(self, lr, hr, iteration):
        out = original(self, lr, hr, iteration)
        seen.setdefault(spy.run, []).append((iteration, out[0].clone()))
        return out

    monkeypatch.setattr(pipeline.TrainingDegradation, "__call__", spy)
    return seen, spy


def test_seeded_batches_repeat_across_runs_and_resumes(photos, tmp_path, monkeypatch):
    seen, spy = record_batches(monkeypatch)
    common = {"data.degradation": "realesrgan", "total_iters": 4, "ema_decay": 0.9, "seed": 4}
    for name in ("first", "second"):
        spy.run = name
        train(load_config(None, tiny(photos, tmp_path, name, **common)))
    spy.run = "resumed"
    train(load_config(None, tiny(photos, tmp_path, "resumed", **{**common, "total_iters": 2})))
    train(load_config(None, tiny(photos, tmp_path, "resumed", **common)), resume=True)

    assert [i for i, _ in seen["first"]] == [0, 1, 2, 3] == [i for i, _ in seen["resumed"]]
    for run in ("second", "resumed"):
        for (_, a), (_, b) in zip(seen["first"], seen[run], strict=True):
            assert torch.equal(a, b), run
    assert not torch.equal(seen["first"][0][1], seen["first"][1][1])  # batches do differ
    # The resumed run's batch at k + 1 = 3 is the uninterrupted run's, and so is the final model.
    a = final_weights(tmp_path / "first/models/net_g_final.pth")
    b = final_weights(tmp_path / "resumed/models/net_g_final.pth")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bd_degradation_and_default_bicubic_path(photos, tmp_path, monkeypatch):
    seen, spy = record_batches(monkeypatch)
    spy.run = "bicubic"
    train(load_config(None, tiny(photos, tmp_path, "bicubic", total_iters=1, save_every=1)))
    assert "bicubic" not in seen  # the default path never calls the degradation
    spy.run = "bd"
    train(
        load_config(
            None, tiny(photos, tmp_path, "bd", total_iters=1, save_every=1, **{"data.degradation": "bd"})
        )
    )
    ((_, lr),) = seen["bd"]
    assert lr.shape == (2, 3, 8, 8)


# Real-ESRGAN's released options/train_realesr{net,gan}_x4plus.yml: `use_hflip: True`, `use_rot: False`.
REAL_ESRGAN_AUGMENTATION = "hflip"


def test_presets_augment_as_their_papers():
    for preset in ("realesrnet_x4plus", "realesrgan_x4plus"):
        assert load_config(REPO / f"configs/{preset}.yaml").data.augment == REAL_ESRGAN_AUGMENTATION, preset
    for preset in ("esrgan_x4_psnr", "esrgan_x4_gan"):  # ESRGAN: random flips and 90-degree rotations
        assert load_config(REPO / f"configs/{preset}.yaml").data.augment == "dihedral", preset


def test_older_spellings_still_load():
    from esrgan.errors import ESRGANError

    assert load_config(None, ["data.degradation=gaussian"]).data.degradation == "bd"
    assert load_config(None, ["data.degradation=bd"]).data.degradation == "bd"
    assert load_config(None, ["data.augment=true"]).data.augment == "dihedral"
    assert load_config(None, ["data.augment=false"]).data.augment == "none"
    assert load_config(None, ["data.augment=hflip"]).data.augment == "hflip"
    with pytest.raises(ESRGANError, match="data.augment must be one of none, hflip, dihedral"):
        load_config(None, ["data.augment=rot90"])
    with pytest.raises(ESRGANError, match="data.degradation must be one of bicubic, bd, realesrgan"):
        load_config(None, ["data.degradation=blur"])


def test_config_rejects_a_degradation_with_lr_files(tmp_path):
    from esrgan.errors import ESRGANError

    with pytest.raises(ESRGANError, match="data.degradation makes the LR"):
        load_config(None, ["data.degradation=realesrgan", f"data.train_lr={tmp_path}"])
    with pytest.raises(ESRGANError, match="data.realesrgan.second.jpeg_range"):
        load_config(None, ["data.realesrgan.second.jpeg_range=[50, 120]"])
    cfg = load_config(None, ["data.realesrgan.second.blur_prob=0.5"])
    assert cfg.data.realesrgan.second.blur_sigma == (0.2, 1.5)  # the other second-round defaults stay


def test_degrade_cli(photos, tmp_path, capsys):
    inputs = [str(photos / "p0.png"), str(photos / "p1.png")]

    def degrade(out: Path, *extra) -> int:
        return main(["degrade", *inputs, "-o", str(out), *extra])

    assert degrade(tmp_path / "a", "--seed", "1") == 0
    assert degrade(tmp_path / "b", "--seed", "1") == 0
    assert degrade(tmp_path / "c", "--seed", "2") == 0
    a = [np.asarray(Image.open(tmp_path / "a" / f"p{i}.png")) for i in (0, 1)]
    b = [np.asarray(Image.open(tmp_path / "b" / f"p{i}.png")) for i in (0, 1)]
    c = [np.asarray(Image.open(tmp_path / "c" / f"p{i}.png")) for i in (0, 1)]
    assert a[0].shape == (16, 16, 3) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    # bicubic: MATLAB's imresize of the image
    assert degrade(tmp_path / "bic", "--preset", "bicubic") == 0
    hr = np.asarray(Image.open(photos / "p0.png"))
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "bic" / "p0.png")), esrgan.imresize(hr, 0.25)
    )
    # never over an input; a missing input stops everything before anything is written
    before = (photos / "p0.png").read_bytes()
    capsys.readouterr()
    assert main(["degrade", str(photos / "p0.png"), "-o", str(photos)]) == 2
    assert "refusing to write over an input" in capsys.readouterr().err
    assert (photos / "p0.png").read_bytes() == before
    assert main(["degrade", inputs[0], str(photos / "missing.png"), "-o", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "missing.png" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()
