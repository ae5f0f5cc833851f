"""Every checkpoint format users bring loads to the same network; ours loads in spandrel."""

from __future__ import annotations

import re

import pytest
import torch
from safetensors.torch import save_file

import esrgan
from esrgan.cli.main import main
from esrgan.errors import ESRGANError
from esrgan.models import RRDBNet, SRResNet, VGGDiscriminator
from tests.spandrel_compat import import_spandrel

# Key renames written out from the SPEC's table (section 8), independent of esrgan's own mapping.


def spec_to_2019(sd):
    out = {}
    for k, v in sd.items():
        k = re.sub(r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2.", k)
        k = (
            {
                "conv_body": "trunk_conv",
                "conv_hr": "HRconv",
                "conv_up1": "upconv1",
                "conv_up2": "upconv2",
            }.get(k.rsplit(".", 1)[0], k.rsplit(".", 1)[0])
            + "."
            + k.rsplit(".", 1)[1]
        )
        out[k] = v
    return out


def spec_to_old_arch(sd, nb):
    names = {
        "conv_first": "model.0",
        "conv_body": f"model.1.sub.{nb}",
        "conv_up1": "model.3",
        "conv_up2": "model.6",
        "conv_hr": "model.8",
        "conv_last": "model.10",
    }
    out = {}
    for k, v in sd.items():
        name, kind = k.rsplit(".", 1)
        m = re.match(r"^body\.(\d+)\.rdb(\d)\.conv(\d)$", name)
        out[(f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0" if m else names[name]) + "." + kind] = v
    return out


@pytest.fixture
def tiny():
    torch.manual_seed(1)
    m = RRDBNet(num_feat=8, num_block=2, num_grow=4).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.1)
    return m


def forward(m, x):
    with torch.no_grad():
        return m(x)


def test_three_key_formats_give_identical_outputs(tiny, tmp_path):
    sd = tiny.state_dict()
    torch.save(sd, tmp_path / "basicsr_bare.pth")
    torch.save(spec_to_2019(sd), tmp_path / "esrgan2019.pth")
    torch.save(spec_to_old_arch(sd, 2), tmp_path / "old_arch.pth")
    x = torch.rand(1, 3, 9, 7)
    outs = {}
    for name in ("basicsr_bare", "esrgan2019", "old_arch"):
        model = esrgan.load_model(tmp_path / f"{name}.pth")
        assert isinstance(model.model, RRDBNet) and model.scale == 4 and model.config.num_block == 2
        outs[name] = forward(model, x)
    assert torch.equal(outs["basicsr_bare"], outs["esrgan2019"])
    assert torch.equal(outs["basicsr_bare"], outs["old_arch"])
    from tests.test_models import hand_rrdbnet_forward

    assert torch.allclose(outs["old_arch"], hand_rrdbnet_forward(sd, x, 2, 2, 1), atol=1e-5)


def test_wrappers_prefixes_and_ema_preference(tiny, tmp_path):
    sd = tiny.state_dict()
    other = {k: v + 0.05 for k, v in sd.items()}
    x = torch.rand(1, 3, 6, 6)
    torch.save({"params": other, "params_ema": sd}, tmp_path / "both.pth")
    torch.save({"params": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "ddp.pth")
    save_file({k: v.contiguous() for k, v in sd.items()}, tmp_path / "bare.safetensors")
    ref = forward(tiny, x)
    for name in ("both.pth", "ddp.pth", "bare.safetensors"):
        assert torch.equal(forward(esrgan.load_model(tmp_path / name), x), ref), name


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_save_load_roundtrip(scale, suffix, tmp_path):
    m = RRDBNet(scale=scale, num_feat=8, num_block=1, num_grow=4).eval()
    path = tmp_path / f"m{suffix}"
    esrgan.save_model(m, path, metadata={"note": "hello"})
    loaded = esrgan.load_model(path)
    assert loaded.config == m.config
    assert loaded.metadata["note"] == "hello"
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(forward(loaded, x), forward(m, x))
    assert not list(tmp_path.glob("*.tmp"))


def test_srresnet_roundtrip(tmp_path):
    for bn in (True, False):
        m = SRResNet(num_feat=8, num_block=2, batch_norm=bn, scale=2).eval()
        esrgan.save_model(m, tmp_path / "s.pth")
        loaded = esrgan.load_model(tmp_path / "s.pth")
        assert isinstance(loaded.model, SRResNet) and loaded.config == m.config
        x = torch.rand(1, 3, 5, 5)
        assert torch.equal(forward(loaded, x), forward(m, x))


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_saved_files_load_in_spandrel(scale, tmp_path):
    spandrel = import_spandrel()
    if spandrel is None:
        pytest.skip("spandrel not installed (CI installs it)")
    torch.manual_seed(scale)
    # spandrel assumes growth 32; keep the rest tiny.
    m = RRDBNet(scale=scale, num_feat=16, num_block=1, num_grow=32).eval()
    ema = {k: v + 0.01 * torch.randn_like(v) for k, v in m.state_dict().items()}
    m_ema = RRDBNet(scale=scale, num_feat=16, num_block=1, num_grow=32).eval()
    m_ema.load_state_dict(ema)
    x = torch.rand(1, 3, 8, 8)
    for suffix in (".pth", ".safetensors"):
        path = tmp_path / f"x{scale}{suffix}"
        esrgan.save_model(m, path, params_ema=ema)
        desc = spandrel.ModelLoader().load_from_file(str(path))
        assert desc.scale == scale and desc.input_channels == 3 and desc.output_channels == 3
        with torch.no_grad():
            theirs = desc.model.eval()(x)
        assert torch.allclose(theirs, forward(m_ema, x), atol=1e-5), suffix


def write(path, obj):
    torch.save(obj, path)
    return path


def test_unsupported_files_get_one_line_errors(tmp_path):
    cases = {
        write(tmp_path / "d.pth", VGGDiscriminator().state_dict()): "discriminator",
        write(
            tmp_path / "c.pth",
            {
                "params": {
                    "body.0.weight": torch.zeros(64, 3, 3, 3),
                    "body.0.bias": torch.zeros(64),
                    "body.1.weight": torch.zeros(64),
                }
            },
        ): "SRVGG",
        write(tmp_path / "t.pth", {"iteration": 5, "optimizers": [{}]}): "training state",
    }
    (tmp_path / "text.pth").write_text("not a model")
    cases[tmp_path / "text.pth"] = "not a PyTorch checkpoint"
    (tmp_path / "empty.pth").write_bytes(b"")
    cases[tmp_path / "empty.pth"] = "empty"
    cases[tmp_path / "missing.pth"] = "not found"
    for path, expected in cases.items():
        with pytest.raises(ESRGANError, match=expected) as info:
            esrgan.load_model(path)
        assert "\n" not in str(info.value)


def test_pickled_code_is_never_executed(tmp_path):
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"params": {"conv_first.weight": torch.zeros(1)}, "x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ESRGANError, match="refused: this file contains pickled objects other than tensors"):
        esrgan.load_model(tmp_path / "evil.pth")
    assert not marker.exists()


def test_wrong_shapes_are_reported(tiny, tmp_path):
    sd = tiny.state_dict()
    sd["body.0.rdb1.conv2.weight"] = torch.zeros(4, 5, 3, 3)
    with pytest.raises(ESRGANError, match="do not fit"):
        esrgan.load_model(write(tmp_path / "bad.pth", sd))


def test_info_and_convert_cli(tiny, tmp_path, capsys):
    src = write(tmp_path / "old.pth", spec_to_old_arch(tiny.state_dict(), 2))
    assert main(["info", str(src)]) == 0
    out = capsys.readouterr().out
    assert (
        "RRDBNet" in out
        and "x4" in out
        and "old-arch" in out
        and f"{sum(p.numel() for p in tiny.parameters()):,}" in out
    )
    dst = tmp_path / "new.safetensors"
    assert main(["convert", str(src), str(dst)]) == 0
    assert main(["convert", str(src), str(dst)]) == 2  # exists, no --force
    x = torch.rand(1, 3, 5, 5)
    assert torch.equal(forward(esrgan.load_model(dst), x), forward(tiny, x))
    assert main(["info", str(tmp_path / "nope.pth")]) == 2
    assert "not found" in capsys.readouterr().err
