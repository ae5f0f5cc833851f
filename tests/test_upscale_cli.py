"""`esrgan upscale` end to end: formats in and out, and every kind of bad input.

The checkpoint used here is an RRDBNet whose weights make it exactly nearest-neighbour x4
upsampling (identity kernels along one path, zeros elsewhere), so the expected output of every
file is known without running the package's own code.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import esrgan
from esrgan.cli.main import main
from esrgan.models.rrdbnet import RRDBNet
from tests.png_craft import encode_png, huge_header_png

RNG = np.random.default_rng(0)


def identity_rrdbnet() -> RRDBNet:
    """x4 RRDBNet computing nearest-neighbour upsampling of [0, 1] inputs, exactly."""
    model = RRDBNet(3, 3, 4, num_feat=4, num_block=1, num_grow=4)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for conv in (model.conv_first, model.conv_up1, model.conv_up2, model.conv_hr, model.conv_last):
            for c in range(3):
                conv.weight[c, c, 1, 1] = 1.0  # copy channel c through; LeakyReLU keeps values >= 0
    return model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "nearest_x4.pth"
    esrgan.save_model(identity_rrdbnet(), path)
    return path


def cli(capsys, *args) -> tuple[int, str, str]:
    rc = main(["upscale", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def repeat(a: np.ndarray, s: int = 4) -> np.ndarray:
    return np.repeat(np.repeat(a, s, axis=0), s, axis=1)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- good inputs --------------------------------------------------------------------------


def test_rgba_gray_and_16bit_png(tmp_path, capsys, model_path):
    rgba = RNG.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    gray = RNG.integers(0, 256, (6, 5), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    rgb16 = RNG.integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    (tmp_path / "deep.png").write_bytes(encode_png(rgb16, 16))
    out = tmp_path / "out"
    rc, stdout, _ = cli(
        capsys,
        tmp_path / "rgba.png",
        tmp_path / "gray.png",
        tmp_path / "deep.png",
        "-o",
        out,
        "-m",
        model_path,
    )
    assert rc == 0 and "upscaled 3 image(s)" in stdout and "0 failed" in stdout

    im = Image.open(out / "rgba_x4.png")
    assert im.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(im), repeat(rgba))
    im = Image.open(out / "gray_x4.png")
    assert im.mode == "L"
    np.testing.assert_array_equal(np.asarray(im), repeat(gray))
    raw = (out / "deep_x4.png").read_bytes()
    assert raw[24] == 16 and raw[25] == 2  # IHDR: 16-bit RGB
    from esrgan.data.image_io import read_image

    np.testing.assert_array_equal(np.rint(read_image(out / "deep_x4.png").pixels * 65535), repeat(rgb16))


def test_jpeg_and_webp_inputs(tmp_path, capsys, model_path):
    rgb = RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=90)
    Image.fromarray(rgb).save(tmp_path / "b.webp", lossless=True)
    out = tmp_path / "out"
    rc, _, _ = cli(
        capsys, tmp_path / "a.jpg", tmp_path / "b.webp", "-o", out, "-m", model_path, "--ext", "png"
    )
    assert rc == 0
    decoded_jpeg = np.asarray(Image.open(tmp_path / "a.jpg").convert("RGB"))
    np.testing.assert_array_equal(np.asarray(Image.open(out / "a_x4.png")), repeat(decoded_jpeg))
    np.testing.assert_array_equal(np.asarray(Image.open(out / "b_x4.png")), repeat(rgb))
    rc, _, _ = cli(capsys, tmp_path / "a.jpg", tmp_path / "b.webp", "-o", out, "-m", model_path)
    assert (
        rc == 0
        and Image.open(out / "a_x4.jpg").format == "JPEG"
        and Image.open(out / "b_x4.webp").format == "WEBP"
    )


def test_folders_globs_outscale_and_names(tmp_path, capsys, model_path):
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    for name in ("p.png", "q.png", "nested/r.png"):
        Image.fromarray(RNG.integers(0, 256, (8, 10, 3), dtype=np.uint8)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    rc, _, _ = cli(capsys, folder, "-o", out, "-m", model_path, "-s", "2.5")
    assert rc == 0 and sorted(p.name for p in out.iterdir()) == ["p_x2.5.png", "q_x2.5.png"]
    assert Image.open(out / "p_x2.5.png").size == (25, 20)
    rc, _, _ = cli(capsys, str(folder / "q*.png"), "-o", out, "-m", model_path, "-s", "2", "--tile", "32")
    assert rc == 0 and (out / "q_x2.png").exists() and Image.open(out / "q_x2.png").size == (20, 16)


# --- bad inputs ---------------------------------------------------------------------------


def _truncated_png() -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()[:300]


BAD_FILES = {
    "empty.png": b"",
    "truncated.png": _truncated_png(),
    "text.png": b"this is a text file, not a PNG\n",
    "bomb.png": huge_header_png(20000, 20000),
}


@pytest.mark.parametrize("name", [*BAD_FILES, "missing.png"])
def test_bad_input_file(tmp_path, capsys, model_path, name):
    src = tmp_path / name
    if name in BAD_FILES:
        src.write_bytes(BAD_FILES[name])
        before = digest(src)
    good = tmp_path / "good.png"
    Image.fromarray(RNG.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(good)
    out = tmp_path / "out"
    rc, stdout, stderr = cli(capsys, src, good, "-o", out, "-m", model_path)
    assert rc != 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(src) in lines[0], stderr
    assert "Traceback" not in stderr
    assert "1 failed" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["good_x4.png"]  # no partial or temporary file
    if name in BAD_FILES:
        assert digest(src) == before
    if name == "bomb.png":
        assert "20000x20000" in lines[0] and "refused before decoding" in lines[0]


def test_unwritable_output_folder(tmp_path, capsys, model_path):
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(src)
    before = digest(src)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    rc, stdout, stderr = cli(capsys, src, "-o", blocker / "sub", "-m", model_path)
    assert rc == 2 and stdout == ""
    assert len(stderr.strip().splitlines()) == 1 and "output folder" in stderr
    assert digest(src) == before and blocker.read_text() == "x"


def test_model_problems(tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(src)
    fake = tmp_path / "model.pth"
    fake.write_text("not a checkpoint")
    rc, _, stderr = cli(capsys, src, "-o", tmp_path / "out", "-m", fake)
    assert rc == 2 and len(stderr.strip().splitlines()) == 1 and "model.pth" in stderr
    assert not (tmp_path / "out").exists()  # the folder is made only for the first output

    rc, _, stderr = cli(capsys, src, "-o", tmp_path / "out")
    assert rc == 2 and "RRDB_ESRGAN_x4.pth" in stderr and "RealESRGAN_x4plus.pth" in stderr
    assert "esrgan quickstart" in stderr

    rc, _, stderr = cli(capsys, src, "-o", tmp_path / "out", "-m", fake, "--half", "--device", "cpu")
    assert rc == 2 and "needs a CUDA GPU" in stderr


def test_subprocess_has_no_traceback(tmp_path, model_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(_truncated_png())
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(huge_header_png())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "esrgan",
            "upscale",
            str(bad),
            str(bomb),
            "-o",
            str(tmp_path / "o"),
            "-m",
            str(model_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    failed = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(failed) == 2 and all(line.startswith("esrgan upscale: failed: ") for line in failed), (
        proc.stderr
    )
    assert not (tmp_path / "o").exists()
