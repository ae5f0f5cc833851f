"""Generators and discriminators. Each architecture lives in its own file."""

from esrgan.models.discriminator import SRGANDiscriminator, VGGDiscriminator
from esrgan.models.msrresnet import MSRResNet
from esrgan.models.rrdbnet import RRDB, ResidualDenseBlock, RRDBNet
from esrgan.models.srresnet import SRResNet
from esrgan.models.srvgg import SRVGGNetCompact

__all__ = [
    "MSRResNet",
    "RRDB",
    "RRDBNet",
    "ResidualDenseBlock",
    "SRGANDiscriminator",
    "SRResNet",
    "SRVGGNetCompact",
    "VGGDiscriminator",
]
