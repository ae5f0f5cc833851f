"""`esrgan mos report`: the study's numbers printed, and a folder with a box plot and an HTML page.

    OUT/boxplot.png   scores per method (matplotlib, Agg)
    OUT/report.html   the table, the pairwise tests and the plot
    OUT/report.json   the same numbers, machine-readable

The folder is written atomically (built beside OUT, then renamed into place).
"""

from __future__ import annotations

import contextlib
import html
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from esrgan.analysis.report import jsonable, new_figure, save_figure
from esrgan.atomic import atomic_directory, write_text_atomic
from esrgan.errors import ESRGANError
from esrgan.mos.stats import (
    SCORE_RANGE,
    TESTS,
    MethodScore,
    PairKey,
    PairTest,
    TestName,
    method_scores,
    pairwise_tests,
)
from esrgan.mos.storage import Ratings
from esrgan.mos.study import Study


def collect(study: Study) -> tuple[dict[str, dict[PairKey, int]], list[dict[str, Any]]]:
    """`ratings[method][(rater, image)]` = score (one per key: a rater rates an item once), and the rows."""
    with contextlib.closing(Ratings(study.ratings_path)) as db:
        rows = db.all()
    ratings: dict[str, dict[PairKey, int]] = {m: {} for m in study.methods}
    for row in rows:
        ratings.setdefault(row["method"], {})[(row["rater"], row["image"])] = int(row["score"])
    return ratings, rows


def _num(x: float, digits: int = 3) -> str:
    return "-" if math.isnan(x) else f"{x:.{digits}f}"


def text_report(
    study: Study, table: list[MethodScore], tests: list[PairTest], rows: list[dict[str, Any]]
) -> str:
    raters = len({r["rater"] for r in rows})
    width = max(len(s.method) for s in table)
    lines = [
        f"MOS study {study.folder}: {raters} rater(s), {len(rows)} rating(s), {len(study.images)} image(s)",
        f"{'method':<{width}}  {'n':>5}  {'MOS':>6}  95% CI",
        *(
            f"{s.method:<{width}}  {s.n:>5}  {_num(s.mos):>6}  [{_num(s.ci_low)}, {_num(s.ci_high)}]"
            for s in table
        ),
        *([f"pairwise {TESTS[tests[0].test]}:"] if tests else []),
        *(f"  {t.a} vs {t.b}: {_test_numbers(t)}" for t in tests),
    ]
    return "\n".join(lines)


def _test_numbers(t: PairTest) -> str:
    p = "-" if math.isnan(t.p) else f"{t.p:.4g}"
    if t.test == "mannwhitney":
        return f"U = {_num(t.statistic, 1)}, p = {p}"
    return f"T = {_num(t.statistic, 1)}, p = {p}, {t.pairs} pair(s), {t.dropped} unpaired rating(s) dropped"


def box_plot(path: Path, scores: dict[str, list[int]], title: str) -> None:
    names = list(scores)
    fig = new_figure(1.2 + 1.1 * len(names), 3.6)
    ax = fig.add_subplot()
    ax.boxplot([scores[n] or [math.nan] for n in names], showmeans=True)
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylim(0.5, 5.5)
    ax.set_yticks([1, 2, 3, 4, 5])
    ax.set_ylabel("score (1 bad - 5 excellent)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


def html_report(study: Study, table: list[MethodScore], tests: list[PairTest], summary: str) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(s.method)}</td><td>{s.n}</td><td>{_num(s.mos)}</td>"
        f"<td>[{_num(s.ci_low)}, {_num(s.ci_high)}]</td></tr>"
        for s in table
    )
    pairs = "".join(
        f"<tr><td>{esc(t.a)}</td><td>{esc(t.b)}</td><td>{_num(t.statistic, 1)}</td>"
        f"<td>{'-' if math.isnan(t.p) else f'{t.p:.4g}'}</td><td>{t.pairs}</td><td>{t.dropped}</td></tr>"
        for t in tests
    )
    test_name = esc(TESTS[tests[0].test]) if tests else "tests"
    low, high = SCORE_RANGE
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MOS report</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}td:first-child{{text-align:left}}</style>
</head><body>
<h1>MOS report</h1><p>{esc(summary)}</p>
<h2>Mean opinion score per method</h2>
<table><tr><th>method</th><th>n</th><th>MOS</th><th>95% CI (t, clipped to [{low:g}, {high:g}])</th></tr>{rows}
</table>
<h2>Pairwise {test_name}</h2>
<table><tr><th>A</th><th>B</th><th>statistic</th><th>p</th><th>pairs</th><th>dropped</th></tr>{pairs}</table>
<img src="boxplot.png" alt="box plot of the scores per method">
</body></html>
"""


def write_report(study: Study, out: Path | None = None, test: TestName = "wilcoxon") -> tuple[str, Path]:
    """Compute, write OUT (default STUDY/report) atomically, and return (printed text, OUT)."""
    ratings, rows = collect(study)
    scores = {m: list(by_key.values()) for m, by_key in ratings.items()}
    table, tests = method_scores(scores), pairwise_tests(ratings, test)
    text = text_report(study, table, tests, rows)
    out = out or study.folder / "report"
    if out.is_dir() and any(out.iterdir()) and not (out / "report.json").is_file():
        raise ESRGANError(f"{out} is not empty and is not a MOS report folder; choose another")
    raters = len({r["rater"] for r in rows})
    with atomic_directory(out, replace=True) as tmp:
        box_plot(tmp / "boxplot.png", scores, f"MOS, {raters} rater(s)")
        write_text_atomic(tmp / "report.html", html_report(study, table, tests, text.splitlines()[0]))
        numbers = {
            "raters": raters,
            "ratings": len(rows),
            "ci": f"Student t 95%, clipped to [{SCORE_RANGE[0]:g}, {SCORE_RANGE[1]:g}]",
            "test": TESTS[test],
            "methods": [asdict(s) for s in table],
            "pairwise": [asdict(t) for t in tests],
        }
        # NaN (a method with fewer than two ratings) as null, which JSON can hold
        write_text_atomic(tmp / "report.json", json.dumps(jsonable(numbers), indent=1))
    return text, out
