"""Running tiles at fp32, fp16 or bf16, and falling back to fp32 per tile when low precision fails.

fp16 is CUDA-only: on CPU it is slower than fp32 and crashes in places. bf16 runs on CUDA and on
CPUs with native bf16 arithmetic (AVX512-BF16 or AMX: AMD Zen 4 and later, Intel Sapphire Rapids
and later), where oneDNN's bf16 convolutions do twice the work per cycle: the 23-block and the
built-in RRDBNet run about 2x faster end to end (bench/bench_upscale.py), with PSNR-Y within
0.05 dB of fp32 on held-out photos but many pixels a few levels off, so it is opt-in. Elsewhere
bf16 is emulated and slower than fp32, and asking for it is an error rather than a silent change.
Every low-precision tile is checked, and a tile whose output holds NaN or inf (fp16 overflow, the
"black image" bug) is redone in fp32; the count is reported. int8 is not a torch dtype here: the
model is quantized and run by onnxruntime (esrgan.inference.int8), on CPUs with VNNI or AMX.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from esrgan.errors import ESRGANError
from esrgan.inference.int8 import check_int8

INT8 = "int8"  # see esrgan.inference.int8
PRECISIONS: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "half": torch.float16,
    "bf16": torch.bfloat16,
}


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 convolutions natively on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without the check
        return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype for `precision` on `device`; an ESRGANError where it cannot run well.

    fp16 needs CUDA; bf16 needs CUDA or a CPU with native bf16 (`cpu_has_native_bf16`).
    """
    key = precision.lower()
    if key == INT8:
        check_int8(device)
        return torch.float32  # onnxruntime takes and gives float32; the int8 is inside its graph
    if key not in PRECISIONS:
        raise ESRGANError(f"unknown precision {precision!r} (use fp32, fp16, bf16 or int8)")
    dtype = PRECISIONS[key]
    bf16_cpu = dtype == torch.bfloat16 and device.type == "cpu" and cpu_has_native_bf16()
    if dtype == torch.float32 or device.type == "cuda" or bf16_cpu:
        return dtype
    if dtype == torch.bfloat16:
        raise ESRGANError("bf16 needs a CUDA GPU or a CPU with native bf16 (AVX512-BF16 or AMX): drop --bf16")
    raise ESRGANError(f"{key} needs a CUDA GPU (device here: {device.type}): drop --half")


def check_torch_only(precision: str, engine: str | None) -> None:
    """fp16/bf16 run on the torch backend only: `engine` (ncnn, onnx) runs fp32; None/auto is torch.
    int8 runs on onnxruntime only (`engine` auto, None or onnx)."""
    if precision.lower() == INT8:
        if engine not in (None, "auto", "onnx"):
            raise ESRGANError(f"int8 runs on onnxruntime (--backend auto or onnx), not on {engine}")
        return
    if engine not in (None, "torch", "auto") and PRECISIONS.get(precision.lower()) != torch.float32:
        raise ESRGANError(f"{precision} runs on the torch backend only ({engine} runs fp32)")


Forward = Callable[[torch.Tensor], torch.Tensor]


def forward_with_fp32_fallback(
    x: torch.Tensor, forward_low: Forward, forward_fp32: Forward
) -> tuple[torch.Tensor, int]:
    """(float32 output, samples redone): the batch in low precision, non-finite samples redone in fp32."""
    out = forward_low(x).float()
    bad = ~torch.isfinite(out).flatten(1).all(dim=1)
    redo = int(bad.sum())
    if redo:
        out[bad] = forward_fp32(x[bad]).float()
    return out, redo


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA OOM, or the CPU allocator failing on a large tensor; nothing else."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return "out of memory" in text or "can't allocate memory" in text
    return False


class TileRunner:
    """Runs float32 CPU NCHW tile batches through the model on its device; returns float32 CPU.

    The caller's model is used as given (same device); the low-precision copy is made once here.
    `fp32_redone` counts tiles redone in fp32 after a non-finite low-precision output.
    """

    def __init__(self, model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> None:
        self.model, self.device, self.dtype = model, device, dtype
        self.low = copy.deepcopy(model).to(dtype) if dtype != torch.float32 else None
        self.fp32_redone = 0

    def _forward(self, module: torch.nn.Module, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        # channels_last is 1.2-1.5x faster for these convs on CPU (oneDNN) and on tensor cores.
        x = x.to(self.device, dtype, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return module(x)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.low is None:
            out = self._forward(self.model, x, torch.float32)
            if not bool(torch.isfinite(out).all()):
                raise ESRGANError("the model gave NaN or inf values in fp32: the checkpoint may be corrupt")
        else:
            out, redone = forward_with_fp32_fallback(
                x,
                lambda t: self._forward(self.low, t, self.dtype),  # type: ignore[arg-type]
                lambda t: self._forward(self.model, t, torch.float32),
            )
            self.fp32_redone += redone
        return out.to("cpu", torch.float32)
