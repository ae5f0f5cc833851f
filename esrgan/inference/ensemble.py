"""Geometric self-ensemble (x8): run the model on the 8 flips/rotations of the input, undo each
transform on its output, and average. A test-time option: no training, 8x the compute.
"""

from __future__ import annotations

from torch import Tensor, nn

# (horizontal flip first?, quarter turns): the 8 elements of the square's symmetry group.
TRANSFORMS = tuple((flip, turns) for flip in (False, True) for turns in range(4))


def self_ensemble(model: nn.Module, lr: Tensor) -> Tensor:
    """Mean over the 8 transforms of `invert(model(transform(lr)))`; one pass in memory at a time.

    transform: flip along W (if `flip`), then `turns` quarter turns in the (H, W) plane; invert:
    rotate back, then un-flip."""
    total: Tensor | None = None
    for flip, turns in TRANSFORMS:
        x = lr.flip(-1) if flip else lr
        y = model(x.rot90(turns, dims=(-2, -1)) if turns else x)
        y = y.rot90(-turns, dims=(-2, -1)) if turns else y
        out = (y.flip(-1) if flip else y).float()
        total = out if total is None else total + out
    assert total is not None
    return (total / len(TRANSFORMS)).to(lr.dtype if lr.is_floating_point() else total.dtype)
