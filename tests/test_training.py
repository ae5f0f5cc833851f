"""Trainer: config handling, the two stages, exact resume after SIGKILL, NaN handling, DDP parity."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import esrgan
from esrgan.errors import ESRGANError
from esrgan.training.config import load_config
from esrgan.training.schedule import lr_factor
from esrgan.training.trainer import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photo_dirs(tmp_path_factory):
    """Small crops of a real photo (scikit-image's astronaut) as train and val folders."""
    from skimage import data

    photo = data.astronaut()
    root = tmp_path_factory.mktemp("photos")
    for split, boxes in {"train": [(0, 0), (100, 200), (300, 50), (250, 300)], "val": [(400, 400)]}.items():
        (root / split).mkdir()
        for i, (y, x) in enumerate(boxes):
            Image.fromarray(photo[y : y + 96, x : x + 96]).save(root / split / f"p{i}.png")
    return root / "train", root / "val"


def tiny_overrides(photo_dirs, out: Path, name: str, **extra) -> list[str]:
    train_dir, val_dir = photo_dirs
    settings = {
        "name": name,
        "output_dir": str(out),
        "total_iters": 6,
        "seed": 3,
        "generator.num_feat": 8,
        "generator.num_block": 1,
        "generator.num_grow": 4,
        "data.train_hr": str(train_dir),
        "data.val_hr": str(val_dir),
        "data.hr_crop": 32,
        "data.batch_size": 4,
        "data.num_workers": 0,
        "log_every": 2,
        "val_every": 3,
        "save_every": 3,
        "tensorboard": False,
        "progress": False,
        "optim.lr_g": 1e-3,
    }
    settings.update(extra)
    return [f"{k}={v}" for k, v in settings.items()]


def set_args(overrides: list[str]) -> list[str]:
    return [a for item in overrides for a in ("--set", item)]


def weights(path: Path) -> dict[str, torch.Tensor]:
    blob = torch.load(path, weights_only=True)
    return {
        **{f"params.{k}": v for k, v in blob["params"].items()},
        **{f"ema.{k}": v for k, v in blob.get("params_ema", {}).items()},
    }


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    (tmp_path / "c.yaml").write_text("data: {batch_sise: 4}\n")
    with pytest.raises(ESRGANError, match="data.batch_sise"):
        load_config(tmp_path / "c.yaml")
    for bad, needle in [
        ("optim.lr_g=-1", "lr_g"),
        ("data.batch_size=two", "data.batch_size"),
        ("loss.gan_type=wgan", "gan_type"),
        ("generator.scale=3", "scale"),
        ("generator.num_feat=0", "generator.num_feat must be positive, got 0"),
        ("generator.num_block=0", "generator.num_block must be positive, got 0"),
        ("loss.pixel_weight=0", "no loss to train on: set one of loss.pixel_weight"),
        ("optim.betas=[0.9]", "betas"),
        ("nonsense", "key=value"),
    ]:
        with pytest.raises(ESRGANError, match=needle):
            load_config(None, [bad])
    (tmp_path / "c.toml").write_text('name = "t"\n[optim]\nlr_g = 0.001\nbetas = [0.9, 0.99]\n')
    cfg = load_config(tmp_path / "c.toml", ["data.batch_size=8"])
    assert cfg.name == "t" and cfg.optim.lr_g == 1e-3 and cfg.optim.betas == (0.9, 0.99)
    assert cfg.data.batch_size == 8


# ESRGAN paper (SPEC section 5), typed in here rather than read from any config.
PAPER = {
    "betas": (0.9, 0.999),
    "batch": 16,
    "crop": 128,
    "stage1": {"iters": 1_000_000, "lr": 2e-4, "milestones": [200_000, 400_000, 600_000, 800_000]},
    "stage2": {"iters": 400_000, "lr": 1e-4, "milestones": [50_000, 100_000, 200_000, 300_000]},
    "gamma": 0.5,
    "perceptual": ({"conv5_4": 1.0}, 1.0, "l1"),  # layer (before activation), weight, criterion
    "ragan": 5e-3,
    "l1": 1e-2,
}


def test_paper_presets_are_the_paper():
    psnr = load_config(REPO / "configs/esrgan_x4_psnr.yaml")
    gan = load_config(REPO / "configs/esrgan_x4_gan.yaml")
    for cfg, stage in ((psnr, PAPER["stage1"]), (gan, PAPER["stage2"])):
        assert cfg.optim.betas == PAPER["betas"]
        assert cfg.data.batch_size == PAPER["batch"] and cfg.data.hr_crop == PAPER["crop"]
        assert cfg.total_iters == stage["iters"] and cfg.optim.lr_g == stage["lr"]
        assert cfg.optim.scheduler == "multistep" and list(cfg.optim.milestones) == stage["milestones"]
        assert cfg.optim.gamma == PAPER["gamma"] and cfg.optim.warmup_iters == 0
        assert cfg.ema_decay == 0.0  # the paper keeps no EMA
        assert cfg.data.augment  # random flips and 90-degree rotations
        assert (cfg.generator.architecture, cfg.generator.scale, cfg.generator.num_feat) == ("RRDBNet", 4, 64)
        assert (cfg.generator.num_block, cfg.generator.num_grow) == (23, 32)
    # Stage 1: L1 only.
    assert psnr.loss.pixel == "l1" and psnr.loss.pixel_weight == 1.0
    assert psnr.loss.perceptual_weight == 0.0 and psnr.loss.gan_weight == 0.0 and not psnr.is_gan
    # Stage 2: perceptual 1.0 at conv5_4 before activation (L1), RaGAN 5e-3, L1 1e-2; lr 1e-4 for D too.
    layers, weight, criterion = PAPER["perceptual"]
    assert gan.loss.perceptual_layers == layers and gan.loss.perceptual_weight == weight
    assert gan.loss.perceptual_criterion == criterion and gan.loss.perceptual_feature_scale == 1.0
    assert gan.loss.gan_type == "ragan" and gan.loss.gan_weight == PAPER["ragan"]
    assert gan.loss.pixel == "l1" and gan.loss.pixel_weight == PAPER["l1"]
    assert gan.optim.lr_d == PAPER["stage2"]["lr"] and gan.discriminator.architecture == "vgg"
    # Stage 2 starts from stage 1's own weights (`params`), the file stage 1 writes.
    assert gan.generator.pretrained == str(psnr.run_dir / "models/net_g_final.pth")
    assert gan.generator.pretrained_key == "params"


def test_other_presets_load_and_are_in_the_readme_table():
    readme = (REPO / "README.md").read_text()
    srgan = load_config(REPO / "configs/srgan_x4.yaml")
    assert srgan.loss.perceptual_layers == {"relu5_4": 1.0} and srgan.loss.gan_weight == 1e-3
    assert srgan.loss.gan_type == "vanilla" and srgan.generator.batch_norm
    for path in sorted((REPO / "configs").rglob("*.yaml")):
        load_config(path)
        if path.stem not in ("esrgan_x4_psnr", "esrgan_x4_gan"):
            assert f"`{path.relative_to(REPO / 'configs').with_suffix('')}`" in readme, path


def test_pretrained_key_picks_the_weights(tmp_path):
    from esrgan.models import RRDBNet
    from esrgan.training.trainer import load_pretrained

    torch.manual_seed(0)
    src = RRDBNet(num_feat=8, num_block=1, num_grow=4)
    ema = {k: v + 1.0 for k, v in src.state_dict().items()}
    esrgan.save_model(src, tmp_path / "g.pth", params_ema=ema)
    for key, expected in (("params", src.state_dict()), ("params_ema", ema), ("auto", ema)):
        target = RRDBNet(num_feat=8, num_block=1, num_grow=4)
        load_pretrained(target, str(tmp_path / "g.pth"), key)
        assert all(torch.equal(target.state_dict()[k], v) for k, v in expected.items()), key
    esrgan.save_model(src, tmp_path / "no_ema.pth")
    with pytest.raises(ESRGANError, match="no 'params_ema' weights"):
        load_pretrained(
            RRDBNet(num_feat=8, num_block=1, num_grow=4), str(tmp_path / "no_ema.pth"), "params_ema"
        )


def test_multistep_schedule_halves_at_milestones():
    cfg = load_config(None, ["optim.milestones=[10, 20]"]).optim
    assert [lr_factor(cfg, i, 100) for i in (0, 9, 10, 19, 20, 99)] == [1, 1, 0.5, 0.5, 0.25, 0.25]


def test_stage1_then_stage2_produce_loadable_models(photo_dirs, tmp_path):
    final1 = train(load_config(None, tiny_overrides(photo_dirs, tmp_path, "s1")))
    g1 = esrgan.load_model(final1)
    assert g1.config.num_feat == 8
    run1 = tmp_path / "s1"
    assert (run1 / "metrics.jsonl").read_text().count("loss/pixel") == 3
    assert any("val/psnr_y" in line for line in (run1 / "metrics.jsonl").read_text().splitlines())
    assert list((run1 / "samples").glob("*/p0.png"))
    over = tiny_overrides(
        photo_dirs,
        tmp_path,
        "s2",
        **{
            "generator.pretrained": str(final1),
            "loss.gan_weight": 5e-3,
            "loss.perceptual_weight": 1.0,
            "loss.vgg_random_init": True,
            "loss.pixel_weight": 1e-2,
            "total_iters": 2,
            "save_every": 2,
        },
    )
    final2 = train(load_config(None, over))
    g2 = esrgan.load_model(final2)
    assert (tmp_path / "s2/models/net_d_0000002.pth").is_file()
    # Stage 2 really started from stage 1 and then moved.
    d = [
        (a - b).abs().max().item()
        for a, b in zip(g1.state_dict().values(), g2.state_dict().values(), strict=True)
    ]
    assert 0 < max(d) < 1
    log = (tmp_path / "s2/train.log").read_text()
    assert "RANDOM VGG19" in log and "gan_g" in (tmp_path / "s2/metrics.jsonl").read_text()


def test_a_run_trains_on_the_fourier_term_and_refuses_a_window_over_the_crop(photo_dirs, tmp_path) -> None:
    steps = {"loss.fourier_weight": 1.0, "loss.fourier_window": 16, "total_iters": 2, "save_every": 2}
    train(load_config(None, tiny_overrides(photo_dirs, tmp_path, "f", **steps)))
    assert "loss/fourier" in (tmp_path / "f" / "metrics.jsonl").read_text()
    steps["loss.fourier_window"] = 64  # data.hr_crop is 32
    with pytest.raises(ESRGANError, match="fourier_window 64 exceeds data.hr_crop 32"):
        train(load_config(None, tiny_overrides(photo_dirs, tmp_path, "g", **steps)))


def test_refuses_to_overwrite_a_run_without_resume(photo_dirs, tmp_path):
    over = tiny_overrides(photo_dirs, tmp_path, "r", total_iters=3, val_every=100)
    train(load_config(None, over))
    with pytest.raises(ESRGANError, match="--resume"):
        train(load_config(None, over))


def test_resume_with_a_different_model_and_missing_folders_are_clear_errors(photo_dirs, tmp_path):
    over = tiny_overrides(photo_dirs, tmp_path, "r2", total_iters=3, val_every=100)
    train(load_config(None, over))
    with pytest.raises(ESRGANError, match="does not match this config") as info:
        train(load_config(None, [*over, "generator.num_feat=16", "total_iters=6"]), resume=True)
    # In full: every mismatched tensor is named, down to the last one, and nothing is cut.
    message = str(info.value)
    assert "conv_last.weight" in message and message.endswith(")") and "\n" not in message
    with pytest.raises(ESRGANError, match="data.val_hr: folder not found"):
        train(load_config(None, [*over, f"data.val_hr={tmp_path / 'nope'}", "name=r3"]))


CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    """A TCP port nothing listens on now (a fixed one collides with a second test run)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun_train(args: list[str]) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node=2 -m esrgan train ...` on CPU (Gloo)."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        "-m",
        "esrgan",
        "train",
        *args,
    ]
    return subprocess.run(cmd, cwd=REPO, env=CHILD_ENV, capture_output=True, timeout=300)


def run_cli(args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "esrgan", *args],
        cwd=REPO,
        env=CHILD_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def test_resume_after_sigkill_matches_uninterrupted_run(photo_dirs, tmp_path):
    common = {
        "total_iters": 24,
        "save_every": 4,
        "val_every": 1000,
        "data.hr_crop": 64,
        "generator.num_feat": 16,
        "generator.num_block": 2,
        "ema_decay": 0.9,
    }
    full = run_cli(["train", *set_args(tiny_overrides(photo_dirs, tmp_path, "full", **common))])
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()[-2000:]

    args = ["train", *set_args(tiny_overrides(photo_dirs, tmp_path, "killed", **common))]
    victim = run_cli(args)
    state_dir = tmp_path / "killed" / "state"
    deadline = time.time() + 300
    while not (state_dir.is_dir() and any(p.suffix == ".state" for p in state_dir.iterdir())):
        assert victim.poll() is None, "run finished before it could be killed"
        assert time.time() < deadline
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    assert not (tmp_path / "killed/models/net_g_final.pth").exists()

    resumed = run_cli([*args, "--resume"])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
    assert "resumed from iteration" in resumed.stderr.read().decode()
    a, b = (
        weights(tmp_path / "full/models/net_g_final.pth"),
        weights(tmp_path / "killed/models/net_g_final.pth"),
    )
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_nan_steps_are_skipped_then_the_run_stops(photo_dirs, tmp_path, monkeypatch):
    from esrgan.losses import pixel

    calls = {"n": 0}
    original = pixel.PixelLoss.forward

    def flaky(self, output, target):
        calls["n"] += 1
        value = original(self, output, target)
        return value * float("nan") if calls["n"] == 2 else value

    monkeypatch.setattr(pixel.PixelLoss, "forward", flaky)
    final = train(load_config(None, tiny_overrides(photo_dirs, tmp_path, "one_nan", total_iters=4)))
    assert torch.isfinite(torch.cat([v.flatten() for v in weights(final).values()])).all()
    assert "non-finite" in (tmp_path / "one_nan/train.log").read_text()

    monkeypatch.setattr(pixel.PixelLoss, "forward", lambda self, o, t: (o - t).abs().mean() * float("inf"))
    with pytest.raises(ESRGANError, match="3 consecutive non-finite"):
        train(load_config(None, tiny_overrides(photo_dirs, tmp_path, "all_nan", max_bad_steps=3)))


def test_torchrun_two_cpu_processes_match_one_process(photo_dirs, tmp_path):
    common = {"total_iters": 4, "save_every": 4, "val_every": 1000, "ema_decay": 0.0, "data.batch_size": 4}
    single = run_cli(["train", *set_args(tiny_overrides(photo_dirs, tmp_path, "one", **common))])
    assert single.wait(timeout=300) == 0, single.stderr.read().decode()[-2000:]
    proc = torchrun_train(set_args(tiny_overrides(photo_dirs, tmp_path, "two", **common)))
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    a, b = weights(tmp_path / "one/models/net_g_final.pth"), weights(tmp_path / "two/models/net_g_final.pth")
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5, rtol=1e-4), key
    assert not np.allclose(a["params.conv_first.weight"].numpy(), 0)


def test_torchrun_gan_stage_runs_with_batchnorm_discriminator(photo_dirs, tmp_path):
    """Two D forwards (real, fake) before one backward must not trip DDP's in-place buffer check."""
    over = tiny_overrides(
        photo_dirs,
        tmp_path,
        "gan2",
        **{
            "total_iters": 2,
            "save_every": 2,
            "val_every": 1000,
            "loss.gan_weight": 5e-3,
            "loss.pixel_weight": 1e-2,
            "loss.gan_type": "ragan",
        },
    )
    proc = torchrun_train(set_args(over))
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert (tmp_path / "gan2/models/net_d_0000002.pth").is_file()
    assert esrgan.load_model(tmp_path / "gan2/models/net_g_final.pth").scale == 4


def test_one_run_per_folder_and_stale_locks(photo_dirs, tmp_path, caplog):
    import json
    import socket

    over = tiny_overrides(photo_dirs, tmp_path, "locked", total_iters=2, val_every=100)
    lock = tmp_path / "locked" / ".lock"
    lock.parent.mkdir()
    # A live owner (this test's own parent process) on this host: refused, one line.
    lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "started": 0}))
    with pytest.raises(ESRGANError, match="in use by another training run") as info:
        train(load_config(None, over))
    assert str(os.getppid()) in str(info.value) and "\n" not in str(info.value)
    assert lock.is_file() and not (tmp_path / "locked" / "train.log").exists()
    # A dead owner: reported and taken over; the lock is gone when the run ends.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": 0}))
    with caplog.at_level("WARNING", logger="esrgan"):
        final = train(load_config(None, over))
    assert "stale run lock" in caplog.text and final.is_file() and not lock.exists()


def test_a_run_that_fails_before_its_first_iteration_leaves_no_folder(photo_dirs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    over = tiny_overrides(photo_dirs, tmp_path / "runs", "bad_data", total_iters=2)
    with pytest.raises(ESRGANError):
        train(load_config(None, [*over, f"data.train_hr={empty}"]))
    with pytest.raises(ESRGANError, match="generator.pretrained|not found"):
        train(load_config(None, [*over, f"generator.pretrained={tmp_path / 'nope.pth'}"]))
    assert not (tmp_path / "runs" / "bad_data").exists()


def test_data_cache_setting_reaches_the_dataset(photo_dirs, tmp_path):
    from esrgan.training.distributed import DistInfo
    from esrgan.training.trainer import _make_loader

    for value in (True, False):
        cfg = load_config(
            None, [*tiny_overrides(photo_dirs, tmp_path, "c"), f"data.cache={str(value).lower()}"]
        )
        loader = _make_loader(cfg, 0, DistInfo(), torch.device("cpu"))
        assert loader.dataset._hr.cached is value


def test_state_files_without_a_format_number_still_resume(photo_dirs, tmp_path):
    over = tiny_overrides(photo_dirs, tmp_path, "old", total_iters=3, val_every=100)
    train(load_config(None, over))
    path = tmp_path / "old/state/0000003.state"
    state = torch.load(path, weights_only=True)
    assert state.pop("format") == 1
    torch.save(state, path)  # as written before the format number existed
    final = train(load_config(None, [*over, "total_iters=5"]), resume=True)
    assert "resumed from iteration 3" in (tmp_path / "old/train.log").read_text() and final.is_file()
    state["format"] = 99
    torch.save(state, tmp_path / "old/state/0000005.state")
    with pytest.raises(ESRGANError, match="newer version"):
        train(load_config(None, [*over, "total_iters=7"]), resume=True)
