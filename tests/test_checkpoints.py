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


def test_metadata_wins_over_ambiguous_shapes(tmp_path, caplog):
    # in_ch 4 -> out_ch 1 at x4: the first conv's 4 channels also read as a pixel-unshuffled x2.
    torch.manual_seed(0)
    m = RRDBNet(in_ch=4, out_ch=1, scale=4, num_feat=8, num_block=1, num_grow=4).eval()
    esrgan.save_model(m, tmp_path / "m.pth")
    torch.save(m.state_dict(), tmp_path / "bare.pth")
    with caplog.at_level("WARNING", logger="esrgan"):
        loaded = esrgan.load_model(tmp_path / "m.pth")
    assert (loaded.scale, loaded.in_ch, loaded.out_ch) == (4, 4, 1)
    assert "metadata" in caplog.text and "scale=4" in caplog.text and "scale=2" in caplog.text
    x = torch.rand(1, 4, 3, 5)
    assert forward(loaded, x).shape == (1, 1, 12, 20)
    assert torch.equal(forward(loaded, x), forward(m, x))
    # Without metadata the shapes are all there is: the documented ambiguity.
    bare = esrgan.load_model(tmp_path / "bare.pth")
    assert (bare.scale, bare.in_ch) == (2, 1)


def test_metadata_that_does_not_fit_the_weights_is_reported_and_ignored(tiny, tmp_path, caplog):
    torch.save(
        {"params": tiny.state_dict(), "meta": {"architecture": "RRDBNet", "num_feat": 16}}, tmp_path / "m.pth"
    )
    with caplog.at_level("WARNING", logger="esrgan"):
        loaded = esrgan.load_model(tmp_path / "m.pth")
    assert loaded.config == tiny.config and "does not fit" in caplog.text


def test_plain_pickles_are_refused_without_warnings(tmp_path, recwarn):
    import pickle

    with open(tmp_path / "p.pth", "wb") as f:
        pickle.dump({"a": 1}, f, protocol=4)
    with pytest.raises(ESRGANError) as info:
        esrgan.load_model(tmp_path / "p.pth")
    assert "refused: this file contains pickled objects other than tensors (unsafe to load)" in str(
        info.value
    )
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_layouts_we_do_not_load_are_named(tmp_path):
    # x3 SRResNet: one PixelShuffle(3) stage (conv 8 -> 72 channels).
    sd = SRResNet(num_feat=8, num_block=1, scale=2).state_dict()
    sd["upsample.0.conv.weight"] = torch.zeros(72, 8, 3, 3)
    sd["upsample.0.conv.bias"] = torch.zeros(72)
    with pytest.raises(ESRGANError, match="x3 models are not supported"):
        esrgan.load_model(write(tmp_path / "x3.pth", sd))
    # 2018 old-arch x2: model.0, body, one upsampler at model.3, HRconv model.5, conv_last model.7.
    x4 = spec_to_old_arch(RRDBNet(num_feat=8, num_block=1, num_grow=4).state_dict(), 1)
    x2 = {k: v for k, v in x4.items() if not k.startswith(("model.6.", "model.8.", "model.10."))}
    x2.update({k.replace("model.8.", "model.5."): v for k, v in x4.items() if k.startswith("model.8.")})
    x2.update({k.replace("model.10.", "model.7."): v for k, v in x4.items() if k.startswith("model.10.")})
    with pytest.raises(ESRGANError, match="2018 'old arch' x2 layout") as info:
        esrgan.load_model(write(tmp_path / "old_x2.pth", x2))
    assert "\n" not in str(info.value)


def test_folders_and_unwritable_paths_get_one_line_errors(tiny, tmp_path, capsys):
    with pytest.raises(ESRGANError, match="is a folder"):
        esrgan.load_model(tmp_path)
    with pytest.raises(ESRGANError, match="is a folder"):
        esrgan.save_model(tiny, tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ESRGANError, match="cannot write"):
        esrgan.save_model(tiny, tmp_path / "file" / "m.pth")
    src = tmp_path / "m.pth"
    esrgan.save_model(tiny, src)
    for target in ("/proc/esrgan-test/m.pth", str(tmp_path / "file" / "out.pth")):
        for argv in (
            ["convert", str(src), target],
            ["interpolate", str(src), str(src), "--alpha", "0.5", "-o", target],
        ):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err and "cannot write" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "m.pth"]
