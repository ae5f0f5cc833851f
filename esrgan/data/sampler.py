"""Deterministic, resumable, DDP-aware sampling of training patches.

`TrainingSampler` yields keys `(image_index, sample_seed)`; the training datasets turn a key into a
patch using `np.random.default_rng(sample_seed)` only. Every key is a pure function of
`(seed, n)`, where `n = iteration * batch_size + position` counts samples of the *global* batch
stream, so:

- a run resumed at iteration k yields exactly the keys an uninterrupted run yields from k on;
- DataLoader workers only receive keys (the sampler runs in the main process), so any number of
  workers gives the same batches;
- with W ranks, rank r takes positions `r * B/W ... (r + 1) * B/W - 1` of each global batch of
  size B: the ranks together see exactly what one process with batch B sees.

Image indices come from epoch-wise permutations of the global stream: samples `e*N ... (e+1)*N - 1`
are one permutation of the N images, drawn from `default_rng([seed, 0, e])`. Every image is thus
seen once per N samples (i.i.d. draws would leave some images unseen for long stretches on small
sets). The crop seed of sample n comes from `SeedSequence([seed, 1, n])`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from esrgan.errors import ESRGANError

__all__ = ["TrainingSampler", "epoch_permutation", "sample_seed"]

_PERMUTATION_STREAM = 0
_CROP_STREAM = 1


def sample_seed(seed: int, n: int) -> int:
    """The 64-bit seed that fixes the crop and augmentation of sample `n`."""
    state = np.random.SeedSequence([seed, _CROP_STREAM, n]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 32) | int(state[1])


def epoch_permutation(seed: int, epoch: int, num_images: int) -> np.ndarray:
    """The order of the images in epoch `epoch` of the global sample stream."""
    return np.random.default_rng([seed, _PERMUTATION_STREAM, epoch]).permutation(num_images)


@dataclass
class TrainingSampler:
    """Infinite iterable of one rank's keys, from `start_iteration` at every `iter()`; `batch_size` is
    the global B, so that rank's DataLoader takes batches of B / world_size."""

    num_images: int
    batch_size: int
    seed: int
    start_iteration: int = 0
    rank: int = 0
    world_size: int = 1
    _epoch: int = field(default=-1, init=False, repr=False)  # the epoch `_permutation` belongs to
    _permutation: np.ndarray = field(default_factory=lambda: np.arange(0), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.batch_size % self.world_size:
            raise ESRGANError(
                f"the batch size {self.batch_size} is not divisible by {self.world_size} processes"
            )

    def __iter__(self) -> Iterator[tuple[int, int]]:
        local = self.batch_size // self.world_size
        first = self.start_iteration * self.batch_size + self.rank * local  # this rank's slice of each batch
        while True:
            yield from (self._key(n) for n in range(first, first + local))
            first += self.batch_size

    def _key(self, n: int) -> tuple[int, int]:
        epoch = n // self.num_images
        # One permutation per epoch, recomputed only when the epoch changes.
        if epoch != self._epoch:
            self._epoch = epoch
            self._permutation = epoch_permutation(self.seed, epoch, self.num_images)
        return int(self._permutation[n % self.num_images]), sample_seed(self.seed, n)
