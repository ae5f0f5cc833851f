"""MOS per method with a 95% confidence interval, and pairwise significance tests.

The interval is Student's t, mean +- t(0.975, n - 1) * s / sqrt(n) (s with ddof 1), clipped to the
score range [1, 5]: near the ends of the scale the t interval would otherwise claim means no rating
can have (1, 2, 3, 4, 5, 5 gives [1.62, 5.05] unclipped).

Methods are compared as the SRGAN paper does (section 3.1): a paired two-sided Wilcoxon signed-rank
test (scipy's default: zero differences dropped, as Wilcoxon's original test). Every rater scores
every image under every method, so a pair is one rater's scores of the same image under the two
methods; a (rater, image) that only one of the two methods has (a rater who stopped halfway) has no
partner and is dropped, and the count is reported. Unpaired, the between-rater spread drowns the
within-rater difference: the unpaired Mann-Whitney U test is kept only as an option, labelled so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from esrgan.errors import ESRGANError

SCORE_RANGE = (1.0, 5.0)
PairKey = tuple[str, str]  # (rater, image)
TestName = Literal["wilcoxon", "mannwhitney"]
TESTS: dict[str, str] = {
    "wilcoxon": "paired Wilcoxon signed-rank (two-sided) on (rater, image) pairs",
    "mannwhitney": "unpaired Mann-Whitney U (two-sided; not SRGAN's test: ignores the pairing)",
}


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
    test: str  # a key of TESTS
    statistic: float  # Wilcoxon: min(R+, R-) (scipy's two-sided T); Mann-Whitney: U of `a`
    p: float
    pairs: int  # (rater, image) pairs both methods have (Wilcoxon); ratings of a and b (Mann-Whitney)
    dropped: int  # ratings of a or b without a partner (Wilcoxon); 0 for Mann-Whitney


def method_scores(scores: dict[str, list[int]]) -> list[MethodScore]:
    import numpy as np
    from scipy import stats

    low, high = SCORE_RANGE
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
        out.append(MethodScore(method, n, mean, std, max(low, mean - half), min(high, mean + half)))
    return out


def pairwise_tests(ratings: dict[str, dict[PairKey, int]], test: TestName = "wilcoxon") -> list[PairTest]:
    """Every pair of methods, in the order given; `ratings[method][(rater, image)]` is a score."""
    if test not in TESTS:
        raise ESRGANError(f"test must be one of {', '.join(TESTS)}, got {test!r}")
    tester = wilcoxon_pair if test == "wilcoxon" else mann_whitney_pair
    return [tester(a, b, ratings[a], ratings[b]) for a, b in combinations(ratings, 2)]


def wilcoxon_pair(a: str, b: str, scores_a: dict[PairKey, int], scores_b: dict[PairKey, int]) -> PairTest:
    from scipy import stats

    keys = sorted(scores_a.keys() & scores_b.keys())
    dropped = len(scores_a.keys() ^ scores_b.keys())
    x = [scores_a[k] for k in keys]
    y = [scores_b[k] for k in keys]
    if not keys:
        return PairTest(a, b, "wilcoxon", math.nan, math.nan, 0, dropped)
    if x == y:  # no non-zero difference: nothing to rank (scipy warns and divides by zero)
        return PairTest(a, b, "wilcoxon", 0.0, 1.0, len(keys), dropped)
    result = stats.wilcoxon(x, y, alternative="two-sided")
    return PairTest(a, b, "wilcoxon", float(result.statistic), float(result.pvalue), len(keys), dropped)


def mann_whitney_pair(a: str, b: str, scores_a: dict[PairKey, int], scores_b: dict[PairKey, int]) -> PairTest:
    from scipy import stats

    x, y = list(scores_a.values()), list(scores_b.values())
    if not x or not y:
        return PairTest(a, b, "mannwhitney", math.nan, math.nan, len(x) + len(y), 0)
    result = stats.mannwhitneyu(x, y, alternative="two-sided")
    return PairTest(a, b, "mannwhitney", float(result.statistic), float(result.pvalue), len(x) + len(y), 0)
