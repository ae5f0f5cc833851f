"""Learning rate as a pure function of the iteration: resuming needs no scheduler state."""

from __future__ import annotations

import bisect
import math

from esrgan.training.config import OptimConfig


def lr_factor(optim: OptimConfig, iteration: int, total_iters: int) -> float:
    """Multiplier on the initial learning rate at `iteration` (0-based)."""
    if optim.warmup_iters and iteration < optim.warmup_iters:
        return (iteration + 1) / optim.warmup_iters
    if optim.scheduler == "multistep":
        # Halve (gamma) at each milestone passed: the paper's 2e5-iteration halvings.
        return optim.gamma ** bisect.bisect_right(sorted(optim.milestones), iteration)
    if optim.scheduler == "cosine":
        start = optim.warmup_iters
        progress = min(1.0, (iteration - start) / max(1, total_iters - start))
        floor = optim.min_lr_ratio
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0
