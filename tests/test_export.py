"""`esrgan export` round trips, run by ncnn's and onnxruntime's own Python APIs, and bad model files.

The exported files are run exactly as realesrgan-ncnn-vulkan runs a model (input blob `data`,
output `output`, RGB CHW in [0, 1]) and compared with the PyTorch model's own output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import esrgan
from esrgan.cli.main import main
from esrgan.errors import ESRGANError
from esrgan.export import export_model
from tests.backend_models import levels_agreement, photo, textured_rrdbnet, textured_srresnet, textured_srvgg

ncnn = pytest.importorskip("ncnn")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def run_ncnn_files(param: Path, weights: Path, chw: np.ndarray) -> np.ndarray:
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    assert net.load_param(str(param)) == 0 and net.load_model(str(weights)) == 0
    ex = net.create_extractor()
    arr = np.ascontiguousarray(chw, np.float32)  # kept alive while the extractor runs
    ex.input("data", ncnn.Mat(arr))
    ret, out = ex.extract("output")
    assert ret == 0
    return np.array(out)


def torch_output(model: torch.nn.Module, chw: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(chw)[None]).numpy()[0]


def as_levels(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)


MODELS = {
    "rrdb_x1_rgb": lambda: textured_rrdbnet(1),
    "rrdb_x2_rgb": lambda: textured_rrdbnet(2),
    "rrdb_x4_gray": lambda: textured_rrdbnet(4, 1),
    "rrdb_x8_rgba": lambda: textured_rrdbnet(8, 4),
    "srresnet_bn_x4": lambda: textured_srresnet(4),
    "srresnet_x2": lambda: textured_srresnet(2, batch_norm=False),
    "srvgg_x2_prelu": lambda: textured_srvgg(2),
    "srvgg_x3_relu": lambda: textured_srvgg(3, "relu"),
    "srvgg_x4_leakyrelu": lambda: textured_srvgg(4, "leakyrelu"),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_ncnn_and_onnx_round_trips(tmp_path, name):
    model = MODELS[name]()
    path = tmp_path / "model.pth"
    esrgan.save_model(model, path)
    rgb = photo(24, 32, model.in_ch if model.in_ch != 1 else 1).astype(np.float32) / 255
    chw = rgb[None] if rgb.ndim == 2 else rgb.transpose(2, 0, 1)
    ref = torch_output(model, chw)
    assert ref.std() > 0.02  # a picture

    param, weights = export_model(path, tmp_path / "m.param")
    assert param.read_text().startswith("7767517\n") and weights == tmp_path / "m.bin"
    out = run_ncnn_files(param, weights, chw)
    assert out.shape == ref.shape and float(np.abs(out - ref).max()) < 1e-3
    within_1, worst = levels_agreement(as_levels(out), as_levels(ref))
    assert within_1 >= 0.999 and worst <= 2

    (onnx_file,) = export_model(path, tmp_path / "m.onnx")
    proto = onnx.load(str(onnx_file))
    assert proto.opset_import[0].version >= 17
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    batch = np.stack([chw, chw[:, ::-1, ::-1]])  # dynamic batch, height and width
    got = session.run(["output"], {"data": np.ascontiguousarray(batch)})[0]
    assert float(np.abs(got[0] - ref).max()) < 1e-4
    assert float(np.abs(got[1] - torch_output(model, np.ascontiguousarray(batch[1]))).max()) < 1e-4


def test_fp16_exports_run_close_to_fp32(tmp_path):
    model = textured_rrdbnet(4)
    chw = photo(16, 16).astype(np.float32).transpose(2, 0, 1) / 255
    ref = torch_output(model, chw)
    param, weights = export_model(model, tmp_path / "h.param", fp16=True)
    full = export_model(model, tmp_path / "f.param")[1]
    assert weights.stat().st_size < 0.7 * full.stat().st_size
    assert float(np.abs(run_ncnn_files(param, weights, chw) - ref).max()) < 0.02
    (onnx_file,) = export_model(model, tmp_path / "h.onnx", fp16=True)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = session.run(["output"], {"data": chw[None].astype(np.float16)})[0]
    assert float(np.abs(got[0].astype(np.float32) - ref).max()) < 0.02


def test_export_cli_and_upscale_from_the_exported_files(tmp_path, capsys):
    model = textured_rrdbnet(2)
    ckpt = tmp_path / "x2.pth"
    esrgan.save_model(model, ckpt)
    assert main(["export", str(ckpt), "-o", str(tmp_path / "x2.param")]) == 0
    assert main(["export", str(ckpt), "-o", str(tmp_path / "x2.onnx")]) == 0
    assert main(["export", str(ckpt), "-o", str(tmp_path / "x2.param")]) == 2  # exists, no --force
    capsys.readouterr()
    img = photo(24, 32)
    Image.fromarray(img).save(tmp_path / "in.png")
    ref = esrgan.upscale(model, img, tile=None)
    for name in ("x2.param", "x2.onnx", "x2.bin"):
        out = tmp_path / f"out_{name}"
        rc = main(["upscale", str(tmp_path / "in.png"), "-m", str(tmp_path / name), "-o", str(out)])
        assert rc == 0
        got = np.asarray(Image.open(out / "in_x2.png"))
        within_1, worst = levels_agreement(got, ref)
        assert within_1 >= 0.999 and worst <= 2


def test_files_from_other_tools_in0_out0_and_scale_from_a_probe(tmp_path):
    from esrgan.inference.backends import load_external

    model = textured_rrdbnet(2)
    param, weights = export_model(model, tmp_path / "m.param")
    # pnnx names its blobs in0/out0: rename ours as a stand-in for such a file
    lines = param.read_text().splitlines()
    renamed = [" ".join({"data": "in0", "output": "out0"}.get(t, t) for t in line.split()) for line in lines]
    (tmp_path / "pnnx.param").write_text("\n".join(renamed) + "\n")
    (tmp_path / "pnnx.bin").write_bytes(weights.read_bytes())
    desc = load_external(tmp_path / "pnnx.param")
    assert (desc.scale, desc.in_ch, desc.out_ch, desc.size_multiple) == (2, 3, 3, 2)
    img = photo(24, 32)
    within_1, worst = levels_agreement(
        esrgan.upscale(desc, img, tile=None), esrgan.upscale(model, img, tile=None)
    )
    assert within_1 >= 0.999 and worst <= 2
    onnx_desc = load_external(export_model(textured_rrdbnet(1), tmp_path / "x1.onnx")[0])
    assert (onnx_desc.scale, onnx_desc.size_multiple) == (1, 4)


def test_export_rejects_other_extensions_and_modules(tmp_path):
    with pytest.raises(ESRGANError, match=r"\.param \(ncnn\) or \.onnx"):
        export_model(textured_rrdbnet(4), tmp_path / "m.tflite")

    class Other(torch.nn.Module):
        scale, in_ch, out_ch, size_multiple = 2, 3, 3, 1

    with pytest.raises(ESRGANError, match="RRDBNet, SRResNet and SRVGGNetCompact"):
        export_model(Other(), tmp_path / "m.param")
    assert not list(tmp_path.iterdir())


# --- bad model files: one line, non-zero exit, no output -------------------------------------


@pytest.fixture()
def exported(tmp_path) -> Path:
    export_model(textured_rrdbnet(4), tmp_path / "good.param")
    Image.fromarray(photo(16, 16)).save(tmp_path / "in.png")
    return tmp_path


def upscale_fails(capsys, folder: Path, model: Path, *extra: str) -> str:
    out = folder / "out"
    rc = main(["upscale", str(folder / "in.png"), "-m", str(model), "-o", str(out), *extra])
    _, err = capsys.readouterr()
    assert rc == 2 and len(err.strip().splitlines()) == 1 and err.startswith("esrgan upscale: error: "), err
    assert not out.exists() or not any(out.iterdir())
    return err


def test_param_without_bin(capsys, exported):
    (exported / "good.bin").rename(exported / "elsewhere.bin")
    assert "good.bin: no such file" in upscale_fails(capsys, exported, exported / "good.param")


def test_truncated_bin(capsys, exported):
    data = (exported / "good.bin").read_bytes()
    (exported / "good.bin").write_bytes(data[: len(data) // 2])
    assert "truncated" in upscale_fails(capsys, exported, exported / "good.param")


def test_unknown_blob_names(capsys, exported):
    text = (exported / "good.param").read_text().replace(" data", " image")
    (exported / "good.param").write_text(text)
    assert "expected 'data'/'output'" in upscale_fails(capsys, exported, exported / "good.param")


def test_not_a_param_file(capsys, exported):
    (exported / "good.param").write_text("hello\n")
    assert "not an ncnn .param" in upscale_fails(capsys, exported, exported / "good.param")


def test_onnx_graph_that_is_not_image_to_image(capsys, exported):
    from onnx import TensorProto, helper

    for name, node, out_shape in (
        ("pool.onnx", helper.make_node("GlobalAveragePool", ["x"], ["y"]), ["N", 3, 1, 1]),
        ("flat.onnx", helper.make_node("Flatten", ["x"], ["y"]), ["N", "F"]),
    ):
        graph = helper.make_graph(
            [node],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        )
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        proto.ir_version = 8
        (exported / name).write_bytes(proto.SerializeToString())
        assert "not an image-to-image model" in upscale_fails(capsys, exported, exported / name)
    (exported / "junk.onnx").write_bytes(b"not a protobuf")
    assert "not a readable ONNX model" in upscale_fails(capsys, exported, exported / "junk.onnx")


def test_vulkan_device_without_a_gpu(capsys, exported, monkeypatch):
    from esrgan.inference import backends

    monkeypatch.setattr(backends, "vulkan_device_count", lambda: 0)  # as on a machine without Vulkan
    ckpt = exported / "m.pth"
    esrgan.save_model(textured_rrdbnet(4), ckpt)
    for model in (ckpt, exported / "good.param"):
        assert "no Vulkan GPU" in upscale_fails(capsys, exported, model, "--device", "vulkan")
