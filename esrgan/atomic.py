"""Atomic writes: every file and report folder this package writes appears whole or not at all.

A file is written to a temporary name beside its destination (same folder, so the rename cannot
cross file systems) and renamed into place with `os.replace`; a report folder is built in a
temporary sibling folder and renamed when complete. On any failure the temporary is removed, and
an OSError becomes one `ESRGANError` line naming the path.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from esrgan.errors import ESRGANError


def temp_name(path: Path) -> Path:
    """A hidden, unique name beside `path` (`.NAME.<random>.tmp`)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def cannot_write(path: str | os.PathLike, exc: OSError) -> ESRGANError:
    """The one-line error for an OSError while writing `path`."""
    reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    return ESRGANError(f"{path}: cannot write ({reason})")


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _usual_mode(tmp: Path) -> None:
    """Give a file the permissions `open()` would (some writers, e.g. safetensors', make it 0600)."""
    if tmp.is_file() and not tmp.is_symlink():
        os.chmod(tmp, 0o666 & ~_umask())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, make_parents: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to `path`, on failure removed."""
    path = Path(path)
    if path.is_dir():
        raise ESRGANError(f"{path} is a folder; give a file name")
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    tmp = temp_name(path)
    try:
        yield tmp
        _usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise cannot_write(path, exc) from None
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """A new file at `path` holding `data`, which appears only when complete."""
    with atomic_path(path) as tmp, open(tmp, "xb") as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder to fill; when the block ends without error it becomes `path`.

    An existing non-empty `path` is an error unless `replace` is true (then it is swapped out only
    after the new folder is complete). On failure the temporary folder is removed and `path` is
    left as it was.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ESRGANError(f"{path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not replace:
        raise ESRGANError(f"{path} is not empty; pass --force to replace it, or choose another folder")
    tmp = temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        yield tmp
        if path.is_dir():
            old = temp_name(path)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise cannot_write(path, exc) from None
        raise


def make_folders(path: str | os.PathLike) -> list[Path]:
    """`mkdir -p path`; returns the folders this call created, deepest first (for `remove_if_empty`)."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_if_empty(missing)  # mkdir -p may have made some of them before it failed
        raise cannot_write(path, exc) from None
    return missing


def remove_if_empty(folders: list[Path]) -> None:
    """Remove the given folders (deepest first) that are empty: a failed run leaves no debris."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def new_folder(path: str | os.PathLike) -> Iterator[Path]:
    """`mkdir -p path` for the block; if it fails, the folders made here are removed when empty."""
    created = make_folders(path)
    try:
        yield Path(path)
    except BaseException:
        remove_if_empty(created)
        raise
