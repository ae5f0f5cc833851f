"""The backend models: `nn.Module`s (no parameters) whose forward runs a float32 NCHW CPU batch in
[0, 1] on ncnn or onnxruntime, with the `scale`, `in_ch`, `out_ch` and `size_multiple` of every
generator, so the tiler and the test-time wrappers run around them unchanged. Apart from
esrgan.inference.backends so that esrgan.inference.int8 builds on them without a cycle; the engines
are optional packages, imported when a model is made."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from esrgan.errors import ESRGANError

PROBE = 16  # LR px of the probe that reads an external model's scale


def _import(name: str, extra: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        raise ESRGANError(f"the {extra} backend needs {name}: pip install 'esrgan[{extra}]'") from None


class BackendGenerator(nn.Module):
    """Base of the backend models: facts of a generator, a forward that is not PyTorch's."""

    backend = ""

    def __init__(self, scale: int, in_ch: int, out_ch: int, size_multiple: int, source: str) -> None:
        super().__init__()
        self.scale, self.in_ch, self.out_ch, self.size_multiple = scale, in_ch, out_ch, size_multiple
        self.source = source

    def __deepcopy__(self, memo: dict) -> BackendGenerator:
        return self  # the engine holds no per-call state; copies (e.g. for another device) share it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().to("cpu", torch.float32)
        if x.ndim != 4 or x.shape[1] != self.in_ch:
            raise ESRGANError(f"{self.source}: expected (N, {self.in_ch}, H, W), got {tuple(x.shape)}")
        return torch.from_numpy(self.run_numpy(x.contiguous().numpy()))

    def run_numpy(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class NcnnGenerator(BackendGenerator):
    """An ncnn network: CPU (Winograd, ncnn's own threads) or a Vulkan GPU."""

    backend = "ncnn"

    def __init__(
        self,
        net: Any,
        names: tuple[str, str],
        *,
        source: str,
        keep_alive: Any = None,
        scale: int | None = None,
        in_ch: int | None = None,
        out_ch: int | None = None,
        size_multiple: int = 1,
    ) -> None:
        self.net, self.names = net, names
        self._keep_alive = keep_alive  # ncnn reads weights loaded from memory in place
        if scale is None or out_ch is None or in_ch is None:
            in_ch = in_ch or 3
            side = PROBE * size_multiple
            probe = self._run_one(np.full((in_ch, side, side), 0.5, np.float32))
            scale, out_ch = _scale_from_probe(probe.shape[1:], side, source), probe.shape[0]
        super().__init__(scale, in_ch, out_ch, size_multiple, source)

    def _run_one(self, sample: np.ndarray) -> np.ndarray:
        import ncnn

        arr = np.ascontiguousarray(sample, dtype=np.float32)  # must outlive the extractor: Mat borrows it
        ex = self.net.create_extractor()
        mat = ncnn.Mat(arr)
        ex.input(self.names[0], mat)
        ret, out = ex.extract(self.names[1])
        if ret != 0:
            raise ESRGANError(f"{getattr(self, 'source', 'ncnn')}: ncnn could not run it (code {ret})")
        result = np.array(out)  # a copy: `out` is ncnn's memory
        del ex, mat, arr
        return result

    def run_numpy(self, x: np.ndarray) -> np.ndarray:
        return np.stack([self._run_one(sample) for sample in x])


class OnnxGenerator(BackendGenerator):
    """An onnxruntime session on the CPU."""

    backend = "onnx"

    def __init__(
        self, model: bytes | str, *, source: str, size_multiple: int | None = None, threads: int | None = None
    ) -> None:
        ort = _import("onnxruntime", "onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ESRGANError(
                f"{source}: not a readable ONNX model ({' '.join(str(exc).split())[:200]})"
            ) from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4 or len(outputs[0].shape) != 4:
            raise ESRGANError(
                f"{source}: not an image-to-image model (needs one NCHW input and one NCHW output, has "
                f"{[tuple(i.shape) for i in inputs]} -> {[tuple(o.shape) for o in outputs]})"
            )
        self.names = (inputs[0].name, outputs[0].name)
        self.dtype = np.float16 if "float16" in inputs[0].type else np.float32
        channels = inputs[0].shape[1]
        in_ch = channels if isinstance(channels, int) else 3
        # Probe sides 17, 18, 20: a model that pixel-unshuffles by 2 or 4 (or floors odd sizes
        # in a strided conv) fails or comes out the wrong size on the sides it cannot take.
        last = None
        for multiple in (size_multiple,) if size_multiple else (1, 2, 4):
            side = PROBE + multiple
            try:
                probe = self.run_numpy(np.full((1, in_ch, side, side), 0.5, np.float32))
            except Exception as exc:  # noqa: BLE001 - onnxruntime's own errors: a size it does not take
                last = " ".join(str(exc).split())[:160]
                continue
            if probe.ndim != 4 or probe.shape[0] != 1:
                break
            try:
                scale = _scale_from_probe(probe.shape[2:], side, source)
            except ESRGANError as exc:
                last = str(exc)
                continue
            super().__init__(scale, in_ch, probe.shape[1], multiple, source)
            return
        raise ESRGANError(f"{source}: not an image-to-image model ({last or 'its output is not an image'})")

    def run_numpy(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run([self.names[1]], {self.names[0]: x.astype(self.dtype, copy=False)})[0]
        return np.asarray(out, np.float32)


def _scale_from_probe(out_hw: tuple[int, ...], side: int, source: str) -> int:
    h, w = int(out_hw[-2]), int(out_hw[-1])
    if h != w or h % side or h // side not in (1, 2, 3, 4, 8):
        raise ESRGANError(
            f"{source}: not an image-to-image model (a {side}x{side} image came out {h}x{w}, "
            "not 1, 2, 3, 4 or 8 times larger)"
        )
    return h // side
