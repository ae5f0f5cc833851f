"""Fourier-amplitude loss: L1 between the amplitude spectra of output and target, window by window.

    L_F = weight * mean | g(|DFT(w_sr)|) - g(|DFT(w_hr)|) |    over non-overlapping `window` x `window`
                                                                squares w of each channel, orthonormal DFT
    g(a) = a, or log(1 + c a) / c with `log_scale` c > 0

An L1 loss on pixels is minimised by the conditional median, so texture the network cannot place
exactly is averaged away and the output is too smooth. The amplitude spectrum ignores where in the
window a frequency's energy sits (its phase), so this term asks for the target's high-frequency
energy without asking for its exact position: a perceptual signal that needs no pretrained network
(Fuoli, Van Gool and Timofte, "Fourier Space Losses for Efficient Perceptual Image Super-Resolution",
ICCV 2021, make the same argument). Small windows keep the energy local: a 32 px window cannot pay
for flat sky by adding texture to a meadow in another part of the crop. With the orthonormal DFT the
amplitudes are on the pixels' scale (white noise of std s has amplitude about s at every frequency).
The log compresses the few large low-frequency amplitudes, which L1 on pixels already matches, so
the small high-frequency ones, the texture, weigh more (about a ratio for a >> 1/c, a difference
below); g'(0) = 1 keeps the weight's scale. The window must divide the crop; the rest of an odd-sized
image is ignored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from esrgan.errors import ESRGANError


def window_amplitudes(x: torch.Tensor, window: int) -> torch.Tensor:
    """|rfft2| of each non-overlapping window of NCHW x: N, C, H/window, W/window, window, window//2+1."""
    if x.shape[-1] < window or x.shape[-2] < window:
        raise ESRGANError(f"Fourier loss window {window} is larger than the image {tuple(x.shape[-2:])}")
    squares = x.unfold(2, window, window).unfold(3, window, window)
    return torch.fft.rfft2(squares, norm="ortho").abs()


class FourierLoss(nn.Module):
    def __init__(self, window: int = 32, weight: float = 1.0, log_scale: float = 0.0) -> None:
        super().__init__()
        self.window = int(window)
        self.weight = float(weight)
        self.log_scale = float(log_scale)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        spectra = window_amplitudes(output, self.window), window_amplitudes(target, self.window)
        if self.log_scale > 0:
            spectra = tuple(torch.log1p(self.log_scale * a) / self.log_scale for a in spectra)
        return self.weight * F.l1_loss(*spectra)

    def extra_repr(self) -> str:
        return f"window={self.window}, weight={self.weight}, log_scale={self.log_scale}"
