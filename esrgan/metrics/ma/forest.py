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
_POSITIONS = {"lDau": 0, "rDau": 1, "upper": 4, "avnode": 5, "mbest": 6, "ntree": 8, "coef": 15}
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


# The official file's sha256 is not recorded here, so a file is checked by its structure: what the
# forests' walk relies on (shapes, daughter and feature numbers in range), each as one clear line.
def _read_model(path: Path) -> MaModel:
    try:
        with open(path, "rb") as f:
            head = f.read(520)
    except OSError as exc:
        raise ESRGANError(f"{path}: cannot read the Ma model ({exc.strerror or exc})") from None
    if head.startswith(b"MATLAB 7.3") or _HDF5_SIGNATURE in (head[:8], head[512:520]):
        raise ESRGANError(f"{path}: a MATLAB v7.3 (HDF5) file, which scipy cannot read: use save -v7")
    try:
        import scipy.io
    except ImportError:
        raise ESRGANError(f"reading Ma's model.mat needs scipy: {_SCIPY_HINT}") from None
    try:
        data = scipy.io.loadmat(str(path), chars_as_strings=False)
    except Exception as exc:  # scipy raises ValueError, TypeError, MatReadError... on other files
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ESRGANError(f"{path}: not a MATLAB MAT file (v5/v7) that scipy reads ({message})") from None
    model = data.get("model")
    if not _is_struct(model) or not {"rf", "linear"} <= set(model.dtype.names):
        raise ESRGANError(f"{path}: no struct 'model' with fields 'rf' and 'linear' (as in Ma's model.mat)")
    record = model.reshape(-1)[0]
    linear = _numeric(record["linear"], f"{path}: model.linear").reshape(-1)
    if linear.size != 4:
        raise ESRGANError(f"{path}: model.linear must hold 4 values, it holds {linear.size}")
    rf = record["rf"]
    if not isinstance(rf, np.ndarray) or rf.dtype != object or rf.size != 3:
        raise ESRGANError(f"{path}: model.rf must be a cell array of 3 forests")
    forests = tuple(
        _read_forest(cell, f"{path}: model.rf{{{k + 1}}}", FEATURE_WIDTHS[k])
        for k, cell in enumerate(rf.reshape(-1, order="F"))
    )
    return MaModel(forests, linear)  # type: ignore[arg-type]


def _is_struct(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.dtype.names is not None and x.size == 1


def _numeric(x: Any, what: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "iufb":
        raise ESRGANError(f"{what} is not a numeric array")
    return x.astype(np.float64)


def _read_forest(cell: Any, what: str, width: int) -> RegressionForest:
    if not _is_struct(cell):
        raise ESRGANError(f"{what} is not a struct (a randomforest-matlab regression model)")
    record, names = cell.reshape(-1)[0], cell.dtype.names
    by_position = all(n not in names for n in _FIELDS)  # pyiqa-style: only the layout is known

    def field(name: str) -> np.ndarray | None:
        if name in names:
            return _numeric(record[name], f"{what}.{name}")
        if by_position and len(names) > _POSITIONS[name]:
            return _numeric(record[_POSITIONS[name]], f"{what}.{name}")
        return None

    def required(name: str) -> np.ndarray:
        a = field(name)
        if a is None:
            raise ESRGANError(f"{what} has no field '{name}' (not a randomforest-matlab regression model)")
        return a

    arrays = {name: required(name) for name in _FIELDS}
    coef = arrays.pop("coef").reshape(-1)
    shape = arrays["lDau"].shape
    if coef.size != 2 or len(shape) != 2 or 0 in shape or any(a.shape != shape for a in arrays.values()):
        raise ESRGANError(f"{what}: coef must hold 2 values and the tree arrays be nrnodes x ntree")
    ntree = field("ntree")  # regRF_predict walks the first model.ntree columns
    if ntree is not None:
        count = int(ntree.reshape(-1)[0])
        if not 1 <= count <= shape[1]:
            raise ESRGANError(f"{what}.ntree is {count}; the tree arrays are {shape[0]}x{shape[1]}")
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
