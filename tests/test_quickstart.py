"""The README's main job, end to end on a tiny budget, and its presets kept in sync."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import esrgan
from esrgan.cli.main import main
from esrgan.training.config import load_config
from esrgan.training.quickstart import QuickstartPlan, stage_config

REPO = Path(__file__).resolve().parents[1]


def test_the_quickstart_is_the_cpu_small_presets_with_its_own_paths(tmp_path):
    """Each stage is its preset file; only the run's folders, seed, device and model size differ."""
    plan = QuickstartPlan(num_feat=8, num_block=1, num_grow=4)
    for stage, preset in ((1, "cpu_small_psnr"), (2, "cpu_small_gan")):
        quick = stage_config(stage, tmp_path, Path("t"), Path("v"), plan, seed=3, device="cpu")
        file = load_config(REPO / "configs" / f"{preset}.yaml")
        assert (quick.seed, quick.device, quick.output_dir) == (3, "cpu", str(tmp_path / "runs"))
        assert (quick.data.train_hr, quick.data.val_hr) == ("t", "v")
        assert (quick.generator.num_feat, quick.generator.num_block, quick.generator.num_grow) == (8, 1, 4)
        run_fields = {"name", "output_dir", "seed", "device", "generator", "data"}
        for name in {f.name for f in dataclasses.fields(file)} - run_fields:
            assert getattr(quick, name) == getattr(file, name), (preset, name)
        same = ("num_feat", "num_block", "num_grow", "pretrained")
        assert {k: v for k, v in vars(quick.generator).items() if k not in same} == {
            k: v for k, v in vars(file.generator).items() if k not in same
        }
        assert (
            dataclasses.replace(quick.data, train_hr=file.data.train_hr, val_hr=file.data.val_hr) == file.data
        )


def test_quickstart_end_to_end_tiny(tmp_path, monkeypatch, capsys):
    import esrgan.data.samples as samples
    import esrgan.training.quickstart as quickstart

    monkeypatch.setattr(samples, "MATE_NATURE", tmp_path / "no-mate")  # package photos only: fast
    tiny = QuickstartPlan(
        minutes=0.02, num_feat=8, num_block=1, num_grow=4, min_iters=4, max_iters=4, step_seconds=1.0
    )
    monkeypatch.setattr(quickstart, "QuickstartPlan", lambda minutes: tiny)
    out = tmp_path / "qs"
    assert main(["quickstart", "-o", str(out), "--random-vgg", "--minutes", "1"]) == 0
    rows = {r["model"]: r for r in json.loads((out / "metrics.json").read_text())["rows"]}
    assert {"bicubic", "ESRGAN-PSNR (stage 1)", "ESRGAN-GAN (stage 2)"} <= set(rows)
    # The bicubic row is the exact-bicubic baseline: finite, and every metric is present.
    assert 15 < rows["bicubic"]["psnr_y"] < 40 and rows["bicubic"]["niqe"] > 0
    report = (out / "report.md").read_text()
    assert "RANDOM VGG19" in report and "| bicubic |" in report
    assert (out / "crops.png").stat().st_size > 10_000 and (out / "losses.png").is_file()
    assert "RANDOM VGG19" in (out / "report.html").read_text()
    for name in ("quickstart_psnr_x4.pth", "quickstart_gan_x4.pth"):
        model = esrgan.load_model(out / "models" / name)
        assert model.scale == 4 and model.config.num_feat == 8
    # Held-out photos never appear in the training folder.
    train = {p.name for p in (out / "data/train").iterdir()}
    val = {p.name for p in (out / "data/val").iterdir()}
    assert val and not train & val
    # A second run refuses to overwrite the report folder.
    assert main(["quickstart", "-o", str(out), "--random-vgg"]) == 2
    assert "--force" in capsys.readouterr().err


def test_quickstart_rejects_bad_budget(capsys):
    assert main(["quickstart", "--minutes", "-3"]) == 2
    assert "--minutes" in capsys.readouterr().err


def test_quickstart_stage2_is_the_papers_loss_on_the_stage1_model():
    from tests.test_training import PAPER

    def stage(n: int):
        return stage_config(n, Path("q"), Path("t"), Path("v"), QuickstartPlan(), seed=0, device="cpu")

    psnr, gan = stage(1), stage(2)
    assert not psnr.is_gan and psnr.loss.perceptual_weight == 0
    # Stage 2 starts from the file stage 1's trainer writes last (trainer.py: models/net_g_final.pth).
    assert Path(gan.generator.pretrained) == psnr.run_dir / "models" / "net_g_final.pth"
    # The ESRGAN paper's stage-2 loss (typed in tests/test_training.py from SPEC section 5).
    layers, weight, criterion = PAPER["perceptual"]
    assert (gan.loss.perceptual_layers, gan.loss.perceptual_weight, gan.loss.perceptual_criterion) == (
        layers,
        weight,
        criterion,
    )
    assert (gan.loss.gan_type, gan.loss.gan_weight, gan.loss.pixel_weight) == (
        "ragan",
        PAPER["ragan"],
        PAPER["l1"],
    )


def test_step_time_comes_from_real_train_steps(tmp_path, monkeypatch):
    """The budget is divided by the time of real `train()` iterations of the stage's own config."""
    import esrgan.training.trainer as trainer
    from esrgan.training.quickstart import measure_step_seconds
    from tests.test_training import tiny_overrides

    photos = tmp_path / "photos"
    photos.mkdir()
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()[:96, :96]).save(photos / "a.png")
    seen = []
    real_train = trainer.train
    monkeypatch.setattr(trainer, "train", lambda cfg, **kw: seen.append(cfg) or real_train(cfg, **kw))
    cfg = load_config(
        None, tiny_overrides((photos, photos), tmp_path / "runs", "stage", **{"generator.num_feat": 4})
    )
    seconds = measure_step_seconds(cfg, steps=2)
    assert 0 < seconds < float("inf")
    (timed,) = seen
    assert timed.total_iters == 3 and timed.log_every == 1 and timed.data.val_hr is None
    assert (timed.generator, timed.loss, timed.optim, timed.data.hr_crop) == (
        cfg.generator,
        cfg.loss,
        cfg.optim,
        cfg.data.hr_crop,
    )
    assert not (tmp_path / "runs").exists() and not Path(timed.output_dir).exists()
