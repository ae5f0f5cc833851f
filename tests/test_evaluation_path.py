"""The one evaluation path: training validation, reports that appear whole or not at all, and the
input checks of sweep, compare and analyze brightness (issue 9)."""

from __future__ import annotations

import types

import numpy as np
import pytest

import esrgan
from esrgan.cli.main import main
from esrgan.data.datasets import ValidationDataset
from esrgan.evaluation import evaluate
from esrgan.images.bicubic import imresize
from esrgan.images.image_io import write_image
from esrgan.training.validation import validate
from tests.known_models import nearest_model, psnr_y, sharpening_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _image(seed: int, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 9.0
    base = np.stack([np.sin(xx + c) * np.cos(yy * (1 + c / 3)) for c in range(3)], axis=2)
    return np.clip(128 + 90 * base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Two 40x48 images (too small for NIQE) and the two known models."""
    root = tmp_path_factory.mktemp("small")
    (root / "hr").mkdir()
    for i, name in enumerate(("one", "two")):
        write_image(root / "hr" / f"{name}.png", _image(i, 40, 48))
    esrgan.save_model(nearest_model(), root / "psnr.pth")
    esrgan.save_model(sharpening_model(), root / "gan.pth")
    return root


def _files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*")) if folder.exists() else []


def test_validation_measures_like_eval_and_survives_images_too_small_for_niqe(small, tmp_path):
    logged = []
    logger = types.SimpleNamespace(image=lambda tag, tensor, it: logged.append((tag, tuple(tensor.shape))))
    cfg = types.SimpleNamespace(generator=types.SimpleNamespace(scale=4), val_niqe=True, num_val_samples=1)
    dataset = ValidationDataset(small / "hr", None, 4)
    model = nearest_model().train()
    results = validate(model, dataset, cfg, tmp_path, 7, logger)
    assert model.training  # the caller's mode is restored
    expected = []
    for seed in (0, 1):
        hr = _image(seed, 40, 48)
        sr = imresize(hr, 0.25).repeat(4, axis=0).repeat(4, axis=1)  # the model's output, written out
        expected.append(psnr_y(sr, hr, 4))
    assert results["psnr_y"] == pytest.approx(np.mean(expected), abs=1e-9)
    assert 0 < results["ssim_y"] < 1
    assert "niqe" not in results  # no image has two 96x96 blocks: left out, not a crash and not NaN
    assert [p.name for p in (tmp_path / "samples" / "0000007").iterdir()] == ["one.png"]
    assert logged == [("samples/one", (3, 40, 48))]


def test_sweep_refuses_before_any_work_when_nothing_can_give_a_perceptual_score(
    small, tmp_path, capsys, monkeypatch
):
    import esrgan.evaluation

    def no_work(*args, **kwargs):
        raise AssertionError("the sweep started work it cannot report")

    monkeypatch.setattr(esrgan.evaluation, "super_resolve", no_work)
    out = tmp_path / "report"
    args = [
        "sweep",
        "--psnr",
        str(small / "psnr.pth"),
        "--gan",
        str(small / "gan.pth"),
        "--hr",
        str(small / "hr"),
    ]
    assert main([*args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "NIQE" in err and "one" in err and "48x40" in err and len(err.strip().splitlines()) == 1
    assert main([*args, "-o", str(out), "--no-niqe"]) == 2
    assert "no perceptual score" in capsys.readouterr().err
    assert not out.exists() and _files(tmp_path) == []


def test_a_failing_report_leaves_nothing_and_an_existing_one_is_kept(small, tmp_path, capsys, monkeypatch):
    import esrgan.analysis.pages

    out = tmp_path / "cmp"
    args = ["compare", "--models", str(small / "psnr.pth"), "--hr", str(small / "hr"), "--no-niqe"]

    def broken_grid(*a, **k):
        raise esrgan.ESRGANError("plot failed")

    with monkeypatch.context() as m:
        m.setattr(esrgan.analysis.pages, "plot_grid", broken_grid)  # the report page draws the grid
        assert main([*args, "-o", str(out)]) == 2
    assert "plot failed" in capsys.readouterr().err
    assert _files(tmp_path) == []  # no crops, csv or json from the failed run
    assert main([*args, "-o", str(out)]) == 0
    first = {p: (out / p).read_bytes() for p in _files(out) if (out / p).is_file()}
    assert "compare.json" in {str(p) for p in first}
    assert main([*args, "-o", str(out)]) == 2  # an existing report is not overwritten...
    assert "--force" in capsys.readouterr().err
    assert main([*args, "-o", str(out), "--force"]) == 0  # ... unless asked
    assert {p: (out / p).read_bytes() for p in _files(out) if (out / p).is_file()} == first


def test_compare_refuses_a_crop_outside_the_images(small, tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "--models", str(small / "psnr.pth"), "--hr", str(small / "hr"), "-o", str(out)]
    assert main([*args, "--crop", "40,0,16"]) == 2  # 40 + 16 > 48
    err = capsys.readouterr().err
    assert "outside one" in err and "48x40" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main([*args, "--crop", "32,24,16", "--no-niqe"]) == 0  # flush with the corner: fine


def test_brightness_refuses_unmatched_names_and_other_sizes(tmp_path, capsys):
    hr, sr, other = tmp_path / "hr", tmp_path / "sr", tmp_path / "other"
    for folder in (hr, sr, other):
        folder.mkdir()
    write_image(hr / "a.png", _image(0, 32, 32))
    write_image(hr / "b.png", _image(1, 32, 32))
    write_image(sr / "a.png", _image(0, 32, 32))
    write_image(sr / "zebra.png", _image(1, 32, 32))  # matches no ground truth
    write_image(other / "a.png", _image(0, 9, 7))  # 7x9 against 32x32
    out = tmp_path / "rep"
    assert main(["analyze", "brightness", "--sr", str(sr), "--hr", str(hr), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "zebra.png" in err and "1 of 2" in err and len(err.strip().splitlines()) == 1
    assert main(["analyze", "brightness", "--sr", str(other), "--hr", str(hr), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "7x9" in err and "32x32" in err and "a.png" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_an_image_without_a_ma_score_gets_no_pi_and_the_others_keep_theirs():
    from esrgan.errors import ESRGANError
    from esrgan.evaluation import measure
    from esrgan.metrics.niqe import integer_luma, niqe_of_luma

    hr = _image(3, 208, 200)
    calls = []

    def ma(luma):  # a Ma score that is undefined for the second image, as for a flat wavelet band
        calls.append(luma.shape)
        if len(calls) == 2:
            raise ESRGANError("Ma's score is undefined for this image")
        return 6.0

    notes: list[str] = []
    rows = [
        measure(hr, hr, ["psnr", "niqe", "pi"], crop_border=4, ma_model=ma, notes=notes) for _ in range(3)
    ]
    niqe = niqe_of_luma(integer_luma(hr, crop_border=4))
    assert [r["pi"] for r in rows] == [pytest.approx(0.5 * (4 + niqe)), None, pytest.approx(0.5 * (4 + niqe))]
    assert all(r["niqe"] == pytest.approx(niqe) for r in rows)  # NIQE stands where PI could not
    assert notes == ["Ma's score is undefined for this image"]


def test_a_negative_crop_border_is_refused_before_any_model_runs(tmp_path):
    """evaluate's own message ("crop border"), not the metric's ("crop_border") after a model ran."""
    write_image(tmp_path / "a.png", np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(esrgan.ESRGANError, match="^crop border must be >= 0, got -1$"):
        evaluate({"m": nearest_model()}, tmp_path, crop_border=-1)
