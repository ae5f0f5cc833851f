"""Synthetic degradations that make LR training inputs from HR batches, on the batch's device.

- `bd` (older name `gaussian`): RDN's "BD" blur-downsample benchmark degradation, Gaussian blur
  then one pixel per block, as RDN's MATLAB script (not SRGAN's: SRGAN trained on bicubic LR).
- `realesrgan`: Real-ESRGAN's second-order pipeline, every random choice a pure function of a
  per-sample seed.

`config` holds the typed settings (no torch import), `kernels`, `jpeg` and `pipeline` the operations.
"""
