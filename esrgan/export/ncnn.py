"""ncnn `.param` + `.bin` from one of our generators, written from the operation graph.

The `.param` text is ncnn's: the magic 7767517, `layer_count blob_count`, then one line per layer,
`Type name n_in n_out inputs... outputs... id=value ...` (arrays as `-233xx=count,v1,v2`). A blob
read by several layers goes through a `Split`. The `.bin` holds the weights in layer order: a conv's
behind a 4-byte tag (0: float32, 0x01306B47: float16), biases and PReLU slopes as raw float32 (ncnn
wiki: "param and model file structure", "operation param weight table"). Blobs `data` -> `output`,
RGB in [0, 1], as realesrgan-ncnn-vulkan and Upscayl use.
"""

from __future__ import annotations

import io
import struct
from collections import Counter
from pathlib import Path

import numpy as np

from esrgan.atomic import write_bytes_atomic, write_text_atomic
from esrgan.models.graph import INPUT, Graph, unshuffle_weights
from esrgan.models.ncnn_import import FP16_TAG

MAGIC = 7767517
LEAKY_RELU = 2  # Convolution activation_type


def to_ncnn(graph: Graph, *, fp16: bool = False) -> tuple[str, bytes]:
    """(param text, bin bytes) for `graph`."""
    lines: list[str] = []
    weights = io.BytesIO()
    uses = Counter(i for op in graph.ops for i in op.inputs)
    taken: dict[str, int] = Counter()
    blob_count = 0

    def emit(kind: str, name: str, inputs: list[str], outputs: list[str], params: str = "") -> None:
        nonlocal blob_count
        blob_count += len(outputs)
        line = f"{kind:<16} {name:<12} {len(inputs)} {len(outputs)} {' '.join(inputs + outputs)}"
        lines.append(f"{line} {params}".rstrip())

    def produced(blob: str) -> None:
        """After a layer makes `blob`: split it if several layers read it."""
        if uses[blob] > 1:
            emit("Split", f"split_{blob}", [blob], [f"{blob}_{i}" for i in range(uses[blob])])

    def read(blob: str) -> str:
        if uses[blob] <= 1:
            return blob
        taken[blob] += 1
        return f"{blob}_{taken[blob] - 1}"

    emit("Input", "data", [], [INPUT])
    produced(INPUT)
    for n, op in enumerate(graph.ops):
        ins, name = [read(i) for i in op.inputs], f"{op.kind}_{n}"
        if op.kind == "conv":
            assert op.weight is not None and op.bias is not None
            out_c, _, k, _ = op.weight.shape
            params = f"0={out_c} 1={k} 11={k} 2=1 3=1 4={k // 2} 5=1 6={op.weight.size}"
            if op.slope is not None:
                params += f" 9={LEAKY_RELU} -23310=1,{op.slope:.8e}"
            emit("Convolution", name, ins, [op.output], params)
            _write_weight(weights, op.weight, fp16)
            weights.write(op.bias.astype("<f4").tobytes())
        elif op.kind == "prelu":
            assert op.weight is not None
            emit("PReLU", name, ins, [op.output], f"0={op.weight.size}")
            weights.write(op.weight.astype("<f4").tobytes())
        elif op.kind == "concat":
            emit("Concat", name, ins, [op.output], "0=0")
        elif op.kind == "sum":
            emit("Eltwise", name, ins, [op.output], "0=1 -23301=2," + ",".join(f"{v:.8e}" for v in op.coeffs))
        elif op.kind in ("nearest2x", "nearest"):  # nearest2x ops carry factor 2
            emit("Interp", name, ins, [op.output], f"0=1 1={op.factor:.1f} 2={op.factor:.1f}")
        elif op.kind == "pixel_shuffle":
            emit("PixelShuffle", name, ins, [op.output], f"0={op.factor}")
        elif op.kind == "pixel_unshuffle":
            # A stride-r r x r convolution with one-hot weights, not ncnn's Reorg: the same numbers
            # (exact in fp16 too), and realesrgan-ncnn-vulkan's build of ncnn leaves Reorg out.
            one_hot = unshuffle_weights(graph.in_ch, op.factor)
            out_c, r = one_hot.shape[0], op.factor
            params = f"0={out_c} 1={r} 11={r} 2=1 3={r} 4=0 5=0 6={one_hot.size}"
            emit("Convolution", name, ins, [op.output], params)
            _write_weight(weights, one_hot, False)
        else:
            raise AssertionError(op.kind)
        produced(op.output)
    header = f"{MAGIC}\n{len(lines)} {blob_count}\n"
    return header + "\n".join(lines) + "\n", weights.getvalue()


def _write_weight(out: io.BytesIO, w: np.ndarray, fp16: bool) -> None:
    if fp16:
        data = w.astype("<f2").tobytes()
        out.write(struct.pack("<I", FP16_TAG) + data + b"\0" * (-len(data) % 4))
    else:
        out.write(struct.pack("<I", 0) + w.astype("<f4").tobytes())


def bin_path(param_path: str | Path) -> Path:
    """`model.param` -> `model.bin` (the pair realesrgan-ncnn-vulkan's `-n model` loads)."""
    return Path(param_path).with_suffix(".bin")


def write_ncnn(graph: Graph, param_path: str | Path, *, fp16: bool = False) -> tuple[Path, Path]:
    """Write `param_path` and its `.bin` atomically; returns both paths."""
    param, weights = to_ncnn(graph, fp16=fp16)
    param_path, bin_file = Path(param_path), bin_path(param_path)
    write_bytes_atomic(bin_file, weights)  # the .bin first: a .param never points at a missing .bin
    write_text_atomic(param_path, param)
    return param_path, bin_file
