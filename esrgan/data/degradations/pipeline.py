"""The degradations on torch batches (B, 3, H, W) in [0, 1], on the batch's device.

- `realesrgan_degrade`: Real-ESRGAN's second-order model. Each sample draws *all* its random choices
  (kernels, resize factor and mode, noise, JPEG quality, final order) from its own seed. The
  released code draws the resize and the final order once per batch and then mixes batches through
  a 180-image "training pair pool" to get diversity back; drawing per sample gives that diversity
  directly, and leaves no pool to save in checkpoints.
- `TrainingDegradation`: what the trainer calls each iteration. The seed of sample i of iteration t
  on rank r is a pure function of (seed, n) with n = t * batch + r * batch / world + i, the sample's
  place in the global batch stream (as `esrgan.data.sampler`), so a run, its resumption and any
  number of DDP ranks degrade every sample identically.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from esrgan.data.degradations import kernels
from esrgan.data.degradations.config import (
    RESIZE_MODES,
    DegradationStage,
    GaussianDegradation,
    RealESRGANDegradation,
    degradation_name,
)
from esrgan.data.degradations.jpeg import jpeg_roundtrip_many
from esrgan.errors import ESRGANError
from esrgan.images.bicubic import bicubic_downscale, mod_crop
from esrgan.images.scaling import to_tensor

_DEGRADATION_STREAM = 2  # the sampler uses streams 0 (image order) and 1 (crops)
_GRAY = (0.2989, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale
USM_RADIUS = 51  # Real-ESRGAN's USMSharp(radius=50) rounds up to an odd size
# OpenCV's getGaussianKernel(51, sigma=0) derives sigma = 0.3 * ((ksize - 1) / 2 - 1) + 0.8 = 8.0.
USM_SIGMA = 0.3 * ((USM_RADIUS - 1) * 0.5 - 1) + 0.8


def degradation_seed(seed: int, n: int) -> int:
    """The 64-bit seed of sample `n` of the global stream (a pure function)."""
    state = np.random.SeedSequence([seed, _DEGRADATION_STREAM, n]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 32) | int(state[1])


# ---- filtering ------------------------------------------------------------------------------------


def _reflect_index(n: int, pad: int, device: torch.device) -> Tensor:
    """Indices of a reflect-padded axis ("dcb|abcd|cba"), valid for pads wider than the axis."""
    idx = torch.arange(-pad, n + pad, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = idx.remainder(period)
    return torch.where(idx < n, idx, period - idx)


def reflect_pad(x: Tensor, pad: int) -> Tensor:
    h, w = x.shape[-2:]
    if pad < h and pad < w:
        return F.pad(x, (pad, pad, pad, pad), mode="reflect")
    x = x.index_select(-2, _reflect_index(h, pad, x.device))
    return x.index_select(-1, _reflect_index(w, pad, x.device))


def filter2d(x: Tensor, kernel: Tensor) -> Tensor:
    """Filter each image of (B, C, H, W) with its own (B, k, k) kernel (or one (k, k)), reflect border.

    Through the FFT: the cost does not grow with the kernel (a 21 x 21 depthwise convolution is
    ~10x slower on CPU). The reflect padding is at least the kernel's reach, so the circular
    convolution of the padded image equals the linear one on the kept pixels.
    """
    h, w = x.shape[-2:]
    k = kernel.shape[-1]
    p = k // 2
    padded = reflect_pad(x, p)
    # Any FFT size >= the padded one gives the same kept pixels; 2^a 3^b 5^c sizes are the fast ones.
    size = (_fft_size(h + 2 * p), _fft_size(w + 2 * p))
    spectrum = torch.fft.rfft2(padded, s=size) * torch.fft.rfft2(
        kernel.to(x.device, x.dtype).reshape(-1, 1, k, k), s=size
    )
    # Output pixel (i, j) of the full convolution sits at (i + 2p, j + 2p) of the padded frame.
    return torch.fft.irfft2(spectrum, s=size)[..., 2 * p : 2 * p + h, 2 * p : 2 * p + w].contiguous()


@functools.lru_cache(maxsize=256)
def _fft_size(n: int) -> int:
    while True:
        m = n
        for factor in (2, 3, 5):
            while m % factor == 0:
                m //= factor
        if m == 1:
            return n
        n += 1


def usm_sharpen(x: Tensor, weight: float = 0.5, threshold: float = 10.0) -> Tensor:
    """Unsharp mask, Real-ESRGAN's USMSharp: x + weight * (x - blur(x)) where |x - blur(x)| * 255 >
    threshold, the mask softened by the same 51-tap Gaussian (sigma 8), the sharpened values clipped."""
    taps = torch.exp(
        -0.5 * ((torch.arange(USM_RADIUS, dtype=torch.float64) - USM_RADIUS // 2) / USM_SIGMA) ** 2
    )
    kernel = torch.outer(taps / taps.sum(), taps / taps.sum())
    residual = x - filter2d(x, kernel)
    mask = filter2d((residual.abs() * 255 > threshold).to(x.dtype), kernel)
    sharp = (x + weight * residual).clamp(0, 1)
    return mask * sharp + (1 - mask) * x


# ---- the Gaussian "BD" degradation ----------------------------------------------------------------


def gaussian_bd(x: Tensor, scale: int, cfg: GaussianDegradation) -> Tensor:
    """RDN's `imresize_BD` (Prepare_TestData_HR_LR.m): imfilter(HR, fspecial('gaussian', k, sigma),
    'replicate'), then the pixel at 0-based offset (scale - 1) // 2 of each scale x scale block.

    The script keeps `imresize(blurred, 1/scale, 'nearest')` at odd scales (offset (scale - 1) / 2)
    and `blurred(scale/2:scale:end-scale/2, ...)` at even ones (1-based scale / 2: offset 1 at x4).
    With its even kernel at even scales (centred half a pixel right and down of the pixel it
    filters, as imfilter centres even kernels) the kept sample sits at the block's centre either
    way. k is `cfg.size_at(scale)` (7 at x3, 12 at x4 for sigma 1.6). Rounded to 8 bits like a
    saved LR image.
    """
    size = cfg.size_at(scale)
    kernel = kernels.fspecial_gaussian(size, cfg.sigma).to(x.device, x.dtype)
    b, c, h, w = x.shape
    # imfilter's kernel centre is floor((k + 1) / 2), 1-based: (k - 1) // 2 pixels before, k // 2 after.
    before, after = (size - 1) // 2, size // 2
    padded = F.pad(x.reshape(b * c, 1, h, w), (before, after, before, after), mode="replicate")
    blurred = F.conv2d(padded, kernel.view(1, 1, size, size)).reshape(b, c, h, w)
    phase = (scale - 1) // 2
    return _quantise(blurred[..., phase::scale, phase::scale])


def _quantise(x: Tensor) -> Tensor:
    return (x * 255).round().clamp(0, 255) / 255


# ---- the Real-ESRGAN second-order degradation -----------------------------------------------------


@dataclass
class _Noise:
    gaussian: bool
    gray: bool
    amount: float  # sigma on the 0..255 scale (Gaussian) or scale factor (Poisson)


@dataclass
class _Round:
    kernel: Tensor | None  # None: no blur
    resize: float
    mode: str
    noise: _Noise
    quality: int


@dataclass
class _Plan:
    """Every random choice for one sample, drawn before any pixel is touched."""

    first: _Round
    second: _Round
    final_mode: str
    final_sinc: Tensor | None
    sinc_before_jpeg: bool
    noise_seed: int


def _draw_round(rng: np.random.Generator, stage: DegradationStage, sizes: tuple[int, ...]) -> _Round:
    kernel = kernels.random_blur_kernel(rng, stage, sizes) if rng.uniform() < stage.blur_prob else None
    probs = np.asarray(stage.resize_prob, dtype=np.float64)
    direction = int(rng.choice(3, p=probs / probs.sum()))  # up, down, keep
    low, high = stage.resize_range
    resize = float(rng.uniform(1.0, high)) if direction == 0 else float(rng.uniform(low, 1.0))
    if direction == 2:
        resize = 1.0
    mode = RESIZE_MODES[int(rng.integers(len(RESIZE_MODES)))]
    gaussian = bool(rng.uniform() < stage.gaussian_noise_prob)
    gray = bool(rng.uniform() < stage.gray_noise_prob)
    amount = float(rng.uniform(*(stage.noise_range if gaussian else stage.poisson_scale_range)))
    quality = int(rng.integers(stage.jpeg_range[0], stage.jpeg_range[1] + 1))
    return _Round(kernel, resize, mode, _Noise(gaussian, gray, amount), quality)


def draw_plan(seed: int, cfg: RealESRGANDegradation) -> _Plan:
    rng = np.random.default_rng(seed)
    first = _draw_round(rng, cfg.first, cfg.kernel_sizes)
    second = _draw_round(rng, cfg.second, cfg.kernel_sizes)
    final_mode = RESIZE_MODES[int(rng.integers(len(RESIZE_MODES)))]
    final_sinc = kernels.random_final_sinc(rng, cfg.final_sinc_prob, cfg.kernel_sizes)
    sinc_before_jpeg = bool(rng.uniform() < 0.5)
    return _Plan(first, second, final_mode, final_sinc, sinc_before_jpeg, int(rng.integers(2**63)))


def _resize(x: Tensor, size: tuple[int, int], mode: str, factor: float = 1.0) -> Tensor:
    size = (max(1, int(size[0] * factor)), max(1, int(size[1] * factor)))
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode=mode, align_corners=None if mode == "area" else False)


def add_noise(x: Tensor, noise: _Noise, generator: torch.Generator) -> Tensor:
    """Gaussian (sigma / 255) or Poisson noise, per channel or gray (one field for all channels); clipped."""
    b, c, h, w = x.shape
    if noise.gaussian:
        grain = torch.randn(
            (b, 1 if noise.gray else c, h, w), generator=generator, device=x.device, dtype=x.dtype
        )
        return (x + grain * (noise.amount / 255)).clamp(0, 1)
    source = x
    if noise.gray:
        weights = torch.tensor(_GRAY, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        source = (x * weights).sum(1, keepdim=True)
    source = _quantise(source.clamp(0, 1))
    # Photon counts: as many levels as the image uses, rounded up to a power of two (scikit-image's rule).
    used = int(torch.bincount((source * 255).round().long().flatten(), minlength=256).count_nonzero())
    levels = 2 ** math.ceil(math.log2(max(2, used)))
    counts = torch.poisson(source * levels, generator=generator)
    return (x + (counts / levels - source) * noise.amount).clamp(0, 1)


def _round_before_jpeg(x: Tensor, rnd: _Round, size: tuple[int, int], generator: torch.Generator) -> Tensor:
    if rnd.kernel is not None:
        x = filter2d(x, rnd.kernel)
    return add_noise(_resize(x, size, rnd.mode, rnd.resize), rnd.noise, generator)


def realesrgan_degrade(hr: Tensor, scale: int, cfg: RealESRGANDegradation, seeds: Sequence[int]) -> Tensor:
    """LR batch (B, 3, H/scale, W/scale), 8-bit values, from an HR batch; sample i uses `seeds[i]`."""
    plans = [draw_plan(s, cfg) for s in seeds]
    generators = [torch.Generator(device=hr.device).manual_seed(p.noise_seed) for p in plans]
    h, w = hr.shape[-2:]
    lr_size = (h // scale, w // scale)

    # Round 1. The first blur runs on the whole batch at once (every kernel is 21 x 21).
    pulse = kernels.pad_kernel(torch.ones(1, 1, dtype=torch.float64))  # no blur: the identity
    x = filter2d(hr, torch.stack([pulse if p.first.kernel is None else p.first.kernel for p in plans]))
    images = [
        add_noise(_resize(x[i : i + 1], (h, w), p.first.mode, p.first.resize), p.first.noise, g)
        for i, (p, g) in enumerate(zip(plans, generators, strict=True))
    ]
    images = _jpeg(images, [p.first.quality for p in plans])
    # Round 2, resized relative to the LR size.
    images = [
        _round_before_jpeg(x, p.second, lr_size, g) for x, p, g in zip(images, plans, generators, strict=True)
    ]
    # Final: [resize to the LR size + sinc] and JPEG, in the order each sample drew.
    images = [_final(x, p, lr_size) if p.sinc_before_jpeg else x for x, p in zip(images, plans, strict=True)]
    images = _jpeg(images, [p.second.quality for p in plans])
    images = [x if p.sinc_before_jpeg else _final(x, p, lr_size) for x, p in zip(images, plans, strict=True)]
    return _quantise(torch.cat(images))


def _final(x: Tensor, plan: _Plan, size: tuple[int, int]) -> Tensor:
    x = _resize(x, size, plan.final_mode)
    return filter2d(x, plan.final_sinc) if plan.final_sinc is not None else x


def _jpeg(images: list[Tensor], qualities: list[int]) -> list[Tensor]:
    out = jpeg_roundtrip_many([x[0] for x in images], qualities)
    return [x.unsqueeze(0) for x in out]


# ---- what the trainer calls -----------------------------------------------------------------------


@dataclass
class TrainingDegradation:
    """Per-iteration (LR input, loss target, discriminator's real image) from a training batch.

    - `bicubic`: the LR from the dataset (MATLAB bicubic or the LR files), unchanged.
    - `bd` (older name `gaussian`) / `realesrgan`: the LR made here from the HR crop (from its
      sharpened copy when `usm_sharpen_gt`, as Real-ESRGAN degrades its sharpened ground truth).
    - `usm_sharpen_gt`: the pixel and perceptual losses aim at the sharpened HR; the discriminator's
      real images stay unsharpened (Real-ESRGAN's l1_gt_usm / percep_gt_usm true, gan_gt_usm false).
    """

    kind: str
    scale: int
    seed: int
    batch_size: int  # the global batch (all ranks together)
    _: KW_ONLY
    gaussian: GaussianDegradation = field(default_factory=GaussianDegradation)
    realesrgan: RealESRGANDegradation = field(default_factory=RealESRGANDegradation)
    usm_sharpen_gt: bool = False
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        self.kind = degradation_name(self.kind)

    @classmethod
    def from_data_config(cls, data: Any, scale: int, seed: int, *, rank: int = 0, world_size: int = 1):
        """From the training config's `data` section; None when the batch is used as it comes."""
        if data.degradation == "bicubic" and not data.usm_sharpen_gt:
            return None
        sections = {k: getattr(data, k) for k in ("gaussian", "realesrgan", "usm_sharpen_gt")}
        return cls(
            data.degradation, scale, seed, data.batch_size, **sections, rank=rank, world_size=world_size
        )

    def seeds(self, iteration: int, count: int) -> list[int]:
        first = iteration * self.batch_size + self.rank * (self.batch_size // self.world_size)
        return [degradation_seed(self.seed, n) for n in range(first, first + count)]

    @torch.no_grad()
    def __call__(self, lr: Tensor, hr: Tensor, iteration: int) -> tuple[Tensor, Tensor, Tensor]:
        target = usm_sharpen(hr) if self.usm_sharpen_gt else hr
        if self.kind == "bd":
            lr = gaussian_bd(target, self.scale, self.gaussian)
        elif self.kind == "realesrgan":
            lr = realesrgan_degrade(target, self.scale, self.realesrgan, self.seeds(iteration, hr.shape[0]))
        return lr, target, hr


# ---- one image (esrgan degrade) -------------------------------------------------------------------


def degrade_image(
    image: np.ndarray,
    kind: str,
    scale: int,
    seed: int,
    *,
    device: torch.device | str = "cpu",
    gaussian: GaussianDegradation | None = None,
    realesrgan: RealESRGANDegradation | None = None,
) -> np.ndarray:
    """LR copy of an (H, W, 3) uint8/uint16 image, mod-cropped to `scale`: uint8 for `bd` and
    `realesrgan` (8-bit by construction), the input's type for `bicubic` (MATLAB's imresize)."""
    kind = degradation_name(kind)
    image = mod_crop(image, scale)
    if min(image.shape[:2]) < scale:
        raise ESRGANError(f"image of {image.shape[1]}x{image.shape[0]} is smaller than the scale {scale}")
    if kind == "bicubic":
        return bicubic_downscale(image, scale)
    hr = to_tensor(image).unsqueeze(0).to(device)
    if kind == "bd":
        lr = gaussian_bd(hr, scale, gaussian or GaussianDegradation())
    else:
        lr = realesrgan_degrade(hr, scale, realesrgan or RealESRGANDegradation(), [seed])
    return (lr[0] * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
