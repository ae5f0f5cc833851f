"""Verified downloads into a file, through pooch: handed what to fetch, it decides nothing else.

The caller (`esrgan.models.hub`) gives the model (size, sha256 or BasicSR's 8-digit prefix), the URLs
and the target, having decided that a download may happen. pooch streams each URL to a temporary file
beside the target; its size and sha256 are checked before the atomic rename, so the target only ever
holds a verified file. Every failure is one line: no network, HTTP status, wrong hash or size, timeout,
disk full.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sys
from pathlib import Path

from esrgan.atomic import atomic_path
from esrgan.errors import ESRGANError
from esrgan.models.catalogue import KnownModel

DEFAULT_TIMEOUT = 60.0  # seconds without data (requests' connect and read timeouts)
FREE_SPACE_MARGIN = 16 * 2**20
IN_BYTES = {"unit": "B", "unit_scale": True, "unit_divisor": 1024}  # the progress bar counts KiB, MiB


class DownloadFailed(Exception):
    """One URL failed in a way another mirror may not (not an OSError, so atomic_path passes it on)."""


def download_timeout() -> float:
    text = os.environ.get("ESRGAN_DOWNLOAD_TIMEOUT", "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise ESRGANError(f"ESRGAN_DOWNLOAD_TIMEOUT must be a number of seconds, not {text!r}") from None
    if not value > 0:
        raise ESRGANError(f"ESRGAN_DOWNLOAD_TIMEOUT must be positive, not {text}")
    return value


def download(item: KnownModel, urls: list[str], target: Path) -> Path:
    """Fetch `item` to `target`, trying each URL in order, and return the target."""
    check_free_space(target.parent, item.size)
    timeout = download_timeout()
    failures: list[str] = []
    for i, url in enumerate(urls):
        try:
            fetch_url(url, item, target, timeout=timeout)
            return target
        except DownloadFailed as exc:
            failures.append(f"{url}: {exc}")
            if i + 1 < len(urls):
                print(f"esrgan: {url} failed ({exc}); trying the next URL", file=sys.stderr)
    raise ESRGANError(f"could not download {item.name}: " + "; ".join(failures))


def fetch_url(url: str, item: KnownModel, target: Path, *, timeout: float) -> None:
    """One attempt: pooch download, then size and sha256 check, then rename."""
    import pooch  # not at the top: pooch and requests take a while to import, and most runs never download
    import requests
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal
    bar = tqdm(total=item.size or 0, desc=item.name, disable=None, leave=False, file=sys.stderr, **IN_BYTES)
    downloader = pooch.HTTPDownloader(progressbar=bar, timeout=timeout, chunk_size=1 << 16)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch's own "Downloading ..." and hash notes would duplicate ours
    try:
        with atomic_path(target) as tmp:
            try:
                pooch.retrieve(url, None, fname=tmp.name, path=tmp.parent, downloader=downloader)
            except requests.RequestException as exc:
                raise DownloadFailed(describe_request_error(exc, timeout)) from None
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise ESRGANError(f"disk full: cannot save {item.name} in {target.parent}") from None
                raise
            verify_file(tmp, item)
    finally:
        logger.setLevel(level)
        bar.close()


def import_file(item: KnownModel, target: Path, source: str | os.PathLike) -> Path:
    """Copy a file fetched by hand to `target`, after the same checks as a download."""
    source = Path(source)
    if not source.is_file():
        raise ESRGANError(f"--from {source}: file not found")
    check_free_space(target.parent, source.stat().st_size)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
        try:
            verify_file(tmp, item)
        except DownloadFailed as exc:
            raise ESRGANError(f"{source} is not {item.name}: {exc}") from None
    return target


def verify_file(path: Path, item: KnownModel) -> None:
    """Size, then sha256 (or the BasicSR 8-digit prefix); raises DownloadFailed with the reason."""
    size = path.stat().st_size
    if item.size is not None and size != item.size:
        raise DownloadFailed(f"wrong size: {size} bytes, expected {item.size}")
    if not item.sha256 and not item.sha256_prefix:
        return
    digest = sha256_of(path)
    if item.sha256 and digest != item.sha256:
        raise DownloadFailed(f"wrong sha256: got {digest[:16]}..., expected {item.sha256[:16]}...")
    if item.sha256_prefix and not digest.startswith(item.sha256_prefix):
        raise DownloadFailed(f"wrong sha256: got {digest[:16]}..., the name promises {item.sha256_prefix}...")


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
        mb = f"{free / 2**20:.0f} MB free in {folder}, {needed / 2**20:.0f} MB needed"
        raise ESRGANError(f"disk full: {mb} (set ESRGAN_HOME to a folder with more room)")


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
