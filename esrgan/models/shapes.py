"""What every generator's config shares, and the shape readings every architecture's loader uses."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class GeneratorShape:
    """The fields every generator config starts with (each architecture adds its own after them)."""

    in_ch: int = 3
    out_ch: int = 3
    scale: int = 4
    num_feat: int = 64


def num_blocks(state: dict[str, Tensor], prefix: str = "body.") -> int:
    """How many numbered blocks `prefix{i}.` a state dict holds (1 + the largest index)."""
    indices = [int(k[len(prefix) :].split(".", 1)[0]) for k in state if k.startswith(prefix)]
    if not indices:
        raise ValueError(f"no {prefix}N tensors")
    return 1 + max(indices)
