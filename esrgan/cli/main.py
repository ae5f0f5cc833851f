"""`esrgan` command line: one module per subcommand, listed here explicitly.

Each subcommand module defines `add_arguments(parser)` and `run(args) -> int`, and imports its heavy
dependencies (torch, numpy) inside `run`, so `esrgan --help` stays instant. No path prints a
traceback: see `main` (ESRGAN_DEBUG=1 shows the traceback of an unexpected error).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from esrgan.errors import ESRGANError

# (name, module, one-line help). Order is the order shown in `esrgan --help`.
COMMANDS: list[tuple[str, str, str]] = [
    ("upscale", "esrgan.cli.upscale", "upscale images with an ESRGAN-family checkpoint"),
    ("models", "esrgan.cli.models", "list model names (built-in and official) and what is cached"),
    ("download", "esrgan.cli.download", "fetch official models by name into the cache (verified)"),
    ("info", "esrgan.cli.info", "show the architecture, scale and format of a checkpoint"),
    ("convert", "esrgan.cli.convert", "rewrite any supported checkpoint in this package's format"),
    ("export", "esrgan.cli.export", "write a model for ncnn (.param/.bin) or ONNX (.onnx)"),
    ("eval", "esrgan.cli.eval", "PSNR/SSIM/NIQE of models (and bicubic) on a benchmark folder"),
    ("prepare", "esrgan.cli.prepare", "cut large images into sub-images and make LR copies"),
    ("degrade", "esrgan.cli.degrade", "write degraded LR copies (Real-ESRGAN, Gaussian BD, bicubic)"),
    ("train", "esrgan.cli.train", "train a model from a YAML/TOML config (stage 1 or 2)"),
    ("quickstart", "esrgan.cli.quickstart", "train, evaluate and report a small ESRGAN on CPU"),
    ("interpolate", "esrgan.cli.interpolate", "blend a PSNR and a GAN model's parameters"),
    ("sweep", "esrgan.cli.sweep", "perception-distortion sweep over interpolation alphas"),
    ("compare", "esrgan.cli.compare", "crop grid of several models with metrics (PNG + HTML)"),
    ("analyze", "esrgan.cli.analyze", "the paper's analyses: VGG sparsity, brightness histograms"),
    ("serve", "esrgan.cli.serve", "local web app: upscale with a live interpolation slider, or a MOS study"),
    ("mos", "esrgan.cli.mos", "mean-opinion-score study (SRGAN protocol): create, report"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="esrgan",
        description="ESRGAN super-resolution toolkit.",
        epilog="Errors are reported on one line. Set ESRGAN_DEBUG=1 in the environment to see the "
        "traceback of an unexpected error (a bug).",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in COMMANDS:
        module = importlib.import_module(module_name)  # a missing module is a bug, never hidden
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
    """Run one subcommand; every failure is one line on stderr and a non-zero exit status.

    ESRGANError and OSError (naming the path): exit 2. Ctrl-C: 130. A closed stdout (`| head`):
    quiet exit 1. Anything else is a bug: one line with the exception, exit 1; set ESRGAN_DEBUG=1
    in the environment to see its traceback instead.
    """
    command = "esrgan"
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, or a bad argument (already printed)
            return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
        if not hasattr(args, "_run"):
            parser.print_help()
            return 2
        command = f"esrgan {args.command}"
        rc = int(args._run(args) or 0)
        sys.stdout.flush()  # a closed pipe fails here, inside the handler, not at exit
        return rc
    except ESRGANError as exc:
        _error(command, str(exc))
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`esrgan info m.pth | head -1`): stop quietly. Python's docs: point
        # stdout at devnull so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        _error(command, os_error_line(exc))
        return 2
    except MemoryError:
        _error(command, "not enough memory")
        return 2
    except Exception as exc:
        if os.environ.get("ESRGAN_DEBUG"):
            raise
        _error(
            command,
            f"internal error (a bug; please report it): {type(exc).__name__}: {exc}. "
            "Run with ESRGAN_DEBUG=1 for the traceback",
        )
        return 1


def os_error_line(exc: OSError) -> str:
    """`PATH: reason` (both paths for a rename), from any OSError."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(os.fsdecode(p) if isinstance(p, (str, bytes, os.PathLike)) else str(p) for p in paths)
    return f"{where}: {reason}" if where else reason


def _error(command: str, message: str) -> None:
    print(f"{command}: error: {' '.join(message.split())}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
