"""`esrgan eval` and `esrgan.evaluation.evaluate`: numbers checked against formulas written out here."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import esrgan
from esrgan.cli.main import main
from esrgan.evaluation import evaluate
from esrgan.images.bicubic import imresize
from esrgan.models.rrdbnet import RRDBNet
from tests.known_models import mse_y, nearest_model, psnr_y


def _smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] / 7.0
    base = np.stack([np.sin(xx + c) * np.cos(yy * (1 + c / 3)) for c in range(3)], axis=2)
    return np.clip(128 + 90 * base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture()
def bench(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    images = {"a": _smooth_image(rng, 50, 45), "b": _smooth_image(rng, 40, 48)}  # "a" is mod-cropped
    for name, image in images.items():
        Image.fromarray(image).save(hr_dir / f"{name}.png")
    return hr_dir, images


@pytest.fixture()
def tiny_model(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    """A saved generator whose output is known exactly: x4 nearest-neighbour upscaling."""
    path = tmp_path / "tiny.pth"
    esrgan.save_model(nearest_model(), path)
    return path, nearest_model()


def _expected_bicubic(hr: np.ndarray) -> float:
    hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
    return psnr_y(imresize(imresize(hr, 1 / 4), 4), hr, 4)


def _nearest_output(hr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mod-cropped HR, the nearest model's output for its MATLAB-bicubic LR), written out."""
    hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
    return hr, imresize(hr, 1 / 4).repeat(4, axis=0).repeat(4, axis=1)


def _expected_model(model: torch.nn.Module, hr: np.ndarray) -> float:
    hr, sr = _nearest_output(hr)
    lr = torch.from_numpy(imresize(hr, 1 / 4).transpose(2, 0, 1).astype(np.float32) / 255)[None]
    with torch.no_grad():  # the model really is nearest-neighbour upscaling
        out = model(lr)[0].numpy().transpose(1, 2, 0)
    np.testing.assert_array_equal(np.rint(out * 255).astype(np.uint8), sr)
    return psnr_y(sr, hr, 4)


def test_eval_cli_writes_tables_with_the_right_numbers(tmp_path: Path, bench, tiny_model, capsys) -> None:
    hr_dir, images = bench
    model_path, model = tiny_model
    prefix = tmp_path / "results" / "bench"
    code = main(
        ["eval", "-m", str(model_path), "--hr", str(hr_dir), "--out", str(prefix), "--per-image", "--quiet"]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "bicubic" in printed and "tiny" in printed and "PSNR" in printed

    report = json.loads(prefix.with_suffix(".json").read_text())
    assert report["models"] == ["bicubic", "tiny"] and report["images"] == ["a", "b"]
    assert report["crop_border"] == 4 and report["y_channel"] is True
    for name, hr in images.items():
        assert report["per_image"]["bicubic"][name]["psnr"] == pytest.approx(_expected_bicubic(hr), abs=1e-9)
        assert report["per_image"]["tiny"][name]["psnr"] == pytest.approx(
            _expected_model(model, hr), abs=1e-9
        )
    bicubic_mean = np.mean([_expected_bicubic(hr) for hr in images.values()])
    assert report["mean"]["bicubic"]["psnr"] == pytest.approx(bicubic_mean, abs=1e-9)
    assert 0 < report["mean"]["bicubic"]["ssim"] <= 1

    with open(prefix.with_suffix(".csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["model"], r["image"]) for r in rows} == {
        (m, i) for m in ("bicubic", "tiny") for i in ("a", "b", "mean")
    }
    mean_row = next(r for r in rows if r["model"] == "bicubic" and r["image"] == "mean")
    assert float(mean_row["psnr"]) == pytest.approx(bicubic_mean, abs=1e-9)
    markdown = prefix.with_suffix(".md").read_text()
    assert "| bicubic |" in markdown and "| tiny |" in markdown


def test_eval_with_lr_folder_and_api(tmp_path: Path, bench) -> None:
    hr_dir, images = bench
    lr_dir = tmp_path / "lr"
    lr_dir.mkdir()
    lrs = {}
    for name, hr in images.items():
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        lrs[name] = np.ascontiguousarray(hr[1::4, 1::4])  # not bicubic: the files must be used as given
        Image.fromarray(lrs[name]).save(lr_dir / f"{name}x4.png")
    result = evaluate({"bicubic": "bicubic"}, hr_dir, lr_dir, scale=4, metrics=("psnr", "rmse"))
    assert result.models == ["bicubic"] and result.metrics == ["psnr", "rmse"]
    for name, hr in images.items():
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        expected = psnr_y(imresize(lrs[name], 4), hr, 4)
        assert result.value("bicubic", name, "psnr") == pytest.approx(expected, abs=1e-9)
        assert result.value("bicubic", name, "rmse") == pytest.approx(255 / 10 ** (expected / 20), rel=1e-9)


def test_eval_errors(tmp_path: Path, bench, capsys) -> None:
    hr_dir, _ = bench
    model = RRDBNet(num_feat=8, num_block=1, num_grow=4, scale=2)
    x2 = tmp_path / "x2.pth"
    esrgan.save_model(model, x2)
    assert main(["eval", "-m", str(x2), "--hr", str(hr_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "x2" in err and "--scale 2" in err and len(err.strip().splitlines()) == 1
    assert main(["eval", "-m", "bicubic", "--hr", str(tmp_path / "missing"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["eval", "-m", str(tmp_path / "none.pth"), "--hr", str(hr_dir), "--quiet"]) == 2
    assert "none.pth" in capsys.readouterr().err
    assert main(["eval", "-m", "bicubic", "--hr", str(hr_dir), "--metrics", "psnr,lpips", "--quiet"]) == 2
    assert "lpips" in capsys.readouterr().err


def test_eval_pirm_aggregation_and_metrics_that_cannot_be_computed(tmp_path: Path, bench, tiny_model, capsys):
    hr_dir, images = bench
    model_path, _ = tiny_model
    prefix = tmp_path / "new" / "folder" / "bench"
    args = ["eval", "-m", str(model_path), "--hr", str(hr_dir), "--metrics", "rmse,psnr,niqe"]
    code = main([*args, "--aggregate", "pirm", "--out", str(prefix), "--quiet", "--tile", "0"])
    printed = capsys.readouterr().out
    assert code == 0
    report = json.loads(prefix.with_suffix(".json").read_text())
    assert report["aggregation"] == "pirm"
    mse = [mse_y(*reversed(_nearest_output(hr)), 4) for hr in images.values()]
    rmse = [math.sqrt(m) for m in mse]
    # PIRM 2018: the set's RMSE is the root of the mean MSE, not the mean of the RMSEs
    assert report["pirm"]["tiny"]["rmse"] == pytest.approx(math.sqrt(np.mean(mse)), abs=1e-9)
    assert report["mean"]["tiny"]["rmse"] == pytest.approx(np.mean(rmse), abs=1e-9)
    assert abs(math.sqrt(np.mean(mse)) - np.mean(rmse)) > 1e-6  # the two really differ here
    assert report["pirm"]["tiny"]["psnr"] == pytest.approx(10 * math.log10(255**2 / np.mean(mse)), abs=1e-9)
    # 48x44 images hold no 96x96 block: NIQE is not computed, and says so, for every row
    assert report["per_image"]["tiny"]["a"]["niqe"] is None and report["mean"]["tiny"]["niqe"] is None
    table_rows = [line.split() for line in printed.splitlines() if line.startswith(("tiny", "bicubic"))]
    assert table_rows and all(row[-1] == "n/a" for row in table_rows)
    assert f"{math.sqrt(np.mean(mse)):.3f}" in printed  # the table shows the PIRM set value
    rows = list(csv.DictReader(prefix.with_suffix(".csv").read_text().splitlines()))
    assert {r["image"] for r in rows} == {"a", "b", "mean", "pirm"} and all(r["niqe"] == "" for r in rows)
