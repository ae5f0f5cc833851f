"""Command-line options shared by several subcommands, defined once.

Each `add_*` function adds one option with the same name, default, help and validation everywhere.
Values are checked by argparse `type=` functions, so a bad value is one error when the arguments
are read, never once per image.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from esrgan.inference.device import resolve_device  # torch is imported only when it is called


def tile_size(text: str) -> int | str | None:
    """`auto`, `0`/`none` (one whole-image pass) or a number of LR pixels >= MIN_TILE
    (esrgan.inference.tile_size)."""
    value = text.strip().lower()
    if value == "auto":
        return "auto"
    if value in ("0", "none"):
        return None
    try:
        size = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto', 0 or a number of pixels, not {text!r}") from None
    from esrgan.errors import ESRGANError
    from esrgan.inference.tile_size import check_tile  # torch: only when a size is given

    try:
        return check_tile(size)
    except ESRGANError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("tile ")) from None


def _number(text: str, kind: type, what: str, ok: Callable[[float], bool], rule: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {rule}, not {text}")
    return value


def non_negative_int(text: str) -> int:
    return _number(text, int, "a whole number", lambda v: v >= 0, ">= 0")


def positive_float(text: str) -> float:
    return _number(text, float, "a number", lambda v: v > 0 and math.isfinite(v), "a positive finite number")


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device", default="auto", help="auto (default: CUDA when available, else CPU), cpu, cuda, cuda:N"
    )


def add_tile(parser: argparse.ArgumentParser, *, default: str = "auto") -> None:
    parser.add_argument(
        "--tile",
        type=tile_size,
        default=tile_size(default),
        help=f"tile size in LR pixels, 'auto' or 0 for one whole-image pass (default: {default})",
    )
    parser.add_argument(
        "--tile-overlap",
        type=non_negative_int,
        metavar="PX",
        help="overlap of neighbouring tiles in LR pixels (default 16)",
    )


def add_force(parser: argparse.ArgumentParser | argparse._ArgumentGroup, what: str) -> None:
    """`--force`, in every command the one way to replace what exists; `what` says what it replaces."""
    parser.add_argument("--force", action="store_true", help=what)


def add_back_projection(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--back-projection", type=non_negative_int, default=0, metavar="N", help="back-projection iterations"
    )


def add_ensemble(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--ensemble", action="store_true", help="x8 self-ensemble (flips/rotations, 8x slower)"
    )


def pick(args: argparse.Namespace, names: str) -> dict[str, Any]:
    """Options `names` (space-separated) as keywords, for an API whose parameters they are named after."""
    return {name: getattr(args, name) for name in names.split()}


def forward_options(args: argparse.Namespace) -> dict:
    """The keyword arguments the report APIs take from `add_tile`, `add_ensemble`,
    `add_back_projection` and `add_device` (device resolved)."""
    return {**pick(args, "tile tile_overlap ensemble back_projection"), "device": resolve_device(args.device)}
