"""MOS per method with a 95% confidence interval, and pairwise Mann-Whitney U tests.

The interval is Student's t: mean +- t(0.975, n - 1) * s / sqrt(n), s the sample standard deviation
(ddof 1). Scores are ordinal, so methods are compared with a rank test, two-sided Mann-Whitney U as
in the SRGAN paper; U is that of the first method of the pair (scipy's convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations


@dataclass(frozen=True)
class MethodScore:
    method: str
    n: int
    mos: float
    std: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class PairTest:
    a: str
    b: str
    u: float
    p: float


def method_scores(scores: dict[str, list[int]]) -> list[MethodScore]:
    import numpy as np
    from scipy import stats

    out = []
    for method, values in scores.items():
        x = np.asarray(values, dtype=np.float64)
        n = len(x)
        if n == 0:
            out.append(MethodScore(method, 0, math.nan, math.nan, math.nan, math.nan))
            continue
        mean = float(x.mean())
        std = float(x.std(ddof=1)) if n > 1 else math.nan
        half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else math.nan
        out.append(MethodScore(method, n, mean, std, mean - half, mean + half))
    return out


def pairwise_tests(scores: dict[str, list[int]]) -> list[PairTest]:
    from scipy import stats

    out = []
    for a, b in combinations(scores, 2):
        if not scores[a] or not scores[b]:
            out.append(PairTest(a, b, math.nan, math.nan))
            continue
        result = stats.mannwhitneyu(scores[a], scores[b], alternative="two-sided")
        out.append(PairTest(a, b, float(result.statistic), float(result.pvalue)))
    return out
