"""The models a browser may choose: ids from a server-side list, never paths.

Choices are the checkpoint files found under `--models DIR` and the names the model hub knows. A
browser sends back an id; `ModelCatalog.resolve` looks it up in a freshly built list, so no text from
a request is ever joined to a path, and a file whose real path leaves `--models` (a symlink out of
it) is not listed at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import esrgan
from esrgan.errors import ESRGANError
from esrgan.models.hub import BUILTIN_PURPOSE, SAVE_SUFFIXES, available_models
from esrgan.web.lru import LRU

MAX_FILES = 500  # a huge folder must not make every page load slow


@dataclass(frozen=True)
class ModelChoice:
    id: str  # what the browser sends back: "file:<relative path>" or "name:<hub name>"
    label: str  # what the browser shows
    source: str  # what esrgan.load_model receives (an absolute path or a hub name); never sent out


def model_files(folder: Path) -> list[Path]:
    """Checkpoint files under `folder` (recursive, sorted) whose real path stays inside it."""
    root = folder.resolve()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(SAVE_SUFFIXES):  # not ncnn .bin
                continue
            path = Path(dirpath) / name
            real = path.resolve()
            if real.is_file() and real.is_relative_to(root):
                found.append(path)
            if len(found) >= MAX_FILES:
                return found
    return found


class ModelCatalog:
    """Lists model choices and loads them (cached, on the worker's device)."""

    def __init__(self, models_dir: str | os.PathLike | None, device: Any, cache_size: int = 4) -> None:
        self.models_dir = Path(models_dir).resolve() if models_dir else None
        self.device = device
        self._loaded: LRU[str, Any] = LRU(cache_size)

    def choices(self) -> list[ModelChoice]:
        # a built-in's label says what it is for (builtin: clean images; builtin-real: photos)
        labels = {n: f"{n} ({BUILTIN_PURPOSE[n]})" if n in BUILTIN_PURPOSE else n for n in available_models()}
        out = [ModelChoice(f"name:{n}", label, n) for n, label in labels.items()]
        if self.models_dir is not None and self.models_dir.is_dir():
            for path in model_files(self.models_dir):
                rel = path.relative_to(self.models_dir).as_posix()
                out.append(ModelChoice(f"file:{rel}", rel, str(path)))
        return out

    def resolve(self, model_id: str) -> ModelChoice:
        for choice in self.choices():
            if choice.id == model_id:
                return choice
        raise ESRGANError(f"unknown model {model_id!r}: choose one from the list")

    def load(self, model_id: str) -> Any:
        """The ModelDescriptor for `model_id`, loaded once and kept (least recently used dropped)."""

        def load() -> Any:
            return esrgan.load_model(self.resolve(model_id).source, device=self.device).eval()

        return self._loaded.get_or_make(model_id, load)
