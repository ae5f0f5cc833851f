"""`esrgan info MODEL`: what a checkpoint is, as this package reads it."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="checkpoint file (.pth, .pt, .safetensors)")
    parser.add_argument("--json", action="store_true", help="print the information as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from esrgan.models.loading import inspect_checkpoint

    _, info = inspect_checkpoint(args.model)
    if args.json:
        print(json.dumps(asdict(info), indent=2, default=str))
        return 0
    cfg = info.config
    print(f"file:          {info.path}")
    print(f"architecture:  {info.architecture}")
    print(f"scale:         x{cfg['scale']}")
    print(f"channels:      {cfg['in_ch']} in, {cfg['out_ch']} out")
    details = ", ".join(f"{k}={v}" for k, v in cfg.items() if k not in ("scale", "in_ch", "out_ch"))
    print(f"layout:        {details}")
    print(f"parameters:    {info.num_params:,}")
    wrapped = f", weights from '{info.wrapper}'" if info.wrapper else ", bare state dict"
    print(f"format:        {info.key_format} keys in .{info.container}{wrapped}")
    extra = {k: v for k, v in info.metadata.items() if k not in cfg and k != "architecture"}
    for key, value in extra.items():
        print(f"meta.{key}:".ljust(15) + f"{value}")
    return 0
