"""The upscale app's HTTP API (FastAPI). Pages are static files; everything else is JSON or images.

GET  /                        the upscale page (static/index.html)
GET  /api/health              {"ok": true}
GET  /api/models              [{"id", "label"}]: the only model names a request may use
POST /api/images              multipart "file": decode, keep; -> image facts and its id
GET  /api/images/{id}/view.png   8-bit PNG of the upload, for display
POST /api/jobs                {"image", "model", "psnr_model"?, "alpha"?, "outscale"?, "tile"?} -> job
GET  /api/jobs/{id}           state, queue position, tiles done/total, one-line error
GET  /api/jobs/{id}/view.png  8-bit PNG of the result; /bicubic.png the bicubic 'before'
GET  /api/jobs/{id}/download?format=png|jpeg|webp   the result as a file (16-bit/alpha kept)
POST /api/crop                {"image", "model", "psnr_model", "alpha", "x", "y", "width", "height"}
                              -> PNG of that LR crop upscaled by the interpolated network
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from esrgan.errors import ESRGANError
from esrgan.web.catalog import ModelCatalog
from esrgan.web.http import DEFAULT_MAX_UPLOAD, DEFAULT_TIMEOUT, new_app, static_dir
from esrgan.web.jobs import Job, JobQueue
from esrgan.web.service import DOWNLOAD_FORMATS, UpscaleService, encode, safe_name, view_png

CROP_WAIT = 45.0  # seconds a slider preview may wait for the worker (a full job may be running)


class JobRequest(BaseModel):
    image: str
    model: str
    psnr_model: str | None = None
    alpha: float | None = None
    outscale: float | None = None
    tile: int | None = None


class CropRequest(BaseModel):
    image: str
    model: str
    psnr_model: str | None = None
    alpha: float | None = None
    x: int = 0
    y: int = 0
    width: int = 128
    height: int = 128


def create_app(
    *,
    models_dir: str | Path | None = None,
    device: Any = "cpu",
    max_upload: int = DEFAULT_MAX_UPLOAD,
    timeout: float = DEFAULT_TIMEOUT,
) -> FastAPI:
    catalog = ModelCatalog(models_dir, device)
    queue = JobQueue(str(device))
    service = UpscaleService(catalog, queue)
    app = new_app("esrgan", queue.stop, max_upload, timeout)
    app.state.service = service
    static = static_dir()

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(static / "index.html")

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "device": str(device)}

    @app.get("/api/models")
    def models() -> list[dict[str, str]]:
        return [{"id": c.id, "label": c.label} for c in catalog.choices()]

    @app.post("/api/images")
    async def upload(file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        def store() -> Any:
            with tempfile.TemporaryDirectory(prefix="esrgan-upload-") as tmp:
                path = Path(tmp) / "upload"
                with open(path, "wb") as out:
                    shutil.copyfileobj(file.file, out, 1 << 20)
                return service.add_image(path, file.filename)

        image = await run_in_threadpool(store)
        return {
            "id": image.id,
            "name": image.name,
            "width": image.size[0],
            "height": image.size[1],
            "mode": image.mode,
            "bit_depth": image.bit_depth,
            "alpha": image.has_alpha,
        }

    @app.get("/api/images/{image_id}/view.png")
    def image_view(image_id: str) -> Response:
        image = service.image(image_id)
        data = service.cached((image.id, "view"), lambda: view_png(image.pixels))
        return Response(data, media_type="image/png")

    @app.post("/api/jobs")
    def submit(req: JobRequest) -> dict[str, Any]:
        image = service.image(req.image)
        alpha = service.check_request(req.model, req.psnr_model, req.alpha)
        job = service.submit_upscale(
            image, req.model, psnr_id=req.psnr_model, alpha=alpha, outscale=req.outscale, tile=req.tile
        )
        return job_status(queue, job)

    @app.get("/api/jobs/{job_id}")
    def status(job_id: str) -> dict[str, Any]:
        job = queue.get(job_id)
        if job is None:
            raise LookupError("unknown or expired job")
        return job_status(queue, job)

    @app.get("/api/jobs/{job_id}/view.png")
    def result_view(job_id: str) -> Response:
        result = service.finished_result(job_id)
        data = service.cached((job_id, "view"), lambda: view_png(result.pixels))
        return Response(data, media_type="image/png")

    @app.get("/api/jobs/{job_id}/bicubic.png")
    def result_bicubic(job_id: str) -> Response:
        result = service.finished_result(job_id)
        data = service.cached((job_id, "bicubic"), lambda: view_png(service.bicubic(result)))
        return Response(data, media_type="image/png")

    @app.get("/api/jobs/{job_id}/download")
    def download(job_id: str, format: str = Query("png")) -> Response:
        if format not in DOWNLOAD_FORMATS:
            raise ESRGANError(f"format must be one of {', '.join(DOWNLOAD_FORMATS)}, not {format!r}")
        result = service.finished_result(job_id)
        media, suffix = DOWNLOAD_FORMATS[format]
        data = service.cached(
            (job_id, format),
            lambda: encode(result.pixels, format, bit_depth=result.bit_depth, icc=result.icc_profile),
        )
        stem = safe_name(result.name).rsplit(".", 1)[0]
        name = f"{stem}_esrgan{suffix}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(data, media_type=media, headers=headers)

    @app.post("/api/crop")
    def crop(req: CropRequest) -> Response:
        if not req.psnr_model:
            raise ESRGANError("a crop preview needs a PSNR model and a GAN model")
        image = service.image(req.image)
        alpha = service.check_request(req.model, req.psnr_model, req.alpha)
        job = service.submit_crop(
            image, req.model, req.psnr_model, alpha, (req.x, req.y, req.width, req.height)
        )
        if not job.finished_event.wait(CROP_WAIT):
            raise HTTPException(503, "the worker is busy with another job; try again when it is done")
        if job.state == "failed":
            raise ESRGANError(job.error or "preview failed")
        x, y, w, h = job.info["box"]
        headers = {"X-Crop-Box": f"{x},{y},{w},{h}", "X-Crop-Alpha": f"{alpha:g}"}
        return Response(view_png(job.result.pixels), media_type="image/png", headers=headers)

    return app


def job_status(queue: JobQueue, job: Job) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "position": queue.position(job),
        "done": job.done,
        "total": job.total,
        "error": job.error,
        "device": queue.name,
    }
    if job.state == "done" and job.result is not None:
        out["width"], out["height"] = int(job.result.pixels.shape[1]), int(job.result.pixels.shape[0])
    return out
