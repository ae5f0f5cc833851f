"""Image reading/writing: bit depths, alpha, grayscale, orientation, bad files, atomic writes."""

from __future__ import annotations

import io
import os
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from esrgan.errors import ESRGANError
from esrgan.images import image_io
from esrgan.images.image_io import ImageData, read_image, read_pixels, write_image
from esrgan.images.scaling import to_float, to_integer
from tests.png_craft import chunk, encode_png, huge_header_png

RNG = np.random.default_rng(0)


def rand16(*shape: int) -> np.ndarray:
    return RNG.integers(0, 65536, shape, dtype=np.uint16)


def rand8(*shape: int) -> np.ndarray:
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def as16(pixels: np.ndarray) -> np.ndarray:
    return np.rint(pixels * 65535).astype(np.uint16)


def as8(pixels: np.ndarray) -> np.ndarray:
    return np.rint(pixels * 255).astype(np.uint8)


# --- 16-bit PNG read: every filter type, interlacing, gray+alpha ---------------------------


@pytest.mark.parametrize("channels", [3, 4, 2, 1])
@pytest.mark.parametrize("interlace", [False, True])
def test_16bit_png_read_exact(tmp_path, channels, interlace):
    a = rand16(11, 13, channels)
    path = tmp_path / "a.png"
    path.write_bytes(encode_png(a, 16, interlace))
    d = read_image(path)
    assert d.bit_depth == 16
    colour = a[..., :3] if channels >= 3 else a[..., :1]
    np.testing.assert_array_equal(as16(d.pixels), colour)
    if channels in (2, 4):
        np.testing.assert_array_equal(as16(d.alpha), a[..., -1])
    else:
        assert d.alpha is None


def test_16bit_rgb_png_with_trns_colour_key(tmp_path):
    a = rand16(5, 6, 3)
    a[2, 3] = (1, 2, 3)
    trns = chunk(b"tRNS", np.array([1, 2, 3], ">u2").tobytes())
    path = tmp_path / "k.png"
    path.write_bytes(encode_png(a, 16, extra=trns))
    alpha = read_image(path).alpha
    expected = np.ones((5, 6), np.float32)
    expected[2, 3] = 0
    np.testing.assert_array_equal(alpha, expected)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_png_write_roundtrip_and_independent_decode(tmp_path, channels):
    a = rand16(9, 7, channels)
    path = tmp_path / "w.png"
    write_image(path, a)
    d = read_image(path)
    np.testing.assert_array_equal(as16(d.pixels), a[..., : 3 if channels >= 3 else 1])
    # Independent decode: inflate the IDAT data and undo the Sub filter with a cumulative sum.
    blob = path.read_bytes()
    idat, pos = b"", 8
    while pos < len(blob):
        n = int.from_bytes(blob[pos : pos + 4], "big")
        if blob[pos + 4 : pos + 8] == b"IDAT":
            idat += blob[pos + 8 : pos + 8 + n]
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(9, 1 + 7 * 2 * channels)
    assert np.all(raw[:, 0] == 1)
    rows = raw[:, 1:].reshape(9, 7, 2 * channels)
    unfiltered = np.cumsum(rows, axis=1, dtype=np.uint8)  # Sub: add the byte one pixel to the left
    values = unfiltered.reshape(9, 7 * channels, 2).astype(np.uint16)
    np.testing.assert_array_equal((values[..., 0] << 8 | values[..., 1]).reshape(9, 7, channels), a)


def test_16bit_gray_png_from_pillow(tmp_path):
    a = rand16(8, 9)
    Image.fromarray(a).save(tmp_path / "g.png")
    d = read_image(tmp_path / "g.png")
    assert d.bit_depth == 16 and d.pixels.shape == (8, 9, 1)
    np.testing.assert_array_equal(as16(d.pixels[..., 0]), a)


def test_16bit_tiff_read_write(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    a = rand16(6, 5, 3)
    tifffile.imwrite(tmp_path / "in.tif", a, photometric="rgb")
    d = read_image(tmp_path / "in.tif")
    assert d.bit_depth == 16
    np.testing.assert_array_equal(as16(d.pixels), a)
    write_image(tmp_path / "out.tif", d)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), a)


# --- 8-bit modes ----------------------------------------------------------------------------


def test_rgba_la_and_palette_alpha(tmp_path):
    rgba = rand8(6, 7, 4)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    d = read_image(tmp_path / "rgba.png")
    np.testing.assert_array_equal(as8(d.pixels), rgba[..., :3])
    np.testing.assert_array_equal(as8(d.alpha), rgba[..., 3])

    la = rand8(6, 7, 2)
    Image.fromarray(la).save(tmp_path / "la.png")
    d = read_image(tmp_path / "la.png")
    assert d.pixels.shape == (6, 7, 1)
    np.testing.assert_array_equal(as8(d.alpha), la[..., 1])

    pal = Image.fromarray(rand8(6, 7) % 4).convert("P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    pal.info["transparency"] = 2
    pal.save(tmp_path / "p.png", transparency=2)
    d = read_image(tmp_path / "p.png")
    index = np.asarray(Image.open(tmp_path / "p.png"))
    np.testing.assert_array_equal(d.alpha == 0, index == 2)
    np.testing.assert_array_equal(as8(d.pixels)[index == 0], np.tile([255, 0, 0], ((index == 0).sum(), 1)))


@pytest.mark.parametrize("ext", ["jpg", "webp", "bmp", "tif"])
def test_other_formats_read_like_pillow(tmp_path, ext):
    a = rand8(16, 12, 3)
    path = tmp_path / f"x.{ext}"
    Image.fromarray(a).save(path)
    d = read_image(path)
    assert d.bit_depth == 8 and d.source_format in ("JPEG", "WEBP", "BMP", "TIFF")
    np.testing.assert_array_equal(as8(d.pixels), np.asarray(Image.open(path).convert("RGB")))


def test_webp_lossless_and_jpeg_quality_written(tmp_path):
    a = rand8(16, 16, 3)
    write_image(tmp_path / "lo.jpg", a, quality=20)
    write_image(tmp_path / "hi.jpg", a, quality=98)
    assert (tmp_path / "lo.jpg").stat().st_size < (tmp_path / "hi.jpg").stat().st_size
    rgba = rand8(8, 8, 4)
    write_image(tmp_path / "a.webp", rgba, quality=100)
    assert Image.open(tmp_path / "a.webp").mode == "RGBA"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    a = rand8(5, 8, 3)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    Image.fromarray(a).save(path, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    np.testing.assert_array_equal(as8(read_image(path).pixels), expected)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_header_size_is_the_size_of_the_pixels_read(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "camera.jpg"  # a camera JPEG, stored landscape and tagged to display rotated
    Image.fromarray(rand8(24, 40, 3)).save(path, exif=exif.tobytes(), quality=90)
    with Image.open(path) as im:  # Pillow's own transpose: the reference for the upright size
        upright_w, upright_h = ImageOps.exif_transpose(im).size
    header = image_io.read_header(path)
    assert (header.height, header.width) == header.shape == (upright_h, upright_w)
    assert image_io.read_pixels(path).pixels.shape[:2] == (upright_h, upright_w)
    assert image_io.load_rgb(path).shape[:2] == (upright_h, upright_w)


def test_icc_profile_carried(tmp_path):
    icc = b"fake-icc-profile-bytes" * 10
    Image.fromarray(rand8(4, 4, 3)).save(tmp_path / "in.png", icc_profile=icc)
    d = read_image(tmp_path / "in.png")
    assert d.icc_profile == icc
    write_image(tmp_path / "out.png", d)
    assert Image.open(tmp_path / "out.png").info.get("icc_profile") == icc
    write_image(tmp_path / "out16.png", d, bit_depth=16)
    assert Image.open(tmp_path / "out16.png").info.get("icc_profile") == icc


def test_write_float_rounds_and_clips(tmp_path):
    x = np.array([[-0.2, 0.0, 0.4 / 255, 1.6 / 255, 1.0, 1.3]], np.float32)
    write_image(tmp_path / "f.png", x)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "f.png")), [[0, 0, 0, 2, 255, 255]])
    write_image(tmp_path / "f16.png", x, bit_depth=16)
    expected = np.clip(np.floor(x.astype(np.float64) * 65535 + 0.5), 0, 65535)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "f16.png")), expected)


def test_16bit_to_jpeg_writes_8bit(tmp_path):
    d = ImageData(pixels=rand16(8, 8, 3).astype(np.float32) / 65535, bit_depth=16)
    write_image(tmp_path / "x.jpg", d)
    assert Image.open(tmp_path / "x.jpg").mode == "RGB"


# --- bad files --------------------------------------------------------------------------------


def _expect_error(path, *words):
    with pytest.raises(ESRGANError) as info:
        read_image(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message.lower()


def test_bad_files(tmp_path):
    _expect_error(tmp_path / "missing.png", "no such file")
    (tmp_path / "empty.png").write_bytes(b"")
    _expect_error(tmp_path / "empty.png", "empty")
    (tmp_path / "text.png").write_text("hello, not an image\n")
    _expect_error(tmp_path / "text.png", "not a recognised image")
    _expect_error(tmp_path, "folder")
    buf = io.BytesIO()
    Image.fromarray(rand8(64, 64, 3)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _expect_error(tmp_path / "cut.png", "truncated")
    cut16 = encode_png(rand16(16, 16, 3), 16)
    (tmp_path / "cut16.png").write_bytes(cut16[: len(cut16) - 40])
    _expect_error(tmp_path / "cut16.png", "truncated")


@pytest.mark.parametrize("size", [(20000, 20000), (40000, 10000), (100000, 100000)])
def test_huge_header_refused_before_decoding(tmp_path, size):
    path = tmp_path / "bomb.png"
    path.write_bytes(huge_header_png(*size))
    start = time.perf_counter()
    _expect_error(path, f"{size[0]}x{size[1]}", "refused before decoding")
    assert time.perf_counter() - start < 1.0


def test_size_below_limit_is_not_refused_for_size(tmp_path):
    path = tmp_path / "wide.png"
    path.write_bytes(huge_header_png(19999, 20000))  # 399.98 MP: allowed, then fails as truncated
    _expect_error(path, "truncated")


# --- atomic writes ----------------------------------------------------------------------------


def test_failed_write_leaves_nothing_and_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"old contents")

    def broken(f, array, icc=None, rows_per_chunk=256):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(image_io.codecs16, "encode_png16", broken)
    with pytest.raises(ESRGANError, match="No space left"):
        write_image(target, rand16(4, 4, 3))
    assert target.read_bytes() == b"old contents"
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def test_write_into_unwritable_place(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ESRGANError, match="cannot write"):
        write_image(blocker / "sub" / "out.png", rand8(4, 4, 3))
    with pytest.raises(ESRGANError, match="unknown output extension"):
        write_image(tmp_path / "out.xyz", rand8(4, 4, 3))


def test_read_pixels_keeps_the_files_integers(tmp_path):
    rng = np.random.default_rng(0)
    rgba8 = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    Image.fromarray(rgba8, "RGBA").save(tmp_path / "a.png")
    d = read_pixels(tmp_path / "a.png")
    assert d.pixels.dtype == np.uint8 and d.alpha.dtype == np.uint8 and d.bit_depth == 8
    np.testing.assert_array_equal(d.pixels, rgba8[..., :3])
    np.testing.assert_array_equal(d.alpha, rgba8[..., 3])
    gray16 = rng.integers(0, 65536, (4, 6), dtype=np.uint16)
    write_image(tmp_path / "g.png", gray16)
    g = read_pixels(tmp_path / "g.png")
    assert g.pixels.dtype == np.uint16 and g.bit_depth == 16
    np.testing.assert_array_equal(g.pixels[..., 0], gray16)
    # read_image is the same image as floats, value / 255 or / 65535 (computed here in float64).
    f = read_image(tmp_path / "a.png")
    assert f.pixels.dtype == np.float32
    np.testing.assert_allclose(f.pixels, rgba8[..., :3] / 255.0, rtol=0, atol=1e-7)
    np.testing.assert_allclose(to_float(gray16), gray16 / 65535.0, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(to_integer(to_float(gray16), 16), gray16)


def test_atomic_files_get_the_usual_permissions(tmp_path):
    """Whatever mode a writer creates its temporary with, the result has open()'s (0666 & ~umask)."""
    import os

    from esrgan.atomic import atomic_path

    mask = os.umask(0o022)
    os.umask(mask)
    target = tmp_path / "m.safetensors"
    with atomic_path(target) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # as safetensors' writer does
        os.close(fd)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~mask)


def test_the_image_layer_imports_only_errors_atomic_writes_and_the_memory_guard():
    """esrgan.images sits under data, models, inference and metrics: none of them may be imported from
    it (even inside a function). Read from the source, so imports no test runs count too."""
    import ast
    from pathlib import Path

    allowed = ("esrgan.errors", "esrgan.atomic", "esrgan.memory", "esrgan.images")
    upward = []
    for path in sorted(Path(image_io.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            ours = [n for n in names if n == "esrgan" or n.startswith("esrgan.")]
            upward += [f"{path.name}: {n}" for n in ours if not n.startswith(allowed)]
    assert not upward, upward
