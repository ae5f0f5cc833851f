"""MATLAB-exact bicubic resize: `imresize(I, scale, 'bicubic')` with its default antialiasing.

The super-resolution literature (ESRGAN included) makes LR images with MATLAB, so the LR side of
every training pair and benchmark has to come from the same operator. What MATLAB does, per axis:

- output length `ceil(scale * in_length)`; output pixel x (1-based) samples the input at
  `u = x / scale + 0.5 * (1 - 1 / scale)` (pixel centres stay aligned);
- Keys' cubic kernel with a = -0.5 and width 4; when shrinking (scale < 1) with antialiasing the
  kernel is stretched, `h(x) = scale * cubic(scale * x)`, width `4 / scale`;
- taps `floor(u - width / 2) + 0 .. ceil(width) + 1`, weights normalised to sum 1 per output pixel,
  out-of-range taps mirrored (`padarray(..., 'symmetric')`: the edge pixel repeated), and tap
  columns whose weight is zero for every output pixel dropped;
- the two axes are resized one after the other, the axis with the smaller scale first. MATLAB's
  `sort` is stable, so with equal scales rows (H) go first, then columns (W). For float images the
  order changes nothing but rounding in the last bits; for integer images it matters because
  MATLAB stores the intermediate image in the input's class (rounded half away from zero and
  saturated after *each* axis), which this module reproduces.

Some older MATLAB releases (the 2013 `imresize.m`, for one) clamped out-of-range taps instead of
mirroring them; current releases and the common Python ports (BasicSR's among them) mirror. Only
the borders (about `2 / scale` pixels) differ.

Implementation: the weights of one axis form a banded (out, in) matrix, built once per
(in_length, out_length, scale, antialias) and cached. NumPy arrays are resized with BLAS matmuls
over small bands of that matrix (no transposes: the W axis uses `kron(band.T, I_C)` so the
interleaved channels of an HWC image stay in place). Torch tensors use two dense matmuls, which are
differentiable and fast on GPUs for training-sized crops; large CPU tensors that need no gradient
take the banded NumPy route instead. Non-finite pixels (NaN, inf) spread to the whole band they are
multiplied with, a little further than in MATLAB.
"""

from __future__ import annotations

import math
import sys
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from esrgan.errors import ESRGANError
from esrgan.memory import check_output_pixels

if TYPE_CHECKING:
    import torch

__all__ = [
    "bicubic_downscale",
    "bicubic_upscale",
    "contributions",
    "cubic",
    "imresize",
    "imresize_numpy",
    "imresize_torch",
    "mod_crop",
    "weight_matrix",
]

_KERNEL_WIDTH = 4.0
# Channels up to this count are resized interleaved (kron trick, cost grows with channels**2);
# more channels are resized one plane at a time.
_MAX_INTERLEAVED_CHANNELS = 4
# OpenBLAS runs a gemm on one thread when m*n*k is small (about 2**18 or less) and on all cores
# above. Hundreds of small multi-threaded calls stall badly when the cores are shared (other
# processes, DataLoader workers): measured on a busy 2-core machine, x1/4 of a 2K image took 1.3 s
# instead of 13 ms. So each band product is cut into pieces under this m*n*k.
_MAX_GEMM_VOLUME = 2**18

Scale = float | tuple[float, float]


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's `cubic`), zero outside |x| <= 2."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1.0)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1.0) & (ax <= 2.0))
    return inner + outer


@lru_cache(maxsize=256)
def contributions(
    in_length: int, out_length: int, scale: float, antialias: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's per-axis `contributions`: (indices, weights), both (out_length, taps).

    Indices are 0-based and already mirrored into [0, in_length); each weight row sums to 1.
    The arrays are cached and read-only.
    """
    if scale < 1 and antialias:
        width = _KERNEL_WIDTH / scale

        def kernel(t: np.ndarray) -> np.ndarray:
            return scale * cubic(scale * t)
    else:
        width = _KERNEL_WIDTH
        kernel = cubic
    # MATLAB's arithmetic, in its 1-based coordinates, so the floating-point steps match.
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = math.ceil(width) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # Symmetric extension with period 2n: [1..n, n..1] (MATLAB's `aux` table).
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    used = np.any(weights != 0, axis=0)
    indices, weights = np.ascontiguousarray(indices[:, used]), np.ascontiguousarray(weights[:, used])
    indices.flags.writeable = False
    weights.flags.writeable = False
    return indices, weights


@lru_cache(maxsize=64)
def weight_matrix(in_length: int, out_length: int, scale: float, antialias: bool = True) -> np.ndarray:
    """Dense (out_length, in_length) float64 matrix of one axis: `resized = M @ signal`. Cached, read-only."""
    indices, weights = contributions(in_length, out_length, scale, antialias)
    matrix = np.zeros((out_length, in_length), dtype=np.float64)
    rows = np.repeat(np.arange(out_length), indices.shape[1])
    # Mirrored taps can land on the same input pixel twice: accumulate, don't overwrite.
    np.add.at(matrix, (rows, indices.ravel()), weights.ravel())
    matrix.flags.writeable = False
    return matrix


def _is_pure_nearest(weights: np.ndarray) -> bool:
    """MATLAB's shortcut: one tap of weight 1 per output pixel (scale 1) is plain indexing."""
    return weights.shape[1] == 1 and bool(np.all(weights == 1))


# --------------------------------------------------------------------------------------------
# Sizes, scales and axis order


def _plan(
    in_hw: tuple[int, int], scale: Scale | None, output_size: tuple[int, int] | None
) -> tuple[tuple[int, int], tuple[float, float], tuple[int, ...]]:
    """Output size, per-axis scales and axis order, following MATLAB's `fixupSizeAndScale`."""
    scales: tuple[float, float] | None = None
    if scale is not None:
        pair = tuple(scale) if isinstance(scale, (tuple, list)) else (scale, scale)
        if len(pair) != 2:
            raise ESRGANError(f"imresize: scale must be a number or a (rows, cols) pair, got {scale!r}")
        try:
            scales = (float(pair[0]), float(pair[1]))
        except (TypeError, ValueError):
            raise ESRGANError(f"imresize: scale must be a positive number, got {scale!r}") from None
        if not all(math.isfinite(s) and s > 0 for s in scales):
            raise ESRGANError(f"imresize: scale must be a positive finite number, got {scale!r}")
    if output_size is not None:
        try:
            out_hw = (int(output_size[0]), int(output_size[1]))
            valid = len(output_size) == 2 and out_hw == tuple(output_size)
        except (TypeError, ValueError, IndexError):
            valid = False
        if not valid or min(out_hw) < 1:
            raise ESRGANError(f"imresize: output_size must be two positive integers, got {output_size!r}")
        if scales is None:
            scales = (out_hw[0] / in_hw[0], out_hw[1] / in_hw[1])
    elif scales is not None:
        out_hw = (math.ceil(scales[0] * in_hw[0]), math.ceil(scales[1] * in_hw[1]))
    else:
        raise ESRGANError("imresize: give a scale or an output_size")
    # Stable sort of the scales, as MATLAB's dimensionOrder: smaller scale first, rows on ties.
    order = tuple(sorted((0, 1), key=lambda axis: scales[axis]))
    return out_hw, scales, order


def _check_fits(in_hw: tuple[int, ...], plan: tuple, planes: int, itemsize: int, dense: bool = False) -> None:
    """Refuse, before allocating, a resize whose arrays would not fit in the RAM available.

    Counted: the intermediate and the output at the working precision (`itemsize` bytes) for all
    `planes`, and the per-axis weights (banded: `taps` per output sample; dense: out x in).
    """
    (out_h, out_w), scales, _ = plan
    out_px = out_h * out_w
    between = max(out_h * in_hw[1], in_hw[0] * out_w)
    taps = math.ceil(_KERNEL_WIDTH / min(1.0, *scales)) + 2
    weights = (out_h * in_hw[0] + out_w * in_hw[1]) if dense else (out_h + out_w) * taps * 2
    nbytes = (out_px + between) * planes * itemsize + weights * 8
    check_output_pixels(
        out_px,
        nbytes / max(out_px, 1),
        what=f"imresize: the resized image ({out_w}x{out_h}, {planes} plane(s))",
        hint="or resize in pieces",
    )


# --------------------------------------------------------------------------------------------
# NumPy path: banded BLAS matmuls


def _block_rows(scale: float, taps: int) -> int:
    """Output pixels per band block: input span about 2-3x the taps keeps the wasted zeros small."""
    return max(4, round(2 * taps * scale))


@lru_cache(maxsize=64)
def _row_bands(
    in_length: int, out_length: int, scale: float, antialias: bool, dtype: str
) -> tuple[tuple[int, int, int, int, np.ndarray], ...]:
    """Blocks (o0, o1, lo, hi, band) with `out[o0:o1] = band @ x[lo:hi]` along axis 0."""
    matrix = weight_matrix(in_length, out_length, scale, antialias)
    step = _block_rows(scale, contributions(in_length, out_length, scale, antialias)[0].shape[1])
    blocks = []
    for o0 in range(0, out_length, step):
        o1 = min(o0 + step, out_length)
        used = np.flatnonzero(np.any(matrix[o0:o1] != 0, axis=0))
        lo, hi = int(used[0]), int(used[-1]) + 1
        band = np.ascontiguousarray(matrix[o0:o1, lo:hi], dtype=dtype)
        band.flags.writeable = False
        blocks.append((o0, o1, lo, hi, band))
    return tuple(blocks)


@lru_cache(maxsize=64)
def _column_bands(
    in_length: int, out_length: int, scale: float, antialias: bool, channels: int, dtype: str
) -> tuple[tuple[int, int, int, int, np.ndarray], ...]:
    """Blocks for the W axis of an (H, W*C) array: `out[:, c0:c1] = x[:, k0:k1] @ kron(band.T, I_C)`."""
    blocks = []
    eye = np.eye(channels)
    for o0, o1, lo, hi, band in _row_bands(in_length, out_length, scale, antialias, "float64"):
        mixer = np.ascontiguousarray(np.kron(band.T, eye), dtype=dtype)
        mixer.flags.writeable = False
        blocks.append((o0 * channels, o1 * channels, lo * channels, hi * channels, mixer))
    return tuple(blocks)


def _resize_rows(x: np.ndarray, out_length: int, scale: float, antialias: bool) -> np.ndarray:
    """Resize axis 0 of a C-contiguous (H, W, C) float array."""
    h, w, c = x.shape
    indices, weights = contributions(h, out_length, scale, antialias)
    if _is_pure_nearest(weights):
        return x[indices[:, 0]]
    flat = x.reshape(h, w * c)
    out = np.empty((out_length, w * c), dtype=x.dtype)
    for o0, o1, lo, hi, band in _row_bands(h, out_length, scale, antialias, x.dtype.str):
        step = max(1, _MAX_GEMM_VOLUME // band.size)
        for k in range(0, w * c, step):
            np.matmul(band, flat[lo:hi, k : k + step], out=out[o0:o1, k : k + step])
    return out.reshape(out_length, w, c)


def _resize_columns(x: np.ndarray, out_length: int, scale: float, antialias: bool) -> np.ndarray:
    """Resize axis 1 of a C-contiguous (H, W, C) float array, channels kept interleaved."""
    h, w, c = x.shape
    indices, weights = contributions(w, out_length, scale, antialias)
    if _is_pure_nearest(weights):
        return np.ascontiguousarray(x[:, indices[:, 0]])
    flat = x.reshape(h, w * c)
    out = np.empty((h, out_length * c), dtype=x.dtype)
    for c0, c1, k0, k1, mixer in _column_bands(w, out_length, scale, antialias, c, x.dtype.str):
        step = max(1, _MAX_GEMM_VOLUME // mixer.size)
        for r in range(0, h, step):
            np.matmul(flat[r : r + step, k0:k1], mixer, out=out[r : r + step, c0:c1])
    return out.reshape(h, out_length, c)


def _round_saturate(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """In place: round half away from zero and clip to the integer type's range (MATLAB's cast)."""
    info = np.iinfo(dtype)
    np.clip(x, info.min, info.max, out=x)
    # MATLAB rounds half away from zero; numpy's round is half to even.
    if info.min == 0:
        x += 0.5
        return np.floor(x, out=x)
    return np.copysign(np.floor(np.abs(x) + 0.5), x, out=x)


def _resize_hwc(x: np.ndarray, plan: tuple, antialias: bool, integer_dtype: np.dtype | None) -> np.ndarray:
    (out_h, out_w), (scale_h, scale_w), order = plan
    for axis in order:
        if axis == 0:
            x = _resize_rows(x, out_h, scale_h, antialias)
        else:
            x = _resize_columns(x, out_w, scale_w, antialias)
        if integer_dtype is not None:
            # MATLAB keeps the intermediate image in the input's class.
            x = _round_saturate(x, integer_dtype)
    return x


def imresize_numpy(
    x: np.ndarray, scale: Scale | None, *, antialias: bool = True, output_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Resize an HWC or HW array like MATLAB's `imresize(x, scale, 'bicubic')`.

    float32/float64 stay in their dtype (float16 is computed in float32); integer arrays are computed
    in float64 and rounded half away from zero and saturated after each axis, as MATLAB does.
    """
    x = np.asarray(x)
    if x.ndim not in (2, 3):
        raise ESRGANError(f"imresize: expected an HW or HWC array, got shape {x.shape}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ESRGANError(f"imresize: cannot resize an empty image of shape {x.shape}")
    plan = _plan((x.shape[0], x.shape[1]), scale, output_size)
    dtype = x.dtype
    _check_fits(x.shape[:2], plan, 1 if x.ndim == 2 else x.shape[2], 8)
    if np.issubdtype(dtype, np.integer):
        integer_dtype, work = dtype, np.float64
    elif dtype in (np.float32, np.float64):
        integer_dtype, work = None, dtype
    elif dtype == np.float16:
        integer_dtype, work = None, np.float32
    else:
        raise ESRGANError(f"imresize: unsupported array dtype {dtype} (use integer or float images)")
    image = x if x.ndim == 3 else x[:, :, None]
    image = np.ascontiguousarray(image, dtype=work)
    if image.shape[2] <= _MAX_INTERLEAVED_CHANNELS:
        out = _resize_hwc(image, plan, antialias, integer_dtype)
    else:
        planes = [
            _resize_hwc(np.ascontiguousarray(image[:, :, k : k + 1]), plan, antialias, integer_dtype)
            for k in range(image.shape[2])
        ]
        out = np.concatenate(planes, axis=2)
    if x.ndim == 2:
        out = out[:, :, 0]
    return np.ascontiguousarray(out, dtype=dtype)


# --------------------------------------------------------------------------------------------
# Torch path: two dense matmuls (differentiable, any device)

# A dense matrix costs in_length multiply-adds per output sample instead of about 4 / scale. Large
# CPU tensors that need no gradient go through the banded NumPy code (x4 of a 2K RGB image on 2
# cores: dense 12.7 s, banded 0.3-0.6 s); training crops and GPU tensors stay dense.
_TORCH_DENSE_MAX_PIXELS = 256 * 256


@lru_cache(maxsize=64)
def _torch_matrix(
    in_length: int, out_length: int, scale: float, antialias: bool, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    import torch

    return torch.tensor(weight_matrix(in_length, out_length, scale, antialias), dtype=dtype, device=device)


def imresize_torch(
    x: torch.Tensor,
    scale: Scale | None,
    *,
    antialias: bool = True,
    output_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Resize the last two axes (H, W) of an NCHW, CHW or HW tensor like MATLAB's bicubic imresize.

    Floating tensors are computed in their own dtype and stay differentiable; integer tensors are
    computed in float64 (float32 where the device has no float64) and rounded half away from zero
    and saturated after each axis, as MATLAB does.
    """
    import torch

    if x.ndim not in (2, 3, 4):
        raise ESRGANError(f"imresize: expected an NCHW, CHW or HW tensor, got shape {tuple(x.shape)}")
    in_hw = (int(x.shape[-2]), int(x.shape[-1]))
    if min(in_hw) < 1:
        raise ESRGANError(f"imresize: cannot resize an empty tensor of shape {tuple(x.shape)}")
    plan = _plan(in_hw, scale, output_size)
    (out_h, out_w), (scale_h, scale_w), order = plan
    dtype = x.dtype
    if x.device.type == "cpu":  # other devices raise their own out-of-memory error
        _check_fits(in_hw, plan, x.numel() // (in_hw[0] * in_hw[1]), 8, dense=True)
    if (
        x.device.type == "cpu"
        and in_hw[0] * in_hw[1] > _TORCH_DENSE_MAX_PIXELS
        and not (x.requires_grad and torch.is_grad_enabled())
        and dtype not in (torch.bool, torch.bfloat16)
        and not dtype.is_complex
    ):
        planes = x.detach().reshape(-1, *in_hw).numpy()
        resized = [imresize_numpy(p, (scale_h, scale_w), output_size=(out_h, out_w)) for p in planes]
        return torch.from_numpy(np.stack(resized)).reshape(*x.shape[:-2], out_h, out_w)
    integer = not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool
    if integer:
        work = torch.float32 if x.device.type == "mps" else torch.float64
        info = torch.iinfo(dtype)
        y = x.to(work)
    elif dtype.is_floating_point:
        work, y = dtype, x
    else:
        raise ESRGANError(f"imresize: unsupported tensor dtype {dtype} (use integer or float images)")
    for axis in order:
        if axis == 0:
            y = torch.matmul(_torch_matrix(in_hw[0], out_h, scale_h, antialias, work, x.device), y)
        else:
            y = torch.matmul(y, _torch_matrix(in_hw[1], out_w, scale_w, antialias, work, x.device).T)
        if integer:
            y = y.clamp(info.min, info.max)
            y = torch.copysign(torch.floor(y.abs() + 0.5), y)
    return y.to(dtype) if integer else y


def imresize(
    x: np.ndarray | torch.Tensor,
    scale: Scale | None,
    *,
    antialias: bool = True,
    output_size: tuple[int, int] | None = None,
) -> np.ndarray | torch.Tensor:
    """MATLAB's `imresize(x, scale, 'bicubic')`: numpy HWC/HW arrays or torch NCHW/CHW/HW tensors.

    The output has `ceil(scale * size)` rows and columns, or `output_size` (rows, cols) if given; with
    only `output_size`, each axis uses scale `out / in` (MATLAB's rule; pass both to fix the scale).
    `antialias` widens the kernel when shrinking (MATLAB's default). The result has the input's type
    and dtype.
    """
    torch_module = sys.modules.get("torch")
    if torch_module is not None and isinstance(x, torch_module.Tensor):
        return imresize_torch(x, scale, antialias=antialias, output_size=output_size)
    if isinstance(x, np.ndarray):
        return imresize_numpy(x, scale, antialias=antialias, output_size=output_size)
    raise ESRGANError(f"imresize: expected a numpy array or a torch tensor, got {type(x).__name__}")


# --- the LR images of SR papers ----------------------------------------------------------------
# DIV2K's and every benchmark's LR side is MATLAB's imresize of the uint8 HR image, rounded in the
# integer class after each axis and saved as 8-bit PNG: so integer arrays go in, integers come out.


def mod_crop(array: np.ndarray, scale: int) -> np.ndarray:
    """Drop the last rows and columns so that height and width are multiples of `scale`."""
    h, w = array.shape[:2]
    return array[: h - h % scale, : w - w % scale]


def bicubic_downscale(array: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB `imresize(hr, 1/scale, 'bicubic')` of an integer HR array with sides multiple of `scale`."""
    h, w = array.shape[:2]
    if h % scale or w % scale:
        raise ESRGANError(f"image of {h}x{w} pixels is not a multiple of the scale {scale}")
    return imresize(array, 1.0 / scale, output_size=(h // scale, w // scale))


def bicubic_upscale(array: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB `imresize(lr, scale, 'bicubic')`: the bicubic baseline of SR papers, in the input's class."""
    h, w = array.shape[:2]
    return imresize(array, float(scale), output_size=(h * scale, w * scale))
