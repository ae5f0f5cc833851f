"""Real-ESRGAN's U-Net discriminator with spectral normalisation: one realness logit per pixel.

A per-pixel verdict tells the generator which regions look fake; spectral normalisation keeps the
stronger discriminator stable (Real-ESRGAN, section 3.3). Layout (F features, LeakyReLU 0.2 after
every conv but the last):

    conv0 3x3 in->F (bias, no SN)
    conv1..3 4x4 stride 2, F->2F->4F->8F (SN, no bias)                       encoder
    [bilinear x2 -> conv 3x3 (SN, no bias)] x 3: 8F->4F (+ conv2's output),
        4F->2F (+ conv1's), 2F->F (+ conv0's)                                decoder, skip connections
    conv7, conv8 3x3 F->F (SN, no bias); conv9 3x3 F->1 (bias, no SN)        head

`torch.nn.utils.spectral_norm`'s keys (`conv1.weight_orig`, `_u`, `_v`) are those of Real-ESRGAN's
`RealESRGAN_x4plus_netD.pth` ("params"), so it loads as it is. Sides divisible by 8; output size = input's.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

from esrgan.errors import ESRGANError
from esrgan.models.loading import read_state_file, unwrap_state


class UNetDiscriminatorSN(nn.Module):
    def __init__(self, in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        self.skip_connection = skip_connection
        f = num_feat
        self.conv0 = nn.Conv2d(in_ch, f, 3, 1, 1)
        self.conv1 = spectral_norm(nn.Conv2d(f, f * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(f * 2, f * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(f * 4, f * 8, 4, 2, 1, bias=False))
        self.conv4 = spectral_norm(nn.Conv2d(f * 8, f * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(f * 4, f * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(f * 2, f, 3, 1, 1, bias=False))
        self.conv7 = spectral_norm(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"UNetDiscriminatorSN needs sides divisible by 8, got {tuple(x.shape[-2:])}")
        act = F.leaky_relu
        x0 = act(self.conv0(x), 0.2)
        x1 = act(self.conv1(x0), 0.2)
        x2 = act(self.conv2(x1), 0.2)
        y = act(self.conv3(x2), 0.2)
        for conv, skip in ((self.conv4, x2), (self.conv5, x1), (self.conv6, x0)):
            y = act(conv(F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)), 0.2)
            y = y + skip if self.skip_connection else y
        y = act(self.conv7(y), 0.2)
        y = act(self.conv8(y), 0.2)
        return self.conv9(y)


def load_discriminator_weights(model: nn.Module, path: str) -> None:
    """Load a discriminator file (ours, or Real-ESRGAN's `{"params": ...}`) into `model`; strict."""
    obj, _, _ = read_state_file(path)
    state, _ = unwrap_state(obj)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        what = f"discriminator.pretrained {path} does not fit {type(model).__name__}"
        raise ESRGANError(f"{what} ({' '.join(str(exc).split())[:200]})") from None
