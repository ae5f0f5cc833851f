"""MOS studies: creation (SRGAN protocol), the rating API, durability, and the report's numbers.

The report is checked against statistics computed here by hand: means, Student-t intervals with
tabulated quantiles (clipped to the 1..5 scale), and Wilcoxon's signed-rank T on pairs matched here
by (rater, image), its p against scipy.stats.wilcoxon on those pairs.
"""

from __future__ import annotations

import json
import math
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esrgan.cli.main import main
from esrgan.errors import ESRGANError
from esrgan.mos.storage import Ratings
from esrgan.mos.study import create_study, load_study, parse_method

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install -e '.[web]'")
from fastapi.testclient import TestClient  # noqa: E402

from esrgan.web.mos_app import create_mos_app  # noqa: E402

RNG = np.random.default_rng(5)
METHODS = ("zebraNet", "quokkaGAN")  # distinctive, so a leak into a page is easy to spot
T975 = {1: 12.706204736, 2: 4.302652730, 3: 3.182446305, 4: 2.776445105, 5: 2.570581836, 7: 2.364624252}
T975 |= {257: 1.969237496, 259: 1.969165556}  # 26 raters x 10 images, two ratings left out


@pytest.fixture(autouse=True)
def sample_photos(tmp_path, monkeypatch) -> Path:
    """Three generated photos stand in for the sample photos of installed packages (calibration)."""
    from esrgan.data import samples

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(RNG.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(folder / f"photo{i}.png")
    monkeypatch.setattr(samples, "sample_photos", lambda: sorted(folder.iterdir()))
    return folder


def make_folders(root: Path, n_images: int = 2, size: int = 16) -> tuple[Path, dict[str, Path]]:
    hr = root / "hr"
    hr.mkdir(parents=True)
    dirs = {m: root / m for m in METHODS}
    for d in dirs.values():
        d.mkdir()
    for i in range(n_images):
        a = RNG.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(a).save(hr / f"img{i}.png")
        Image.fromarray(255 - a).save(dirs[METHODS[0]] / f"img{i}_x4.png")  # as `esrgan upscale` names it
        Image.fromarray(a // 2).save(dirs[METHODS[1]] / f"img{i}.png")
    return hr, dirs


def make_study(root: Path, **kwargs) -> Path:
    hr, dirs = make_folders(root)
    study = root / "study"
    create_study(study, [(m, dirs[m]) for m in METHODS], hr, calibration=1, **kwargs)
    return study


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_create_study_every_method_every_image_anonymised(tmp_path):
    study_dir = make_study(tmp_path)
    meta = json.loads((study_dir / "study.json").read_text())
    assert meta["methods"] == ["nearest", *METHODS, "HR"]
    pairs = sorted((i["image"], i["method"]) for i in meta["items"])
    assert pairs == sorted((f"img{k}", m) for k in range(2) for m in ["nearest", *METHODS, "HR"])
    files = sorted(p.name for p in (study_dir / "images").iterdir())
    ids = [i["id"] for i in meta["items"]] + [meta["calibration"][0][k] for k in ("low", "high")]
    assert files == sorted(f"{i}.png" for i in ids) and len(set(ids)) == len(ids)
    for name in files:
        assert not any(m.lower() in name.lower() for m in (*METHODS, "nearest", "hr", "img"))
    by = {(i["image"], i["method"]): study_dir / "images" / f"{i['id']}.png" for i in meta["items"]}
    hr = np.asarray(Image.open(tmp_path / "hr" / "img1.png"))
    np.testing.assert_array_equal(np.asarray(Image.open(by["img1", "HR"])), hr)
    np.testing.assert_array_equal(np.asarray(Image.open(by["img1", METHODS[0]])), 255 - hr)
    np.testing.assert_array_equal(np.asarray(Image.open(by["img1", METHODS[1]])), hr // 2)
    nn = np.asarray(Image.open(by["img1", "nearest"])).astype(float)
    blocks = nn.reshape(4, 4, 4, 4, 3)
    assert np.all(blocks == blocks[:, :1, :, :1])  # every 4x4 block is one colour: nearest neighbour
    block_means = hr.reshape(4, 4, 4, 4, 3).astype(float).mean(axis=(1, 3))
    assert np.abs(blocks[:, 0, :, 0] - block_means).mean() < 40  # and it is a low-resolution copy of HR
    calib = meta["calibration"][0]
    assert calib["image"] == "photo0"  # not a rated image: the first sample photo
    np.testing.assert_array_equal(
        np.asarray(Image.open(study_dir / "images" / f"{calib['high']}.png")),
        np.asarray(Image.open(tmp_path / "photos" / "photo0.png")),
    )
    assert sqlite3.connect(study_dir / "ratings.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_create_study_errors(tmp_path, capsys):
    hr, dirs = make_folders(tmp_path)
    with pytest.raises(ESRGANError, match="reserved"):
        parse_method(f"HR={dirs[METHODS[0]]}")
    with pytest.raises(ESRGANError, match="NAME=DIR"):
        parse_method("justaname")
    (dirs[METHODS[1]] / "img1.png").unlink()
    with pytest.raises(ESRGANError, match="no image for HR image 'img1'"):
        create_study(tmp_path / "s", [(m, dirs[m]) for m in METHODS], hr)
    Image.new("RGB", (8, 8)).save(dirs[METHODS[1]] / "img1.png")
    with pytest.raises(ESRGANError, match="is 8x8 but HR img1.png is 16x16"):
        create_study(tmp_path / "s", [(m, dirs[m]) for m in METHODS], hr)
    assert not (tmp_path / "s").exists()  # nothing half-made
    rc = main(["mos", "create", str(tmp_path / "s"), "--method", f"a={tmp_path / 'none'}", "--hr", str(hr)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "esrgan mos: error:" in err


def test_calibration_images_are_not_rated_images(tmp_path, sample_photos, capsys):
    hr, dirs = make_folders(tmp_path)
    methods = [f"{m}={dirs[m]}" for m in METHODS]
    rated = [np.asarray(Image.open(p)) for p in sorted(hr.iterdir())]
    (sample_photos / "photo0.png").write_bytes((hr / "img1.png").read_bytes())  # a sample that is rated

    def calibration_pixels(study_dir: Path) -> list[np.ndarray]:
        meta = json.loads((study_dir / "study.json").read_text())
        return [
            np.asarray(Image.open(study_dir / "images" / f"{c['high']}.png")) for c in meta["calibration"]
        ]

    args = ["mos", "create", str(tmp_path / "s1"), *(x for m in methods for x in ("--method", m))]
    assert main([*args, "--hr", str(hr), "--calibration", "2"]) == 0
    shown = calibration_pixels(tmp_path / "s1")
    expected = [np.asarray(Image.open(sample_photos / f"photo{i}.png")) for i in (1, 2)]  # photo0 skipped
    assert len(shown) == 2 and all(np.array_equal(a, b) for a, b in zip(shown, expected, strict=True))
    assert not any(np.array_equal(a, b) for a in shown for b in rated)
    capsys.readouterr()

    # Only two sample photos are not rated: three are refused, with nothing left behind.
    assert main([*args[:2], str(tmp_path / "s2"), *args[3:], "--hr", str(hr), "--calibration", "3"]) == 2
    assert "only 2 calibration image(s) outside the rated set" in capsys.readouterr().err
    assert not (tmp_path / "s2").exists()

    # A calibration folder holding a rated image: refused unless asked for.
    assert (
        main([*args[:2], str(tmp_path / "s3"), *args[3:], "--hr", str(hr), "--calibration-hr", str(hr)]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has the pixels of rated HR image img0.png" in err
    assert not (tmp_path / "s3").exists()
    overlap = [*args[:2], str(tmp_path / "s3"), *args[3:], "--hr", str(hr), "--calibration-hr", str(hr)]
    assert main([*overlap, "--allow-calibration-overlap", "--calibration", "1"]) == 0
    assert np.array_equal(calibration_pixels(tmp_path / "s3")[0], rated[0])


def test_rating_api_hides_methods_and_shuffles_per_rater(tmp_path):
    study_dir = make_study(tmp_path)
    study = load_study(study_dir)
    with TestClient(create_mos_app(study_dir)) as client:
        assert '<input id="name"' in client.get("/").text
        start = client.post("/api/mos/raters", json={"name": "  Ada  "}).json()
        assert start["rater"] == "Ada" and len(start["calibration"]) == 1 and start["next"]["total"] == 8
        seen, texts = [], [json.dumps(start)]
        nxt = start["next"]
        while not nxt["done"]:
            seen.append(nxt["item"])
            assert client.get(nxt["url"]).headers["content-type"] == "image/png"
            response = client.post("/api/mos/ratings", json={"rater": "Ada", "item": nxt["item"], "score": 3})
            texts.append(response.text)
            nxt = response.json()
        assert sorted(seen) == sorted(i.id for i in study.items)
        again = client.post("/api/mos/ratings", json={"rater": "Ada", "item": seen[0], "score": 4})
        assert again.status_code == 400 and "already rated" in again.json()["detail"]
        other = client.post("/api/mos/raters", json={"name": "Bob"}).json()
        order_b = []
        nxt = other["next"]
        while not nxt["done"]:
            order_b.append(nxt["item"])
            nxt = client.post(
                "/api/mos/ratings", json={"rater": "Bob", "item": nxt["item"], "score": 2}
            ).json()
        assert sorted(order_b) == sorted(seen) and order_b != seen  # 1 chance in 8! to be equal
        resumed = client.post("/api/mos/raters", json={"name": "Ada"}).json()
        assert resumed["next"] == {"done": True, "index": 8, "total": 8}
        for text in texts + [client.get("/").text, client.get("/static/mos.js").text]:
            assert not any(m in text for m in METHODS) and "nearest" not in text
        assert (
            client.post("/api/mos/ratings", json={"rater": "Cy", "item": seen[0], "score": 6}).status_code
            == 400
        )
        assert (
            client.post("/api/mos/ratings", json={"rater": "Cy", "item": "../x", "score": 3}).status_code
            == 404
        )
        assert client.post("/api/mos/raters", json={"name": "   "}).status_code == 400
        for url in (
            "/api/mos/images/..%2fstudy.json",
            "/api/mos/images/%2e%2e%2fratings.sqlite",
            "/study.json",
        ):
            assert client.get(url).status_code == 404
    rows = (
        sqlite3.connect(study_dir / "ratings.sqlite").execute("SELECT rater, score FROM ratings").fetchall()
    )
    assert sorted(rows) == sorted([("Ada", 3)] * 8 + [("Bob", 2)] * 8)


def test_submitted_rating_survives_kill(tmp_path):
    import httpx

    study_dir = make_study(tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "esrgan", "serve", "--mos", str(study_dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/api/health", timeout=1)
                break
            except httpx.HTTPError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
                time.sleep(0.2)
        item = httpx.post(f"{base}/api/mos/raters", json={"name": "Kim"}).json()["next"]["item"]
        assert (
            httpx.post(f"{base}/api/mos/ratings", json={"rater": "Kim", "item": item, "score": 5}).status_code
            == 200
        )
        server.kill()  # SIGKILL: no shutdown handler runs
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
    study = load_study(study_dir)
    method = next(i.method for i in study.items if i.id == item)
    rows = (
        sqlite3.connect(study_dir / "ratings.sqlite")
        .execute("SELECT rater, method, score FROM ratings")
        .fetchall()
    )
    assert rows == [("Kim", method, 5)]


def hand_signed_rank_t(x: list[int], y: list[int]) -> float:
    """Wilcoxon's T for a two-sided test: min(R+, R-) over the non-zero differences, ties mid-ranked."""
    d = [a - b for a, b in zip(x, y, strict=True) if a != b]
    order = sorted(abs(v) for v in d)
    rank = {v: sum(i + 1 for i, w in enumerate(order) if w == v) / order.count(v) for v in set(order)}
    plus = sum(rank[abs(v)] for v in d if v > 0)
    minus = sum(rank[abs(v)] for v in d if v < 0)
    return min(plus, minus)


def hand_interval(scores: list[int]) -> tuple[float, float, float]:
    n, mean = len(scores), sum(scores) / len(scores)
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
    half = T975[n - 1] * sd / math.sqrt(n)
    return mean, max(1.0, mean - half), min(5.0, mean + half)


def check_report(text: str, out: Path, given: dict[str, dict[tuple[str, str], int]]) -> None:
    """The printed and the JSON numbers against statistics computed here from `given`."""
    from scipy import stats

    numbers = json.loads((out / "report.json").read_text())
    table = {m["method"]: m for m in numbers["methods"]}
    for method, by_key in given.items():
        scores = list(by_key.values())
        n = len(scores)
        mean, low, high = hand_interval(scores)
        row = table[method]
        assert row["n"] == n and row["mos"] == pytest.approx(mean)
        assert row["ci_low"] == pytest.approx(low) and row["ci_high"] == pytest.approx(high)
        line = next(line for line in text.splitlines() if line.startswith(method + " "))
        assert line.split()[1:] == [str(n), f"{mean:.3f}", f"[{low:.3f},", f"{high:.3f}]"]
    assert len(numbers["pairwise"]) == len(given) * (len(given) - 1) // 2
    for pair in numbers["pairwise"]:
        a, b = given[pair["a"]], given[pair["b"]]
        keys = sorted(set(a) & set(b))  # the same rater's scores of the same image
        x, y = [a[k] for k in keys], [b[k] for k in keys]
        assert pair["test"] == "wilcoxon" and pair["pairs"] == len(keys)
        assert pair["dropped"] == len(set(a) ^ set(b))
        if x == y:
            assert pair["p"] == 1.0
            continue
        assert pair["statistic"] == pytest.approx(hand_signed_rank_t(x, y))
        assert pair["p"] == pytest.approx(stats.wilcoxon(x, y, alternative="two-sided").pvalue, rel=1e-12)
        assert f"{pair['a']} vs {pair['b']}: T = {hand_signed_rank_t(x, y):.1f}, p = {pair['p']:.4g}" in text
    assert "paired Wilcoxon signed-rank" in text and "Mann-Whitney" not in text
    assert (out / "boxplot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert 'src="boxplot.png"' in page and all(m in page for m in given)


def test_report_numbers(tmp_path, capsys):
    study_dir = make_study(tmp_path)
    study = load_study(study_dir)
    scores = {"nearest": [1, 2, 1, 1], METHODS[0]: [3, 4, 2, 5], METHODS[1]: [4, 4, 5, 3], "HR": [5, 5, 4, 5]}
    db = Ratings(study.ratings_path)
    given: dict[str, dict[tuple[str, str], int]] = {m: {} for m in scores}
    for r, rater in enumerate(("r1", "r2")):
        db.rater_seed(rater)
        for item in study.items:
            score = scores[item.method][2 * r + int(item.image[-1])]
            db.add(rater, item.id, item.image, item.method, score)
            given[item.method][(rater, item.image)] = score
    db.close()
    rc = main(["mos", "report", str(study_dir)])
    text = capsys.readouterr().out
    assert rc == 0 and "2 rater(s), 16 rating(s)" in text
    check_report(text, study_dir / "report", given)
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "mine.txt").write_text("x")
    assert main(["mos", "report", str(study_dir), "-o", str(tmp_path / "keep")]) == 2
    assert (tmp_path / "keep" / "mine.txt").exists()  # never replaces a folder that is not a report


def test_interval_clipped_to_the_score_range():
    from esrgan.mos.stats import method_scores

    (row,) = method_scores({"m": [1, 2, 3, 4, 5, 5]})
    mean = 20 / 6
    half = T975[5] * math.sqrt(sum((s - mean) ** 2 for s in [1, 2, 3, 4, 5, 5]) / 5) / math.sqrt(6)
    assert mean + half > 5  # the unclipped t interval runs past the scale (issue 20: 5.05)
    assert (
        row.ci_high == 5.0
        and row.ci_low == pytest.approx(mean - half)
        and row.ci_low == pytest.approx(1.62, abs=5e-3)
    )
    (low_end,) = method_scores({"m": [1, 1, 1, 2, 1, 3]})
    assert low_end.ci_low == 1.0


def test_report_pairs_ratings_by_rater_and_image(tmp_path, capsys):
    """26 raters x 10 images, each rater with their own leniency: the paired test sees the
    within-rater difference that the unpaired one drowns in the between-rater spread."""
    from scipy import stats

    hr, dirs = make_folders(tmp_path, n_images=10, size=8)
    study_dir = tmp_path / "study"
    create_study(study_dir, [(m, dirs[m]) for m in METHODS], hr, calibration=1)
    study = load_study(study_dir)
    rng = np.random.default_rng(20)
    given: dict[str, dict[tuple[str, str], int]] = {m: {} for m in study.methods}
    db = Ratings(study.ratings_path)
    for r in range(26):
        rater, leniency = f"rater{r}", int(rng.integers(0, 3))
        db.rater_seed(rater)
        for item in study.items:
            if r == 25 and item.image in ("img0", "img1") and item.method == METHODS[1]:
                continue  # this rater left two ratings out: their METHODS[0] scores have no partner
            base = {"nearest": 1, METHODS[0]: 2, METHODS[1]: 3, "HR": 3}[item.method]
            score = int(np.clip(base + leniency + rng.integers(-1, 2) * (rng.random() < 0.3), 1, 5))
            db.add(rater, item.id, item.image, item.method, score)
            given[item.method][(rater, item.image)] = score
    db.close()
    assert main(["mos", "report", str(study_dir)]) == 0
    text = capsys.readouterr().out
    check_report(text, study_dir / "report", given)
    numbers = json.loads((study_dir / "report" / "report.json").read_text())
    pair = next(p for p in numbers["pairwise"] if (p["a"], p["b"]) == METHODS)
    assert pair["pairs"] == 258 and pair["dropped"] == 2
    unpaired = stats.mannwhitneyu(
        list(given[METHODS[0]].values()), list(given[METHODS[1]].values()), alternative="two-sided"
    ).pvalue
    assert pair["p"] < unpaired / 100  # the paired test is the far stronger one here

    assert main(["mos", "report", str(study_dir), "--test", "mannwhitney"]) == 0
    text = capsys.readouterr().out
    assert "unpaired Mann-Whitney U" in text and "not SRGAN's test" in text
    numbers = json.loads((study_dir / "report" / "report.json").read_text())
    pair = next(p for p in numbers["pairwise"] if (p["a"], p["b"]) == METHODS)
    assert pair["test"] == "mannwhitney" and pair["p"] == pytest.approx(unpaired, rel=1e-12)
