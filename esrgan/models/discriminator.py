"""Discriminators: ESRGAN's VGG-style network (BasicSR key names) and SRGAN's original.

Both return raw logits; the sigmoid belongs to the loss (BCE with logits), which is what the
relativistic loss needs anyway: it compares logits before squashing.
"""

from __future__ import annotations

from torch import Tensor, nn


class VGGDiscriminator(nn.Module):
    """3x3 s1 conv + 4x4 s2 conv pairs at 64, 128, 256, 512, 512 channels, BN after every conv but
    the first, LeakyReLU 0.2, then Linear(512*s*s, 100) -> LeakyReLU -> Linear(100, 1). `input_size`:
    a multiple of 32 (five stride-2 convs), 128 in the paper (14,499,401 parameters)."""

    def __init__(self, in_ch: int = 3, num_feat: int = 64, input_size: int = 128) -> None:
        super().__init__()
        if input_size % 32:
            raise ValueError(f"VGGDiscriminator input_size must be a multiple of 32, not {input_size}")
        self.input_size = input_size
        widths = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8]
        c_in = in_ch
        for i, c in enumerate(widths):
            # The very first conv has a bias and no BN; every other conv is followed by BN.
            self.add_module(f"conv{i}_0", nn.Conv2d(c_in, c, 3, 1, 1, bias=(i == 0)))
            if i > 0:
                self.add_module(f"bn{i}_0", nn.BatchNorm2d(c, affine=True))
            self.add_module(f"conv{i}_1", nn.Conv2d(c, c, 4, 2, 1, bias=False))
            self.add_module(f"bn{i}_1", nn.BatchNorm2d(c, affine=True))
            c_in = c
        side = input_size // 32
        self.linear1 = nn.Linear(widths[-1] * side * side, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"VGGDiscriminator takes {self.input_size}px squares, not {tuple(x.shape[2:])}")
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for i in range(1, 5):
            feat = self.lrelu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)))
        return self.linear2(self.lrelu(self.linear1(feat.flatten(1))))


class SRGANDiscriminator(nn.Module):
    """SRGAN paper discriminator: 8 convs (64, 64s2, 128, 128s2, 256, 256s2, 512, 512s2),
    BN after all but the first, LeakyReLU 0.2, Dense 1024, LeakyReLU, Dense 1 (raw logit)."""

    def __init__(self, in_ch: int = 3, num_feat: int = 64, input_size: int = 96) -> None:
        super().__init__()
        if input_size % 16:
            raise ValueError(f"SRGANDiscriminator input_size must be a multiple of 16, not {input_size}")
        self.input_size = input_size
        layers: list[nn.Module] = []
        c_in = in_ch
        for i, c in enumerate([num_feat, num_feat * 2, num_feat * 4, num_feat * 8]):
            for stride in (1, 2):
                first = i == 0 and stride == 1
                layers.append(nn.Conv2d(c_in, c, 3, stride, 1, bias=first))
                if not first:
                    layers.append(nn.BatchNorm2d(c))
                layers.append(nn.LeakyReLU(0.2, inplace=True))
                c_in = c
        self.features = nn.Sequential(*layers)
        side = input_size // 16
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * side * side, 1024),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
