"""Ma et al.'s trained model: three regression forests and a linear combination (`model.mat`).

The forests are randomforest-matlab's (a MEX wrapper of R's randomForest, `regRF_train`): per
forest arrays of nrnodes x ntree, one column per tree, 1-based node and feature numbers. A tree is
walked from node 1: at a split node k, go to lDau[k] if x[mbest[k]] <= upper[k], else to rDau[k];
a terminal node predicts avnode[k] (`predictRegTree` in reg_RF.cpp). The forest's prediction is the
mean over its trees, then coef[0] + coef[1] * y if any coef is non-zero (bias correction).

Terminal nodes are found as the nodes without daughters (lDau == 0), not from `nodestatus`: that
array is C `char` data written into a MATLAB char array (2 bytes per element), so in the file its
bytes are packed two per element and scipy decodes them as text. randomForest sets a daughter only
when it splits a node, and daughters always come after their parent, which bounds each walk.

Ma's score: [1 s1 s2 s3] . linear, s_k the prediction of forest k for feature group k (18 DCT, 45
wavelet, 75 PCA features). pyiqa's `NRQM_model.mat` has the same layout; fields are read by name,
and by their position in regRF_train's struct (lDau, rDau, nodestatus, nrnodes, upper, avnode, mbest,
ndtree, ntree, Y_hat, mse, importance, importanceSD, localImp, proximity, coef) when the names are
not there.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from esrgan.errors import ESRGANError

FEATURE_WIDTHS = (18, 45, 75)
_FIELDS = ("lDau", "rDau", "upper", "avnode", "mbest", "coef")
_POSITIONS = {"lDau": 0, "rDau": 1, "nrnodes": 3, "upper": 4, "avnode": 5, "mbest": 6, "ntree": 8, "coef": 15}
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_SCIPY_HINT = "pip install scipy (or pip install 'esrgan[metrics]')"


class RegressionForest(NamedTuple):
    """One forest, arrays (ntree, nrnodes), 0-based: left/right = -1 and feature = 0 at leaves."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    coef: np.ndarray  # (2,): the bias correction, all zero when unused


class MaModel(NamedTuple):
    forests: tuple[RegressionForest, RegressionForest, RegressionForest]
    linear: np.ndarray  # (4,): [intercept, w1, w2, w3]


def predict_forest(forest: RegressionForest, x: np.ndarray) -> float:
    """Mean prediction of the trees for one feature vector x (all trees advance one level per step)."""
    trees = np.arange(len(forest.left))
    node = np.zeros(len(trees), dtype=np.intp)
    while True:  # ends: daughters have larger numbers than their parents (checked when loading)
        left = forest.left[trees, node]
        if np.all(left < 0):
            break
        go_left = x[forest.feature[trees, node]] <= forest.threshold[trees, node]
        node = np.where(left < 0, node, np.where(go_left, left, forest.right[trees, node]))
    # reg_RF.cpp adds the trees' predictions one after the other, then divides.
    y = float(np.cumsum(forest.value[trees, node])[-1]) / len(trees)
    if np.any(forest.coef != 0):
        y = float(forest.coef[0] + forest.coef[1] * y)
    return y


def predict_ma(model: MaModel, features: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
    """Ma's score [1 s1 s2 s3] . linear from the three feature groups."""
    s = [
        predict_forest(f, np.asarray(x, dtype=np.float64))
        for f, x in zip(model.forests, features, strict=True)
    ]
    lin = model.linear
    return float(lin[0] + s[0] * lin[1] + s[1] * lin[2] + s[2] * lin[3])


def load_ma_model(path: str | os.PathLike[str]) -> MaModel:
    """Read and check Ma's model.mat (cached per file: path, size and modification time)."""
    p = Path(path)
    if not p.is_file():
        raise ESRGANError(f"Ma model file not found: {p}")
    st = p.stat()
    return _load_cached(str(p.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, size: int, mtime_ns: int) -> MaModel:
    return _read_model(Path(path))


def _read_model(path: Path) -> MaModel:
    try:
        with open(path, "rb") as f:
            head = f.read(520)
    except OSError as exc:
        raise ESRGANError(f"{path}: cannot read the Ma model ({exc.strerror or exc})") from None
    if head.startswith(_HDF5_SIGNATURE) or head[512:520] == _HDF5_SIGNATURE or head.startswith(b"MATLAB 7.3"):
        raise ESRGANError(
            f"{path}: a MATLAB v7.3 (HDF5) MAT file, which scipy cannot read; re-save it with save -v7"
        )
    if len(head) < 128 or not head.startswith(b"MATLAB") or head[126:128] not in (b"IM", b"MI"):
        raise ESRGANError(
            f"{path}: not a MATLAB MAT file (v5/v7); Ma's model is the sr-metric repo's model.mat"
        )
    try:
        import scipy.io
    except ImportError:
        raise ESRGANError(f"reading Ma's model.mat needs scipy: {_SCIPY_HINT}") from None
    try:
        data = scipy.io.loadmat(str(path), chars_as_strings=False)
    except Exception as exc:  # scipy raises ValueError, TypeError, MatReadError... on damaged files
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ESRGANError(f"{path}: cannot read the MAT file ({message})") from None
    model = data.get("model")
    if not _is_struct(model):
        raise ESRGANError(
            f"{path}: no struct 'model' in the file (Ma's model.mat has model.rf and model.linear)"
        )
    record = model.reshape(-1)[0]
    names = model.dtype.names
    if "rf" not in names or "linear" not in names:
        raise ESRGANError(
            f"{path}: the struct 'model' has no 'rf' and 'linear' fields (it has {', '.join(names)})"
        )
    linear = _numeric(record["linear"], f"{path}: model.linear")
    if linear.size != 4:
        raise ESRGANError(f"{path}: model.linear must hold 4 values, it holds {linear.size}")
    rf = record["rf"]
    if not isinstance(rf, np.ndarray) or rf.dtype != object or rf.size != 3:
        raise ESRGANError(f"{path}: model.rf must be a cell array of 3 forests")
    forests = tuple(
        _read_forest(cell, f"{path}: model.rf{{{k + 1}}}", FEATURE_WIDTHS[k])
        for k, cell in enumerate(rf.reshape(-1, order="F"))
    )
    return MaModel(forests, linear.reshape(-1))  # type: ignore[arg-type]


def _is_struct(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.dtype.names is not None and x.size == 1


def _numeric(x: Any, what: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "iufb":
        raise ESRGANError(f"{what} is not a numeric array")
    a = x.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ESRGANError(f"{what} holds non-finite values")
    return a


def _read_forest(cell: Any, what: str, width: int) -> RegressionForest:
    if not _is_struct(cell):
        raise ESRGANError(f"{what} is not a struct (a randomforest-matlab regression model)")
    record = cell.reshape(-1)[0]
    names = cell.dtype.names
    fields = {}
    for name in _FIELDS:
        if name in names:
            fields[name] = record[name]
        elif all(n not in names for n in _FIELDS) and len(names) > _POSITIONS[name]:
            fields[name] = record[_POSITIONS[name]]  # pyiqa-style: only the layout is known
        else:
            raise ESRGANError(f"{what} has no field '{name}' (not a randomforest-matlab regression model)")
    arrays = {name: _numeric(fields[name], f"{what}.{name}") for name in _FIELDS}
    coef = arrays.pop("coef").reshape(-1)
    if coef.size != 2:
        raise ESRGANError(f"{what}.coef must hold 2 values, it holds {coef.size}")
    shape = arrays["lDau"].shape
    if len(shape) != 2 or any(a.shape != shape for a in arrays.values()) or 0 in shape:
        sizes = ", ".join(f"{n} {a.shape}" for n, a in arrays.items())
        raise ESRGANError(f"{what}: the tree arrays must all be nrnodes x ntree, got {sizes}")
    # regRF_predict walks model.ntree trees, each nrnodes entries after the previous one.
    for name, limit in (("nrnodes", shape[0]), ("ntree", shape[1])):
        count = _count(record, names, name, what)
        if count is not None and not (1 <= count <= limit if name == "ntree" else count == limit):
            raise ESRGANError(
                f"{what}.{name} is {count}, which does not fit the {shape[0]}x{shape[1]} tree arrays"
            )
        if name == "ntree" and count is not None:
            arrays = {n: a[:, :count] for n, a in arrays.items()}
    # Trees become rows: (ntree, nrnodes).
    ldau, rdau, mbest = (arrays[n].T.astype(np.int64) for n in ("lDau", "rDau", "mbest"))
    nodes = np.arange(shape[0])[None, :]
    split = ldau != 0
    if np.any(split & ((ldau <= nodes + 1) | (rdau <= nodes + 1) | (ldau > shape[0]) | (rdau > shape[0]))):
        raise ESRGANError(f"{what}: a daughter node number is out of range")
    if np.any(split & ((mbest < 1) | (mbest > width))):
        raise ESRGANError(f"{what}: a split uses a feature outside 1..{width} (a forest for other features?)")
    forest = RegressionForest(
        left=np.where(split, ldau - 1, -1),
        right=np.where(split, rdau - 1, -1),
        feature=np.where(split, mbest - 1, 0),
        threshold=np.ascontiguousarray(arrays["upper"].T),
        value=np.ascontiguousarray(arrays["avnode"].T),
        coef=coef,
    )
    for a in forest:
        a.flags.writeable = False
    return forest


def _count(record: Any, names: tuple[str, ...], name: str, what: str) -> int | None:
    """The scalar field `name` (by name, or by position in a pyiqa-style struct); None if absent."""
    if name in names:
        value = record[name]
    elif all(n not in names for n in _FIELDS) and len(names) > _POSITIONS[name]:
        value = record[_POSITIONS[name]]
    else:
        return None
    a = _numeric(value, f"{what}.{name}").reshape(-1)
    if a.size != 1 or a[0] != int(a[0]):
        raise ESRGANError(f"{what}.{name} must be one whole number")
    return int(a[0])
