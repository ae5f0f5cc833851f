"""MOS studies: creation (SRGAN protocol), the rating API, durability, and the report's numbers.

The report is checked against statistics computed here by hand: means, Student-t intervals with
tabulated quantiles, and Mann-Whitney U counted pair by pair.
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
    assert calib["image"] == "img0"
    np.testing.assert_array_equal(
        np.asarray(Image.open(study_dir / "images" / f"{calib['high']}.png")),
        np.asarray(Image.open(tmp_path / "hr" / "img0.png")),
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


def hand_u(a: list[int], b: list[int]) -> float:
    return sum((x > y) + 0.5 * (x == y) for x in a for y in b)


def check_report(text: str, out: Path, given: dict[str, list[int]]) -> None:
    """The printed and the JSON numbers against statistics computed here from `given`."""
    from scipy import stats

    numbers = json.loads((out / "report.json").read_text())
    table = {m["method"]: m for m in numbers["methods"]}
    for method, scores in given.items():
        n, mean = len(scores), sum(scores) / len(scores)
        sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
        half = T975[n - 1] * sd / math.sqrt(n)
        row = table[method]
        assert row["n"] == n and row["mos"] == pytest.approx(mean)
        assert row["ci_low"] == pytest.approx(mean - half) and row["ci_high"] == pytest.approx(mean + half)
        line = next(line for line in text.splitlines() if line.startswith(method + " "))
        assert line.split()[1:] == [str(n), f"{mean:.3f}", f"[{mean - half:.3f},", f"{mean + half:.3f}]"]
    for pair in numbers["pairwise"]:
        a, b = given[pair["a"]], given[pair["b"]]
        assert pair["u"] == pytest.approx(hand_u(a, b))
        assert pair["p"] == pytest.approx(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
        assert f"{pair['a']} vs {pair['b']}: U = {hand_u(a, b):.1f}" in text
    assert (out / "boxplot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert 'src="boxplot.png"' in page and all(m in page for m in given)


def test_report_numbers(tmp_path, capsys):
    study_dir = make_study(tmp_path)
    study = load_study(study_dir)
    scores = {"nearest": [1, 2, 1, 1], METHODS[0]: [3, 4, 2, 5], METHODS[1]: [4, 4, 5, 3], "HR": [5, 5, 4, 5]}
    db = Ratings(study.ratings_path)
    given: dict[str, list[int]] = {m: [] for m in scores}
    for r, rater in enumerate(("r1", "r2")):
        db.rater_seed(rater)
        for k, item in enumerate(i for i in study.items if True):
            score = scores[item.method][2 * r + int(item.image[-1])]
            db.add(rater, item.id, item.image, item.method, score)
            given[item.method].append(score)
            del k
    db.close()
    rc = main(["mos", "report", str(study_dir)])
    text = capsys.readouterr().out
    assert rc == 0 and "2 rater(s), 16 rating(s)" in text
    check_report(text, study_dir / "report", given)
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "mine.txt").write_text("x")
    assert main(["mos", "report", str(study_dir), "-o", str(tmp_path / "keep")]) == 2
    assert (tmp_path / "keep" / "mine.txt").exists()  # never replaces a folder that is not a report
