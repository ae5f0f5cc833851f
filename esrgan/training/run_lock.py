"""One training run per run folder: a lock file held for the run's life.

`runs/<name>/.lock` holds the owner's PID, host name and start time. A second run into the same
folder is refused with one line naming the owner. A lock left by a process that no longer exists
on this host (killed, crashed) is stale: it is reported and taken over. A lock from another host
cannot be checked, so it is refused with the path to delete if that run is really gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

from esrgan.atomic import make_folders, remove_if_empty
from esrgan.errors import ESRGANError

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"


class RunLock:
    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.held = False

    def acquire(self) -> None:
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        for _ in range(2):  # the second try follows the removal of a stale lock
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            except OSError as exc:
                raise ESRGANError(f"{self.path}: cannot create the lock ({exc.strerror or exc})") from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(record, f)
            self.held = True
            return
        raise ESRGANError(f"{self.path.parent} is being taken by another run at the same moment; try again")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def _take_over_if_stale(self) -> None:
        try:
            owner = json.loads(self.path.read_text(encoding="utf-8"))
            pid, host = int(owner["pid"]), str(owner["host"])
        except FileNotFoundError:
            return  # released between our two calls
        except (OSError, ValueError, KeyError, TypeError):
            raise ESRGANError(f"{self.path}: unreadable run lock (delete it if no run is using it)") from None
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(owner.get("started", 0))))
        if host == socket.gethostname() and not pid_alive(pid):
            log.warning("%s: removing a stale run lock of process %d (no longer running)", self.path, pid)
            self.path.unlink(missing_ok=True)
            return
        raise ESRGANError(
            f"{self.path.parent} is in use by another training run (process {pid} on {host}, since {since}); "
            f"wait, or choose another name/output_dir (delete {self.path} if that run is gone)"
        )


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    return True


class RunFolder:
    """A run folder for one run's life: locked while it runs, and removed again when it was made
    for this run and the run fails before its first iteration (a config or data error), so that
    failing runs leave no debris. `enabled=False` (non-main ranks) does nothing."""

    def __init__(self, run_dir: Path, *, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.lock = RunLock(self.run_dir)
        self._made: list[Path] = []  # the folders this run created, the run folder first (if new)
        self.first_iteration_done = False
        self._on_cleanup: list[Callable[[], object]] = []

    def started(self) -> None:
        self.first_iteration_done = True

    def on_cleanup(self, close: Callable[[], object]) -> None:
        """Call `close` (e.g. closing the log file) before a failed run's folder is removed."""
        self._on_cleanup.append(close)

    def __enter__(self) -> RunFolder:
        if not self.enabled:
            return self
        self._made = make_folders(self.run_dir)
        try:
            self.lock.acquire()
        except BaseException:
            self._remove_if_new()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if not self.enabled:
            return
        self.lock.release()
        if exc_type is not None and not self.first_iteration_done:
            for close in self._on_cleanup:
                with contextlib.suppress(Exception):
                    close()
            self._remove_if_new()

    def _remove_if_new(self) -> None:
        if self._made:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            remove_if_empty(self._made[1:])  # and the parents made for it (e.g. runs/)
