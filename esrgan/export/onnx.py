"""ONNX model from one of our generators, written from the operation graph with `onnx.helper`.

Not traced by `torch.onnx.export`: a dozen operator kinds, the same whichever exporter torch ships
(TorchScript or dynamo, which needs `onnxscript`), dynamic height and width by construction. Opset
17; `data` (N, C, H, W) -> `output`, float32 (or float16 with `fp16=True`, for GPUs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from esrgan.atomic import write_bytes_atomic
from esrgan.models.graph import INPUT, OUTPUT, Graph, unshuffle_weights

OPSET = 17


def to_onnx(graph: Graph, *, fp16: bool = False) -> Any:
    """An `onnx.ModelProto` for `graph` (checked by onnx's checker)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dtype = np.float16 if fp16 else np.float32
    elem = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(kind: str, inputs: list[str], output: str, **attrs: Any) -> None:
        nodes.append(helper.make_node(kind, inputs, [output], **attrs))

    # nearest2x ops carry factor 2, so both resize kinds share one scales tensor per factor.
    for factor in sorted({op.factor for op in graph.ops if op.kind in ("nearest2x", "nearest")}):
        const(f"scales_{factor}x", np.array([1, 1, factor, factor], np.float32))
    for n, op in enumerate(graph.ops):
        out, x = op.output, op.inputs[0]
        if op.kind == "conv":
            assert op.weight is not None and op.bias is not None
            k = op.weight.shape[-1]
            conv_out = out if op.slope is None else f"{out}_pre"
            w = const(f"conv{n}.weight", op.weight.astype(dtype))
            b = const(f"conv{n}.bias", op.bias.astype(dtype))
            node("Conv", [x, w, b], conv_out, kernel_shape=[k, k], pads=[k // 2] * 4)
            if op.slope is not None:
                node("LeakyRelu", [conv_out], out, alpha=op.slope)
        elif op.kind == "prelu":
            assert op.weight is not None
            node("PRelu", [x, const(f"prelu{n}.weight", op.weight.astype(dtype).reshape(-1, 1, 1))], out)
        elif op.kind == "concat":
            node("Concat", op.inputs, out, axis=1)
        elif op.kind == "sum":
            a, b = op.inputs
            if op.coeffs[0] != 1.0:
                node("Mul", [a, const(f"sum{n}.coeff", np.array(op.coeffs[0], dtype))], f"{out}_scaled")
                a = f"{out}_scaled"
            assert op.coeffs[1] == 1.0
            node("Add", [a, b], out)
        elif op.kind in ("nearest2x", "nearest"):
            # asymmetric + floor: output pixel (y, x) reads input (y // s, x // s), as torch's nearest.
            modes = {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
            node("Resize", [x, "", f"scales_{op.factor}x"], out, mode="nearest", **modes)
        elif op.kind == "pixel_shuffle":
            node("DepthToSpace", op.inputs, out, blocksize=op.factor, mode="CRD")
        elif op.kind == "pixel_unshuffle":
            # ONNX's SpaceToDepth orders channels differently from torch; a strided one-hot conv is
            # exact (each output is one input times 1) and keeps torch's order.
            r = op.factor
            w = const(f"unshuffle{n}.weight", unshuffle_weights(graph.in_ch, r).astype(dtype))
            node("Conv", [x, w], out, kernel_shape=[r, r], strides=[r, r])
        else:
            raise AssertionError(op.kind)
    assert nodes[-1].output[0] == OUTPUT
    graph_proto = helper.make_graph(
        nodes,
        "esrgan",
        [helper.make_tensor_value_info(INPUT, elem, ["N", graph.in_ch, "H", "W"])],
        [helper.make_tensor_value_info(OUTPUT, elem, ["N", graph.out_ch, "H_out", "W_out"])],
        initializer=inits,
    )
    doc = f"x{graph.scale} SR, NCHW in [0, 1], sides multiples of {graph.size_multiple}"
    opset = [helper.make_opsetid("", OPSET)]
    model = helper.make_model(graph_proto, opset_imports=opset, producer_name="esrgan", doc_string=doc)
    model.ir_version = 8  # readable by onnxruntime >= 1.10
    onnx.checker.check_model(model)
    return model


def write_onnx(graph: Graph, path: str | Path, *, fp16: bool = False) -> Path:
    write_bytes_atomic(path, to_onnx(graph, fp16=fp16).SerializeToString())
    return Path(path)
