"""Yes/no switches read from the environment (ESRGAN_OFFLINE, ESRGAN_MIRROR_ONLY): one reading of "on"."""

from __future__ import annotations

import os

TRUE_WORDS = ("1", "true", "yes", "on")


def env_flag(name: str) -> bool:
    """Whether environment variable `name` is set to one of TRUE_WORDS (any case, spaces ignored)."""
    return os.environ.get(name, "").strip().lower() in TRUE_WORDS
