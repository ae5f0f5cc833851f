"""What a training run tells people: console lines, a log file, a progress bar, TensorBoard and a
`metrics.jsonl` file (one JSON object per logged step, used for the reports' loss curves)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml
from torch import Tensor, nn
from tqdm import tqdm

from esrgan.atomic import write_text_atomic
from esrgan.training.config import TrainConfig, to_dict


class _TqdmHandler(logging.Handler):
    """Log lines that do not break the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record), file=sys.stderr)


class RunLogger:
    def __init__(self, run_dir: Path, cfg: TrainConfig, *, enabled: bool) -> None:
        self.enabled = enabled
        self.cfg = cfg
        self.run_dir = run_dir
        self.bar = None
        self.writer = None
        self.log = logging.getLogger(f"esrgan.train.{cfg.name}")
        self.log.setLevel(logging.INFO)
        self.log.propagate = False
        self.log.handlers.clear()
        if not enabled:
            self.log.addHandler(logging.NullHandler())
            return
        write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
        fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        for handler in (_TqdmHandler(), logging.FileHandler(run_dir / "train.log", encoding="utf-8")):
            handler.setFormatter(fmt)
            self.log.addHandler(handler)
        self.metrics_file = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run_dir / "tb"))
            except ImportError:
                self.warn("no tensorboard: curves go to metrics.jsonl only (pip install tensorboard)")

    def info(self, message: str) -> None:
        self.log.info(message)

    def warn(self, message: str) -> None:
        self.log.warning(message)

    def start(self, start_iter: int, total: int, net_g: nn.Module, net_d: nn.Module | None) -> None:
        if not self.enabled:
            return
        n_g = sum(p.numel() for p in net_g.parameters())
        loss = self.cfg.loss
        terms = " + ".join(f"{w:g} {name}" for name, w in loss.weights.items() if w > 0)
        pixel_only = loss.perceptual_weight == loss.fourier_weight == 0
        stage = (
            "GAN (stage 2)" if net_d is not None else "PSNR-oriented (stage 1)" if pixel_only else "no GAN"
        )
        stage += f", loss {terms}"
        self.info(
            f"run {self.cfg.name}: {stage}, {type(net_g).__name__} x{net_g.scale} with {n_g:,} parameters"
            + (f", discriminator {sum(p.numel() for p in net_d.parameters()):,}" if net_d else "")
        )
        self.info(
            f"iterations {start_iter} -> {total}, batch {self.cfg.data.batch_size}, "
            f"crop {self.cfg.data.hr_crop}, output {self.run_dir}"
        )
        if self.cfg.progress:
            self.bar = tqdm(
                total=total, initial=start_iter, desc=self.cfg.name, unit="it", dynamic_ncols=True
            )

    def step(self, iteration: int, terms: dict[str, Tensor]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if iteration % 5 == 0:
                self.bar.set_postfix({k: f"{float(v):.4g}" for k, v in terms.items()}, refresh=False)

    def scalars(self, iteration: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        record: dict[str, Any] = {"iteration": iteration, **{k: float(v) for k, v in values.items()}}
        self.metrics_file.write(json.dumps(record) + "\n")
        self.metrics_file.flush()
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, float(value), iteration)
        shown = "  ".join(f"{k}={v:.4g}" for k, v in values.items())
        self.info(f"iter {iteration}: {shown}")

    def image(self, tag: str, chw: Tensor, iteration: int) -> None:
        if self.writer is not None:
            self.writer.add_image(tag, chw.clamp(0, 1), iteration)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.enabled:
            self.metrics_file.close()
            if self.writer is not None:
                self.writer.close()
                self.writer = None
            for handler in list(self.log.handlers):  # the log file, so the folder can go if need be
                handler.close()
                self.log.removeHandler(handler)
