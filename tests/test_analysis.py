"""The report commands: alpha parsing, the perception-distortion sweep, compare, sparsity, brightness."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import esrgan
from esrgan.analysis.brightness import analyze_brightness, match_to_hr
from esrgan.analysis.report import CropBox, most_detailed_crop, parse_crop, write_json
from esrgan.analysis.sparsity import activation_sparsity
from esrgan.analysis.sweep import parse_alphas, perception_distortion_sweep
from esrgan.cli.main import main
from esrgan.errors import ESRGANError
from esrgan.images.bicubic import imresize
from esrgan.images.image_io import read_image, write_image
from esrgan.losses.vgg19 import VGG19FeatureExtractor
from esrgan.models import RRDBNet
from tests.known_models import nearest_model, psnr_y, sharpening_model

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------------------------
# Independent helpers (models with known outputs and PSNR-Y written out: tests/known_models.py).


def quantise(x: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 as image files store it: clip, x255 in float32, round half to even."""
    return np.rint(np.clip(np.asarray(x, dtype=np.float32), 0, 1) * np.float32(255)).astype(np.uint8)


def photo_like(seed: int, size: int = 200) -> np.ndarray:
    """A smooth-plus-texture colour image (uint8), varied enough for NIQE."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([0.5 + 0.3 * np.sin(6 * xx + c) * np.cos(4 * yy - c) for c in range(3)], axis=2)
    noise = imresize(rng.random((size // 4, size // 4, 3)), 4.0)[:size, :size]
    return quantise(0.75 * base + 0.25 * noise)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    (root / "hr").mkdir()
    for i, name in enumerate(("alpha", "beta")):
        write_image(root / "hr" / f"{name}.png", photo_like(i))
    esrgan.save_model(nearest_model(), root / "psnr.pth")
    esrgan.save_model(sharpening_model(), root / "gan.safetensors")
    return root


def run_model(model, lr):
    with torch.no_grad():
        out = model(torch.from_numpy(lr).permute(2, 0, 1)[None].float())
    return out[0].permute(1, 2, 0).double().numpy()


# ---------------------------------------------------------------------------------------------
# Alphas


def test_parse_alphas_inclusive_and_rounding_safe():
    assert parse_alphas("0:1:0.2") == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    tenths = parse_alphas("0:1:0.1")
    assert len(tenths) == 11 and tenths[-1] == 1.0 and tenths[3] == 0.3
    assert parse_alphas("0:0.9:0.3") == [0.0, 0.3, 0.6, 0.9]
    assert parse_alphas("0.2:0.5:0.2") == [0.2, 0.4]  # 0.6 would pass STOP
    assert parse_alphas("1,0,0.5,0.5") == [0.0, 0.5, 1.0]
    assert parse_alphas("0.7") == [0.7]
    for bad in ("0:1:0", "1:0:0.1", "0:2:0.5", "a:b:c", "0:1", "", "0,1.5"):
        with pytest.raises(ESRGANError):
            parse_alphas(bad)


# ---------------------------------------------------------------------------------------------
# Sweep


def test_sweep_metrics_match_independent_computation(bench):
    result = perception_distortion_sweep(
        bench / "psnr.pth", bench / "gan.safetensors", bench / "hr", alphas=[0.0, 0.5, 1.0]
    )
    psnr_net, gan_net = nearest_model(), sharpening_model()
    rows = {(r["image"], r["method"], r["alpha"]): r for r in result.per_image}
    for name, seed in (("alpha", 0), ("beta", 1)):
        hr = photo_like(seed)
        lr_uint8 = imresize(hr, 0.25)  # MATLAB bicubic in uint8, as benchmark LR files are made
        lr = lr_uint8.astype(np.float32) / np.float32(255)
        nearest = lr.repeat(4, axis=0).repeat(4, axis=1)
        assert np.allclose(run_model(psnr_net, lr), nearest, atol=1e-6)
        assert rows[name, "network", 0.0]["psnr_y"] == pytest.approx(
            psnr_y(quantise(nearest), hr, 4), abs=1e-9
        )
        # image interpolation blends the two outputs as images: each clipped to [0, 1], then mixed
        sharp = np.clip(run_model(gan_net, lr), 0, 1)
        blend = quantise(0.5 * np.clip(run_model(psnr_net, lr), 0, 1) + 0.5 * sharp)
        assert np.any(run_model(gan_net, lr) > 1)  # the clipping matters here
        assert rows[name, "image", 0.5]["psnr_y"] == pytest.approx(psnr_y(blend, hr, 4), abs=1e-9)
        mixed = quantise(run_model(esrgan.interpolate(psnr_net, gan_net, 0.5), lr))
        assert rows[name, "network", 0.5]["psnr_y"] == pytest.approx(psnr_y(mixed, hr, 4), abs=1e-9)
        bicubic = imresize(lr_uint8, 4.0)
        assert rows[name, "bicubic", None]["psnr_y"] == pytest.approx(psnr_y(bicubic, hr, 4), abs=1e-9)
        for alpha in (0.0, 1.0):  # both methods are the plain models at the ends
            assert rows[name, "network", alpha] == {**rows[name, "image", alpha], "method": "network"}
    point = {(p.method, p.alpha): p for p in result.points}
    both = [rows[n, "network", 0.5]["niqe"] for n in ("alpha", "beta")]
    assert point["network", 0.5].niqe == pytest.approx(np.mean(both))
    assert point["network", 0.5].images == 2
    # Sharpening adds distortion; network and image interpolation really differ in between.
    assert point["network", 0.0].rmse_y < point["network", 1.0].rmse_y
    assert point["network", 0.5].rmse_y != point["image", 0.5].rmse_y


def test_sweep_back_projects_every_output(bench):
    result = perception_distortion_sweep(
        bench / "psnr.pth",
        bench / "gan.safetensors",
        bench / "hr",
        alphas=[0.0],
        back_projection=2,
        use_niqe=False,
        include_bicubic=False,
    )
    hr = photo_like(1)
    lr = imresize(hr, 0.25).astype(np.float64) / 255
    sr = lr.repeat(4, axis=0).repeat(4, axis=1)  # the PSNR model's output
    for _ in range(2):  # back projection written out with the numpy bicubic
        sr = sr + imresize(lr - imresize(sr, 0.25), 4.0)
    (row,) = [r for r in result.per_image if r["image"] == "beta" and r["method"] == "network"]
    # float32 in the sweep, float64 here: a few pixels may round the other way
    assert row["psnr_y"] == pytest.approx(psnr_y(quantise(sr), hr, 4), abs=1e-3)
    nearest = quantise(lr.repeat(4, axis=0).repeat(4, axis=1))
    assert abs(row["psnr_y"] - psnr_y(nearest, hr, 4)) > 0.1  # back projection changed the result
    assert row["niqe"] is None and result.settings["back_projection"] == 2


def test_sweep_command_writes_the_report(bench, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(
        ["sweep", "--psnr", str(bench / "psnr.pth"), "--gan", str(bench / "gan.safetensors")]
        + ["--hr", str(bench / "hr"), "--alphas", "0:1:0.5", "-o", str(out), "--html-images", "1"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "network" in printed and "image" in printed and "bicubic" in printed
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["alphas"] == [0.0, 0.5, 1.0]
    assert {(p["method"], p["alpha"]) for p in summary["points"]} == {
        *((m, a) for m in ("network", "image") for a in (0.0, 0.5, 1.0)),
        ("bicubic", None),
    }
    assert (out / "sweep.csv").read_text().splitlines()[0].startswith("method,alpha,images,rmse_y")
    assert (out / "perception_distortion.png").stat().st_size > 10_000
    page = (out / "index.html").read_text()
    sources = re.findall(r'src="([^"]+)"', page)
    assert "perception_distortion.png" in sources
    assert len([s for s in sources if s.startswith("crops/")]) == 2 + 2 * 3  # context, HR, 2 methods x 3
    for src in sources:
        assert (out / src).is_file(), src
    crops = [read_image(out / s).pixels.shape for s in sources if "_network_" in s or "_image_" in s]
    assert len(set(crops)) == 1  # the same crop at every alpha


def test_sweep_rejects_bad_input(bench, tmp_path, capsys):
    args = ["sweep", "--psnr", str(bench / "psnr.pth"), "--gan", str(bench / "gan.safetensors")]
    assert main([*args, "--hr", str(bench / "hr"), "--alphas", "0:1.5:0.5", "-o", str(tmp_path / "r")]) == 2
    assert "alpha" in capsys.readouterr().err
    other = RRDBNet(num_feat=4, num_block=2, num_grow=4)
    esrgan.save_model(other, tmp_path / "other.pth")
    args = ["sweep", "--psnr", str(bench / "psnr.pth"), "--gan", str(tmp_path / "other.pth")]
    assert main([*args, "--hr", str(bench / "hr"), "-o", str(tmp_path / "r")]) == 2
    assert "body.1.rdb1.conv1.weight" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Compare


def test_compare_command(bench, tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(
        ["compare", "--models", str(bench / "psnr.pth"), str(bench / "gan.safetensors")]
        + ["--labels", "PSNR", "GAN", "--hr", str(bench / "hr"), "-o", str(out), "--crop", "8,16,40"]
    )
    assert code == 0
    capsys.readouterr()
    data = json.loads((out / "compare.json").read_text())
    rows = {(r["image"], r["model"]): r for r in data["per_image"]}
    hr = photo_like(1)
    lr = imresize(hr, 0.25).astype(np.float32) / np.float32(255)
    assert rows["beta", "PSNR"]["psnr_y"] == pytest.approx(
        psnr_y(quantise(lr.repeat(4, 0).repeat(4, 1)), hr, 4), abs=1e-9
    )
    assert rows["beta", "ground truth"]["psnr_y"] is None  # infinite: JSON has no inf
    assert [r["model"] for r in data["averages"]] == ["ground truth", "bicubic", "PSNR", "GAN"]
    assert (out / "compare.png").stat().st_size > 10_000
    page = (out / "index.html").read_text()
    crops = [s for s in re.findall(r'src="(crops/[^"]+)"', page) if "context" not in s]
    assert len(crops) == 2 * 4
    for src in crops:  # a 40-pixel crop, enlarged x4 for the page
        assert read_image(out / src).pixels.shape == (160, 160, 3)
    assert (
        main(["compare", "--models", str(bench / "psnr.pth"), "--labels", "a", "b", "--hr", "x", "-o", "y"])
        == 2
    )


# ---------------------------------------------------------------------------------------------
# VGG sparsity


def vgg19_state(bias_positive_share: float) -> dict[str, torch.Tensor]:
    """torchvision-layout VGG19 `features` with zero weights and +/-1 biases: a known activation share."""
    state, index, channels = {}, 0, 3
    for width, convs in ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4)):
        for _ in range(convs):
            state[f"features.{index}.weight"] = torch.zeros(width, channels, 3, 3)
            bias = -torch.ones(width)
            bias[: int(width * bias_positive_share)] = 1.0
            state[f"features.{index}.bias"] = bias
            index, channels = index + 2, width  # conv, relu
        index += 1  # max-pool
    return state


def test_sparsity_counts_match_a_manual_forward_pass():
    extractor = VGG19FeatureExtractor(["relu2_2"], random_init=True)
    image = np.random.default_rng(0).random((24, 20, 3)).astype(np.float32)
    layers = ("conv1_1", "conv1_2", "conv2_1", "conv2_2")
    got = {r.layer: r for r in activation_sparsity(image, extractor, layers)}
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (torch.from_numpy(image).permute(2, 0, 1)[None] - mean) / std
    convs = [m for m in extractor.features if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for name, conv in zip(layers, convs, strict=False):
            pre = torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1)
            post = pre.clamp(min=0)
            assert got[name].nonzero_before == pytest.approx(float((pre != 0).float().mean()))
            assert got[name].active_after == pytest.approx(float((post > 0).float().mean()))
            x = torch.nn.functional.max_pool2d(post, 2) if name == "conv1_2" else post
    assert 0.2 < got["conv2_2"].active_after < 0.8


def test_sparsity_command_with_weights_file(tmp_path, capsys):
    weights = tmp_path / "vgg19.pth"
    torch.save(vgg19_state(0.25), weights)
    write_image(tmp_path / "img.png", photo_like(2, 48))
    out = tmp_path / "sp"
    assert (
        main(
            ["analyze", "sparsity", str(tmp_path / "img.png"), "--vgg-weights", str(weights), "-o", str(out)]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "RANDOM" not in captured.out + captured.err
    assert str(weights) in captured.out
    assert "after VGG19-54 (relu5_4): 25.00% activated" in captured.out
    rows = json.loads((out / "sparsity.json").read_text())["layers"]
    assert len(rows) == 16
    assert all(r["nonzero_before"] == 1.0 and r["active_after"] == 0.25 for r in rows)
    assert (out / "sparsity.png").stat().st_size > 10_000
    assert (out / "feature_maps_conv5_4.png").is_file()


def test_sparsity_says_when_weights_are_random_and_never_falls_back(tmp_path, capsys, monkeypatch):
    write_image(tmp_path / "img.png", photo_like(3, 32))
    assert (
        main(["analyze", "sparsity", str(tmp_path / "img.png"), "--random-vgg", "-o", str(tmp_path / "a")])
        == 0
    )
    captured = capsys.readouterr()
    assert "RANDOM" in captured.err
    assert json.loads((tmp_path / "a" / "sparsity.json").read_text())["random_vgg"] is True
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_hub"))
    monkeypatch.setenv("ESRGAN_OFFLINE", "1")
    assert main(["analyze", "sparsity", str(tmp_path / "img.png"), "-o", str(tmp_path / "b")]) == 2
    assert "VGG19 weights not found" in capsys.readouterr().err
    assert not (tmp_path / "b" / "sparsity.json").exists()


# ---------------------------------------------------------------------------------------------
# Brightness


def test_brightness_offset_is_measured(tmp_path, capsys):
    hr = tmp_path / "hr"
    brighter = tmp_path / "brighter"
    same = tmp_path / "same"
    for folder in (hr, brighter, same):
        folder.mkdir()
    for i, name in enumerate(("one", "two")):
        image = (photo_like(i, 64).astype(np.int64) // 2 + 40).astype(np.uint8)  # 40..167: room to brighten
        write_image(hr / f"{name}.png", image)
        write_image(brighter / f"{name}_x4_SR.png", image + 10)
        write_image(same / f"{name}.png", image)
    result = analyze_brightness({"brighter": brighter, "same": same}, hr, sigma=2.0)
    # +10 on R, G and B is +10 grey levels (rgb2gray weights sum to 1): shift and EMD are 10.
    assert result.distances["brighter"]["mean_shift"] == pytest.approx(10.0, abs=0.02)
    assert result.distances["brighter"]["emd"] == pytest.approx(10.0, abs=0.02)
    assert result.distances["same"] == {"mean_shift": 0.0, "emd": 0.0, "l1": 0.0}
    assert result.images == {"brighter": 2, "same": 2}
    assert result.histograms["brighter"].sum() == pytest.approx(1.0)
    out = tmp_path / "rep"
    assert (
        main(["analyze", "brightness", "--sr", str(brighter), str(same), "--hr", str(hr), "-o", str(out)])
        == 0
    )
    assert "brighter" in capsys.readouterr().out
    assert (out / "brightness.png").stat().st_size > 10_000
    assert main(["analyze", "brightness", "--sr", str(same), "--hr", str(hr), "--labels", "a", "b"]) == 2


def test_names_are_matched_with_a_tag_suffix(tmp_path):
    hr = [tmp_path / "baboon.png", tmp_path / "baby.png"]
    sr = [tmp_path / "baboon_ESRGAN.png", tmp_path / "baby.png", tmp_path / "zebra.png"]
    assert match_to_hr(sr, hr) == [(sr[0], hr[0]), (sr[1], hr[1])]


# ---------------------------------------------------------------------------------------------
# Report helpers


def test_crop_helpers(tmp_path):
    image = np.full((64, 80), 0.5)
    image[24:40, 48:64] = np.random.default_rng(0).random((16, 16))
    box = most_detailed_crop(image, 16)
    assert box == CropBox(24, 48, 16, 16)
    assert parse_crop("10,20,30") == CropBox(20, 10, 30, 30)
    assert parse_crop("10,20,30,5") == CropBox(20, 10, 5, 30)
    for bad in ("1,2", "a,b,c", "1,2,0"):
        with pytest.raises(ESRGANError):
            parse_crop(bad)
    write_json(tmp_path / "x.json", {"a": float("nan"), "b": np.float32(1.5), "c": [float("inf")]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": None, "b": 1.5, "c": [None]}
