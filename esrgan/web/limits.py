"""ASGI middleware that bounds every request: in time, and in body size.

A request body must declare its length (browsers always do for uploads) and stay under the limit;
a longer or undeclared body is refused before it is read. A request that has not produced a
response within `timeout` seconds gets a 504 and its handler is cancelled, so a slow client
(a trickled upload, a stalled connection) cannot hold the server.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class RequestLimits:
    def __init__(self, app: Any, *, max_body: int, timeout: float) -> None:
        self.app, self.max_body, self.timeout = app, max_body, timeout

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if chunked and length is None:
            await _reply(send, 411, "request bodies must declare their length (Content-Length)")
            return
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _reply(send, 400, "bad Content-Length")
                return
            if declared > self.max_body:
                sizes = f"{declared / 2**20:.1f} MB; the limit is {self.max_body / 2**20:g} MB"
                await _reply(send, 413, f"upload too large ({sizes})")
                return

        started = False

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, receive, tracked_send), self.timeout)
        except (asyncio.TimeoutError, TimeoutError):
            if not started:
                await _reply(send, 504, f"request took longer than {self.timeout:g} s")


async def _reply(send: Any, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
