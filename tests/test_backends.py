"""ncnn and onnxruntime backends against the torch fp32 path, through `esrgan.upscale`.

Reference: the same model run by PyTorch (`backend="torch"`). The models are textured (identity
init plus noise), the input a real photo crop, so a wrong layer order, channel order or weight
layout shows up as many levels of difference, not as rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import esrgan
from esrgan.errors import ESRGANError
from esrgan.inference.wrapped import apply_inference_options
from tests.backend_models import levels_agreement, photo, textured_rrdbnet, textured_srresnet, textured_srvgg

pytest.importorskip("ncnn")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

BACKENDS = ["ncnn", "onnx"]


def assert_parity(out: np.ndarray, ref: np.ndarray) -> None:
    assert out.shape == ref.shape and out.dtype == ref.dtype
    within_1, worst = levels_agreement(out, ref)
    assert within_1 >= 0.999 and worst <= 2, (within_1, worst)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [1, 2, 4, 8])
@pytest.mark.parametrize("tile", [None, 32])
def test_rgb_parity_every_scale_tiled_and_whole(backend, scale, tile):
    model = textured_rrdbnet(scale)
    img = photo(40, 48)
    ref = esrgan.upscale(model, img, tile=tile, tile_overlap=8, backend="torch")
    out = esrgan.upscale(model, img, tile=tile, tile_overlap=8, backend=backend)
    assert ref.std() > 30  # a picture, not a flat or black output
    assert_parity(out, ref)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("channels", [1, 4])
def test_gray_and_rgba_images_parity(backend, channels):
    model = textured_rrdbnet(4)
    img = photo(36, 40, channels)
    for tile in (None, 32):
        ref = esrgan.upscale(model, img, tile=tile, tile_overlap=8, backend="torch")
        assert_parity(esrgan.upscale(model, img, tile=tile, tile_overlap=8, backend=backend), ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_channel_model_on_a_colour_photo(backend):
    model = textured_rrdbnet(2, 1)
    img = photo(24, 32)
    ref = esrgan.upscale(model, img, tile=None)
    assert_parity(esrgan.upscale(model, img, tile=None, backend=backend), ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_srresnet_with_batchnorm_parity(backend):
    model = textured_srresnet(4)
    img = photo(24, 32)
    ref = esrgan.upscale(model, img, tile=None)
    assert ref.std() > 5
    assert_parity(esrgan.upscale(model, img, tile=None, backend=backend), ref)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_srvgg_parity_tiled_and_whole(backend, scale):
    model = textured_srvgg(scale)
    img = photo(40, 48)
    for tile in (None, 32):
        ref = esrgan.upscale(model, img, tile=tile, tile_overlap=8, backend="torch")
        assert ref.std() > 30
        assert_parity(esrgan.upscale(model, img, tile=tile, tile_overlap=8, backend=backend), ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_interpolation_ensemble_back_projection_around_the_backend(backend):
    psnr, gan = textured_rrdbnet(4, seed=1), textured_rrdbnet(4, seed=2)
    model = apply_inference_options(gan, psnr_model=psnr, alpha=0.7, ensemble=True, back_projection=1)
    img = photo(24, 24)
    ref = esrgan.upscale(model, img, tile=None)
    out = esrgan.upscale(model, img, tile=None, backend=backend)
    assert_parity(out, ref)
    # and it is really the blended, ensembled model: the plain GAN model differs
    plain = esrgan.upscale(gan, img, tile=None)
    assert levels_agreement(plain, ref)[1] > 2


def test_auto_picks_torch_for_checkpoints_ncnn_for_vulkan_and_the_engine_of_a_file():
    from esrgan.inference.backends import ncnn_from_module, resolve_backend

    assert resolve_backend("auto", torch.nn.Identity(), "cpu") == "torch"
    assert resolve_backend("auto", textured_rrdbnet(4), "cpu") == "torch"
    assert resolve_backend("auto", textured_rrdbnet(4), "vulkan") == "ncnn"
    assert resolve_backend("auto", ncnn_from_module(textured_rrdbnet(4)), "cpu") == "ncnn"


def test_the_backend_is_resolved_once_and_the_help_says_what_auto_does(monkeypatch):
    import argparse

    from esrgan.cli import upscale as upscale_cli
    from esrgan.inference import backends

    calls = []
    real = backends.resolve_backend
    monkeypatch.setattr(backends, "resolve_backend", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    esrgan.upscale(textured_rrdbnet(2), photo(16, 16), backend="onnx", tile=None)
    assert len(calls) == 1
    parser = argparse.ArgumentParser()
    upscale_cli.add_arguments(parser)
    (backend,) = [a for a in parser._actions if a.dest == "backend"]
    assert "auto (default: on the CPU the fastest engine" in backend.help


def test_fp32_on_the_cpu_close_to_torch_per_value():
    from esrgan.inference.backends import ncnn_from_module, onnx_from_module

    model = textured_rrdbnet(4)
    x = torch.from_numpy(photo(16, 16)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        ref = model(x)
    for engine in (ncnn_from_module(model), onnx_from_module(model)):
        assert engine.scale == 4 and engine.in_ch == 3 and engine.size_multiple == 1
        assert float((engine(x) - ref).abs().max()) < 1e-3
    # a 4-channel x1 model (RGBA networks are run on tensors: images split off their alpha)
    model = textured_rrdbnet(1, 4)
    x = torch.rand(2, 4, 16, 20)
    with torch.no_grad():
        ref = model(x)
    for engine in (ncnn_from_module(model), onnx_from_module(model)):
        assert (engine.scale, engine.in_ch, engine.out_ch, engine.size_multiple) == (1, 4, 4, 4)
        assert float((engine(x) - ref).abs().max()) < 1e-3


def test_vulkan_without_a_gpu_is_one_clear_error(monkeypatch):
    from esrgan.inference import backends

    monkeypatch.setattr(backends, "vulkan_device_count", lambda: 0)  # as on a machine without Vulkan
    with pytest.raises(ESRGANError, match="no Vulkan GPU"):
        esrgan.upscale(textured_rrdbnet(4), photo(16, 16), device="vulkan")
    with pytest.raises(ESRGANError, match="Vulkan devices run the ncnn backend"):
        esrgan.upscale(textured_rrdbnet(4), photo(16, 16), device="vulkan:1", backend="onnx")


def test_unknown_backend_and_unconvertible_model():
    with pytest.raises(ESRGANError, match="unknown backend"):
        esrgan.upscale(textured_rrdbnet(4), photo(16, 16), backend="tensorrt")

    class Nearest(torch.nn.Module):
        scale, in_ch, out_ch, size_multiple = 2, 3, 3, 1

        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2)

    with pytest.raises(ESRGANError, match="cannot run Nearest"):
        esrgan.upscale(Nearest(), photo(16, 16), backend="ncnn")


def test_vulkan_device_matches_torch():
    """ncnn on a real Vulkan device. CI installs Mesa's lavapipe (a Vulkan driver that runs on the
    CPU), so the whole path runs there: device selection, upload, the GPU kernels, tiling, alpha."""
    from esrgan.inference.backends import vulkan_device_count

    if vulkan_device_count() == 0:
        pytest.skip("no Vulkan device (apt-get install mesa-vulkan-drivers libvulkan1 gives lavapipe)")
    model = textured_rrdbnet(4)
    img = photo(40, 48)
    rgba = np.dstack([img, np.linspace(0, 255, 40 * 48).reshape(40, 48).astype(np.uint8)])
    for image, kwargs in ((img, {}), (img, {"tile": 32}), (rgba, {})):
        ref = esrgan.upscale(model, image, **kwargs)
        out = esrgan.upscale(model, image, device="vulkan", **kwargs)
        share, worst = levels_agreement(out, ref)
        assert out.shape == ref.shape and share >= 0.999 and worst <= 2, (kwargs, share, worst)
    with pytest.raises(ESRGANError, match="ncnn sees 1 Vulkan GPU|numbered from 0"):
        esrgan.upscale(model, img, device=f"vulkan:{vulkan_device_count()}")
