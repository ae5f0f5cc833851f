"""One worker thread per device runs jobs one at a time; the others wait, and know their place.

A job is a function `work(progress) -> result` where `progress(done, total)` reports tiles. Crop
previews for the interpolation slider jump the queue (they are small and someone is watching).
A job that raises ends `failed` with a one-line error; the worker carries on. Finished jobs are
kept (for their results) up to `keep[kind]`, oldest dropped first.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from esrgan.errors import ESRGANError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
Work = Callable[[Progress], Any]


@dataclass
class Job:
    id: str
    kind: str
    work: Work
    state: str = "queued"  # queued, running, done, failed
    done: int = 0
    total: int = 0
    error: str | None = None
    result: Any = None
    info: dict[str, Any] = field(default_factory=dict)  # facts the status page shows
    finished_event: threading.Event = field(default_factory=threading.Event)


def one_line_error(exc: BaseException) -> str:
    if isinstance(exc, ESRGANError):
        text = str(exc)
    elif isinstance(exc, MemoryError):
        text = "not enough memory for this image (try a smaller tile)"
    else:
        text = f"internal error: {type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


class JobQueue:
    def __init__(self, name: str = "cpu", keep: dict[str, int] | None = None) -> None:
        self.name = name
        # finished jobs kept per kind: full results are large, slider crops many and small
        self.keep = keep or {"upscale": 4, "crop": 8}
        self._jobs: dict[str, Job] = {}  # in submission order: the oldest finished are dropped first
        self._pending: list[tuple[int, int, Job]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._running: Job | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=f"esrgan-worker-{name}", daemon=True)
        self._thread.start()

    def submit(self, kind: str, work: Work, *, priority: int = 0, info: dict[str, Any] | None = None) -> Job:
        job = Job(id=secrets.token_hex(8), kind=kind, work=work, info=info or {})
        with self._cond:
            if self._stopped:
                raise ESRGANError("the server is shutting down")
            self._jobs[job.id] = job
            self._pending.append((priority, next(self._order), job))  # lower priority runs first
            self._pending.sort(key=lambda t: t[:2])
            self._cond.notify_all()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._cond:
            return self._jobs.get(job_id)

    def position(self, job: Job) -> int:
        """0 while running or finished, else 1 + the number of jobs that run before it."""
        with self._cond:
            for index, (_, _, queued) in enumerate(self._pending):
                if queued is job:
                    return index + 1 + (self._running is not None)
            return 0

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                _, _, job = self._pending.pop(0)
                job.state = "running"
                self._running = job
            self._run(job)
            with self._cond:
                self._running = None
                self._forget_old()

    def _run(self, job: Job) -> None:
        def progress(done: int, total: int) -> None:
            job.done, job.total = int(done), int(total)

        try:
            job.result = job.work(progress)
            job.state = "done"
        except BaseException as exc:  # a failed job must never stop the worker
            job.error = one_line_error(exc)
            job.state = "failed"
            if not isinstance(exc, ESRGANError):
                log.exception("job %s failed", job.id)
        finally:
            job.work = _spent
            job.finished_event.set()

    def _forget_old(self) -> None:
        for kind, keep in self.keep.items():
            finished = [j for j in self._jobs.values() if j.state in ("done", "failed") and j.kind == kind]
            for job in finished[: max(0, len(finished) - keep)]:
                del self._jobs[job.id]


def _spent(progress: Progress) -> Any:  # replaces a finished job's closure, freeing what it held
    raise ESRGANError("job already ran")
