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


def num_blocks(state: dict[str, Tensor]) -> int:
    """How many numbered blocks `body.{i}.` a state dict holds (1 + the largest index)."""
    indices = [int(k.split(".", 2)[1]) for k in state if k.startswith("body.")]
    if not indices:
        raise ValueError("no body.N tensors")
    return 1 + max(indices)
