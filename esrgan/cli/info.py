"""`esrgan info MODEL`: what a checkpoint is, as this package reads it."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="checkpoint file (.pth, .pt, .safetensors)")
    parser.add_argument("--json", action="store_true", help="print the information as JSON")


def run(args: argparse.Namespace) -> int:
    import json

    from esrgan.models.loading import load_model, model_config

    desc = load_model(args.model)
    cfg = model_config(desc)
    cfg.pop("architecture")
    info = {
        "path": desc.source,
        "architecture": desc.architecture,
        "key_format": desc.key_format,
        "container": desc.container,
        "wrapper": desc.wrapper,
        "config": cfg,
        "num_params": desc.num_params,
        "metadata": desc.metadata,
    }
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"file:          {desc.source}")
    print(f"architecture:  {desc.architecture}")
    print(f"scale:         x{desc.scale}")
    print(f"channels:      {desc.in_ch} in, {desc.out_ch} out")
    details = ", ".join(f"{k}={v}" for k, v in cfg.items() if k not in ("scale", "in_ch", "out_ch"))
    print(f"layout:        {details}")
    print(f"parameters:    {desc.num_params:,}")
    wrapped = f", weights from '{desc.wrapper}'" if desc.wrapper else ", bare state dict"
    if desc.container == "ncnn":
        print("format:        ncnn .param/.bin, imported into torch (BasicSR keys)")
    else:
        print(f"format:        {desc.key_format} keys in .{desc.container}{wrapped}")
    extra = {k: v for k, v in desc.metadata.items() if k not in cfg and k != "architecture"}
    for key, value in extra.items():
        print(f"meta.{key}:".ljust(15) + f"{value}")
    return 0
