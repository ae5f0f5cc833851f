"""Set-level numbers from per-image metric values: the plain mean, or PIRM 2018's aggregation.

`pirm`: the RMSE of a set is sqrt(mean per-image MSE) and its PSNR comes from that mean MSE; the
other metrics (SSIM, NIQE, PI) are averaged per set. Values that could not be computed (None) are
left out; a set with none gives None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from esrgan.errors import ESRGANError
from esrgan.metrics.fidelity import WHITE
from esrgan.metrics.table import metric

AGGREGATIONS = ("mean", "pirm")
Value = float | None


def check_aggregation(how: str) -> None:
    if how not in AGGREGATIONS:
        raise ESRGANError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, not {how!r}")


def aggregate(rows: Iterable[Mapping[str, Value]], key: str, how: str = "mean") -> Value:
    """The set-level value of metric `key` (a name or a report key) over per-image rows.

    Images where the value is None are left out; None if no image has one.
    """
    check_aggregation(how)
    values = [float(v) for row in rows if (v := row.get(key)) is not None]
    if not values:
        return None
    name = metric(key).name
    if how == "pirm" and name in ("rmse", "psnr"):
        if name == "rmse":
            return math.sqrt(float(np.mean(np.square(values))))
        mse = float(np.mean([WHITE**2 / 10 ** (v / 10) for v in values]))  # inf dB -> MSE 0
        return math.inf if mse == 0 else 10 * math.log10(WHITE**2 / mse)
    return float(np.mean(values))
