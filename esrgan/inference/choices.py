"""The fixed choices of an upscale job, one definition each: the command line offers them while it
parses (so this module imports nothing), the job checks against them."""

from __future__ import annotations

BACKENDS = ("auto", "torch", "ncnn", "onnx")  # what runs the network (esrgan.inference.backends)
EXISTING = ("refuse", "overwrite", "skip")  # what to do with an output file that exists
FRAMES = ("error", "first", "all")  # files with several frames (animations, pages)
OUTPUT_FORMATS = ("auto", "png", "jpg", "webp", "tif")  # `ext`; auto: the input's format
