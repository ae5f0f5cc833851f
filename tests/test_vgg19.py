"""VGG19 feature network: torchvision's layout, weight loading, and failing loudly without weights."""

from __future__ import annotations

import logging
import math
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from esrgan.errors import ESRGANError
from esrgan.losses.vgg19 import (
    VGG19_LAYER_NAMES,
    VGG19FeatureExtractor,
    build_vgg19_features,
    load_vgg19_weights,
    vgg19_layer_index,
)

# torchvision's vgg19().features, written out by hand: conv index -> (in, out) channels.
CONV_LAYERS = {
    "conv1_1": (0, 3, 64),
    "conv1_2": (2, 64, 64),
    "conv2_1": (5, 64, 128),
    "conv2_2": (7, 128, 128),
    "conv3_1": (10, 128, 256),
    "conv3_2": (12, 256, 256),
    "conv3_3": (14, 256, 256),
    "conv3_4": (16, 256, 256),
    "conv4_1": (19, 256, 512),
    "conv4_2": (21, 512, 512),
    "conv4_3": (23, 512, 512),
    "conv4_4": (25, 512, 512),
    "conv5_1": (28, 512, 512),
    "conv5_2": (30, 512, 512),
    "conv5_3": (32, 512, 512),
    "conv5_4": (34, 512, 512),
}
POOL_LAYERS = {"pool1": 4, "pool2": 9, "pool3": 18, "pool4": 27, "pool5": 36}
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def torchvision_style_state(conv_names: list[str], seed: int = 1) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name in conv_names:
        index, cin, cout = CONV_LAYERS[name]
        std = math.sqrt(2 / (9 * cin))
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen) * std
        state[f"features.{index}.bias"] = torch.randn(cout, generator=gen) * 0.1
    return state


@pytest.fixture(scope="module")
def full_weights_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, torch.Tensor]]:
    state = torchvision_style_state(list(CONV_LAYERS))
    # Classifier keys of any shape must be ignored.
    state["classifier.0.weight"] = torch.randn(8, 4)
    state["classifier.6.bias"] = torch.randn(5)
    path = str(tmp_path_factory.mktemp("vgg") / "vgg19-test.pth")
    torch.save(state, path)
    return path, state


@pytest.fixture
def offline_empty_hub(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("ESRGAN_OFFLINE", "1")
    return str(tmp_path / "torch_home" / "hub" / "checkpoints")


def test_layer_names_and_indices_match_torchvision() -> None:
    assert len(VGG19_LAYER_NAMES) == 37
    for name, (index, _, _) in CONV_LAYERS.items():
        assert vgg19_layer_index(name) == index
        assert vgg19_layer_index(name.replace("conv", "relu")) == index + 1
    for name, index in POOL_LAYERS.items():
        assert vgg19_layer_index(name) == index

    features = build_vgg19_features("pool5")
    assert len(features) == 37
    for index, cin, cout in CONV_LAYERS.values():
        conv = features[index]
        assert isinstance(conv, nn.Conv2d)
        assert (conv.in_channels, conv.out_channels) == (cin, cout)
        assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.bias is not None
        relu = features[index + 1]
        assert isinstance(relu, nn.ReLU) and not relu.inplace
    for index in POOL_LAYERS.values():
        pool = features[index]
        assert isinstance(pool, nn.MaxPool2d) and pool.kernel_size == 2 and pool.stride == 2


def test_unknown_layer_name_is_a_user_error() -> None:
    with pytest.raises(ESRGANError, match="conv6_1"):
        vgg19_layer_index("conv6_1")


def test_only_layers_up_to_the_deepest_requested_are_built() -> None:
    extractor = VGG19FeatureExtractor(["relu2_2", "conv1_1"], random_init=True)
    assert len(extractor.features) == 9  # indices 0..8, relu2_2 is 8
    assert set(extractor(torch.rand(1, 3, 8, 8))) == {"relu2_2", "conv1_1"}


def test_torchvision_state_dict_loads_and_matches_functional_forward(full_weights_file) -> None:
    path, state = full_weights_file
    extractor = VGG19FeatureExtractor(["conv1_1", "relu1_2", "pool1", "conv2_1"], weights_path=path)
    assert extractor.is_random is False and extractor.weights_source == path
    for key, value in extractor.features.state_dict().items():
        assert torch.equal(value, state[f"features.{key}"])

    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    got = extractor(x)

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    h = (x - mean) / std
    conv1_1 = F.conv2d(h, state["features.0.weight"], state["features.0.bias"], padding=1)
    relu1_2 = F.relu(
        F.conv2d(F.relu(conv1_1), state["features.2.weight"], state["features.2.bias"], padding=1)
    )
    pool1 = F.max_pool2d(relu1_2, 2)
    conv2_1 = F.conv2d(pool1, state["features.5.weight"], state["features.5.bias"], padding=1)

    # conv1_1 must be the pre-activation output (catches an in-place ReLU overwriting it).
    assert (got["conv1_1"] < 0).any()
    for name, expected in [
        ("conv1_1", conv1_1),
        ("relu1_2", relu1_2),
        ("pool1", pool1),
        ("conv2_1", conv2_1),
    ]:
        torch.testing.assert_close(got[name], expected, rtol=1e-5, atol=1e-5)
    assert got["pool1"].shape == (2, 64, 8, 8)


def test_normalize_false_feeds_the_input_unchanged(full_weights_file) -> None:
    path, state = full_weights_file
    extractor = VGG19FeatureExtractor(["conv1_1"], weights_path=path, normalize=False)
    x = torch.rand(1, 3, 8, 8)
    expected = F.conv2d(x, state["features.0.weight"], state["features.0.bias"], padding=1)
    torch.testing.assert_close(extractor(x)["conv1_1"], expected, rtol=1e-5, atol=1e-5)


def test_weights_are_found_in_the_torch_hub_cache(full_weights_file, offline_empty_hub) -> None:
    path, state = full_weights_file
    os.makedirs(offline_empty_hub)
    cached = os.path.join(offline_empty_hub, "vgg19-dcbb9e9d.pth")
    os.symlink(path, cached)
    loaded = load_vgg19_weights(None)
    assert set(loaded) == {k for k in state if k.startswith("features.")}
    assert loaded["features.34.weight"].shape == (512, 512, 3, 3)
    assert VGG19FeatureExtractor(["relu1_1"]).weights_source == cached


def test_missing_weights_offline_names_the_file_and_directory(offline_empty_hub) -> None:
    with pytest.raises(ESRGANError) as info:
        load_vgg19_weights(None)
    message = str(info.value)
    assert "vgg19-dcbb9e9d.pth" in message and offline_empty_hub in message
    # No silent fallback to random weights when building the network either.
    with pytest.raises(ESRGANError, match="vgg19-dcbb9e9d.pth"):
        VGG19FeatureExtractor(["conv5_4"])


def test_allow_download_false_fails_fast_without_the_environment_variable(
    offline_empty_hub, monkeypatch
) -> None:
    monkeypatch.delenv("ESRGAN_OFFLINE")
    with pytest.raises(ESRGANError) as info:
        load_vgg19_weights(None, allow_download=False)
    assert "vgg19-dcbb9e9d.pth" in str(info.value) and offline_empty_hub in str(info.value)


def test_explicit_missing_path_does_not_fall_back(full_weights_file, offline_empty_hub, tmp_path) -> None:
    os.makedirs(offline_empty_hub)
    os.symlink(full_weights_file[0], os.path.join(offline_empty_hub, "vgg19-dcbb9e9d.pth"))
    missing = str(tmp_path / "minc_vgg19.pth")
    with pytest.raises(ESRGANError, match="minc_vgg19.pth"):
        load_vgg19_weights(missing)


def test_wrapped_and_partial_state_dicts(tmp_path) -> None:
    state = torchvision_style_state(["conv1_1", "conv1_2"])
    path = str(tmp_path / "wrapped.pth")
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    extractor = VGG19FeatureExtractor(["relu1_2"], weights_path=path)
    assert torch.equal(extractor.features[2].weight, state["features.2.weight"])
    with pytest.raises(ESRGANError, match=r"features\.5\.weight"):
        VGG19FeatureExtractor(["conv2_1"], weights_path=path)


class _NotATensor:
    pass


@pytest.mark.parametrize(
    "content",
    [
        {"features.17.weight": torch.zeros(512, 256, 3, 3)},  # VGG16 layout
        {"features.0.weight": torch.zeros(64, 3, 5, 5)},  # wrong shape
        {"conv_first.weight": torch.zeros(64, 3, 3, 3)},  # not a VGG at all
        [torch.zeros(1)],  # not a dict
        {"features.0.weight": _NotATensor()},  # weights_only=True refuses arbitrary objects
    ],
)
def test_bad_weight_files_are_user_errors(tmp_path, content) -> None:
    path = str(tmp_path / "bad.pth")
    torch.save(content, path)
    with pytest.raises(ESRGANError, match="bad.pth"):
        load_vgg19_weights(path)


def test_corrupt_file_is_a_user_error(tmp_path) -> None:
    path = tmp_path / "corrupt.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(ESRGANError, match="corrupt.pth"):
        load_vgg19_weights(str(path))


def test_random_init_is_seeded_kaiming_flagged_and_warned(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="esrgan.losses.vgg19"):
        a = VGG19FeatureExtractor(["conv5_4"], random_init=True, seed=3)
    assert a.is_random is True
    assert "not a real perceptual loss" in caplog.text.lower()
    b = VGG19FeatureExtractor(["conv5_4"], random_init=True, seed=3)
    c = VGG19FeatureExtractor(["conv1_1"], random_init=True, seed=4)
    assert torch.equal(a.features[34].weight, b.features[34].weight)
    assert not torch.equal(a.features[0].weight, c.features[0].weight)
    # Kaiming normal, fan_out, ReLU gain: std = sqrt(2 / (out_channels * 9)).
    assert a.features[34].weight.std().item() == pytest.approx(math.sqrt(2 / (512 * 9)), rel=0.02)
    assert a.features[5].weight.std().item() == pytest.approx(math.sqrt(2 / (128 * 9)), rel=0.02)  # conv2_1
    assert a.features[34].bias.abs().max().item() == 0.0
    with pytest.raises(ESRGANError):
        VGG19FeatureExtractor(["conv1_1"], random_init=True, weights_path="x.pth")


def test_stays_frozen_and_in_eval_mode_inside_a_training_parent() -> None:
    extractor = VGG19FeatureExtractor(["relu1_2"], random_init=True)
    parent = nn.Sequential(nn.Conv2d(3, 3, 1), extractor)
    parent.train()
    assert parent.training and parent[0].training
    assert not any(m.training for m in extractor.modules())
    assert not any(p.requires_grad for p in extractor.parameters())


def test_rejects_non_rgb_input() -> None:
    extractor = VGG19FeatureExtractor(["conv1_1"], random_init=True)
    with pytest.raises(ESRGANError, match="RGB"):
        extractor(torch.rand(1, 1, 8, 8))
