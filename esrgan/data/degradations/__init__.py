"""Synthetic degradations (RDN's `bd`, Real-ESRGAN's second-order `realesrgan`) that make LR training
inputs from HR batches: `config` holds the typed settings (no torch import), `kernels`, `jpeg` and
`pipeline` the operations."""
