"""Network interpolation for a slider: one working copy per model pair, re-blended in place.

`esrgan.interpolate` builds a fresh model per alpha (a deep copy, computed in float64): right for a
file, too slow for a slider. Here the working copy is made once per (PSNR, GAN) pair and each new
alpha rewrites its tensors with `torch.lerp(psnr, gan, alpha)`, which is exact at alpha 0 and 1.
"""

from __future__ import annotations

import copy

import torch

from esrgan.inference.interpolation import check_same_architecture, validate_alpha
from esrgan.models.descriptor import ModelDescriptor


class PairBlender:
    def __init__(self, psnr: ModelDescriptor, gan: ModelDescriptor) -> None:
        psnr_state, gan_state = psnr.model.state_dict(), gan.model.state_dict()
        check_same_architecture(psnr_state, gan_state)
        self.descriptor = gan.with_model(copy.deepcopy(gan.model).eval())
        work = self.descriptor.model.state_dict()
        self._triples = [
            (work[k], psnr_state[k].to(work[k].device), gan_state[k])
            for k in gan_state
            if gan_state[k].is_floating_point()
        ]
        self.alpha: float | None = None

    @torch.no_grad()
    def at(self, alpha: float) -> ModelDescriptor:
        alpha = validate_alpha(alpha)
        if alpha != self.alpha:
            for out, psnr, gan in self._triples:
                torch.lerp(psnr, gan, alpha, out=out)
            self.alpha = alpha
        return self.descriptor
