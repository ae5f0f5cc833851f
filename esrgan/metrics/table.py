"""The one table of metrics every report uses, and how a value that cannot be computed is shown.

Each metric has a name (`esrgan eval --metrics`, and its keys in eval's JSON/CSV), a report key (the
Y-channel column of sweep, compare and training validation: `psnr_y`, ...), the digits tables show,
and whether higher is better. A value that cannot be computed (NIQE of an image under two 96x96
blocks, PI without Ma's model) is `None`: `null` in JSON, empty in CSV, "n/a" in tables; never NaN
and never a crash. PSNR of identical images is `inf` (shown "inf", `null` in JSON, which has no inf).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["METRICS", "NOT_AVAILABLE", "Metric", "format_value", "metric", "report_key"]

NOT_AVAILABLE = "n/a"


@dataclass(frozen=True)
class Metric:
    name: str  # as given to --metrics and used as eval's keys
    label: str  # table header
    report_key: str  # key in sweep/compare/validation rows (Y channel for the full-reference ones)
    digits: int  # decimals shown in tables
    higher_is_better: bool
    full_reference: bool  # needs the ground truth

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def better(self) -> str:
        return "higher" if self.higher_is_better else "lower"


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("psnr", "PSNR", "psnr_y", 3, True, True),
        Metric("ssim", "SSIM", "ssim_y", 4, True, True),
        Metric("rmse", "RMSE", "rmse_y", 3, False, True),
        Metric("niqe", "NIQE", "niqe", 4, False, False),
        Metric("pi", "PI", "pi", 4, False, False),
    )
}
_BY_KEY = {m.report_key: m for m in METRICS.values()}


def metric(key: str) -> Metric:
    """The metric of a name (`psnr`), a report key (`psnr_y`) or a set-level key (`pirm_rmse_y`);
    KeyError if none."""
    key = key.removeprefix("pirm_")
    return METRICS[key] if key in METRICS else _BY_KEY[key]


def report_key(name: str) -> str:
    return METRICS[name].report_key


def format_value(value: float | None, key: str) -> str:
    """A metric value as tables show it: fixed digits, "inf", or "n/a" for a value not computed."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_AVAILABLE
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{metric(key).digits}f}"
