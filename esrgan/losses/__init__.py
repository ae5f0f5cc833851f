"""Training losses: pixel (L1/MSE), Fourier amplitude, VGG19 perceptual, adversarial (RaGAN and others)."""

from esrgan.losses.adversarial import GAN_TYPES, check_gan_type, discriminator_loss, generator_loss
from esrgan.losses.fourier import FourierLoss, window_amplitudes
from esrgan.losses.perceptual import (
    PERCEPTUAL_PRESETS,
    SRGAN_FEATURE_SCALE,
    PerceptualLoss,
    perceptual_loss_preset,
)
from esrgan.losses.pixel import PixelLoss
from esrgan.losses.vgg19 import (
    VGG19_LAYER_NAMES,
    VGG19_WEIGHTS_FILENAME,
    VGG19_WEIGHTS_URL,
    VGG19FeatureExtractor,
    build_vgg19_features,
    load_vgg19_weights,
    vgg19_layer_index,
    vgg19_weights_cache_path,
)

__all__ = [
    "GAN_TYPES",
    "PERCEPTUAL_PRESETS",
    "SRGAN_FEATURE_SCALE",
    "VGG19_LAYER_NAMES",
    "VGG19_WEIGHTS_FILENAME",
    "VGG19_WEIGHTS_URL",
    "FourierLoss",
    "PerceptualLoss",
    "PixelLoss",
    "VGG19FeatureExtractor",
    "build_vgg19_features",
    "check_gan_type",
    "discriminator_loss",
    "generator_loss",
    "load_vgg19_weights",
    "perceptual_loss_preset",
    "vgg19_layer_index",
    "vgg19_weights_cache_path",
    "window_amplitudes",
]
