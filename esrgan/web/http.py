"""What both apps (upscale page, MOS page) share: static files, error replies, request limits."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from esrgan.errors import ESRGANError

DEFAULT_MAX_UPLOAD = 200 * 2**20
DEFAULT_TIMEOUT = 60.0


def static_dir() -> Path:
    return Path(str(resources.files("esrgan.web") / "static"))


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ESRGANError)
    async def bad_input(request: Request, exc: ESRGANError) -> JSONResponse:
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=400)

    @app.exception_handler(LookupError)
    async def not_found(request: Request, exc: LookupError) -> JSONResponse:
        return JSONResponse({"detail": str(exc.args[0] if exc.args else exc)}, status_code=404)
