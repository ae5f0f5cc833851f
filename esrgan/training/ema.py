"""Exponential moving average of the generator's weights (saved as `params_ema`)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """`ema = d * ema + (1 - d) * w` after every step, with d warmed up as min(decay, (1+n)/(10+n)).

    The warm-up matters for short runs: a plain 0.999 average started from the random init still
    remembers that init after a thousand steps (the EMA copy ends up far worse than the model).
    Buffers (BatchNorm statistics) are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.num_updates = 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self._param_names = {name for name, _ in self.module.named_parameters()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        ema_state = self.module.state_dict()
        for name, value in model.state_dict().items():
            target = ema_state[name]
            if name in self._param_names:
                target.mul_(d).add_(value.detach(), alpha=1 - d)
            else:
                target.copy_(value)

    def state_dict(self) -> dict:
        return {"num_updates": self.num_updates, "decay": self.decay, "params": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.num_updates = int(state["num_updates"])
        self.module.load_state_dict(state["params"])
