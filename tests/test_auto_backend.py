"""`backend="auto"` (measured engine choice, its cache) and `--int8` (VNNI check, quantized model)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import esrgan
from esrgan.errors import ESRGANError
from esrgan.inference import auto_backend, backends, cpu_info
from esrgan.inference.auto_backend import ProbeResult, is_exact, pick_engine
from tests.backend_models import photo, textured_rrdbnet


def test_pick_engine_takes_the_fastest_exact_one_and_keeps_torch_on_a_near_tie():
    assert pick_engine({"torch": 1.0, "ncnn": 0.6, "onnx": 0.8}, {"ncnn": True, "onnx": True}) == "ncnn"
    assert pick_engine({"torch": 1.0, "ncnn": 0.6, "onnx": 0.8}, {"ncnn": False, "onnx": True}) == "onnx"
    assert pick_engine({"torch": 1.0, "ncnn": 0.99}, {"ncnn": True}) == "torch"  # within the margin
    assert pick_engine({"torch": 1.0, "ncnn": math.inf}, {"ncnn": False}) == "torch"
    # Loaded machine: ncnn probed on the one free core is slower than torch there: torch stays.
    assert pick_engine({"torch": 1.0, "ncnn": 1.3, "onnx": 1.1}, {"ncnn": True, "onnx": True}) == "torch"


def test_exactness_is_one_level_on_every_value():
    ref = np.random.default_rng(0).random((1, 3, 8, 8)).astype(np.float32)
    assert is_exact(np.clip(ref + 0.5 / 255, 0, 1), ref)
    off = ref.copy()
    off[0, 0, 0, 0] = (
        min(1.0, ref[0, 0, 0, 0] + 3 / 255) if ref[0, 0, 0, 0] < 0.9 else ref[0, 0, 0, 0] - 3 / 255
    )
    assert not is_exact(off, ref)


def test_probe_is_cached_per_key_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path))
    calls = []
    real = auto_backend.probe
    monkeypatch.setattr(auto_backend, "probe", lambda *a: calls.append(a) or real(*a))
    model = textured_rrdbnet(4)
    first = auto_backend.choose_auto(model, tile=16)
    second = auto_backend.choose_auto(model, tile=16)
    assert len(calls) == 1 and "probed now" in first.reason and "from the cache" in second.reason
    assert first.engine == second.engine
    entries = auto_backend.read_cache()
    assert len(entries) == 1 and next(iter(entries.values()))["exact"]["torch"] is True


def test_a_non_exact_engine_is_never_picked(tmp_path, monkeypatch):
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path))
    monkeypatch.setattr(
        auto_backend, "probe", lambda *a: ProbeResult({"torch": 1.0, "ncnn": 0.1}, {"ncnn": False}, 2)
    )
    assert auto_backend.choose_auto(textured_rrdbnet(4), tile=16).engine == "torch"


def test_the_probe_runs_at_the_jobs_tile_only_for_a_long_enough_job(tmp_path, monkeypatch):
    from esrgan.inference.engine import prepare_engine

    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path))
    monkeypatch.setattr(auto_backend, "installed_engines", lambda: ["onnx"])
    tiles = []

    def fake_probe(model, engines, tile, threads):
        tiles.append(tile)
        return ProbeResult({"torch": 1.0, "onnx": 0.5}, {"onnx": True}, threads)

    monkeypatch.setattr(auto_backend, "probe", fake_probe)
    # The engine the model would be put on stands in for the converted model.
    monkeypatch.setattr(backends, "on_backend", lambda desc, engine, device, threads=None: (engine, device))
    model, short = textured_rrdbnet(4), 48 * 48 * (auto_backend.PROBE_MIN_TILES - 1)
    # Nothing cached and a job shorter than PROBE_MIN_TILES tiles: torch, unprobed, nothing cached.
    engine, _, _ = prepare_engine(model, "auto", "cpu", tile=48, work_px=short)
    assert engine == "torch" and tiles == [] and auto_backend.read_cache() == {}
    # A long job probes once, at its own tile size, and runs the winner ...
    assert prepare_engine(model, "auto", "cpu", tile=48, work_px=short * 2)[0] == "onnx"
    assert tiles == [48]
    # ... which a later short job at that tile size reads from the cache; another tile size is its own.
    assert prepare_engine(model, "auto", "cpu", tile=48, work_px=1)[0] == "onnx"
    assert prepare_engine(model, "auto", "cpu", tile=64, work_px=1)[0] == "torch"
    assert tiles == [48]


def test_int8_refused_without_vnni(monkeypatch):
    monkeypatch.setattr(cpu_info, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    with pytest.raises(ESRGANError, match="VNNI"):
        esrgan.upscale(textured_rrdbnet(4), photo(16, 16), precision="int8", tile=None)


def test_int8_refused_with_another_backend():
    with pytest.raises(ESRGANError, match="onnxruntime"):
        esrgan.upscale(textured_rrdbnet(4), photo(16, 16), precision="int8", backend="ncnn", tile=None)


@pytest.mark.skipif(not cpu_info.int8_dot_flags(), reason="no VNNI/AMX on this CPU")
def test_int8_close_to_fp32(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path))
    model, img = textured_rrdbnet(4), photo(24, 24)
    ref = esrgan.upscale(model, img, tile=None).astype(np.float64)
    out = esrgan.upscale(model, img, tile=None, precision="int8").astype(np.float64)
    psnr = 10 * math.log10(255**2 / max(np.mean((out - ref) ** 2), 1e-12))
    assert 25 < psnr < 99  # close to fp32, and really quantized (not the fp32 graph)
    assert list((tmp_path / "int8").glob("*.int8.onnx"))  # cached for the next run


def test_verbose_says_which_engine(tmp_path, monkeypatch, capsys):
    from esrgan.cli.main import main

    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path))
    from esrgan.images.image_io import write_image

    write_image(tmp_path / "in.png", photo(16, 16))
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out"), "-v", "--tile", "0"]) == 0
    assert "engine: " in capsys.readouterr().err
