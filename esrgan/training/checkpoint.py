"""Run folder layout and resumable training state.

    runs/<name>/config.yaml              the resolved config of the run
    runs/<name>/models/net_g_<iter>.pth  generator (params + params_ema), loadable by `esrgan upscale`
    runs/<name>/models/net_d_<iter>.pth  discriminator weights (GAN stage)
    runs/<name>/state/<iter>.state       everything else needed to continue exactly
    runs/<name>/models/net_g_final.pth   the last generator, written at the end

Every file is written to a temporary name and renamed, so a run killed at any moment leaves only
complete checkpoints; resuming picks the newest state whose generator file also exists.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from esrgan.atomic import atomic_path
from esrgan.errors import ESRGANError

_STATE_NAME = re.compile(r"^(\d{7,})\.state$")


def atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def generator_path(run_dir: Path, iteration: int) -> Path:
    return run_dir / "models" / f"net_g_{iteration:07d}.pth"


def discriminator_path(run_dir: Path, iteration: int) -> Path:
    return run_dir / "models" / f"net_d_{iteration:07d}.pth"


def state_path(run_dir: Path, iteration: int) -> Path:
    return run_dir / "state" / f"{iteration:07d}.state"


def saved_iterations(run_dir: Path) -> list[int]:
    """Iterations with a complete checkpoint (state and generator), oldest first."""
    folder = run_dir / "state"
    if not folder.is_dir():
        return []
    found = [int(m.group(1)) for p in folder.iterdir() if (m := _STATE_NAME.match(p.name))]
    return sorted(i for i in found if generator_path(run_dir, i).is_file())


def prune(run_dir: Path, keep_last: int) -> None:
    for iteration in saved_iterations(run_dir)[:-keep_last]:
        for path in (
            state_path(run_dir, iteration),
            generator_path(run_dir, iteration),
            discriminator_path(run_dir, iteration),
        ):
            path.unlink(missing_ok=True)


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def load_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ESRGANError(f"cannot read training state {path}: {str(exc).splitlines()[0][:200]}") from None
