"""Will a result fit in memory? Checked before the work starts, so a huge request is one clear error.

Without this check an image upscaled 100000x, or `imresize(img, 1e7)`, allocates until the kernel
kills the process (exit 137, no message). The limit is a number of output pixels derived from the
RAM available now; callers may pass their own limit instead (`max_output_pixels`, on the command
line `--max-output-pixels`), e.g. to go beyond RAM on a machine with swap, or to cap a server.
"""

from __future__ import annotations

import os

from esrgan.errors import ESRGANError

# Share of the available RAM a single result may claim: the rest is for the model, the tiles'
# accumulators, encoders and whatever else runs on the machine.
MEMORY_SHARE = 0.8


def available_memory() -> int | None:
    """Bytes of RAM available (MemAvailable from /proc/meminfo; else free pages), None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_output_pixels(
    pixels: int,
    bytes_per_pixel: float,
    *,
    what: str,
    max_output_pixels: int | None = None,
    hint: str = "or set max_output_pixels (--max-output-pixels) to override",
) -> None:
    """ESRGANError if `pixels` exceeds `max_output_pixels`, or (when None) what fits in memory."""
    if max_output_pixels is not None:
        if pixels > max_output_pixels:
            raise ESRGANError(
                f"{what} would have {pixels:,} pixels, more than the limit of {max_output_pixels:,} "
                "(max_output_pixels / --max-output-pixels)"
            )
        return
    avail = available_memory()
    if avail is None:
        return
    limit = int(MEMORY_SHARE * avail / max(bytes_per_pixel, 1.0))
    if pixels > limit:
        need = pixels * bytes_per_pixel / 2**30
        raise ESRGANError(
            f"{what} would need about {need:,.1f} GiB, more than fits in the {avail / 2**30:.1f} GiB of RAM "
            f"available: use a smaller scale or image, {hint}"
        )
