"""Geometric self-ensemble (x8): run the model on the 8 flips/rotations of the input, undo each
transform on its output, and average. A test-time option: no training, 8x the compute.
"""

from __future__ import annotations

from torch import Tensor, nn

# (horizontal flip first?, quarter turns): the 8 elements of the square's symmetry group.
TRANSFORMS: tuple[tuple[bool, int], ...] = tuple(
    (flip, turns) for flip in (False, True) for turns in range(4)
)


def apply_transform(x: Tensor, flip: bool, turns: int) -> Tensor:
    """Flip along W (if `flip`), then rotate by `turns` quarter turns in the (H, W) plane."""
    if flip:
        x = x.flip(-1)
    return x.rot90(turns, dims=(-2, -1)) if turns % 4 else x


def invert_transform(y: Tensor, flip: bool, turns: int) -> Tensor:
    """The inverse of `apply_transform(., flip, turns)`: rotate back, then un-flip."""
    if turns % 4:
        y = y.rot90(-turns, dims=(-2, -1))
    return y.flip(-1) if flip else y


def self_ensemble(model: nn.Module, lr: Tensor) -> Tensor:
    """Mean over the 8 transforms of `invert(model(transform(lr)))`; one pass in memory at a time."""
    total: Tensor | None = None
    for flip, turns in TRANSFORMS:
        out = invert_transform(model(apply_transform(lr, flip, turns)), flip, turns)
        total = out.float() if total is None else total + out.float()
    assert total is not None
    return (total / len(TRANSFORMS)).to(lr.dtype if lr.is_floating_point() else total.dtype)
