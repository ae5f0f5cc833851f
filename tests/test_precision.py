"""Precision: fp16/bf16 refused where they cannot run, bf16 on native-bf16 CPUs, fp32 redo of
non-finite tiles, NaN in fp32 an error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

import esrgan
from esrgan.errors import ESRGANError
from esrgan.inference import precision as precision_module
from esrgan.inference.precision import forward_with_fp32_fallback, resolve_precision
from tests.test_tiling import Nearest


@pytest.mark.parametrize("precision", ["fp16", "half"])
def test_fp16_on_cpu_is_an_error(precision):
    with pytest.raises(ESRGANError, match="needs a CUDA GPU"):
        resolve_precision(precision, torch.device("cpu"))
    with pytest.raises(ESRGANError, match="needs a CUDA GPU"):
        esrgan.upscale(Nearest(2), np.zeros((8, 8, 3), np.uint8), precision=precision)
    assert resolve_precision("fp32", torch.device("cpu")) == torch.float32


def test_bf16_on_a_cpu_without_native_bf16_is_an_error(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(ESRGANError, match="needs a CUDA GPU or a CPU with native bf16"):
        esrgan.upscale(Nearest(2), np.zeros((8, 8, 3), np.uint8), precision="bf16")


def test_bf16_on_a_device_neither_cpu_nor_cuda_names_the_bf16_flag():
    with pytest.raises(ESRGANError, match="drop --bf16") as caught:
        resolve_precision("bf16", torch.device("meta"))
    assert "--half" not in str(caught.value)
    with pytest.raises(ESRGANError, match="drop --half"):
        resolve_precision("fp16", torch.device("meta"))


def test_bf16_on_a_cpu_with_native_bf16_runs_in_bf16(monkeypatch):
    # The check is forced on so the test runs on any CPU (torch emulates bf16 where it is not native).
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("bf16", torch.device("cpu")) == torch.bfloat16
    model = esrgan.load_model("builtin")
    img = data.astronaut()[200:248, 180:236]
    fp32 = esrgan.upscale(model, img).astype(np.int64)
    bf16 = esrgan.upscale(model, img, precision="bf16").astype(np.int64)
    diff = np.abs(bf16 - fp32)
    assert diff.max() > 0  # it did run in bf16: the 8-bit mantissa shows in the output
    assert 10 * np.log10(255.0**2 / np.mean(diff.astype(np.float64) ** 2)) > 40  # and stays close
    with pytest.raises(ESRGANError, match="torch backend only"):
        esrgan.upscale(model, img, precision="bf16", backend="onnx")


def test_fp32_redo_of_non_finite_tiles():
    x = torch.rand(3, 3, 4, 4)
    low_calls, fp32_calls = [], []

    def low(t):
        low_calls.append(t.shape[0])
        out = (t * 2).half()
        out[1, 0, 0, 0] = float("nan")
        out[2, 1, 1, 1] = float("inf")
        return out

    def fp32(t):
        fp32_calls.append(t.shape[0])
        return t * 2

    out, redone = forward_with_fp32_fallback(x, low, fp32)
    assert redone == 2 and fp32_calls == [2] and out.dtype == torch.float32
    torch.testing.assert_close(out, x * 2, atol=1e-2, rtol=1e-2)
    assert torch.isfinite(out).all()


def test_nan_in_fp32_is_an_error():
    class NaNModel(Nearest):
        def forward(self, x):
            return super().forward(x) * float("nan")

    with pytest.raises(ESRGANError, match="NaN"):
        esrgan.upscale(NaNModel(2), np.zeros((8, 8, 3), np.uint8))
