"""SRVGGNetCompact (Real-ESRGAN's compact network) as a model family: files, detection, forward,
CLI, export, interpolation, `--denoise` and training.

The checkpoints are written here the way Real-ESRGAN writes its releases: `{"params": state}` with
`body.{i}.weight/bias` keys, built tensor by tensor (not through our module), so the loader's
reading of the layout is tested, not assumed.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import esrgan
from esrgan.cli.main import main
from esrgan.models import catalogue, hub
from esrgan.models.srvgg import SRVGGNetCompact
from tests.backend_models import levels_agreement, photo
from tests.spandrel_compat import import_spandrel

REPO = Path(__file__).resolve().parents[1]


def realesrgan_state(
    scale: int, num_conv: int, num_feat: int, act: str = "prelu", seed: int = 0
) -> dict[str, torch.Tensor]:
    """The key layout of Real-ESRGAN's srvgg_arch, written out by hand."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    chans = [3] + [num_feat] * (num_conv + 1) + [3 * scale * scale]
    index = 0
    for layer in range(num_conv + 2):
        cin, cout = chans[layer], chans[layer + 1]
        state[f"body.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * 0.08
        state[f"body.{index}.bias"] = torch.randn(cout, generator=g) * 0.02
        index += 1
        if layer < num_conv + 1:
            if act == "prelu":
                state[f"body.{index}.weight"] = torch.rand(num_feat, generator=g) * 0.3
            index += 1
    return state


def hand_forward(state: dict[str, torch.Tensor], x: torch.Tensor, scale: int, act: str) -> torch.Tensor:
    """conv -> act ... -> conv, pixel shuffle by reshapes, plus the input repeated scale x scale."""
    convs = sorted(int(k.split(".")[1]) for k in state if state[k].dim() == 4)
    out = x
    for n, i in enumerate(convs):
        out = F.conv2d(out, state[f"body.{i}.weight"], state[f"body.{i}.bias"], padding=1)
        if n == len(convs) - 1:
            break
        if act == "prelu":
            slope = state[f"body.{i + 1}.weight"].view(1, -1, 1, 1)
            out = torch.where(out >= 0, out, slope * out)
        elif act == "leakyrelu":
            out = torch.where(out >= 0, out, 0.1 * out)
        else:
            out = out.clamp(min=0)
    n, c, h, w = out.shape
    r = scale
    # channel (k * r + i) * r + j of colour k -> pixel (y * r + i, x * r + j)
    hr = (
        out.view(n, c // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c // (r * r), h * r, w * r)
    )
    base = x.repeat_interleave(r, dim=2).repeat_interleave(r, dim=3)
    return hr + base


def save_release(path: Path, state: dict[str, torch.Tensor]) -> Path:
    torch.save({"params": state}, path)
    return path


def forward(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return esrgan.models.descriptor.module_of(model)(x)


@pytest.mark.parametrize(
    ("scale", "num_conv", "num_feat", "act"),
    [(4, 3, 8, "prelu"), (2, 1, 12, "prelu"), (3, 4, 8, "prelu"), (4, 2, 8, "relu"), (1, 1, 4, "prelu")],
)
def test_realesrgan_file_is_detected_and_matches_the_hand_forward(tmp_path, scale, num_conv, num_feat, act):
    state = realesrgan_state(scale, num_conv, num_feat, act)
    desc = esrgan.load_model(save_release(tmp_path / "realesr.pth", state))
    assert desc.architecture == "SRVGGNetCompact" and desc.key_format == "Real-ESRGAN"
    assert desc.wrapper == "params" and desc.scale == scale
    cfg = desc.config
    assert (cfg.num_conv, cfg.num_feat, cfg.act_type, cfg.in_ch, cfg.out_ch) == (
        num_conv,
        num_feat,
        act,
        3,
        3,
    )
    x = torch.rand(1, 3, 7, 9)
    expected = hand_forward(state, x, scale, act)
    got = forward(desc, x)
    assert got.shape == (1, 3, 7 * scale, 9 * scale)
    assert torch.allclose(got, expected, atol=1e-5), float((got - expected).abs().max())
    other = hand_forward(state, x, scale, "leakyrelu" if act == "relu" else "relu")
    assert float((expected - other).abs().max()) > 1e-3  # the activation is visible in the output


def test_released_sizes_have_the_published_parameter_counts():
    # realesr-animevideov3 (16 convs) and realesr-general-x4v3 (32): the published 2,504,012 and
    # 4,885,111 bytes hold 621,424 and 1,213,296 float32 values plus a few hundred bytes per tensor.
    assert sum(p.numel() for p in SRVGGNetCompact(num_conv=16).parameters()) == 621_424
    assert sum(p.numel() for p in SRVGGNetCompact(num_conv=32).parameters()) == 1_213_296
    for m in ("realesr-animevideov3", "realesr-general-x4v3", "realesr-general-wdn-x4v3"):
        entry = hub.known_model(m)
        assert entry and entry.architecture == "SRVGGNetCompact" and entry.verifiable
        num_conv = 16 if m.endswith("animevideov3") else 32
        params = 621_424 if num_conv == 16 else 1_213_296
        tensors = 2 * (num_conv + 2) + num_conv + 1  # conv weights and biases, PReLU slopes
        assert 4 * params < entry.size < 4 * params + 600 * tensors
        # The release asset of v0.2.5.0, under the same release root as the other Real-ESRGAN files.
        (url,) = entry.urls
        assert url == f"{catalogue.RE}/v0.2.5.0/{m}.pth" and entry.filename == f"{m}.pth"


def test_info_and_convert_round_trip(tmp_path, capsys):
    src = save_release(tmp_path / "realesr.pth", realesrgan_state(4, 2, 8))
    assert main(["info", str(src)]) == 0
    out = capsys.readouterr().out
    assert "SRVGGNetCompact" in out and "num_conv=2" in out and "act_type=prelu" in out and "x4" in out
    x = torch.rand(1, 3, 6, 5)
    ref = forward(esrgan.load_model(src), x)
    for suffix in (".safetensors", ".pth"):
        dst = tmp_path / f"ours{suffix}"
        assert main(["convert", str(src), str(dst)]) == 0
        assert torch.equal(forward(esrgan.load_model(dst), x), ref)


def test_spandrel_loads_our_saved_file(tmp_path):
    spandrel = import_spandrel()
    if spandrel is None:
        pytest.skip("spandrel not installed (CI installs it)")
    src = save_release(tmp_path / "realesr.pth", realesrgan_state(4, 2, 8))
    esrgan.save_model(esrgan.load_model(src), tmp_path / "ours.pth")
    x = torch.rand(1, 3, 6, 5)
    ref = forward(esrgan.load_model(src), x)
    loaded = spandrel.ModelLoader().load_from_file(str(tmp_path / "ours.pth"))
    assert loaded.scale == 4
    with torch.no_grad():
        assert torch.allclose(loaded.model.eval()(x), ref, atol=1e-5)


def test_metadata_names_the_activation_the_shapes_cannot(tmp_path, caplog):
    """LeakyReLU and ReLU have no tensors: the shapes read as ReLU, our metadata says LeakyReLU."""
    torch.manual_seed(1)
    model = SRVGGNetCompact(scale=2, num_feat=8, num_conv=2, act_type="leakyrelu").eval()
    esrgan.save_model(model, tmp_path / "leaky.safetensors")
    with caplog.at_level(logging.WARNING):
        desc = esrgan.load_model(tmp_path / "leaky.safetensors")
    assert desc.config.act_type == "leakyrelu" and "using the metadata" in caplog.text
    x = torch.rand(1, 3, 8, 8) - 0.5  # negatives, where the two activations differ
    assert torch.equal(forward(desc, x), forward(model, x))
    bare = tmp_path / "bare.pth"
    torch.save(model.state_dict(), bare)  # no metadata: the shapes' reading
    assert esrgan.load_model(bare).config.act_type == "relu"


def test_bad_layouts_are_one_line_errors(tmp_path, capsys):
    state = realesrgan_state(4, 2, 8)
    state["body.2.weight"] = state["body.2.weight"][:, :4]  # a body conv with the wrong input width
    save_release(tmp_path / "bad.pth", state)
    assert main(["info", str(tmp_path / "bad.pth")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "SRVGGNetCompact" in err and "body.2.weight" in err


def upscale_cli(args: list[str], capsys) -> tuple[int, str]:
    rc = main(["upscale", *args])
    return rc, capsys.readouterr().err


def test_exported_ncnn_pair_runs_in_esrgan_upscale(tmp_path, capsys):
    pytest.importorskip("ncnn")
    src = save_release(tmp_path / "realesr.pth", realesrgan_state(4, 2, 8))
    Image.fromarray(photo(40, 36)).save(tmp_path / "in.png")
    assert main(["export", str(src), "-o", str(tmp_path / "x.param")]) == 0
    rc, err = upscale_cli(
        [str(tmp_path / "in.png"), "-o", str(tmp_path / "t"), "-m", str(src), "--tile", "32"], capsys
    )
    assert rc == 0, err
    rc, err = upscale_cli(
        [str(tmp_path / "in.png"), "-o", str(tmp_path / "n"), "-m", str(tmp_path / "x.param")], capsys
    )
    assert rc == 0, err
    ref = np.asarray(Image.open(tmp_path / "t" / "in_x4.png"))
    out = np.asarray(Image.open(tmp_path / "n" / "in_x4.png"))
    assert ref.shape == out.shape == (160, 144, 3) and ref.std() > 30
    within_1, worst = levels_agreement(out, ref)
    assert within_1 >= 0.999 and worst <= 2


def test_network_interpolation_with_alpha(tmp_path, capsys):
    a, b = realesrgan_state(2, 2, 8, seed=1), realesrgan_state(2, 2, 8, seed=2)
    save_release(tmp_path / "a.pth", a)
    save_release(tmp_path / "b.pth", b)
    blend = {k: 0.3 * a[k] + 0.7 * b[k] for k in a}  # (1 - alpha) * psnr + alpha * gan, alpha 0.7
    save_release(tmp_path / "blend.pth", blend)
    Image.fromarray(photo(24, 20)).save(tmp_path / "in.png")
    img = str(tmp_path / "in.png")
    args = ["-m", str(tmp_path / "b.pth"), "--psnr-model", str(tmp_path / "a.pth"), "--alpha", "0.7"]
    assert upscale_cli([img, "-o", str(tmp_path / "o1"), *args], capsys)[0] == 0
    assert upscale_cli([img, "-o", str(tmp_path / "o2"), "-m", str(tmp_path / "blend.pth")], capsys)[0] == 0
    assert upscale_cli([img, "-o", str(tmp_path / "o3"), "-m", str(tmp_path / "b.pth")], capsys)[0] == 0
    got, want, gan = (
        np.asarray(Image.open(tmp_path / o / "in_x2.png")).astype(int) for o in ("o1", "o2", "o3")
    )
    assert np.abs(got - want).max() <= 1 and np.abs(got - gan).max() > 5


# --- --denoise ----------------------------------------------------------------------------------


@pytest.fixture
def general_pair(tmp_path) -> tuple[Path, dict, dict]:
    folder = tmp_path / "weights"
    folder.mkdir()
    general, wdn = realesrgan_state(4, 2, 8, seed=3), realesrgan_state(4, 2, 8, seed=4)
    save_release(folder / "realesr-general-x4v3.pth", general)
    save_release(folder / "realesr-general-wdn-x4v3.pth", wdn)
    return folder, general, wdn


def test_denoise_blends_general_and_its_wdn_twin(tmp_path, general_pair, capsys, monkeypatch):
    folder, general, wdn = general_pair
    strength = 0.3
    # inference_realesrgan.py: dni_weight = [S, 1 - S] for [general, wdn]
    save_release(
        tmp_path / "by_hand.pth", {k: strength * general[k] + (1 - strength) * wdn[k] for k in general}
    )
    Image.fromarray(photo(20, 24)).save(tmp_path / "in.png")
    img = str(tmp_path / "in.png")
    model = str(folder / "realesr-general-x4v3.pth")
    assert upscale_cli([img, "-o", str(tmp_path / "dn"), "-m", model, "--denoise", "0.3"], capsys)[0] == 0
    assert (
        upscale_cli([img, "-o", str(tmp_path / "hand"), "-m", str(tmp_path / "by_hand.pth")], capsys)[0] == 0
    )
    got = np.asarray(Image.open(tmp_path / "dn" / "in_x4.png")).astype(int)
    want = np.asarray(Image.open(tmp_path / "hand" / "in_x4.png")).astype(int)
    assert np.abs(got - want).max() <= 1
    assert upscale_cli([img, "-o", str(tmp_path / "one"), "-m", model, "--denoise", "1"], capsys)[0] == 0
    assert upscale_cli([img, "-o", str(tmp_path / "plain"), "-m", model], capsys)[0] == 0
    one = np.asarray(Image.open(tmp_path / "one" / "in_x4.png")).astype(int)
    plain = np.asarray(Image.open(tmp_path / "plain" / "in_x4.png")).astype(int)
    assert np.array_equal(one, plain) and np.abs(got - plain).max() > 5

    # A file in the current folder named like the release: its twin is the file beside it.
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("ESRGAN_HOME", str(home))
    monkeypatch.chdir(folder)
    args = [
        img,
        "-o",
        str(tmp_path / "here"),
        "-m",
        "realesr-general-x4v3.pth",
        "--denoise",
        "0.3",
        "--offline",
    ]
    rc, err = upscale_cli(args, capsys)
    assert rc == 0, err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "here" / "in_x4.png")).astype(int), got)
    monkeypatch.chdir(tmp_path)

    # By name, from the cache (offline): the twin name is resolved the same way.
    entries = []
    for m in hub.MODELS:
        if m.name in ("realesr-general-x4v3", "realesr-general-wdn-x4v3"):
            cached = home / "models" / m.filename
            cached.write_bytes((folder / m.filename).read_bytes())
            m = replace(m, size=cached.stat().st_size)
        entries.append(m)
    monkeypatch.setattr(hub, "MODELS", tuple(entries))
    args = [img, "-o", str(tmp_path / "named"), "-m", "realesr-general-x4v3", "--denoise", "0.3", "--offline"]
    rc, err = upscale_cli(args, capsys)
    assert rc == 0, err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "named" / "in_x4.png")).astype(int), got)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--denoise", "1.5"], "--denoise must be in [0, 1]"),
        (["--denoise", "-0.1"], "--denoise must be in [0, 1]"),
        (["--denoise", "nan"], "--denoise must be in [0, 1]"),
        (["--denoise", "0.5", "-m", "OTHER"], "has no denoise twin"),
        (["--denoise", "0.5", "-m", "builtin"], "has no denoise twin"),
        (["--denoise", "0.5", "-m", "LONELY"], "twin of"),
        (["--denoise", "0.5", "-m", "nowhere/realesr-general-x4v3.pth"], "model file not found"),
        (["--denoise", "0.5", "--psnr-model", "OTHER", "--alpha", "0.5"], "does not combine with --alpha"),
    ],
)
def test_bad_denoise_is_one_line_exit_2_and_nothing_written(tmp_path, general_pair, capsys, extra, message):
    folder, general, _ = general_pair
    other = save_release(tmp_path / "other.pth", general)
    lonely = tmp_path / "lonely" / "realesr-general-x4v3.pth"
    lonely.parent.mkdir()
    save_release(lonely, general)
    Image.fromarray(photo(20, 24)).save(tmp_path / "in.png")
    extra = [str(other) if e == "OTHER" else str(lonely) if e == "LONELY" else e for e in extra]
    model = [] if "-m" in extra else ["-m", str(folder / "realesr-general-x4v3.pth")]
    rc, err = upscale_cli([str(tmp_path / "in.png"), "-o", str(tmp_path / "out"), *model, *extra], capsys)
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


# --- training -------------------------------------------------------------------------------------


def test_realesr_general_preset_follows_the_option_file_and_trains(tmp_path, capsys, one_thread):
    from skimage import data

    from esrgan.training.config import load_config
    from esrgan.training.trainer import train

    preset = load_config(REPO / "configs/realesr_general_x4v3.yaml")
    g = preset.generator
    assert (g.architecture, g.num_feat, g.num_conv, g.act_type, g.scale) == (
        "SRVGGNetCompact",
        64,
        32,
        "prelu",
        4,
    )
    assert preset.loss.gan_weight == 0.1 and preset.optim.betas == (0.9, 0.99) and preset.data.hr_crop == 256
    # Everything but the generator and the names is realesrgan_x4plus's recipe (Real-ESRGAN's finetune file).
    from tests.test_ablation import differences

    recipe = load_config(REPO / "configs/realesrgan_x4plus.yaml")
    assert {k for k in differences(preset, recipe) if not k.startswith("generator.")} <= {"name"}
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, (y, x) in enumerate([(0, 0), (100, 200)]):
        Image.fromarray(data.astronaut()[y : y + 64, x : x + 64]).save(photos / f"p{i}.png")
    torch.manual_seed(0)
    start = tmp_path / "start.pth"
    esrgan.save_model(SRVGGNetCompact(num_feat=8, num_conv=2), start)
    from tests.test_degrade_training import tiny

    settings = tiny(photos, tmp_path, "srvgg", **{"generator.num_conv": 2, "generator.pretrained": start})
    cfg = load_config(REPO / "configs/realesr_general_x4v3.yaml", settings)
    final = train(cfg)
    records = [json.loads(r) for r in (tmp_path / cfg.name / "metrics.jsonl").read_text().splitlines()]
    losses = [v for r in records for k, v in r.items() if k.startswith("loss/")]
    assert losses and all(math.isfinite(v) for v in losses)
    trained = esrgan.load_model(final)
    assert trained.architecture == "SRVGGNetCompact" and trained.config.num_conv == 2
    start_state = esrgan.load_model(start).state_dict()
    assert any(not torch.equal(v, start_state[k]) for k, v in trained.state_dict().items())
    capsys.readouterr()
    rc = main(["upscale", str(photos / "p0.png"), "-o", str(tmp_path / "up"), "-m", str(final)])
    assert rc == 0, capsys.readouterr().err
    with Image.open(tmp_path / "up" / "p0_x4.png") as im:
        assert im.size == (256, 256)


def test_srvgg_config_errors_name_the_key():
    from esrgan.errors import ESRGANError
    from esrgan.training.config import load_config
    from esrgan.training.trainer import build_generator

    with pytest.raises(ESRGANError, match="generator.act_type"):
        load_config(None, ["generator.architecture=SRVGGNetCompact", "generator.act_type=gelu"])
    with pytest.raises(ESRGANError, match="generator.num_conv"):
        load_config(None, ["generator.architecture=SRVGGNetCompact", "generator.num_conv=0"])
    cfg = load_config(
        None, ["generator.architecture=SRVGGNetCompact", "generator.scale=3", "generator.init=identity"]
    )
    net = build_generator(cfg.generator)
    x = torch.rand(1, 3, 5, 4)
    assert torch.equal(forward(net, x), x.repeat_interleave(3, 2).repeat_interleave(3, 3))
    with pytest.raises(ESRGANError, match="output as input channels"):
        build_generator(replace(cfg.generator, out_ch=1))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiled_upscale_matches_the_whole_image(scale):
    from tests.backend_models import textured_srvgg

    model = textured_srvgg(scale)
    img = photo(70, 52)
    whole = esrgan.upscale(model, img, tile=None)
    with torch.no_grad():
        direct = model(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)[0]
    by_hand = np.rint(direct.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert whole.shape == (70 * scale, 52 * scale, 3) and whole.std() > 30
    assert levels_agreement(whole, by_hand)[1] <= 1
    for tile in (32, 48):  # tiles blend over the overlap (tests/test_tiling.py): close, not exact
        tiled = esrgan.upscale(model, img, tile=tile, tile_overlap=16)
        within_1, worst = levels_agreement(tiled, whole)
        mean = float(np.abs(tiled.astype(int) - whole.astype(int)).mean())
        assert within_1 >= 0.99 and mean <= 0.1, (tile, within_1, worst, mean)
