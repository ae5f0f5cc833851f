"""Run folder layout and resumable training state.

    runs/<name>/config.yaml              the resolved config of the run
    runs/<name>/models/net_g_<iter>.pth  generator (params + params_ema), loadable by `esrgan upscale`
    runs/<name>/models/net_d_<iter>.pth  discriminator weights (GAN stage)
    runs/<name>/state/<iter>.state       everything else needed to continue exactly
    runs/<name>/models/net_g_final.pth   the last generator, written at the end
    runs/<name>/.lock                    held while a run is using the folder (run_lock.py)

Every file is written to a temporary name and renamed, so a run killed at any moment leaves only
complete checkpoints; resuming picks the newest state whose generator file also exists.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from esrgan.atomic import atomic_path
from esrgan.errors import ESRGANError
from esrgan.models.loading import save_model
from esrgan.training.ema import EMA

STATE_FORMAT = 1  # written into every state file; files from before it was written read as 1

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
        for path_of in (state_path, generator_path, discriminator_path):
            path_of(run_dir, iteration).unlink(missing_ok=True)


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


@dataclass
class TrainState:
    """Everything a run saves and restores, with `save` and `load` side by side.

    The state file is a dict of plain tensors and numbers (`torch.load(weights_only=True)` reads
    it): `format`, `iteration`, `bad_steps`, `config` (JSON), `net_g`, `opt_g`, `net_d`, `opt_d`,
    `ema`, `scaler_g`, `scaler_d` and `rng` (Python, NumPy, torch and CUDA generators), so that a
    resumed run continues bit for bit.
    """

    net_g: nn.Module
    opt_g: torch.optim.Optimizer
    net_d: nn.Module | None
    opt_d: torch.optim.Optimizer | None
    ema: EMA | None
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler

    def save(self, run_dir: Path, iteration: int, bad_steps: int, config: dict[str, Any], name: str) -> None:
        """Model files first, state last: a state file is only trusted when its models exist."""
        self.save_generator(generator_path(run_dir, iteration), iteration, name)
        if self.net_d is not None:
            atomic_torch_save({"params": self.net_d.state_dict()}, discriminator_path(run_dir, iteration))
        state = {
            "format": STATE_FORMAT,
            "iteration": iteration,
            "bad_steps": bad_steps,
            "config": json.dumps(config),
            "net_g": self.net_g.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "net_d": self.net_d.state_dict() if self.net_d is not None else None,
            "opt_d": self.opt_d.state_dict() if self.opt_d is not None else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "scaler_g": self.scaler_g.state_dict() if self.scaler_g.is_enabled() else None,
            "scaler_d": self.scaler_d.state_dict() if self.scaler_d.is_enabled() else None,
            "rng": rng_state(),
        }
        atomic_torch_save(state, state_path(run_dir, iteration))

    def save_generator(self, path: Path, iteration: int, name: str) -> None:
        """G's weights (and the EMA copy as `params_ema`), loadable by `esrgan upscale`."""
        ema = self.ema.module.state_dict() if self.ema else None
        save_model(self.net_g, path, params_ema=ema, metadata={"iteration": iteration, "run": name})

    def load(self, run_dir: Path, iteration: int) -> tuple[int, int]:
        """Restore everything saved at `iteration`; returns (iteration, bad_steps)."""
        path = state_path(run_dir, iteration)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ESRGANError(f"cannot read training state {path}: {' '.join(str(exc).split())}") from None
        if int(state.get("format", 1)) > STATE_FORMAT:
            raise ESRGANError(f"{path}: written by a newer version of esrgan (format {state['format']})")
        try:
            self.net_g.load_state_dict(state["net_g"])
            self.opt_g.load_state_dict(state["opt_g"])
            if self.net_d is not None:
                self.net_d.load_state_dict(state["net_d"])
                self.opt_d.load_state_dict(state["opt_d"])  # type: ignore[union-attr]
            if self.ema is not None and state.get("ema") is not None:
                self.ema.load_state_dict(state["ema"])
        except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            reason = " ".join(str(exc).split())
            raise ESRGANError(f"resume {run_dir}: checkpoint does not match this config ({reason})") from None
        if state.get("scaler_g"):
            self.scaler_g.load_state_dict(state["scaler_g"])
            self.scaler_d.load_state_dict(state["scaler_d"])
        set_rng_state(state["rng"])
        return int(state["iteration"]), int(state["bad_steps"])
