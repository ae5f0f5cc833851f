"""Ma et al.'s score: the model file (forests against scikit-learn, bad files), and the perceptual
index end to end through `esrgan eval`. The features are checked in test_ma_features.py."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import scipy.io
import scipy.ndimage
import scipy.signal
import scipy.special
from PIL import Image
from skimage import data
from sklearn.ensemble import RandomForestRegressor

from esrgan.cli.main import main
from esrgan.errors import ESRGANError
from esrgan.images.bicubic import imresize
from esrgan.metrics import ma_score, niqe, perceptual_index
from esrgan.metrics.ma import load_ma_model, ma_features
from esrgan.metrics.ma.forest import predict_forest
from esrgan.metrics.niqe import integer_luma

WIDTHS = (18, 45, 75)
# randomforest-matlab's struct, in regRF_train's field order (pyiqa reads positions 0, 1, 4, 5, 6).
_RF_FIELDS = [
    *("lDau", "rDau", "nodestatus", "nrnodes", "upper", "avnode", "mbest", "ndtree", "ntree"),
    *("Y_hat", "mse", "importance", "importanceSD", "localImp", "proximity", "coef"),
]


# ---------------------------------------------------------------- synthetic model files


def _float32_exact(x: np.ndarray) -> np.ndarray:
    """sklearn compares float32 features with its thresholds: use values float32 holds exactly."""
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def _train(rng: np.random.Generator, centre: np.ndarray, n_trees: int = 24) -> RandomForestRegressor:
    """A small forest on features scattered around `centre` (so an image's features meet real splits)."""
    x = _samples(rng, centre, 120)
    y = 5 + np.tanh(x[:, :3].sum(axis=1) / np.abs(centre[:3]).sum() - 1) + 0.1 * rng.standard_normal(120)
    return RandomForestRegressor(n_estimators=n_trees, max_depth=6, random_state=0).fit(x, y)


def _packed_nodestatus(status: np.ndarray) -> np.ndarray:
    """nodestatus as randomforest-matlab leaves it: C chars (one byte each, column-major) written into
    a MATLAB char array of the same shape, so two bytes share each 16-bit element."""
    raw = status.astype(np.int8).tobytes(order="F")
    raw += b"\x00" * (2 * status.size - len(raw))
    units = np.frombuffer(raw, dtype="<u2")
    chars = np.array([chr(u) for u in units], dtype="U1")
    return chars.reshape(status.shape, order="F")


def _matlab_forest(rf: RandomForestRegressor, coef: tuple[float, float] = (0.0, 0.0)) -> dict:
    """sklearn's trees in randomforest-matlab's layout: 1-based daughters and features, 0 at leaves."""
    trees = [e.tree_ for e in rf.estimators_]
    nrnodes = max(t.node_count for t in trees)
    ntree = len(trees)
    ldau, rdau, mbest = (np.zeros((nrnodes, ntree), dtype=np.int32) for _ in range(3))
    upper, avnode = np.zeros((nrnodes, ntree)), np.zeros((nrnodes, ntree))
    status = np.zeros((nrnodes, ntree), dtype=np.int8)
    for j, t in enumerate(trees):
        n = t.node_count
        split = t.children_left >= 0
        ldau[:n, j] = np.where(split, t.children_left + 1, 0)
        rdau[:n, j] = np.where(split, t.children_right + 1, 0)
        mbest[:n, j] = np.where(split, t.feature + 1, 0)
        upper[:n, j] = np.where(split, t.threshold, 0.0)
        avnode[:n, j] = t.value[:, 0, 0]
        status[:n, j] = np.where(split, 1, -1)
    values = [ldau, rdau, _packed_nodestatus(status), float(nrnodes), upper, avnode, mbest]
    values += [np.full((ntree, 1), nrnodes, dtype=np.int32), float(ntree)] + [np.zeros((1, 1))] * 6
    values += [np.array([[coef[0]], [coef[1]]])]
    return dict(zip(_RF_FIELDS, values, strict=True))


def _write_model(path: Path, forests: list[dict], linear: np.ndarray, positional: bool = False) -> Path:
    cell = np.empty((1, 3), dtype=object)
    for k, forest in enumerate(forests):
        cell[0, k] = {f"f{i:02d}": v for i, v in enumerate(forest.values())} if positional else forest
    scipy.io.savemat(
        path, {"model": {"rf": cell, "linear": np.asarray(linear, dtype=np.float64).reshape(4, 1)}}
    )
    return path


@pytest.fixture(scope="module")
def centres() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return ma_features(integer_luma(data.coffee()[:112, :200], crop_border=4))


@pytest.fixture(scope="module")
def forests(centres) -> list[RandomForestRegressor]:
    rng = np.random.default_rng(0)
    return [_train(rng, c) for c in centres]


def _samples(rng: np.random.Generator, centre: np.ndarray, n: int) -> np.ndarray:
    return _float32_exact(centre * (1 + 0.3 * rng.standard_normal((n, len(centre)))))


LINEAR = np.array([1.5, 0.4, 0.35, 0.3])


# ---------------------------------------------------------------- forests


def test_forests_predict_what_sklearn_predicts(tmp_path, forests, centres) -> None:
    rng = np.random.default_rng(1)
    mat = _write_model(tmp_path / "model.mat", [_matlab_forest(f) for f in forests], LINEAR)
    model = load_ma_model(mat)
    assert load_ma_model(mat) is model  # cached per file
    np.testing.assert_array_equal(model.linear, LINEAR)
    for forest, sk, centre in zip(model.forests, forests, centres, strict=True):
        x = _samples(rng, centre, 60)
        expected = sk.predict(x)
        assert np.ptp(expected) > 0.1  # the rows take different paths
        ours = np.array([predict_forest(forest, row) for row in x])
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=0)


def test_bias_correction_and_positional_fields(tmp_path, forests, centres) -> None:
    rng = np.random.default_rng(2)
    coef = (0.5, 2.0)
    named = _write_model(tmp_path / "bias.mat", [_matlab_forest(f, coef) for f in forests], LINEAR)
    positional = _write_model(tmp_path / "pyiqa.mat", [_matlab_forest(f) for f in forests], LINEAR, True)
    assert "lDau" not in scipy.io.loadmat(positional)["model"][0, 0]["rf"][0, 0].dtype.names
    for k, sk in enumerate(forests):
        x = _samples(rng, centres[k], 5)
        expected = sk.predict(x)
        bias = [predict_forest(load_ma_model(named).forests[k], row) for row in x]
        np.testing.assert_allclose(bias, coef[0] + coef[1] * expected, rtol=1e-12)
        by_position = [predict_forest(load_ma_model(positional).forests[k], row) for row in x]
        np.testing.assert_allclose(by_position, expected, rtol=1e-12)


def test_hand_made_trees_ties_go_left(tmp_path, forests) -> None:
    """Two trees written out by hand (nrnodes 5, the second tree a single leaf): x <= upper goes left."""
    hand = _matlab_forest(forests[0])
    hand.update(
        lDau=np.array([[2, 0], [0, 0], [4, 0], [0, 0], [0, 0]], dtype=np.int32),
        rDau=np.array([[3, 0], [0, 0], [5, 0], [0, 0], [0, 0]], dtype=np.int32),
        mbest=np.array([[3, 0], [0, 0], [18, 0], [0, 0], [0, 0]], dtype=np.int32),
        upper=np.array([[0.5, 0], [0, 0], [-1.0, 0], [0, 0], [0, 0]]),
        avnode=np.array([[9, 7.0], [1.0, 0], [9, 0], [2.0, 0], [3.0, 0]]),
        nodestatus=_packed_nodestatus(np.array([[1, -1], [-1, 0], [1, 0], [-1, 0], [-1, 0]])),
        nrnodes=5.0,
        ntree=2.0,
    )
    mat = _write_model(tmp_path / "hand.mat", [hand, *(_matlab_forest(f) for f in forests[1:])], LINEAR)
    forest = load_ma_model(mat).forests[0]
    x = np.zeros(18)
    cases = {
        (0.5, 0.0): 1.0,
        (0.25, 5.0): 1.0,
        (0.75, -1.0): 2.0,
        (0.75, -0.5): 3.0,
        (np.nextafter(0.5, 1), -2): 2.0,
    }
    for (x3, x18), leaf in cases.items():
        x[2], x[17] = x3, x18
        assert predict_forest(forest, x) == (leaf + 7.0) / 2


def test_bad_model_files_give_one_clear_error(tmp_path, forests, monkeypatch) -> None:
    good = [_matlab_forest(f) for f in forests]
    cases = {
        "text.mat": (b"hello, not a mat file\n" * 10, "not a MATLAB MAT file"),
        "v73.mat": (
            b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(512, b" ") + b"\x89HDF\r\n\x1a\n",
            "save -v7",
        ),
        "hdf5.mat": (b"\x89HDF\r\n\x1a\n" + bytes(600), "save -v7"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ESRGANError, match=message):
            load_ma_model(tmp_path / name)
    scipy.io.savemat(tmp_path / "nolinear.mat", {"model": {"rf": np.array([[1.0]])}})
    with pytest.raises(ESRGANError, match="'rf' and 'linear'"):
        load_ma_model(tmp_path / "nolinear.mat")
    two = np.empty((1, 2), dtype=object)
    two[0, 0], two[0, 1] = good[0], good[1]
    scipy.io.savemat(tmp_path / "two.mat", {"model": {"rf": two, "linear": LINEAR.reshape(4, 1)}})
    with pytest.raises(ESRGANError, match="3 forests"):
        load_ma_model(tmp_path / "two.mat")
    _write_model(tmp_path / "lin3.mat", good, LINEAR)
    scipy.io.savemat(
        tmp_path / "lin3.mat",
        {
            "model": {
                "rf": scipy.io.loadmat(tmp_path / "lin3.mat")["model"][0, 0]["rf"],
                "linear": np.ones((3, 1)),
            }
        },
    )
    with pytest.raises(ESRGANError, match="4 values"):
        load_ma_model(tmp_path / "lin3.mat")
    swapped = _write_model(tmp_path / "swapped.mat", [good[2], good[1], good[0]], LINEAR)
    with pytest.raises(ESRGANError, match=r"rf\{1\}.*outside 1\.\.18"):
        load_ma_model(swapped)
    too_many = [dict(good[0], ntree=999.0), good[1], good[2]]
    with pytest.raises(ESRGANError, match=r"ntree is 999"):
        load_ma_model(_write_model(tmp_path / "ntree.mat", too_many, LINEAR))
    scipy.io.savemat(tmp_path / "other.mat", {"x": np.ones(3)})
    with pytest.raises(ESRGANError, match="no struct 'model'"):
        load_ma_model(tmp_path / "other.mat")
    with pytest.raises(ESRGANError, match="not found"):
        load_ma_model(tmp_path / "missing.mat")
    fresh = _write_model(tmp_path / "fresh.mat", good, LINEAR)  # not cached yet
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(ESRGANError, match="pip install scipy"):
        load_ma_model(fresh)


# ---------------------------------------------------------------- end to end


def test_eval_cli_perceptual_index_from_a_model_file(tmp_path, forests, capsys) -> None:
    mat = _write_model(tmp_path / "model.mat", [_matlab_forest(f) for f in forests], LINEAR)
    hr = data.coffee()[:112, :200]
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    Image.fromarray(hr).save(hr_dir / "coffee.png")
    prefix = tmp_path / "out" / "bench"
    args = ["eval", "-m", "bicubic", "--hr", str(hr_dir), "--metrics", "psnr,pi", "--quiet"]
    assert main([*args, "--ma-model", str(mat), "--out", str(prefix)]) == 0
    report = json.loads(prefix.with_suffix(".json").read_text())
    sr = imresize(imresize(hr, 1 / 4), 4)
    luma = integer_luma(sr, crop_border=4)
    features = ma_features(luma)
    scores = [sk.predict(f[None])[0] for sk, f in zip(forests, features, strict=True)]
    ma = LINEAR[0] + sum(w * s for w, s in zip(LINEAR[1:], scores, strict=True))
    expected = 0.5 * ((10 - ma) + niqe(sr, crop_border=4))
    assert report["per_image"]["bicubic"]["coffee"]["pi"] == pytest.approx(expected, abs=1e-9)
    assert perceptual_index(sr, ma_model=mat) == pytest.approx(expected, abs=1e-9)
    assert ma_score(sr, mat) == pytest.approx(ma, abs=1e-9)
    capsys.readouterr()

    (tmp_path / "bad.mat").write_bytes(b"not a model")
    scipy.io.savemat(tmp_path / "fields.mat", {"model": {"linear": LINEAR.reshape(4, 1)}})
    (tmp_path / "h5.mat").write_bytes(
        b"MATLAB 7.3 MAT-file".ljust(512, b" ") + b"\x89HDF\r\n\x1a\n" + bytes(64)
    )
    for name, message in (
        ("bad.mat", "not a MATLAB MAT file"),
        ("fields.mat", "'rf'"),
        ("h5.mat", "save -v7"),
    ):
        out = tmp_path / name.replace(".mat", "") / "bench"
        assert main([*args, "--ma-model", str(tmp_path / name), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
        assert not out.parent.exists() or not any(out.parent.iterdir())


# ---------------------------------------------------------------- published values

# PIRM protocol on skimage's coffee (MATLAB Y channel stored as uint8, 4-pixel shave), from the
# README of mxzhuang/parallel-perceptual-index (a C++ port stated bit-identical to the MATLAB code).
COFFEE_MA, COFFEE_NIQE, COFFEE_PI = 8.834929, 4.079660, 2.622366


def test_niqe_of_coffee_matches_the_published_value() -> None:
    assert niqe(data.coffee(), crop_border=4) == pytest.approx(COFFEE_NIQE, abs=1e-3)


@pytest.mark.skipif(
    not os.environ.get("ESRGAN_MA_MODEL"), reason="set ESRGAN_MA_MODEL to the authors' model.mat"
)
def test_ma_score_of_coffee_with_the_authors_model() -> None:
    model = os.environ["ESRGAN_MA_MODEL"]
    assert ma_score(data.coffee(), model, crop_border=4) == pytest.approx(COFFEE_MA, abs=1e-3)
    assert perceptual_index(data.coffee(), ma_model=model) == pytest.approx(COFFEE_PI, abs=2e-3)
