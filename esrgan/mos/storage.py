"""Ratings in SQLite, one row per rating (rater, image, method, score, time).

WAL mode with synchronous=FULL and one transaction per rating: once the server has answered a
rating, it is on disk, and survives the server being killed. A rater is known by name only; their
shuffled order comes from a seed stored with the name, so reloading the page resumes where they were.
"""

from __future__ import annotations

import random
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from esrgan.errors import ESRGANError

SCHEMA = """
CREATE TABLE IF NOT EXISTS raters (
    name TEXT PRIMARY KEY,
    seed INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY,
    rater TEXT NOT NULL REFERENCES raters(name),
    image TEXT NOT NULL,
    method TEXT NOT NULL,
    item TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    time TEXT NOT NULL,
    UNIQUE (rater, item)
);
"""


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


class Ratings:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise ESRGANError(f"{self.path}: cannot open the ratings database ({exc})") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def rater_seed(self, name: str) -> int:
        """The shuffle seed of rater `name`, registering them on first sight."""
        with self._lock:
            row = self._db.execute("SELECT seed FROM raters WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return int(row[0])
            seed = secrets.randbits(31)
            self._db.execute("INSERT INTO raters (name, seed, created) VALUES (?, ?, ?)", (name, seed, now()))
            return seed

    def rated_items(self, name: str) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT item FROM ratings WHERE rater = ?", (name,))}

    def add(self, rater: str, item: str, image: str, method: str, score: int) -> None:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO ratings (rater, image, method, item, score, time) VALUES (?, ?, ?, ?, ?, ?)",
                    (rater, image, method, item, int(score), now()),
                )
            except sqlite3.IntegrityError:
                raise ESRGANError("this image was already rated by this rater") from None

    def all(self) -> list[dict[str, Any]]:
        keys = ("rater", "image", "method", "score", "time")
        with self._lock:
            cursor = self._db.execute(f"SELECT {', '.join(keys)} FROM ratings ORDER BY id")
            return [dict(zip(keys, row, strict=True)) for row in cursor]


def rater_order(item_ids: list[str], seed: int) -> list[str]:
    """The order in which a rater sees the items: a shuffle of its own."""
    order = list(item_ids)
    random.Random(seed).shuffle(order)
    return order
