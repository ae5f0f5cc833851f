"""`esrgan` command line: one module per subcommand, listed here explicitly.

Each subcommand module defines `add_arguments(parser)` and `run(args) -> int`, and imports its heavy
dependencies (torch, numpy) inside `run`, so `esrgan --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from esrgan.errors import ESRGANError

# (name, module, one-line help). Order is the order shown in `esrgan --help`.
COMMANDS: list[tuple[str, str, str]] = [
    ("upscale", "esrgan.cli.upscale", "upscale images with an ESRGAN-family checkpoint"),
    ("info", "esrgan.cli.info", "show the architecture, scale and format of a checkpoint"),
    ("convert", "esrgan.cli.convert", "rewrite any supported checkpoint in this package's format"),
    ("export", "esrgan.cli.export", "write a model for ncnn (.param/.bin) or ONNX (.onnx)"),
    ("eval", "esrgan.cli.eval", "PSNR/SSIM/NIQE of models (and bicubic) on a benchmark folder"),
    ("prepare", "esrgan.cli.prepare", "cut large images into sub-images and make LR copies"),
    ("train", "esrgan.cli.train", "train a model from a YAML/TOML config (stage 1 or 2)"),
    ("quickstart", "esrgan.cli.quickstart", "train, evaluate and report a small ESRGAN on CPU"),
    ("interpolate", "esrgan.cli.interpolate", "blend a PSNR and a GAN model's parameters"),
    ("sweep", "esrgan.cli.sweep", "perception-distortion sweep over interpolation alphas"),
    ("compare", "esrgan.cli.compare", "crop grid of several models with metrics (PNG + HTML)"),
    ("analyze", "esrgan.cli.analyze", "the paper's analyses: VGG sparsity, brightness histograms"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="esrgan", description="ESRGAN super-resolution toolkit.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a subcommand not built yet
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("esrgan")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "_run"):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except ESRGANError as exc:
        print(f"esrgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"esrgan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
