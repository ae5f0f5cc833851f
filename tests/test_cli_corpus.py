"""Every subcommand on bad arguments and bad files: one line, a non-zero exit, nothing written.

For each case, run in a fresh folder (the current directory during the run) holding good and bad
files, this checks:
- the exit status is not 0;
- stderr holds no traceback and no "internal error" line (an unexpected exception is a bug even
  when the top-level handler keeps it to one line);
- no file or folder appeared or disappeared anywhere in the folder, and every file there is
  byte-identical (hash before and after), inputs included.

Cases run in-process through `esrgan.cli.main.main`; a few run in a subprocess too, where a real
traceback or a failing interpreter shutdown would show.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import esrgan
from esrgan.cli.main import COMMANDS, main
from esrgan.errors import ESRGANError
from esrgan.models.rrdbnet import RRDBNet

UNDER_PROC = "/proc/esrgan-corpus-test/out"  # cannot be created, whoever runs the tests


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def blobs() -> dict[str, bytes]:
    """The bytes of every file a case folder holds (made once)."""
    rng = np.random.default_rng(0)
    model = RRDBNet(3, 3, 4, num_feat=8, num_block=1, num_grow=4)
    buf = io.BytesIO()
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"esrgan-corpus-{os.getpid()}.pth"
    esrgan.save_model(model, path)
    model_bytes = path.read_bytes()
    path.unlink()
    torch.save(argparse.Namespace(weights=[1, 2, 3]), buf)  # a pickled object, no tensors at all
    good = _png(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return {
        "good.png": _png(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)),
        "hr/img.png": good,
        "badhr/img.png": good[:200],
        "m.pth": model_bytes,
        "m2.pth": model_bytes,
        "text.png": b"this is a text file, not a PNG\n",
        "text.pth": b"this is a text file, not a checkpoint\n",
        "trunc.png": good[:200],
        "empty.png": b"",
        "empty.pth": b"",
        "pickle.pth": buf.getvalue(),
        "text.onnx": b"not an onnx graph\n",
        "lonely.param": b"7767517\n1 1\nInput data 0 1 data\n",
        "config.yaml": b"data: [unclosed\n",
        "exists.pth": b"an existing output that must survive\n",
        "pair/a.png": good,
        "pair/a_x4.png": good,  # the output name of a.png, and an input itself
    }


@pytest.fixture
def world(tmp_path, tmp_path_factory, monkeypatch, blobs) -> Path:
    for name, data in blobs.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (tmp_path / "folder").mkdir()
    (tmp_path / "dir.pth").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ESRGAN_DEBUG", raising=False)
    monkeypatch.delenv("ESRGAN_MIRROR", raising=False)
    monkeypatch.setenv("ESRGAN_OFFLINE", "1")
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path_factory.mktemp("esrgan-home")))
    from esrgan.inference import backends

    monkeypatch.setattr(backends, "vulkan_device_count", lambda: 0)  # "--device vulkan" with no GPU
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    """Every path below root; files with their hash, folders as 'dir'."""
    out = {}
    for p in sorted(root.rglob("*")):
        key = str(p.relative_to(root))
        out[key] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


UP = ["upscale", "good.png", "-o", "out"]
BAD_MODELS = ["missing.pth", "text.pth", "empty.pth", "pickle.pth", "folder", "good.png"]

# (id, argv). Each has at least one bad argument or file; the ids say which.
CASES: list = [
    # upscale
    *[pytest.param([*UP, "-m", m], id=f"upscale-model-{m}") for m in BAD_MODELS],
    *[
        pytest.param(["upscale", f, "-o", "out", "-m", "m.pth"], id=f"upscale-input-{f}")
        for f in ("missing.png", "text.png", "trunc.png", "empty.png", "folder")
    ],
    pytest.param(["upscale", "good.png", "-o", UNDER_PROC, "-m", "m.pth"], id="upscale-out-proc"),
    pytest.param(["upscale", "good.png", "-o", "good.png/sub", "-m", "m.pth"], id="upscale-out-below-file"),
    pytest.param(["upscale", "good.png", "-o", "good.png", "-m", "m.pth"], id="upscale-out-is-file"),
    pytest.param([*UP, "-m", "m.pth", "--tile", "7"], id="upscale-tile-7"),
    pytest.param([*UP, "-m", "m.pth", "--tile", "big"], id="upscale-tile-word"),
    pytest.param([*UP, "-m", "m.pth", "--tile", "64", "--tile-overlap", "40"], id="upscale-overlap"),
    pytest.param([*UP, "-m", "m.pth", "--outscale", "inf"], id="upscale-outscale-inf"),
    pytest.param([*UP, "-m", "m.pth", "--outscale", "-2"], id="upscale-outscale-negative"),
    pytest.param([*UP, "-m", "m.pth", "--outscale", "100000"], id="upscale-outscale-huge"),
    pytest.param([*UP, "-m", "m.pth", "--device", "warp9"], id="upscale-device"),
    pytest.param([*UP, "-m", "m.pth", "--quality", "0"], id="upscale-quality"),
    pytest.param([*UP, "-m", "m.pth", "--alpha", "0.5"], id="upscale-alpha-without-psnr-model"),
    pytest.param([*UP, "-m", "m.pth", "--psnr-model", "text.pth", "--alpha", "0.5"], id="upscale-psnr-model"),
    pytest.param(["upscale", "folder", "-o", "out", "-m", "m.pth"], id="upscale-empty-folder"),
    pytest.param(["upscale", "pair", "-o", "pair", "-m", "m.pth"], id="upscale-onto-input"),
    pytest.param(
        ["upscale", "pair", "-o", "pair/../pair", "-m", "m.pth", "--force"], id="upscale-onto-input-dotdot"
    ),
    # info
    *[pytest.param(["info", m], id=f"info-{m}") for m in BAD_MODELS],
    # convert
    *[pytest.param(["convert", m, "new.pth"], id=f"convert-{m}") for m in BAD_MODELS],
    pytest.param(["convert", "m.pth", "exists.pth"], id="convert-exists"),
    pytest.param(["convert", "m.pth", "m.pth", "--force"], id="convert-onto-input"),
    pytest.param(["convert", "m.pth", "new.png"], id="convert-bad-extension"),
    pytest.param(["convert", "m.pth", f"{UNDER_PROC}.pth"], id="convert-out-proc"),
    pytest.param(["convert", "m.pth", "good.png/x.pth"], id="convert-out-below-file"),
    pytest.param(["convert", "m.pth", "dir.pth", "--force"], id="convert-out-is-folder"),
    # interpolate
    *[
        pytest.param(["interpolate", m, "m.pth", "--alpha", "0.5", "-o", "new.pth"], id=f"interpolate-{m}")
        for m in BAD_MODELS
    ],
    pytest.param(
        ["interpolate", "m.pth", "m2.pth", "--alpha", "1.5", "-o", "new.pth"], id="interpolate-alpha"
    ),
    pytest.param(["interpolate", "m.pth", "m2.pth", "--alpha", "nan", "-o", "new.pth"], id="interpolate-nan"),
    pytest.param(
        ["interpolate", "m.pth", "m2.pth", "--alpha", "0.5", "-o", "exists.pth"], id="interpolate-exists"
    ),
    pytest.param(
        ["interpolate", "m.pth", "m2.pth", "--alpha", "0.5", "-o", f"{UNDER_PROC}.pth"],
        id="interpolate-out-proc",
    ),
    pytest.param(
        ["interpolate", "m.pth", "m2.pth", "--alpha", "0.5", "-o", "good.png/x.pth"],
        id="interpolate-out-below-file",
    ),
    # eval
    *[pytest.param(["eval", "-m", m, "--hr", "hr"], id=f"eval-model-{m}") for m in BAD_MODELS],
    pytest.param(["eval", "-m", "m.pth", "--hr", "missing"], id="eval-hr-missing"),
    pytest.param(["eval", "-m", "m.pth", "--hr", "good.png"], id="eval-hr-is-file"),
    pytest.param(["eval", "-m", "m.pth", "--hr", "folder"], id="eval-hr-empty"),
    pytest.param(["eval", "-m", "m.pth", "--hr", "badhr"], id="eval-hr-truncated"),
    pytest.param(["eval", "-m", "m.pth", "--hr", "hr", "--tile", "7"], id="eval-tile-7"),
    pytest.param(["eval", "-m", "m.pth", "--hr", "hr", "--device", "warp9"], id="eval-device"),
    pytest.param(["eval", "-m", "m.pth", "--hr", "hr", "--metrics", "beauty"], id="eval-metric"),
    pytest.param(["eval", "-m", "m.pth", "--hr", "hr", "--scale", "3"], id="eval-scale"),
    pytest.param(["eval", "-m", "text.pth", "--hr", "hr", "--out", "good.png/r"], id="eval-out-below-file"),
    # prepare
    pytest.param(["prepare", "missing", "-o", "out"], id="prepare-missing"),
    pytest.param(["prepare", "good.png", "-o", "out"], id="prepare-input-is-file"),
    pytest.param(["prepare", "folder", "-o", "out"], id="prepare-empty"),
    pytest.param(["prepare", "badhr", "-o", "out"], id="prepare-truncated"),
    pytest.param(["prepare", "hr", "-o", "out", "--crop", "0"], id="prepare-crop-0"),
    pytest.param(["prepare", "hr", "-o", "out", "--scale", "0"], id="prepare-scale-0"),
    pytest.param(["prepare", "hr", "-o", UNDER_PROC], id="prepare-out-proc"),
    pytest.param(["prepare", "hr", "-o", "good.png/sub"], id="prepare-out-below-file"),
    # train
    pytest.param(["train", "missing.yaml"], id="train-config-missing"),
    pytest.param(["train", "config.yaml"], id="train-config-broken"),
    pytest.param(["train", "text.png"], id="train-config-not-yaml"),
    pytest.param(["train", "folder"], id="train-config-folder"),
    pytest.param(["train", "--set", "no.such.key=1"], id="train-unknown-key"),
    pytest.param(["train", "--set", "data.batch_size=-4"], id="train-bad-value"),
    pytest.param(["train", "--set", "data.train_hr=missing"], id="train-data-missing"),
    pytest.param(
        ["train", *("--set", "data.train_hr=hr", "--set", "data.hr_crop=16", "--set", "data.batch_size=1")]
        + ["--set", "total_iters=1", "--set", "loss.pixel_weight=0"],  # every loss weight 0
        id="train-no-loss",
    ),
    # quickstart
    pytest.param(["quickstart", "--minutes", "0"], id="quickstart-minutes-0"),
    pytest.param(["quickstart", "--minutes", "nan"], id="quickstart-minutes-nan"),
    pytest.param(["quickstart", "-o", "good.png/sub", "--minutes", "1"], id="quickstart-out-below-file"),
    pytest.param(["quickstart", "-o", "hr", "--minutes", "1"], id="quickstart-out-not-empty"),
    # sweep
    pytest.param(
        ["sweep", "--psnr", "text.pth", "--gan", "m.pth", "--hr", "hr", "-o", "r"], id="sweep-model"
    ),
    pytest.param(
        ["sweep", "--psnr", "m.pth", "--gan", "m2.pth", "--hr", "missing", "-o", "r"], id="sweep-hr"
    ),
    pytest.param(
        ["sweep", "--psnr", "m.pth", "--gan", "m2.pth", "--hr", "hr", "-o", "r", "--alphas", "a:b"],
        id="sweep-alphas",
    ),
    pytest.param(
        ["sweep", "--psnr", "m.pth", "--gan", "m2.pth", "--hr", "hr", "-o", "good.png/r"],
        id="sweep-out-below-file",
    ),
    # compare
    pytest.param(["compare", "--models", "text.pth", "--hr", "hr", "-o", "r"], id="compare-model"),
    pytest.param(["compare", "--models", "m.pth", "--hr", "missing", "-o", "r"], id="compare-hr"),
    pytest.param(
        ["compare", "--models", "m.pth", "--hr", "hr", "-o", "r", "--crop", "1,2"], id="compare-crop"
    ),
    pytest.param(["compare", "--models", "m.pth", "--hr", "hr", "-o", UNDER_PROC], id="compare-out-proc"),
    # analyze
    pytest.param(
        ["analyze", "sparsity", "missing.png", "--random-vgg", "-o", "r"], id="analyze-sparsity-missing"
    ),
    pytest.param(
        ["analyze", "sparsity", "trunc.png", "--random-vgg", "-o", "r"], id="analyze-sparsity-truncated"
    ),
    pytest.param(
        ["analyze", "sparsity", "good.png", "--vgg-weights", "text.pth", "-o", "r"], id="analyze-vgg"
    ),
    pytest.param(
        ["analyze", "brightness", "--sr", "missing", "--hr", "hr", "-o", "r"], id="analyze-brightness-sr"
    ),
    pytest.param(
        ["analyze", "brightness", "--sr", "hr", "--hr", "badhr", "-o", "r"], id="analyze-brightness-bad"
    ),
    # models, download (ESRGAN_OFFLINE=1 and a cache outside the folder: nothing reaches a network)
    pytest.param(["models", "extra"], id="models-extra-argument"),
    pytest.param(["download", "NoSuchModel"], id="download-unknown-name"),
    pytest.param(["download", "RealESRGAN_x4plus"], id="download-offline"),
    pytest.param(["download", "RealESRGAN_x4plus", "--from", "text.pth"], id="download-from-wrong-file"),
    pytest.param(["download", "RealESRGAN_x4plus", "--from", "missing.pth"], id="download-from-missing"),
    # degrade
    *[
        pytest.param(["degrade", f, "-o", "out"], id=f"degrade-input-{f}")
        for f in ("missing.png", "text.png", "trunc.png", "folder")
    ],
    pytest.param(["degrade", "good.png", "-o", "out", "--preset", "nope"], id="degrade-preset"),
    pytest.param(["degrade", "good.png", "-o", "good.png/sub"], id="degrade-out-below-file"),
    pytest.param(["degrade", "hr/img.png", "-o", "hr", "--scale", "1"], id="degrade-onto-input"),
    # mos, serve (refused before any server starts)
    pytest.param(["mos", "create", "study", "--method", "a=missing", "--hr", "hr"], id="mos-create-missing"),
    pytest.param(["mos", "create", "study", "--method", "nodir", "--hr", "hr"], id="mos-create-bad-method"),
    pytest.param(["mos", "create", "study", "--method", "a=hr", "--hr", "badhr"], id="mos-create-bad-hr"),
    pytest.param(["mos", "report", "missing"], id="mos-report-missing"),
    pytest.param(["mos", "report", "folder"], id="mos-report-not-a-study"),
    pytest.param(["serve", "--models", "missing"], id="serve-models-missing"),
    pytest.param(["serve", "--mos", "folder"], id="serve-mos-not-a-study"),
    pytest.param(["serve", "--port", "99999"], id="serve-port"),
    # export, and the backends in upscale
    *[pytest.param(["export", m, "-o", "new.onnx"], id=f"export-{m}") for m in BAD_MODELS],
    pytest.param(["export", "m.pth", "-o", "new.png"], id="export-bad-extension"),
    pytest.param(["export", "m.pth", "-o", "exists.pth"], id="export-exists"),
    pytest.param(["export", "m.pth", "-o", f"{UNDER_PROC}.param"], id="export-out-proc"),
    pytest.param(["export", "m.pth", "-o", "good.png/x.onnx"], id="export-out-below-file"),
    pytest.param([*UP, "-m", "m.pth", "--device", "vulkan"], id="upscale-vulkan-none"),
    pytest.param([*UP, "-m", "m.pth", "--backend", "tpu"], id="upscale-backend-unknown"),
    pytest.param([*UP, "-m", "m.pth", "--bf16", "--backend", "ncnn"], id="upscale-bf16-on-ncnn"),
    pytest.param([*UP, "-m", "text.onnx"], id="upscale-onnx-not-onnx"),
    pytest.param([*UP, "-m", "lonely.param"], id="upscale-param-without-bin"),
    # the command line itself
    pytest.param(["no-such-command"], id="unknown-command"),
    pytest.param([], id="no-command"),
]


def test_a_subcommand_whose_module_is_missing_is_an_error_not_hidden(monkeypatch, capsys):
    from esrgan.cli import main as cli_main

    monkeypatch.setattr(cli_main, "COMMANDS", [*COMMANDS, ("ghost", "esrgan.cli.no_such_module", "gone")])
    assert main(["--help"]) != 0
    assert "no_such_module" in capsys.readouterr().err


def test_nothing_below_the_command_line_imports_it():
    """The CLI is the top layer: a library module importing esrgan.cli (even inside a function) is an
    arrow back up. Read from the source, so imports in functions that no test runs count too."""
    import ast

    package = Path(esrgan.__file__).parent
    upward = []
    for path in sorted(package.rglob("*.py")):
        if path.is_relative_to(package / "cli") or path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            upward += [f"{path.relative_to(package)}: {n}" for n in names if n.startswith("esrgan.cli")]
    assert not upward, upward


def test_parsing_the_command_line_imports_neither_torch_nor_numpy():
    code = "import sys; from esrgan.cli.main import build_parser; build_parser(); "
    code += "print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("option", ["backend", "frames", "ext"])
def test_the_command_line_offers_exactly_what_a_job_accepts(tmp_path, option):
    """The choices of --backend/--frames/--ext and what UpscaleJob accepts are the same list."""
    from esrgan.cli import upscale as upscale_cli
    from esrgan.inference.batch import UpscaleJob, check_options

    parser = argparse.ArgumentParser()
    upscale_cli.add_arguments(parser)
    (action,) = [a for a in parser._actions if a.dest == option]
    for value in action.choices:
        check_options(UpscaleJob([], tmp_path, **{option: value}))
    with pytest.raises(ESRGANError, match=f"{option} must be one of {', '.join(action.choices)}"):
        check_options(UpscaleJob([], tmp_path, **{option: "no-such-value"}))


def _tiny_x2() -> torch.nn.Module:
    return RRDBNet(3, 3, 2, num_feat=4, num_block=1, num_grow=4).eval()


def test_min_tile_is_one_value_for_the_api_and_the_command_line(monkeypatch):
    from esrgan.cli.options import tile_size
    from esrgan.inference import tile_size as tile_size_module

    limit = tile_size_module.MIN_TILE
    assert tile_size(str(limit)) == limit
    for refuse in (lambda size: tile_size(str(size)), lambda size: tile_size_module.check_tile(size)):
        with pytest.raises((argparse.ArgumentTypeError, ESRGANError), match=f"at least {limit} px"):
            refuse(limit - 1)
    # The command line reads the library's value, not a copy: raising it moves both limits.
    monkeypatch.setattr(tile_size_module, "MIN_TILE", limit + 16)
    with pytest.raises(argparse.ArgumentTypeError, match=f"at least {limit + 16} px"):
        tile_size(str(limit + 8))
    with pytest.raises(ESRGANError, match=f"at least {limit + 16} px"):
        esrgan.upscale(_tiny_x2(), np.zeros((8, 8, 3), np.uint8), tile=limit + 8)


def test_every_subcommand_has_cases():
    names = {name for name, _, _ in COMMANDS}
    covered = {case.values[0][0] for case in CASES if case.values[0]}
    assert names <= covered, names - covered


def _check(world: Path, run) -> None:
    before = snapshot(world)
    rc, err = run()
    assert rc != 0, err
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    assert snapshot(world) == before, err


@pytest.mark.parametrize("argv", CASES)
def test_bad_input_in_process(world, capsys, argv, one_thread):
    def run():
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # a command calling sys.exit itself
            rc = exc.code
        return rc, capsys.readouterr().err

    _check(world, run)


SUBPROCESS_CASES = ["info-text.pth", "interpolate-out-below-file"]


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_bad_input_in_a_subprocess(world, case_id):
    argv = next(c.values[0] for c in CASES if c.id == case_id)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}

    def run():
        proc = subprocess.run(
            [sys.executable, "-m", "esrgan", *argv], capture_output=True, text=True, timeout=120, env=env
        )
        return proc.returncode, proc.stderr

    _check(world, run)


def test_a_tile_that_is_not_a_size_is_refused_not_read_as_no_tiling():
    image = np.zeros((8, 8, 3), np.uint8)
    cases = [("", "a number of pixels or 'auto'"), ("big", "a number of pixels"), (0.5, "at least")]
    for bad, needle in cases:
        with pytest.raises(ESRGANError, match=needle):
            esrgan.upscale(_tiny_x2(), image, tile=bad)
    assert esrgan.upscale(_tiny_x2(), image, tile=0).shape == (16, 16, 3)  # 0 and None: no tiling
