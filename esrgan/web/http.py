"""What both apps (upscale page, MOS page) share: static files, error replies, request limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from esrgan.errors import ESRGANError
from esrgan.web.limits import RequestLimits

DEFAULT_MAX_UPLOAD = 200 * 2**20
DEFAULT_TIMEOUT = 60.0


def static_dir() -> Path:
    return Path(str(resources.files("esrgan.web") / "static"))


def new_app(title: str, on_stop: Callable[[], None], max_upload: int, timeout: float) -> FastAPI:
    """An app without docs pages, with one-line JSON errors, bounded requests, /static and `on_stop`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        on_stop()

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    add_error_handlers(app)
    app.add_middleware(RequestLimits, max_body=max_upload, timeout=timeout)
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    return app


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ESRGANError)
    async def bad_input(request: Request, exc: ESRGANError) -> JSONResponse:
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=400)

    @app.exception_handler(LookupError)
    async def not_found(request: Request, exc: LookupError) -> JSONResponse:
        return JSONResponse({"detail": str(exc.args[0] if exc.args else exc)}, status_code=404)
