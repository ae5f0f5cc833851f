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
    from esrgan.images.image_io import read_image

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


def test_model_problems(tmp_path, capsys, monkeypatch):
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(src)
    fake = tmp_path / "model.pth"
    fake.write_text("not a checkpoint")
    rc, _, stderr = cli(capsys, src, "-o", tmp_path / "out", "-m", fake)
    assert rc == 2 and len(stderr.strip().splitlines()) == 1 and "model.pth" in stderr
    assert not (tmp_path / "out").exists()  # the folder is made only for the first output

    from esrgan.models import hub

    monkeypatch.setattr(hub, "WEIGHTS_DIR", tmp_path / "no-weights")  # no -m: the built-in, here missing
    rc, _, stderr = cli(capsys, src, "-o", tmp_path / "out")
    assert rc == 2 and "built-in model is missing" in stderr and "-m RealESRGAN_x4plus" in stderr
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


# --- inputs are never written; existing outputs are kept ------------------------------------


def listing(root: Path) -> dict[str, str]:
    """Every file below `root` with its hash (links by target), to compare before/after."""
    return {str(p.relative_to(root)): digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


def small_png(path: Path, value: int = 0) -> Path:
    Image.fromarray(np.full((6, 5, 3), value, np.uint8)).save(path)
    return path


@pytest.mark.parametrize("layout", ["same", "symlink", "dotdot"])
def test_an_output_never_lands_on_an_input(tmp_path, capsys, model_path, layout):
    folder = tmp_path / "in"
    folder.mkdir()
    small_png(folder / "a.png", 10)
    small_png(folder / "a_x4.png", 200)  # the output name of a.png, and an input itself
    out = {"same": folder, "symlink": tmp_path / "link", "dotdot": folder / "sub" / ".."}[layout]
    if layout == "symlink":
        out.symlink_to(folder, target_is_directory=True)
    if layout == "dotdot":
        (folder / "sub").mkdir()
    before = listing(tmp_path)
    for extra in ([], ["--force"], ["--skip-existing"]):
        rc, stdout, stderr = cli(capsys, folder, "-o", out, "-m", model_path, *extra)
        assert rc == 2 and stdout == "", stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and "a_x4.png" in lines[0] and "overwrite the input" in lines[0], stderr
        assert listing(tmp_path) == before  # nothing written, nothing changed


def test_an_output_that_is_a_hard_link_to_an_input_is_refused(tmp_path, capsys, model_path):
    src = small_png(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_x4.png").hardlink_to(src)  # the same file under the output's name
    before = listing(tmp_path)
    rc, _, stderr = cli(capsys, src, "-o", out, "-m", model_path, "--force")
    assert rc == 2 and "overwrite the input" in stderr
    assert listing(tmp_path) == before


def test_two_inputs_with_the_same_output_are_refused_up_front(tmp_path, capsys, model_path):
    small_png(tmp_path / "a.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.webp", lossless=True)
    rc, _, stderr = cli(
        capsys,
        tmp_path / "a.png",
        tmp_path / "a.webp",
        "-o",
        tmp_path / "o",
        "--ext",
        "png",
        "-m",
        model_path,
    )
    assert rc == 2 and "would both be written to" in stderr and not (tmp_path / "o").exists()


def test_existing_outputs_are_kept_unless_force_or_skip(tmp_path, capsys, model_path):
    a = small_png(tmp_path / "a.png", 10)
    b = small_png(tmp_path / "b.png", 20)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_x4.png").write_bytes(b"an older result")

    rc, stdout, stderr = cli(capsys, a, b, "-o", out, "-m", model_path)
    assert rc == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "a_x4.png exists" in lines[0]
    assert "--force" in lines[0] and "--skip-existing" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["a_x4.png"]  # b was not done either

    rc, stdout, _ = cli(capsys, a, b, "-o", out, "-m", model_path, "--skip-existing")
    assert rc == 0 and "upscaled 1 image(s)" in stdout and "1 skipped" in stdout and "0 failed" in stdout
    assert (out / "a_x4.png").read_bytes() == b"an older result"
    np.testing.assert_array_equal(np.asarray(Image.open(out / "b_x4.png")), np.full((24, 20, 3), 20))

    rc, stdout, _ = cli(capsys, a, b, "-o", out, "-m", model_path, "--force")
    assert rc == 0 and "upscaled 2 image(s)" in stdout and "skipped" not in stdout
    np.testing.assert_array_equal(np.asarray(Image.open(out / "a_x4.png")), np.full((24, 20, 3), 10))

    rc, _, stderr = cli(capsys, a, "-o", out, "-m", model_path, "--force", "--skip-existing")
    assert rc == 2 and "not allowed with" in stderr


# --- sizes, arguments and files checked once, before any work -------------------------------


def test_an_output_too_large_for_memory_is_refused_up_front(tmp_path, capsys, model_path, monkeypatch):
    from esrgan import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 2**20)  # 1 MiB: 2000x2000 cannot fit
    src = small_png(tmp_path / "a.png")
    other = small_png(tmp_path / "b.png")
    before = listing(tmp_path)
    rc, stdout, stderr = cli(capsys, src, other, "-o", tmp_path / "out", "-m", model_path, "-s", "400")
    lines = stderr.strip().splitlines()
    assert rc == 2 and stdout == "" and len(lines) == 1, stderr
    assert "a.png" in lines[0] and "RAM available" in lines[0] and "--max-output-pixels" in lines[0]
    assert listing(tmp_path) == before and not (tmp_path / "out").exists()
    rc, _, stderr = cli(capsys, src, "-o", tmp_path / "out", "-m", model_path, "--max-output-pixels", "400")
    assert rc == 2 and "more than the limit of 400" in stderr
    rc, _, _ = cli(capsys, src, "-o", tmp_path / "out", "-m", model_path, "--max-output-pixels", "480")
    assert rc == 0 and Image.open(tmp_path / "out" / "a_x4.png").size == (20, 24)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tile", "1"], "--tile: must be at least 32"),
        (["--tile", "7"], "--tile: must be at least 32"),
        (["--tile", "32", "--tile-overlap", "20"], "too large for 32 px tiles"),
        (["--outscale", "inf"], "--outscale: must be a positive finite number"),
        (["--outscale", "nan"], "--outscale: must be a positive finite number"),
        (["--outscale", "0"], "--outscale: must be a positive finite number"),
        (["--device", "warp-drive"], "unknown device 'warp-drive'"),
        (["--back-projection", "-2"], "--back-projection: must be >= 0"),
    ],
)
def test_bad_arguments_fail_once_and_leave_no_folder(tmp_path, capsys, model_path, args, message):
    inputs = [small_png(tmp_path / f"{k}.png") for k in "abc"]
    before = listing(tmp_path)
    rc, stdout, stderr = cli(capsys, *inputs, "-o", tmp_path / "out", "-m", model_path, *args)
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    assert rc == 2 and stdout == "" and len(errors) == 1 and message in errors[0], stderr
    assert not (tmp_path / "out").exists() and listing(tmp_path) == before


# --- animated and multi-page inputs ---------------------------------------------------------


FRAME_VALUES = (0, 120, 240)


def _frames() -> list[Image.Image]:
    return [Image.fromarray(np.full((5, 6, 3), v, np.uint8)) for v in FRAME_VALUES]


@pytest.mark.parametrize("name", ["anim.gif", "anim.png", "pages.tif"])
def test_multi_frame_inputs_say_what_they_do(tmp_path, capsys, model_path, name):
    src = tmp_path / name
    frames = _frames()
    frames[0].save(src, save_all=True, append_images=frames[1:])
    still = small_png(tmp_path / "still.png", 7)
    stem = src.stem
    out = tmp_path / "out"

    rc, stdout, stderr = cli(capsys, src, still, "-o", out, "-m", model_path)
    assert rc == 1 and "1 failed" in stdout
    assert f"{name}: has 3 frames" in stderr and "--frames first" in stderr and "--frames all" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["still_x4.png"]

    rc, _, stderr = cli(capsys, src, "-o", out, "-m", model_path, "--frames", "first")
    assert rc == 0 and "only the first" in stderr
    expected_ext = ".png" if name.endswith(".gif") else src.suffix
    np.testing.assert_array_equal(np.asarray(Image.open(out / f"{stem}_x4{expected_ext}").convert("RGB")), 0)

    rc, stdout, _ = cli(capsys, src, "-o", out, "-m", model_path, "--frames", "all")
    assert rc == 0 and "upscaled 3 image(s)" in stdout
    for i, value in enumerate(FRAME_VALUES):
        im = Image.open(out / f"{stem}_f{i + 1:04d}_x4{expected_ext}")
        assert im.size == (24, 20)
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), value)


# --- one line, never a traceback ------------------------------------------------------------


def test_os_errors_and_bugs_are_one_line(tmp_path, capsys, monkeypatch):
    import errno

    import esrgan.cli.info as info_cli

    def denied(args):
        raise PermissionError(errno.EACCES, "Permission denied", "/some/where/model.pth")

    monkeypatch.setattr(info_cli, "run", denied)
    assert main(["info", "x.pth"]) == 2
    assert capsys.readouterr().err == "esrgan info: error: /some/where/model.pth: Permission denied\n"

    def bug(args):
        raise KeyError("oops")

    monkeypatch.setattr(info_cli, "run", bug)
    monkeypatch.delenv("ESRGAN_DEBUG", raising=False)
    assert main(["info", "x.pth"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "internal error" in err and "KeyError" in err
    assert "ESRGAN_DEBUG=1" in err
    monkeypatch.setenv("ESRGAN_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["info", "x.pth"])


def test_closed_stdout_exits_quietly(model_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "esrgan", "info", str(model_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # like `| head -0`: the reader is gone before the first line is written
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and err == b"", err.decode()
