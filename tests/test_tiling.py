"""Tiling, blending and `esrgan.upscale` on arrays and PIL images (precision: test_precision.py)."""

from __future__ import annotations

import logging
import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from torch import nn
from torch.nn import functional as F

import esrgan
from esrgan.errors import ESRGANError
from esrgan.inference import tile_size
from esrgan.inference.precision import is_out_of_memory
from esrgan.inference.tiling import plan_axis, ramp_weights, tiled_upscale
from esrgan.models.rrdbnet import RRDBNet, init_weights_scaled


class ResidualSR(nn.Module):
    """Nearest upsampling plus a random RRDBNet residual: structured output, a real receptive field."""

    def __init__(self, scale: int = 4, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.body = RRDBNet(3, 3, scale, num_feat=16, num_block=1, num_grow=8)
        init_weights_scaled(self.body, 1.0)
        self.scale, self.in_ch, self.out_ch = scale, 3, 3
        self.size_multiple = self.body.size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale, mode="nearest") + 0.1 * self.body(x)


class Nearest(nn.Module):
    """A 'model' whose exact answer is known: nearest-neighbour upsampling."""

    def __init__(self, scale: int = 2, channels: int = 3, multiple: int = 1) -> None:
        super().__init__()
        self.scale, self.in_ch, self.out_ch, self.size_multiple = scale, channels, channels, multiple
        self.dummy = nn.Parameter(torch.zeros(()))
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        return F.interpolate(x, scale_factor=self.scale, mode="nearest")


def photo(h: int = 96, w: int = 100) -> np.ndarray:
    return data.astronaut()[100 : 100 + h, 150 : 150 + w]


def whole_forward(model: nn.Module, img: np.ndarray) -> np.ndarray:
    """Reference: one forward on the whole float image (reflect-padded to the size multiple), clipped."""
    x = torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]
    m = model.size_multiple
    h, w = img.shape[:2]
    x = F.pad(x, (0, -w % m, 0, -h % m), mode="reflect")
    with torch.no_grad():
        y = model(x)[..., : h * model.scale, : w * model.scale]
    return y[0].permute(1, 2, 0).clamp(0, 1).numpy()


def repeat(img: np.ndarray, s: int) -> np.ndarray:
    return np.repeat(np.repeat(img, s, axis=0), s, axis=1)


# --- tile planning --------------------------------------------------------------------------


@pytest.mark.parametrize("multiple", [1, 2, 4])
def test_plan_covers_every_pixel_with_overlap(multiple):
    for length in range(1, 300, 7):
        for max_tile in (32, 48, 64):
            plan = plan_axis(length, max_tile, 8, multiple)
            assert plan.tile % multiple == 0 and all(s % multiple == 0 for s in plan.starts)
            assert plan.starts[0] == 0 and length <= plan.padded_length < length + multiple
            if len(plan.starts) == 1:
                assert plan.tile == -(-length // multiple) * multiple
            else:
                assert plan.tile <= max_tile
                gaps = [b - a for a, b in zip(plan.starts, plan.starts[1:], strict=False)]
                assert all(0 < g < plan.tile for g in gaps)  # consecutive tiles overlap
                # no more tiles than needed: one fewer could not cover the axis at this overlap
                n = len(plan.starts)
                assert (n - 1) * (max_tile - 8) + 8 < length + multiple


def test_ramp_weights_positive_and_smooth():
    w = ramp_weights(64, 16, rise=True, fall=True)
    assert np.all(w > 0) and np.all(w <= 1)
    np.testing.assert_allclose(w, w[::-1], atol=1e-7)
    assert np.all(np.diff(w[:16]) > 0) and np.all(w[16:48] == 1)
    np.testing.assert_array_equal(ramp_weights(10, 4, rise=False, fall=False), np.ones(10))


# --- blending quality -----------------------------------------------------------------------


def naive_tiles(model: nn.Module, img: np.ndarray, tile: int) -> np.ndarray:
    """Cut-and-paste tiling without overlap: the seams the blended tiler must not have."""
    s = model.scale
    out = np.zeros((img.shape[0] * s, img.shape[1] * s, 3), np.float32)
    for y in range(0, img.shape[0], tile):
        for x in range(0, img.shape[1], tile):
            part = img[y : y + tile, x : x + tile]
            out[y * s : (y + part.shape[0]) * s, x * s : (x + part.shape[1]) * s] = whole_forward(model, part)
    return out


def seam_score(result: np.ndarray, reference: np.ndarray, boundaries: list[int]) -> float:
    """Largest jump of the error across one of the `boundaries` columns, relative to the median jump."""
    err = (result - reference).mean(axis=2)
    jumps = np.abs(np.diff(err, axis=1)).mean(axis=0)  # jumps[c]: between columns c and c+1
    return float(max(jumps[b - 1] for b in boundaries) / (np.median(jumps) + 1e-6))


def test_tiled_matches_whole_image_without_seams():
    model = ResidualSR().eval()
    img = photo(96, 100)
    reference = whole_forward(model, img)
    tiled = esrgan.upscale(model, img.astype(np.float32) / 255, tile=48, tile_overlap=16)
    assert tiled.dtype == np.float32 and tiled.shape == reference.shape
    assert np.abs(tiled - reference).mean() <= 1 / 255

    plan = plan_axis(100, 48, 16)
    assert len(plan.starts) >= 2
    # Candidate seams: every column where some tile starts or ends (HR), and the naive cut lines.
    edges = sorted({s * 4 for s in plan.starts[1:]} | {(s + plan.tile) * 4 for s in plan.starts[:-1]})
    naive = naive_tiles(model, img, 48)
    naive_score = seam_score(naive, reference, [48 * 4])
    blended_score = seam_score(tiled, reference, edges)
    assert naive_score > 10, "the seam measure must be able to see a hard seam"
    assert blended_score < 4, f"a tile edge stands out: {blended_score:.1f}x the median error jump"
    # Boundary rows/columns are not worse than tile interiors by more than a small factor.
    err = np.abs(tiled - reference).mean(axis=(0, 2))
    assert err[edges].mean() < 4 * err.mean() + 1 / 255


@pytest.mark.parametrize(("h", "w"), [(20, 30), (37, 53), (64, 64), (65, 129), (1, 1), (3, 70)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_exact_for_nearest_model(h, w, dtype):
    rng = np.random.default_rng(h * w)
    img = rng.integers(0, np.iinfo(dtype).max + 1, (h, w, 3), dtype=dtype)
    out = esrgan.upscale(Nearest(2), img, tile=32, tile_overlap=8)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, repeat(img, 2))


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize(("h", "w"), [(37, 53), (13, 7), (150, 90)])
def test_size_multiple_padding_for_unshuffle_models(scale, h, w):
    model = ResidualSR(scale=scale).eval()
    m = model.size_multiple
    assert m == {1: 4, 2: 2}[scale]
    img = photo(h, w)
    # Tiles and overlap measured at the body's resolution (the input is pixel-unshuffled by m).
    out = esrgan.upscale(model, img.astype(np.float32) / 255, tile=32 * m, tile_overlap=8 * m)
    reference = whole_forward(model, img)
    assert out.shape == (h * scale, w * scale, 3)
    assert np.abs(out - reference).mean() <= 2 / 255


def test_image_smaller_than_tile_is_one_whole_pass():
    model = ResidualSR().eval()
    img = photo(20, 30)
    out = esrgan.upscale(model, img.astype(np.float32) / 255, tile=64)
    np.testing.assert_allclose(out, whole_forward(model, img), atol=1e-5)


def test_accumulators_stay_band_sized():
    img = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    dst = np.empty((1024, 1024, 3), np.uint8)
    model = Nearest(4)
    tracemalloc.start()
    tiled_upscale(lambda x: model(x), img, dst, scale=4, tile=64, overlap=8, multiple=1, batch_size=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full_float = 1024 * 1024 * 4 * 4  # what a whole-image float32 accumulator + weights would take
    assert peak < full_float / 2, f"peak {peak / 2**20:.1f} MiB"
    np.testing.assert_array_equal(dst, repeat(img, 4))


# --- failures, out of memory, precision ------------------------------------------------------


def test_failing_tile_raises():
    class Breaks(Nearest):
        def forward(self, x):
            if len(self.calls) == 2:
                raise ValueError("tile 3 exploded")
            return super().forward(x)

    with pytest.raises(ValueError, match="tile 3 exploded"):
        esrgan.upscale(Breaks(2), np.zeros((100, 100, 3), np.uint8), tile=32)


def test_out_of_memory_halves_the_tile(caplog):
    class Greedy(Nearest):
        def forward(self, x):
            if x.shape[-1] > 40:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return super().forward(x)

    img = np.random.default_rng(2).integers(0, 256, (90, 90, 3), dtype=np.uint8)
    with caplog.at_level(logging.WARNING, logger="esrgan"):
        out = esrgan.upscale(Greedy(2), img, tile=80, tile_overlap=8)
    np.testing.assert_array_equal(out, repeat(img, 2))
    assert "out of memory with 80 px tiles" in caplog.text and "40 px" in caplog.text

    class OtherError(Nearest):
        def forward(self, x):
            raise RuntimeError("size mismatch in conv")

    with pytest.raises(RuntimeError, match="size mismatch"):
        esrgan.upscale(OtherError(2), img, tile=80)


def test_is_out_of_memory():
    assert is_out_of_memory(torch.OutOfMemoryError("x"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_auto_tile(monkeypatch):
    model = RRDBNet(num_feat=64, num_block=1)
    cpu = tile_size.auto_tile(model, torch.device("cpu"), torch.float32)
    assert cpu == tile_size.CPU_TILE
    monkeypatch.setattr(tile_size, "available_memory", lambda: 200 * 2**20)
    small = tile_size.auto_tile(model, torch.device("cpu"), torch.float32)
    assert tile_size.MIN_TILE <= small < tile_size.CPU_TILE
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (40 * 2**30, 80 * 2**30))
    big = tile_size.auto_tile(model, torch.device("cuda", 0), torch.float16)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2 * 2**30, 80 * 2**30))
    tight = tile_size.auto_tile(model, torch.device("cuda", 0), torch.float16)
    assert big == tile_size.GPU_MAX_TILE and tile_size.MIN_TILE <= tight < big


# --- the public API: kinds of images ---------------------------------------------------------


def test_rgba_gray_and_dtypes_round_trip():
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (10, 12, 4), dtype=np.uint8)
    np.testing.assert_array_equal(esrgan.upscale(Nearest(2), rgba), repeat(rgba, 2))
    np.testing.assert_array_equal(
        esrgan.upscale(Nearest(2), rgba, alpha="bicubic")[..., :3], repeat(rgba, 2)[..., :3]
    )
    gray = rng.integers(0, 65536, (10, 12), dtype=np.uint16)
    out = esrgan.upscale(Nearest(2), gray)
    assert out.shape == (20, 24) and out.dtype == np.uint16
    np.testing.assert_array_equal(out, repeat(gray, 2))
    f64 = rng.random((6, 5, 3))
    out = esrgan.upscale(Nearest(2), f64)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, repeat(f64, 2), atol=1e-6)


def test_model_upscales_alpha_not_a_copy_of_colour():
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[4:12, 4:12, 3] = 255  # opaque square on transparent background
    out = esrgan.upscale(Nearest(2), rgba)
    np.testing.assert_array_equal(out[..., 3], repeat(rgba[..., 3], 2))
    opaque = rgba.copy()
    opaque[..., 3] = 255
    model = Nearest(2)
    esrgan.upscale(model, opaque)
    assert len(model.calls) == 1  # constant alpha costs no model pass


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "I;16", "P"])
def test_pil_in_pil_out(mode):
    rng = np.random.default_rng(4)
    base = Image.fromarray(rng.integers(0, 256, (9, 11, 4), dtype=np.uint8))
    if mode == "I;16":
        im = Image.fromarray(rng.integers(0, 65536, (9, 11), dtype=np.uint16))
    elif mode == "P":
        im = base.convert("RGB").convert("P")  # an RGB palette without transparency
    else:
        im = base.convert(mode)
    out = esrgan.upscale(Nearest(2), im)
    assert isinstance(out, Image.Image) and out.size == (22, 18)
    assert out.mode == {"P": "RGB"}.get(mode, mode)
    expected = repeat(np.asarray(im.convert(out.mode) if mode == "P" else im), 2)
    np.testing.assert_array_equal(np.asarray(out), expected)


def test_gray_through_colour_model_and_colour_through_gray_model():
    model = ResidualSR().eval()
    gray = photo(24, 20)[..., 1]
    out = esrgan.upscale(model, gray.astype(np.float32) / 255)
    x = torch.from_numpy(np.repeat(gray[..., None], 3, axis=2).astype(np.float32) / 255).permute(2, 0, 1)
    with torch.no_grad():
        expected = model(x[None])[0].mean(dim=0).clamp(0, 1).numpy()  # channel mean, then clip
    np.testing.assert_allclose(out, expected, atol=1e-5)
    colour = photo(12, 10)
    np.testing.assert_array_equal(esrgan.upscale(Nearest(2, channels=1), colour), repeat(colour, 2))


def test_outscale_resizes_the_model_output():
    img = photo(20, 30)
    out = esrgan.upscale(Nearest(4), img, outscale=2.5)
    assert out.shape == (50, 75, 3)
    expected = np.asarray(Image.fromarray(repeat(img, 4)).resize((75, 50), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(out, expected)
    assert esrgan.upscale(Nearest(4), img, outscale=4).shape == (80, 120, 3)


def test_bad_arguments():
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ESRGANError, match="tile"):
        esrgan.upscale(Nearest(2), img, tile="big")
    with pytest.raises(ESRGANError, match="outscale"):
        esrgan.upscale(Nearest(2), img, outscale=-1)
    with pytest.raises(ESRGANError, match="values in"):
        esrgan.upscale(Nearest(2), img.astype(np.float32) + 200)
    with pytest.raises(ESRGANError, match="channels"):
        esrgan.upscale(Nearest(2, channels=4), img)
    with pytest.raises(ESRGANError, match="pixel type"):
        esrgan.upscale(Nearest(2), img.astype(np.int64))
    # Devices are read as the command line reads them (esrgan.inference.device.resolve_device).
    with pytest.raises(ESRGANError, match="unknown device 'warp-drive' .cpu, cuda"):
        esrgan.upscale(Nearest(2), img, device="warp-drive")
    assert esrgan.upscale(Nearest(2), img, device="auto").shape == (16, 16, 3)


# --- sizes checked before any work; clear messages ---------------------------------------


@pytest.fixture
def one_mib_of_ram(monkeypatch):
    """Pretend 1 MiB of RAM is available: small real requests then stand for huge ones."""
    from esrgan import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 2**20)


def test_upscale_refuses_an_output_too_large_for_memory(one_mib_of_ram):
    img = np.zeros((8, 8, 3), np.uint8)
    model = Nearest(4)
    # 2000 x 2000 x 3 bytes = 12 MB, far over 1 MiB: refused before the model runs.
    with pytest.raises(ESRGANError, match=r"8x8 to 2000x2000.*RAM available"):
        esrgan.upscale(model, img, outscale=250)
    assert model.calls == []
    # 32 x 32 x 3 = 3 KB fits.
    assert esrgan.upscale(model, img).shape == (32, 32, 3)


def test_upscale_max_output_pixels_overrides_the_memory_limit(one_mib_of_ram):
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ESRGANError, match="1,024 pixels, more than the limit of 1,000"):
        esrgan.upscale(Nearest(4), img, max_output_pixels=1000)
    out = esrgan.upscale(Nearest(4), img, outscale=250, max_output_pixels=2000 * 2000)  # user's call
    assert out.shape == (2000, 2000, 3)


def test_imresize_refuses_an_output_too_large_for_memory(one_mib_of_ram):
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ESRGANError, match=r"imresize: .*2000x2000"):
        esrgan.imresize(img, 250)
    with pytest.raises(ESRGANError, match=r"imresize: .*2000x2000"):
        esrgan.imresize(torch.zeros(1, 3, 8, 8), 250)
    assert esrgan.imresize(img, 2).shape == (16, 16, 3)


def test_a_path_is_not_an_image():
    with pytest.raises(ESRGANError, match=r"file path \('img.png'\).*read_image"):
        esrgan.upscale(Nearest(2), "img.png")


def test_prepadded_tiles_mirror_the_context_like_realesrgan_ncnn_vulkan():
    """Each tile's input is the image mirrored by `pad` (numpy's reflect: the edge not repeated), cut
    at the tile plus its context; outputs are cropped and placed unblended."""
    import torch

    from esrgan.inference.tiling import prepadded_tiles

    rng = np.random.default_rng(3)
    src = rng.integers(0, 256, (37, 50, 3), dtype=np.uint8)
    mirrored = np.pad(src, ((5, 5), (5, 5), (0, 0)), mode="reflect").astype(np.float32) * np.float32(1 / 255)
    seen = []

    def run(x: torch.Tensor) -> torch.Tensor:
        seen.append(x[0].permute(1, 2, 0).numpy().copy())
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    dst = np.zeros((74, 100, 3), np.uint8)
    prepadded_tiles(run, src, dst, scale=2, tile=16, pad=5)
    assert len(seen) == 3 * 4
    starts = [(y, x) for y in range(0, 37, 16) for x in range(0, 50, 16)]
    for (y0, x0), tile_in in zip(starts, seen, strict=True):
        h, w = min(16, 37 - y0) + 10, min(16, 50 - x0) + 10
        np.testing.assert_array_equal(tile_in, mirrored[y0 : y0 + h, x0 : x0 + w])
    np.testing.assert_array_equal(dst, src.repeat(2, 0).repeat(2, 1))
