"""MATLAB bicubic imresize against a slow per-pixel evaluation of MATLAB's formula and hand-derived values.

The reference below is written independently of esrgan/images/bicubic.py: it walks every output
pixel, computes its 0-based source coordinate, loops over every input pixel inside the kernel's
support, reflects out-of-range positions one bounce at a time and normalises by the weight sum.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from esrgan import ESRGANError, imresize
from esrgan.images import bicubic


def keys_cubic(t: float) -> float:
    """Keys (1981) cubic convolution kernel, a = -0.5."""
    t = abs(t)
    if t <= 1:
        return 1.5 * t**3 - 2.5 * t**2 + 1
    if t <= 2:
        return -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
    return 0.0


def reflect(k: int, n: int) -> int:
    """Symmetric padding (edge pixel repeated): -1 -> 0, -2 -> 1, n -> n - 1, ..."""
    while k < 0 or k >= n:
        k = -k - 1 if k < 0 else 2 * n - 1 - k
    return k


def resize_axis0_reference(
    signal: np.ndarray, out_len: int, scale: float, antialias: bool = True
) -> np.ndarray:
    """Resize axis 0 of a float64 array, one output pixel and one tap at a time."""
    n = signal.shape[0]
    stretch = scale if (scale < 1 and antialias) else 1.0
    support = 2.0 / stretch
    out = np.zeros((out_len, *signal.shape[1:]))
    for i in range(out_len):
        centre = (i + 0.5) / scale - 0.5  # pixel centres aligned, 0-based
        acc = np.zeros(signal.shape[1:])
        total = 0.0
        for k in range(math.floor(centre - support), math.ceil(centre + support) + 1):
            w = stretch * keys_cubic(stretch * (centre - k))
            acc = acc + w * signal[reflect(k, n)]
            total += w
        out[i] = acc / total
    return out


def round_saturate_uint8(x: np.ndarray) -> np.ndarray:
    """MATLAB's conversion of a double to uint8: saturate, round half away from zero."""
    return np.floor(np.clip(x, 0, 255) + 0.5)


def imresize_reference(
    img: np.ndarray, out_hw: tuple[int, int], scales: tuple[float, float], antialias: bool = True
) -> np.ndarray:
    """2-D resize (HW or HWC), axis with the smaller scale first; integer images rounded after each axis."""
    as_uint8 = img.dtype == np.uint8
    x = img.astype(np.float64)
    order = [0, 1] if scales[0] <= scales[1] else [1, 0]
    for axis in order:
        x = np.moveaxis(
            resize_axis0_reference(np.moveaxis(x, axis, 0), out_hw[axis], scales[axis], antialias), 0, axis
        )
        if as_uint8:
            x = round_saturate_uint8(x)
    return x.astype(np.uint8) if as_uint8 else x


def to_nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


SCALES = [1 / 2, 1 / 3, 1 / 4, 2, 4]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(params=["dense", "banded"])
def torch_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a torch test through the dense matmuls and through the banded route for large CPU tensors."""
    monkeypatch.setattr(bicubic, "_TORCH_DENSE_MAX_PIXELS", 10**9 if request.param == "dense" else 0)
    return request.param


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("shape", [(17, 23, 3), (17, 23)])
def test_numpy_matches_reference(scale: float, shape: tuple[int, ...], rng: np.random.Generator) -> None:
    img = rng.random(shape)
    out_hw = (math.ceil(17 * scale), math.ceil(23 * scale))
    expected = imresize_reference(img, out_hw, (scale, scale))
    got = imresize(img, scale)
    assert got.shape == expected.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", SCALES)
def test_torch_matches_reference(scale: float, rng: np.random.Generator, torch_mode: str) -> None:
    img = rng.random((17, 23, 3))
    out_hw = (math.ceil(17 * scale), math.ceil(23 * scale))
    expected = imresize_reference(img, out_hw, (scale, scale))
    batch = torch.cat([to_nchw(img), to_nchw(1 - img)])
    got = imresize(batch, scale)
    assert got.shape == (2, 3, *out_hw) and got.dtype == torch.float64
    np.testing.assert_allclose(got[0].numpy().transpose(1, 2, 0), expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got[1].numpy().transpose(1, 2, 0), 1 - expected, rtol=0, atol=1e-10)
    # CHW and HW inputs resize their last two axes.
    chw = imresize(batch[0], scale)
    np.testing.assert_allclose(chw.numpy().transpose(1, 2, 0), expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(imresize(batch[0, 1], scale).numpy(), expected[..., 1], rtol=0, atol=1e-10)


def test_kernel_wider_than_image_mirrors_repeatedly(rng: np.random.Generator) -> None:
    # x1/4 has a 16-pixel kernel: on a 3x2 image taps bounce off both edges several times.
    img = rng.random((3, 2, 3))
    np.testing.assert_allclose(imresize(img, 0.25), imresize_reference(img, (1, 1), (0.25, 0.25)), atol=1e-12)
    img = rng.random((1, 9))
    np.testing.assert_allclose(imresize(img, 0.5), imresize_reference(img, (1, 5), (0.5, 0.5)), atol=1e-12)


def test_per_axis_scales_and_output_size(rng: np.random.Generator) -> None:
    img = rng.random((17, 23, 3))
    # Only the size given: each axis gets scale out / in (MATLAB's rule).
    expected = imresize_reference(img, (30, 9), (30 / 17, 9 / 23))
    np.testing.assert_allclose(imresize(img, None, output_size=(30, 9)), expected, atol=1e-12)
    got = imresize(to_nchw(img), None, output_size=(30, 9))[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(got, expected, atol=1e-10)
    # Scale and size both given: the size is used as is, the scale sets the coordinate map.
    expected = imresize_reference(img, (5, 6), (0.25, 0.25))
    np.testing.assert_allclose(imresize(img, 0.25, output_size=(5, 6)), expected, atol=1e-12)
    # A (rows, cols) scale pair.
    expected = imresize_reference(img, (9, 92), (0.5, 4.0))
    np.testing.assert_allclose(imresize(img, (0.5, 4.0)), expected, atol=1e-12)


def test_output_size_is_ceil_of_scaled_size() -> None:
    assert imresize(np.zeros((17, 23)), 1 / 3).shape == (6, 8)
    assert imresize(np.zeros((2040 // 4 * 4 + 1, 10)), 0.25).shape == (511, 3)
    assert imresize(torch.zeros(1, 3, 17, 23), 1 / 4).shape == (1, 3, 5, 6)


def test_no_antialias_keeps_the_narrow_kernel(rng: np.random.Generator) -> None:
    img = rng.random((17, 23))
    expected = imresize_reference(img, (5, 6), (0.25, 0.25), antialias=False)
    np.testing.assert_allclose(imresize(img, 0.25, antialias=False), expected, atol=1e-12)
    got = imresize(torch.from_numpy(img), 0.25, antialias=False).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-10)
    assert np.abs(imresize(img, 0.25) - expected).max() > 1e-3  # the flag does something


@pytest.mark.parametrize("scale", [1 / 4, 2])
def test_uint8_rounds_after_each_axis_like_matlab(
    scale: float, rng: np.random.Generator, torch_mode: str
) -> None:
    img = rng.integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    # High-contrast stripes make the bicubic overshoot, so saturation is exercised too.
    img[::3] = 255
    img[1::3] = 0
    out_hw = (math.ceil(17 * scale), math.ceil(23 * scale))
    expected = imresize_reference(img, out_hw, (scale, scale))
    got = imresize(img, scale)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    got_torch = imresize(to_nchw(img), scale)
    assert got_torch.dtype == torch.uint8
    np.testing.assert_array_equal(got_torch[0].numpy().transpose(1, 2, 0), expected)


def test_uint8_axis_order_follows_the_smaller_scale(rng: np.random.Generator) -> None:
    img = rng.integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    # W has the smaller scale here, so MATLAB resizes columns first.
    expected = imresize_reference(img, (30, 9), (30 / 17, 9 / 23))
    np.testing.assert_array_equal(imresize(img, None, output_size=(30, 9)), expected)
    # The other order gives a different uint8 image: the test can tell them apart.
    rows_first = img.astype(np.float64)
    rows_first = round_saturate_uint8(resize_axis0_reference(rows_first, 30, 30 / 17))
    rows_first = round_saturate_uint8(
        np.moveaxis(resize_axis0_reference(np.moveaxis(rows_first, 1, 0), 9, 9 / 23), 0, 1)
    )
    assert np.any(rows_first != expected)


def test_uint16_and_float_dtypes_are_preserved(rng: np.random.Generator) -> None:
    img = rng.random((17, 23, 3))
    expected = imresize_reference(img, (9, 12), (0.5, 0.5))
    got32 = imresize(img.astype(np.float32), 0.5)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, expected, atol=1e-5)
    got16 = imresize(img.astype(np.float16), 0.5)
    assert got16.dtype == np.float16
    np.testing.assert_allclose(got16, expected, atol=2e-3)
    wide = (img * 65535).round().astype(np.uint16)
    got = imresize(wide, 0.5)
    assert got.dtype == np.uint16
    ref = imresize_reference(wide.astype(np.float64), (9, 12), (0.5, 0.5))  # float, no intermediate rounding
    assert np.abs(got.astype(np.float64) - ref).max() <= 1.5
    t32 = imresize(to_nchw(img).float(), 0.5)
    assert t32.dtype == torch.float32
    np.testing.assert_allclose(t32[0].numpy().transpose(1, 2, 0), expected, atol=1e-5)


def test_many_channels_match_reference(rng: np.random.Generator) -> None:
    img = rng.random((11, 13, 6))
    np.testing.assert_allclose(imresize(img, 0.5), imresize_reference(img, (6, 7), (0.5, 0.5)), atol=1e-12)


# Hand-derived MATLAB values. x2 interior phase at offsets 1.75, 0.75, 0.25, 1.25 from the sample:
# cubic = -0.0234375, 0.2265625, 0.8671875, -0.0703125 (they sum to 1).
X2_PHASE = [-0.0234375, 0.2265625, 0.8671875, -0.0703125]


def test_upscale_x2_impulse_gives_keys_weights() -> None:
    signal = np.zeros((1, 12))
    signal[0, 6] = 1.0
    out = imresize(signal, (1.0, 2.0))[0]
    # Output j (0-based) samples centre (j + 0.5) / 2 - 0.5: outputs 10..15 see pixel 6 at
    # distances 1.75, 1.25, 0.75, 0.25, 0.25, 0.75, 1.25, 1.75 (outputs 9..16).
    expected = [
        X2_PHASE[0],
        X2_PHASE[3],
        X2_PHASE[1],
        X2_PHASE[2],
        X2_PHASE[2],
        X2_PHASE[1],
        X2_PHASE[3],
        X2_PHASE[0],
    ]
    np.testing.assert_allclose(out[9:17], expected, atol=1e-15)
    assert np.all(out[:9] == 0) and np.all(out[17:] == 0)


def test_downscale_half_impulse_gives_stretched_weights() -> None:
    # Antialiased x1/2: h(x) = 0.5 * cubic(x / 2) at half-integer offsets 0.5, 1.5, 2.5, 3.5.
    signal = np.zeros((1, 24))
    signal[0, 12] = 1.0
    out = imresize(signal, (1.0, 0.5))[0]
    half = [0.4335937500, 0.1132812500, -0.0351562500, -0.0117187500]
    # Pixel 12 is 0.5 from output 6's centre (12.5) and 1.5 from output 5's (10.5), and so on.
    np.testing.assert_allclose(out[4:8], [half[3], half[1], half[0], half[2]], atol=1e-15)


def test_border_is_mirrored_not_clamped() -> None:
    # First x2 output: taps at 0-based -2, -1, 0, 1 with the x2 weights; -2 -> 1 and -1 -> 0 by
    # symmetric padding, so out[0] = (0.2265625 + 0.8671875) f0 + (-0.0234375 - 0.0703125) f1.
    out = imresize(np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]), (1.0, 2.0))[0]
    assert out[0] == pytest.approx(1.09375, abs=1e-15)  # clamping would give 1.0703125


def test_constant_stays_constant_and_ramp_stays_linear() -> None:
    for scale in SCALES:
        out = imresize(np.full((17, 23, 3), 0.3), scale)
        np.testing.assert_allclose(out, 0.3, atol=1e-14)
    # The cubic (a = -0.5) reproduces linear signals, and the antialiased weights are symmetric
    # about the source centre for these scales: away from the borders, a ramp stays a ramp.
    ramp = np.tile(np.arange(64, dtype=np.float64), (3, 1))
    for scale in SCALES:
        out = imresize(ramp, (1.0, scale))[0]
        centres = (np.arange(out.size) + 0.5) / scale - 0.5
        interior = (centres > 2 / min(scale, 1) + 1) & (centres < 63 - 2 / min(scale, 1) - 1)
        assert interior.sum() > 3
        np.testing.assert_allclose(out[interior], centres[interior], atol=1e-12)


def test_gradient_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.rand(1, 1, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: imresize(t, 0.5), (x,))
    assert torch.autograd.gradcheck(lambda t: imresize(t, 2.0), (x,))
    # A large tensor that needs a gradient keeps the differentiable dense path.
    monkeypatch.setattr(bicubic, "_TORCH_DENSE_MAX_PIXELS", 0)
    assert imresize(x, 0.5).requires_grad
    with torch.no_grad():
        assert not imresize(x, 0.5).requires_grad


def test_close_to_pillow_bicubic_on_a_photo() -> None:
    data = pytest.importorskip("skimage.data")
    image_module = pytest.importorskip("PIL.Image")
    photo = data.astronaut()  # 512x512 RGB uint8
    ours = imresize(photo, 0.25).astype(int)
    pil = np.asarray(image_module.fromarray(photo).resize((128, 128), image_module.BICUBIC)).astype(int)
    diff = np.abs(ours - pil)
    # Measured: 85.3% equal, 99.4% within 1 level, 99.7% within 2, mean 0.16 levels; away from
    # the border 99.85% within 1. Pillow truncates the kernel at the border where MATLAB mirrors,
    # and resizes (and rounds, and clips) columns first, so overshooting edges differ a little.
    assert (diff == 0).mean() >= 0.8
    assert (diff <= 2).mean() >= 0.99
    assert (diff[9:-9, 9:-9] <= 1).mean() >= 0.995
    assert diff.mean() < 0.25


@pytest.mark.parametrize(
    ("x", "kwargs"),
    [
        (np.zeros((4, 4)), {"scale": 0}),
        (np.zeros((4, 4)), {"scale": float("nan")}),
        (np.zeros((4, 4)), {"scale": None}),
        (np.zeros((4, 4)), {"scale": None, "output_size": (0, 3)}),
        (np.zeros((4, 4)), {"scale": (0.5, 0.5, 0.5)}),
        (np.zeros(4), {"scale": 0.5}),
        (np.zeros((4, 4), dtype=bool), {"scale": 0.5}),
        (torch.zeros(1, 1, 1, 4, 4), {"scale": 0.5}),
        ([[0.0, 1.0]], {"scale": 0.5}),
    ],
)
def test_bad_input_raises(x: object, kwargs: dict) -> None:
    with pytest.raises(ESRGANError):
        imresize(x, **kwargs)
