"""Back projection and the x8 self-ensemble."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import esrgan
from esrgan.cli.main import main
from esrgan.errors import ESRGANError
from esrgan.images.bicubic import imresize, imresize_numpy
from esrgan.inference.back_projection import back_project, lr_consistency_rmse
from esrgan.inference.wrapped import BackProjected, self_ensemble, with_test_time_options
from esrgan.models import RRDBNet

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(seed: int = 0) -> RRDBNet:
    torch.manual_seed(seed)
    model = RRDBNet(num_feat=8, num_block=1, num_grow=4).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model


def hwc(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).double().numpy()


@pytest.fixture
def pair():
    gen = torch.Generator().manual_seed(3)
    lr = torch.rand(1, 3, 8, 10, generator=gen, dtype=torch.float64)
    sr = torch.rand(1, 3, 32, 40, generator=gen, dtype=torch.float64)  # far from consistent with lr
    return sr, lr


def test_back_projection_lowers_the_lr_consistency_error(pair):
    sr, lr = pair

    def consistency(x):  # written out with the numpy bicubic: RMSE of down(sr) - lr
        return math.sqrt(np.mean((imresize_numpy(hwc(x), 0.25) - hwc(lr)) ** 2))

    errors = [consistency(back_project(sr, lr, n)) for n in (0, 1, 3, 10)]
    assert errors[0] > 0.1
    assert errors[0] > errors[1] > errors[2] > errors[3]
    assert errors[1] < 0.6 * errors[0] and errors[3] < 0.01 * errors[0]
    assert lr_consistency_rmse(sr, lr) == pytest.approx(errors[0], rel=1e-9)


def test_one_iteration_is_the_written_out_update(pair):
    sr, lr = pair
    s, l = hwc(sr), hwc(lr)
    expected = s + imresize_numpy(l - imresize_numpy(s, 0.25), 4.0)
    assert np.allclose(hwc(back_project(sr, lr, 1)), expected, atol=1e-10)
    assert torch.equal(back_project(sr, lr, 0), sr)


def test_back_projection_checks_its_inputs(pair):
    sr, lr = pair
    with pytest.raises(ESRGANError, match="integer multiple"):
        back_project(sr[..., :39], lr, 1)
    with pytest.raises(ESRGANError, match="non-negative integer"):
        back_project(sr, lr, -1)


def test_back_projection_wraps_a_model_forward():
    model = tiny_model()
    lr = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        plain = model(lr)
        projected = BackProjected(model, 2)(lr)
    assert projected.shape == plain.shape
    assert lr_consistency_rmse(projected, lr) < 0.5 * lr_consistency_rmse(plain, lr)


# numpy versions of the 8 symmetries of the square, on HWC images, with their inverses.
NUMPY_TRANSFORMS = [
    (
        lambda a, k=k, f=f: np.rot90(a[:, ::-1] if f else a, k),
        lambda a, k=k, f=f: (lambda b: b[:, ::-1] if f else b)(np.rot90(a, -k)),
    )
    for f in (False, True)
    for k in range(4)
]


def test_self_ensemble_is_the_mean_of_the_eight_inverted_passes():
    model = tiny_model()
    lr = torch.rand(1, 3, 5, 7)
    with torch.no_grad():
        got = hwc(self_ensemble(model, lr))
        outs = []
        for forward_t, inverse_t in NUMPY_TRANSFORMS:
            x = np.ascontiguousarray(forward_t(hwc(lr)))
            y = model(torch.from_numpy(x).permute(2, 0, 1)[None].float())
            outs.append(inverse_t(hwc(y)))
    assert len({o.shape for o in outs}) == 1
    assert np.allclose(got, np.mean(outs, axis=0), atol=1e-5)
    single = hwc(model(lr).detach())
    assert not np.allclose(got, single, atol=1e-3)  # the ensemble really differs from one pass


def test_self_ensemble_is_equivariant_and_exact_for_equivariant_models():
    model = tiny_model(1)
    lr = torch.rand(1, 3, 6, 4)
    with torch.no_grad():
        base = hwc(self_ensemble(model, lr))
        for forward_t, _ in NUMPY_TRANSFORMS:
            moved = torch.from_numpy(np.ascontiguousarray(forward_t(hwc(lr)))).permute(2, 0, 1)[None].float()
            assert np.allclose(hwc(self_ensemble(model, moved)), forward_t(base), atol=1e-5)
        upsample = nn.Upsample(scale_factor=4, mode="nearest")
        assert torch.allclose(self_ensemble(upsample, lr), upsample(lr), atol=1e-6)


def test_ensemble_and_back_projection_compose():
    model = tiny_model(2)
    lr = torch.rand(1, 3, 4, 4)
    forward = with_test_time_options(model, ensemble=True, back_projection=3)
    with torch.no_grad():
        out = forward(lr)
        expected = back_project(self_ensemble(model, lr), lr, 3)
    assert torch.allclose(out, expected, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# The options on the command line (`esrgan upscale` and `esrgan eval`)


def near_identity_model(seed: int) -> RRDBNet:
    """An x4 RRDBNet close to nearest-neighbour upsampling, so outputs stay mostly inside [0, 1]."""
    model = RRDBNet(num_feat=4, num_block=1, num_grow=4)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.02 * torch.randn(p.shape, generator=gen))
        for conv in (model.conv_first, model.conv_up1, model.conv_up2, model.conv_hr, model.conv_last):
            for c in range(3):
                conv.weight[c, c, 1, 1] += 1.0
    return model.eval()


def stored(x: np.ndarray) -> np.ndarray:
    """float HWC -> uint8 as files store it."""
    return np.rint(np.clip(x, 0, 1).astype(np.float32) * np.float32(255)).astype(np.uint8)


def test_upscale_command_back_projection_and_ensemble(tmp_path, capsys):
    model_path = tmp_path / "m.pth"
    esrgan.save_model(near_identity_model(4), model_path)
    lr = np.random.default_rng(1).integers(40, 215, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(lr).save(tmp_path / "in.png")
    Image.fromarray(np.ascontiguousarray(lr[:, ::-1])).save(tmp_path / "flipped.png")

    def upscale(name, *extra):
        out = tmp_path / name
        args = ["upscale", str(tmp_path / "in.png"), str(tmp_path / "flipped.png"), "-o", str(out)]
        assert main([*args, "-m", str(model_path), "--tile", "0", *extra]) == 0
        return {k: np.asarray(Image.open(out / f"{k}_x4.png")) for k in ("in", "flipped")}

    plain, projected = upscale("plain"), upscale("bp", "--back-projection", "5")

    def lr_error(sr):  # RMSE between the bicubic-downscaled result and the input, in grey levels
        return math.sqrt(np.mean((imresize(sr.astype(np.float64), 0.25) - lr) ** 2))

    assert lr_error(projected["in"]) < 0.5 * lr_error(plain["in"])
    ensembled = upscale("x8", "--ensemble")
    # The ensemble is equivariant: flipping the input flips the output (a single pass is not).
    assert np.abs(ensembled["flipped"].astype(int) - ensembled["in"][:, ::-1]).max() <= 1
    assert np.abs(plain["flipped"].astype(int) - plain["in"][:, ::-1]).max() > 1
    capsys.readouterr()
    args = ["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "bad"), "-m", str(model_path)]
    assert main([*args, "--back-projection", "-1"]) == 2
    assert "--back-projection: must be >= 0" in capsys.readouterr().err


def test_eval_command_ensemble_matches_the_manual_average(tmp_path, capsys):
    model = near_identity_model(5)
    esrgan.save_model(model, tmp_path / "m.pth")
    (tmp_path / "hr").mkdir()
    hr = np.random.default_rng(2).integers(30, 225, (32, 24, 3), dtype=np.uint8)
    Image.fromarray(hr).save(tmp_path / "hr" / "img.png")
    out = tmp_path / "res"
    args = ["eval", "-m", str(tmp_path / "m.pth"), "--hr", str(tmp_path / "hr"), "--tile", "0", "--quiet"]
    assert main([*args, "--ensemble", "--out", str(out)]) == 0
    capsys.readouterr()
    got = json.loads(out.with_name("res.json").read_text())["mean"]["m"]["psnr"]
    lr = imresize_numpy(hr, 0.25).astype(np.float32) / np.float32(255)  # LR made in uint8, as eval does
    with torch.no_grad():
        outs = []
        for forward_t, inverse_t in NUMPY_TRANSFORMS:
            x = torch.from_numpy(np.ascontiguousarray(forward_t(lr))).permute(2, 0, 1)[None]
            outs.append(inverse_t(hwc(model(x))))
    sr = stored(np.mean(outs, axis=0)).astype(np.float64) / 255
    y = lambda im: 16 + 65.481 * im[..., 0] + 128.553 * im[..., 1] + 24.966 * im[..., 2]  # noqa: E731
    diff = (y(sr) - y(hr.astype(np.float64) / 255))[4:-4, 4:-4]
    assert got == pytest.approx(10 * math.log10(255**2 / np.mean(diff**2)), abs=0.02)
