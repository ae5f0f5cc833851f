"""The rating page of a MOS study (`esrgan serve --mos STUDY`). It never sends a method name.

GET  /                          the rating page (static/mos.html)
POST /api/mos/raters            {"name"} -> calibration pairs, progress, the next item
GET  /api/mos/next?rater=NAME   the rater's next item (their own shuffled order), or done
POST /api/mos/ratings           {"rater", "item", "score" 1..5} -> stored, then the next item
GET  /api/mos/images/{id}.png   an item or calibration image, by its random id
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from pydantic import BaseModel

from esrgan.errors import ESRGANError
from esrgan.mos.storage import Ratings, rater_order
from esrgan.mos.study import Study, load_study
from esrgan.web.http import DEFAULT_MAX_UPLOAD, DEFAULT_TIMEOUT, new_app, static_dir

MAX_NAME = 60


class RaterRequest(BaseModel):
    name: str


class RatingRequest(BaseModel):
    rater: str
    item: str
    score: int


def rater_name(text: Any) -> str:
    name = " ".join(str(text or "").split())
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ESRGANError(f"give a name of 1 to {MAX_NAME} printable characters")
    return name


class MOSSession:
    def __init__(self, study: Study) -> None:
        self.study = study
        self.db = Ratings(study.ratings_path)
        self.items = {i.id: i for i in study.items}

    def next_item(self, name: str) -> dict[str, Any]:
        order = rater_order(list(self.items), self.db.rater_seed(name))
        rated = self.db.rated_items(name)
        total, done = len(order), len(rated & set(order))
        for item_id in order:
            if item_id not in rated:
                url = f"/api/mos/images/{item_id}.png"
                return {"done": False, "item": item_id, "url": url, "index": done + 1, "total": total}
        return {"done": True, "index": done, "total": total}

    def rate(self, name: str, item_id: str, score: int) -> None:
        item = self.items.get(item_id)
        if item is None:
            raise LookupError("unknown image")
        if not 1 <= score <= 5:  # an int: the request model says so
            raise ESRGANError("score must be a whole number from 1 (bad) to 5 (excellent)")
        self.db.rater_seed(name)
        self.db.add(name, item_id, item.image, item.method, score)


def create_mos_app(
    study_dir: str | Path, *, max_upload: int = DEFAULT_MAX_UPLOAD, timeout: float = DEFAULT_TIMEOUT
) -> FastAPI:
    session = MOSSession(load_study(study_dir))
    static = static_dir()
    app = new_app("esrgan MOS", session.db.close, max_upload, timeout)

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(static / "mos.html")

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True}

    @app.post("/api/mos/raters")
    def start(req: RaterRequest) -> dict[str, Any]:
        name = rater_name(req.name)
        calibration = [
            {"low": f"/api/mos/images/{c['low']}.png", "high": f"/api/mos/images/{c['high']}.png"}
            for c in session.study.calibration
        ]
        return {"rater": name, "calibration": calibration, "next": session.next_item(name)}

    @app.get("/api/mos/next")
    def next_item(rater: str) -> dict[str, Any]:
        return session.next_item(rater_name(rater))

    @app.post("/api/mos/ratings")
    def rate(req: RatingRequest) -> dict[str, Any]:
        name = rater_name(req.rater)
        session.rate(name, req.item, req.score)
        return session.next_item(name)

    @app.get("/api/mos/images/{name}")
    def image(name: str) -> FileResponse:
        item_id = name.removesuffix(".png")
        path = session.study.image_path(item_id) if name.endswith(".png") else None
        if path is None or not path.is_file():
            raise LookupError("unknown image")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-store"})

    return app
