"""ncnn `.param` + `.bin` -> one of our torch generators (RRDBNet or SRVGGNetCompact), BasicSR keys.

Reading: the `.param` is parsed into layers; the `.bin` is read in layer order as ncnn's ModelBin
does (src/modelbin.cpp): a Convolution's weights behind a 4-byte tag (0 or 0x0002C056: float32,
0x01306B47: float16 padded to 4 bytes, other non-zero: a 256-entry float table then one uint8
index per weight; 0x000D4B38 int8 is refused), its bias and PReLU slopes as raw float32. The whole
file must be consumed: a `.bin` of another model or a truncated one is an error.

Matching: the layers are normalised into graph.py's operations (`Split`s become aliases, a `ReLU`
after a conv is fused into it, pnnx's `BinaryOp` mul + add becomes one weighted sum). An RRDBNet is
compared op by op with the graph of the RRDBNet its conv shapes describe; an SRVGGNetCompact is
its conv/PReLU chain, pixel shuffle and upsampled input. The first layer that does not fit is named.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from esrgan.errors import ESRGANError
from esrgan.models.graph import Op, build_graph, unshuffle_weights
from esrgan.models.rrdbnet import RRDBNet

FP16_TAG, INT8_TAG, FP32_SCALED_TAG = 0x01306B47, 0x000D4B38, 0x0002C056


@dataclass
class Layer:
    kind: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[str, str] = field(default_factory=dict)

    def int(self, key: str, default: int = 0) -> int:
        return int(float(self.params.get(key, default)))

    def floats(self, key: str) -> list[float]:
        """An array parameter (`-233xx=count,v1,...` is stored under `xx`)."""
        values = self.params.get(key, "")
        return [float(v) for v in values.split(",")[1:]] if values else []


def read_param(path: Path) -> list[Layer]:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    if not lines or lines[0].strip() != "7767517":
        raise ESRGANError(f"{path}: not an ncnn .param file (no 7767517 magic on its first line)")
    layers = []
    for ln in lines[2:]:
        parts = ln.split()
        try:
            n_in, n_out = int(parts[2]), int(parts[3])
        except (IndexError, ValueError):
            raise ESRGANError(f"{path}: malformed layer line: {ln[:80]}") from None
        pairs = (item.partition("=") for item in parts[4 + n_in + n_out :])
        params = {str(int(k[4:])) if k.startswith("-233") else k: v for k, _, v in pairs}  # -233xx: array xx
        ins, outs = parts[4 : 4 + n_in], parts[4 + n_in : 4 + n_in + n_out]
        layers.append(Layer(parts[0], parts[1], ins, outs, params))
    return layers


class _Bin:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int, layer: Layer) -> bytes:
        if self.pos + n > len(self.data):
            raise ESRGANError(f"{self.path}: truncated (ends inside the weights of layer {layer.name})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def raw(self, n: int, layer: Layer) -> np.ndarray:
        return np.frombuffer(self.take(4 * n, layer), "<f4").astype(np.float32)

    def tagged(self, n: int, layer: Layer) -> tuple[np.ndarray, bool]:
        """(weights, stored as fp16) for ModelBin::load(n, 0)."""
        (tag,) = struct.unpack("<I", self.take(4, layer))
        if tag == FP16_TAG:
            data = self.take(2 * n + (-2 * n % 4), layer)[: 2 * n]
            return np.frombuffer(data, "<f2").astype(np.float32), True
        if tag == INT8_TAG:
            raise ESRGANError(f"{self.path}: layer {layer.name} holds int8 weights (not supported)")
        if tag in (0, FP32_SCALED_TAG):
            return self.raw(n, layer), False
        table = self.raw(256, layer)  # any other non-zero tag: a quantisation table
        index = np.frombuffer(self.take(n + (-n % 4), layer)[:n], np.uint8)
        return table[index], False


def read_ncnn(param: Path) -> tuple[dict[str, Tensor], bool]:
    """(state dict, the .bin stored the conv weights as float16) for `param` and its `.bin`."""
    weights = param.with_suffix(".bin")
    for p in (param, weights):
        if not p.is_file():
            raise ESRGANError(f"{p}: no such file (an ncnn model is a .param and a .bin of the same name)")
    ops, names, fp16 = _normalise(read_param(param), _Bin(weights.read_bytes(), weights), param)
    if ops and ops[-1].kind == "bicubic":  # realesr-animevideov3-x2/x3: the x4 network, then a resize
        if ops[-1].coeffs[0] != 1.0:
            raise ESRGANError(
                f"{param}: layer {names[-1]} resizes the network's output by {ops[-1].coeffs[0]:g} "
                "(bicubic), which torch cannot: use --backend ncnn"
            )
        ops, names = ops[:-1], names[:-1]
    match = _match_srvgg if any(op.kind == "prelu" for op in ops) else _match_rrdbnet
    return match(ops, names, str(param)), fp16


def _normalise(layers: list[Layer], weights: _Bin, param: Path) -> tuple[list[Op], list[str], bool]:
    """Our graph ops (inputs resolved through Splits), the ncnn layer name of each, fp16 flag."""
    alias: dict[str, str] = {}
    producer: dict[str, Op] = {}
    scaled: dict[str, tuple[str, float]] = {}
    ops: list[Op] = []
    names: list[str] = []
    fp16 = False

    def unknown(layer: Layer, why: str = "") -> ESRGANError:
        what = why or f"a {layer.kind} layer has no place in RRDBNet or SRVGGNetCompact"
        return _misfit(str(param), f"{layer.kind} {layer.name}", what)

    def add(layer: Layer, op: Op) -> None:
        ops.append(op)
        names.append(layer.name)
        producer[op.output] = op

    for layer in layers:
        ins = [alias.get(i, i) for i in layer.inputs]
        out = layer.outputs[0] if layer.outputs else ""
        kind = layer.kind
        if kind == "Input":
            alias[out] = "data"
        elif kind == "Split":
            for o in layer.outputs:
                alias[o] = ins[0]
        elif kind == "Convolution" and layer.int("3", 1) > 1:
            add(layer, _unshuffle_conv(layer, weights, ins, out, unknown))
        elif kind == "Convolution":
            k, n_out = layer.int("1", 1), layer.int("0")
            if (layer.int("11", k), layer.int("3", 1), layer.int("2", 1)) != (k, 1, 1) or k % 2 == 0:
                raise unknown(layer, "only odd square stride-1 undilated convolutions")
            if layer.int("4") != k // 2 or layer.int("14", k // 2) != k // 2:
                raise unknown(layer, "only 'same' zero padding")
            size = layer.int("6")
            if n_out <= 0 or size % (n_out * k * k):
                raise unknown(layer, f"weight count {size} does not fit {n_out} outputs of {k}x{k}")
            w, half = weights.tagged(size, layer)
            fp16 |= half
            bias = weights.raw(n_out, layer) if layer.int("5") else np.zeros(n_out, np.float32)
            act = layer.int("9")
            if act not in (0, 1, 2):
                raise unknown(layer, f"activation type {act}")
            slope = None if act == 0 else (layer.floats("10") or [0.0])[0] if act == 2 else 0.0
            add(layer, Op("conv", ins, out, weight=w.reshape(n_out, -1, k, k), bias=bias, slope=slope))
        elif kind == "ReLU" and ins[0] in producer and producer[ins[0]].kind == "conv":
            conv = producer[ins[0]]
            if conv.slope is not None:
                raise unknown(layer, "a second activation")
            conv.slope = float(layer.params.get("0", 0.0))  # ncnn's ReLU is leaky with slope 0=
            alias[out] = ins[0]
        elif kind == "PReLU":
            add(layer, Op("prelu", ins, out, weight=weights.raw(layer.int("0"), layer)))
        elif kind == "Concat" and layer.int("0") == 0:
            add(layer, Op("concat", ins, out))
        elif kind == "Eltwise" and layer.int("0") == 1 and len(ins) == 2:
            coeffs = layer.floats("1") or [1.0, 1.0]
            add(layer, Op("sum", ins, out, coeffs=(coeffs[0], coeffs[1])))
        elif kind == "BinaryOp" and layer.int("0") == 2 and layer.int("1") == 1:
            scaled[out] = (ins[0], float(layer.params.get("2", 0)))  # pnnx: x * 0.2, then an add
        elif kind == "BinaryOp" and layer.int("0") == 0 and len(ins) == 2 and not layer.int("1"):
            (a, ca), (b, cb) = (scaled.get(i, (i, 1.0)) for i in ins)
            add(layer, Op("sum", [a, b], out, coeffs=(ca, cb)))
        elif kind == "Interp" and layer.int("0") in (1, 3) and not layer.int("6"):
            fy, fx = float(layer.params.get("1", 1)), float(layer.params.get("2", 1))
            if fy != fx:
                raise unknown(layer, "different horizontal and vertical scales")
            if layer.int("0") == 3:
                add(layer, Op("bicubic", ins, out, coeffs=(fx, 0.0)))
            elif fx == int(fx) and fx >= 2:
                add(layer, Op("nearest2x" if fx == 2 else "nearest", ins, out, factor=int(fx)))
            else:
                raise unknown(layer, f"nearest resize by {fx}")
        elif kind == "PixelShuffle" and layer.int("1") == 0:
            add(layer, Op("pixel_shuffle", ins, out, factor=layer.int("0", 1)))
        elif kind == "Reorg" and layer.int("1") == 0:
            add(layer, Op("pixel_unshuffle", ins, out, factor=layer.int("0", 1)))
        else:
            raise unknown(layer)
    if weights.pos != len(weights.data):
        left = len(weights.data) - weights.pos
        raise ESRGANError(f"{weights.path}: {left} bytes left over: not the weights of {param.name}")
    if ops:
        ops[-1].output = "output"
    return ops, names, fp16


def _unshuffle_conv(
    layer: Layer, weights: _Bin, ins: list[str], out: str, unknown: Callable[[Layer, str], ESRGANError]
) -> Op:
    """A stride-r r x r conv with one-hot weights and no bias: our exporter's pixel-unshuffle."""
    r, n_out, size = layer.int("3"), layer.int("0"), layer.int("6")
    if layer.int("1") != r or layer.int("11", r) != r or layer.int("4") or layer.int("5") or layer.int("9"):
        raise unknown(layer, "a strided convolution that is not a pixel-unshuffle")
    w, _ = weights.tagged(size, layer)
    channels = n_out // (r * r)
    shape_ok = not n_out % (r * r) and size == n_out * channels * r * r
    if not (shape_ok and np.array_equal(w.reshape(n_out, channels, r, r), unshuffle_weights(channels, r))):
        raise unknown(layer, "a strided convolution that is not a pixel-unshuffle")
    return Op("pixel_unshuffle", ins, out, factor=r)


def _close(a: float | None, b: float | None) -> bool:
    return (a is None) == (b is None) and (a is None or abs(a - b) < 1e-6)  # type: ignore[operator]


def _misfit(source: str, name: str, why: str) -> ESRGANError:
    return ESRGANError(f"{source}: first layer that does not fit: {name} ({why})")


def _match_rrdbnet(ops: list[Op], names: list[str], source: str) -> dict[str, Tensor]:
    """Read the config from the conv shapes, then compare with that RRDBNet's exported graph."""
    convs = [op for op in ops if op.kind == "conv"]
    if len(convs) < 4:
        raise ESRGANError(f"{source}: {len(convs)} convolutions: not an RRDBNet or SRVGGNetCompact")
    unshuffle = ops[0].factor if ops[0].kind == "pixel_unshuffle" else 1
    num_up = sum(op.kind == "nearest2x" for op in ops)
    num_feat, in_ch = convs[0].weight.shape[:2]  # type: ignore[union-attr]
    grow = convs[1].weight.shape[0]  # type: ignore[union-attr]
    blocks = max(0, (len(convs) - 3 - num_up) // 15)
    scale = 2**num_up // unshuffle
    try:
        model = RRDBNet(in_ch // unshuffle**2, convs[-1].weight.shape[0], scale, num_feat, blocks, grow)  # type: ignore[union-attr]
    except ValueError as exc:
        raise ESRGANError(f"{source}: not an RRDBNet this package builds ({exc})") from None
    expected = build_graph(model).ops
    what = f"RRDBNet x{scale}, {blocks} blocks, {num_feat} features, grow {grow}"
    _compare(ops, names, expected, source, what)
    modules = [m for m in model.modules() if isinstance(m, nn.Conv2d)]  # the order build_graph reads
    with torch.no_grad():
        for conv, op in zip(modules, convs, strict=True):
            conv.weight.copy_(torch.from_numpy(op.weight))  # type: ignore[arg-type]
            conv.bias.copy_(torch.from_numpy(op.bias))  # type: ignore[arg-type, union-attr]
    return model.state_dict()


def _compare(ops: list[Op], names: list[str], expected: list[Op], source: str, what: str) -> None:
    """Op by op: same kind, shapes, coefficients, and inputs that are the corresponding blobs."""
    blob = {"data": "data"}
    for n, (got, exp) in enumerate(zip(ops, expected, strict=False)):
        why = ""
        ins = [blob.get(i, "?") for i in got.inputs]
        coeffs = got.coeffs
        if got.kind == "sum" and ins[::-1] == exp.inputs:
            ins, coeffs = ins[::-1], coeffs[::-1]
        if got.kind != exp.kind:
            why = f"{what} has {exp.kind} here, this file {got.kind}"
        elif ins != exp.inputs:
            why = f"its inputs are not the blobs an {what} feeds it"
        elif got.kind == "conv" and got.weight.shape != exp.weight.shape:  # type: ignore[union-attr]
            why = f"weights {got.weight.shape}, {what} has {exp.weight.shape}"  # type: ignore[union-attr]
        elif got.kind == "conv" and not _close(got.slope, exp.slope):
            why = f"activation slope {got.slope}, expected {exp.slope}"
        elif got.kind == "sum" and not all(_close(a, b) for a, b in zip(coeffs, exp.coeffs, strict=True)):
            why = f"sum coefficients {coeffs}, expected {exp.coeffs}"
        elif got.kind in ("pixel_shuffle", "pixel_unshuffle") and got.factor != exp.factor:
            why = f"factor {got.factor}, expected {exp.factor}"
        if why:
            raise _misfit(source, names[n], why)
        blob[got.output] = exp.output
    if len(ops) != len(expected):
        if len(ops) > len(expected):
            raise _misfit(source, names[len(expected)], f"layers after the end of an {what}")
        raise ESRGANError(f"{source}: the graph ends after layer {names[-1]}, before the end of an {what}")


def _match_srvgg(ops: list[Op], names: list[str], source: str) -> dict[str, Tensor]:
    """conv, PReLU, (conv, PReLU) x num_conv, conv, then pixel shuffle + nearest-upsampled input."""
    state: dict[str, Tensor] = {}
    blob, n = "data", 0
    while n < len(ops) and ops[n].kind in ("conv", "prelu"):
        op = ops[n]
        want = "conv" if n % 2 == 0 else "prelu"
        if op.kind != want or op.inputs != [blob] or (op.kind == "conv" and op.slope is not None):
            raise _misfit(source, names[n], f"SRVGGNetCompact alternates conv and PReLU, expected {want}")
        state[f"body.{n}.weight"] = torch.from_numpy(op.weight.copy())  # type: ignore[union-attr]
        if op.kind == "conv":
            state[f"body.{n}.bias"] = torch.from_numpy(op.bias.copy())  # type: ignore[union-attr]
        blob, n = op.output, n + 1
    end = {op.kind: op for op in ops[n:]}
    shuffle, total, up = end.get("pixel_shuffle"), end.get("sum"), end.get("nearest", end.get("nearest2x"))
    if len(ops) - n != 3 or n % 2 == 0 or shuffle is None or up is None or total is None:
        at = names[n] if n < len(ops) else names[-1]
        raise _misfit(source, at, "SRVGGNetCompact ends in conv, pixel shuffle, upsampled input and a sum")
    wired = shuffle.inputs == [blob] and up.inputs == ["data"] and up.factor == shuffle.factor
    if not wired or sorted(total.inputs) != sorted([shuffle.output, up.output]) or total.coeffs != (1.0, 1.0):
        raise _misfit(source, names[-1], "the output is not the pixel shuffle plus the upsampled input")
    return state
