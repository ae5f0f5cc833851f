"""Verified downloads of known models into the cache, through pooch.

pooch streams each URL to a temporary file in the cache folder and checks its sha256 before it
moves it on; this module then checks the size (and, for BasicSR files, which publish only the
first 8 hex digits of their sha256 in the file name, that prefix) before the atomic rename to the
final name, so the cache only ever holds verified files and a failed or cut transfer leaves
nothing behind. Mirrors (`ESRGAN_MIRROR`) are tried before the official URLs, in order. Every
failure becomes one line: no network, HTTP status, wrong hash, wrong size, timeout, disk full.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

from esrgan.atomic import atomic_path
from esrgan.env import env_flag
from esrgan.errors import ESRGANError
from esrgan.models.hub import KnownModel, cached_path, offline_mode

DEFAULT_TIMEOUT = 60.0  # seconds without data (requests' connect and read timeouts)
FREE_SPACE_MARGIN = 16 * 2**20


class DownloadFailed(Exception):
    """One URL failed in a way another mirror may not (not an OSError, so atomic_path passes it on)."""


def mirror_bases() -> list[str]:
    text = os.environ.get("ESRGAN_MIRROR", "")
    return [base for base in re.split(r"[\s,]+", text) if base]


def candidate_urls(model: KnownModel) -> list[str]:
    """Mirrors first (base URL + file name), then the official URLs unless `ESRGAN_MIRROR_ONLY`."""
    urls = [base.rstrip("/") + "/" + model.filename for base in mirror_bases()]
    if not env_flag("ESRGAN_MIRROR_ONLY"):
        urls += list(model.urls)
    return urls


def download_timeout() -> float:
    text = os.environ.get("ESRGAN_DOWNLOAD_TIMEOUT", "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise ESRGANError(f"ESRGAN_DOWNLOAD_TIMEOUT must be a number of seconds, not {text!r}") from None
    if not value > 0:
        raise ESRGANError(f"ESRGAN_DOWNLOAD_TIMEOUT must be positive, not {text}")
    return value


def _require_verifiable(model: KnownModel, what: str, allow_unverified: bool) -> None:
    if not model.verifiable and not allow_unverified:
        raise ESRGANError(
            f"{model.name} has no published sha256, so {what} cannot be verified; "
            "pass --allow-unverified to use it anyway"
        )


def download_model(
    model: KnownModel, *, allow_unverified: bool = False, timeout: float | None = None
) -> Path:
    """Fetch `model` into the cache (trying each URL in order) and return its path."""
    if offline_mode():
        raise ESRGANError(f"downloads are off (--offline / ESRGAN_OFFLINE); {model.name} was not fetched")
    _require_verifiable(model, "its download", allow_unverified)
    urls = candidate_urls(model)
    if not urls:
        raise ESRGANError(
            f"{model.name} has no direct download URL: fetch it by hand from {model.page}, then "
            f"`esrgan download {model.name} --from FILE` (set ESRGAN_MIRROR to use a mirror)"
        )
    target = cached_path(model)
    check_free_space(target.parent, model.size)
    timeout = download_timeout() if timeout is None else timeout
    failures: list[str] = []
    for i, url in enumerate(urls):
        try:
            fetch_url(url, model, target, timeout=timeout)
            return target
        except DownloadFailed as exc:
            failures.append(f"{url}: {exc}")
            if i + 1 < len(urls):
                print(f"esrgan: {url} failed ({exc}); trying the next URL", file=sys.stderr)
    raise ESRGANError(f"could not download {model.name}: " + "; ".join(failures))


def fetch_url(url: str, model: KnownModel, target: Path, *, timeout: float) -> None:
    """One attempt: pooch download with sha256 check, then size/prefix check, then rename."""
    try:
        import pooch
        import requests
    except ImportError:
        raise ESRGANError("downloading models needs pooch: pip install pooch") from None
    from tqdm import tqdm

    bar = tqdm(
        total=model.size or 0,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=model.name,
        disable=None,  # no bar when stderr is not a terminal
        leave=False,
        file=sys.stderr,
    )
    downloader = pooch.HTTPDownloader(progressbar=bar, timeout=timeout, chunk_size=1 << 16)
    known_hash = f"sha256:{model.sha256}" if model.sha256 else None
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch's own "Downloading ..." and hash notes would duplicate ours
    try:
        with atomic_path(target) as tmp:
            try:
                pooch.retrieve(url, known_hash, fname=tmp.name, path=tmp.parent, downloader=downloader)
            except requests.RequestException as exc:
                raise DownloadFailed(describe_request_error(exc, timeout)) from None
            except ValueError as exc:  # pooch: hash mismatch
                raise DownloadFailed(describe_hash_error(exc)) from None
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise ESRGANError(f"disk full: cannot save {model.name} into {target.parent}") from None
                raise
            verify_file(tmp, model, check_sha256=False)
    finally:
        logger.setLevel(level)
        bar.close()


def import_file(model: KnownModel, source: str | os.PathLike, *, allow_unverified: bool = False) -> Path:
    """Copy a file fetched by hand into the cache, after the same checks as a download."""
    source = Path(source)
    if not source.is_file():
        raise ESRGANError(f"--from {source}: file not found")
    _require_verifiable(model, str(source), allow_unverified)
    target = cached_path(model)
    check_free_space(target.parent, source.stat().st_size)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
        try:
            verify_file(tmp, model, check_sha256=True)
        except DownloadFailed as exc:
            raise ESRGANError(f"{source} is not {model.name}: {exc}") from None
    return target


def verify_file(path: Path, model: KnownModel, *, check_sha256: bool) -> None:
    """Size, then sha256 (or the BasicSR 8-digit prefix); raises DownloadFailed with the reason."""
    size = path.stat().st_size
    if model.size is not None and size != model.size:
        raise DownloadFailed(f"wrong size: {size} bytes, expected {model.size}")
    if not (check_sha256 and model.sha256) and not model.sha256_prefix:
        return
    digest = sha256_of(path)
    if check_sha256 and model.sha256 and digest != model.sha256:
        raise DownloadFailed(f"wrong sha256: got {digest[:16]}..., expected {model.sha256[:16]}...")
    if model.sha256_prefix and not digest.startswith(model.sha256_prefix):
        raise DownloadFailed(
            f"wrong sha256: got {digest[:16]}..., the file name promises {model.sha256_prefix}..."
        )


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_free_space(folder: Path, needed: int | None) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise ESRGANError(f"cannot use the model cache {folder} ({exc.strerror or exc})") from None
    if needed is not None and free < needed + FREE_SPACE_MARGIN:
        raise ESRGANError(
            f"disk full: {free / 2**20:.0f} MB free in {folder}, {needed / 2**20:.0f} MB needed "
            "(set ESRGAN_HOME to a folder with more room)"
        )


def describe_request_error(exc: Exception, timeout: float) -> str:
    """requests' exception -> a short reason (requests nests urllib3's reasons several levels deep)."""
    import requests

    text = " ".join(str(exc).split())
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.Timeout) or "timed out" in text.lower():
        return f"timed out (no data for {timeout:g} s)"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or "IncompleteRead" in text:
        return "the transfer was cut short (connection closed early); nothing was kept"
    if isinstance(exc, requests.ConnectionError):
        if "resolve" in text.lower() or "Name or service not known" in text:
            return "no network (cannot resolve the host name)"
        if "refused" in text.lower():
            return "cannot connect (connection refused)"
        return "no network or server unreachable"
    return f"download failed ({type(exc).__name__})"


def describe_hash_error(exc: ValueError) -> str:
    match = re.search(r"expected (?:sha256:)?([0-9a-f]{8,}) but got ([0-9a-f]{8,})", str(exc))
    if match:
        return f"wrong sha256: got {match.group(2)[:16]}..., expected {match.group(1)[:16]}...; discarded"
    return f"wrong sha256; discarded ({' '.join(str(exc).split())[:120]})"
