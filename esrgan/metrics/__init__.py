"""The field's image-quality metrics, computed the way the published numbers were.

Full reference: `psnr`, `ssim`, `rmse` (float64, 0..255 scale, optional MATLAB Y channel and border
crop). No reference: `niqe` (LIVE/BasicSR NIQE), `ma_score` (Ma et al. 2017, from the authors'
model.mat) and `perceptual_index` (PIRM 2018). `pirm_region` places an RMSE in the PIRM 2018 regions.
"""

from esrgan.metrics.color import rgb_to_y
from esrgan.metrics.fidelity import pirm_region, psnr, rmse, ssim
from esrgan.metrics.ma import ma_score
from esrgan.metrics.niqe import niqe
from esrgan.metrics.perceptual_index import perceptual_index

__all__ = ["ma_score", "niqe", "perceptual_index", "pirm_region", "psnr", "rgb_to_y", "rmse", "ssim"]
