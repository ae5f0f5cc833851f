"""`esrgan degrade IMAGE... -o DIR --preset realesrgan|bd|bicubic --seed N`: degraded LR copies."""

from __future__ import annotations

import argparse
from pathlib import Path

from esrgan.cli.options import add_device, non_negative_int, resolve_device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="HR images to degrade")
    parser.add_argument("-o", "--out", required=True, help="output folder: one <name>.png per input")
    parser.add_argument(
        "--preset",
        choices=("realesrgan", "bd", "gaussian", "bicubic"),
        default="realesrgan",
        help="realesrgan (second-order blur/resize/noise/JPEG, the paper's defaults), bd (RDN's "
        "blur-downsample benchmark: Gaussian sigma 1.6, 7x7 at x3 and 12x12 at x4, then one pixel per "
        "block; `gaussian` is its older name), bicubic (MATLAB imresize)",
    )
    parser.add_argument("--scale", type=int, choices=(1, 2, 4, 8), default=4, help="LR scale (default 4)")
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="realesrgan: image NAME is degraded with the seed (N, crc32(NAME)): the same name and seed "
        "give the same LR whatever else is on the command line (default 0)",
    )
    add_device(parser)


def run(args: argparse.Namespace) -> int:
    import zlib

    from esrgan.atomic import new_folder
    from esrgan.data.degradations.pipeline import degradation_seed, degrade_image
    from esrgan.errors import ESRGANError
    from esrgan.images.image_io import load_rgb, read_header, write_image

    device = resolve_device(args.device)
    inputs = [Path(p) for p in args.images]
    out_dir = Path(args.out)
    outputs = [out_dir / f"{p.stem}.png" for p in inputs]
    stems = [p.stem for p in inputs]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise ESRGANError(f"several inputs would write the same output name: {', '.join(duplicates)}")
    sources = {p.resolve() for p in inputs if p.exists()}
    clash = [str(o) for o in outputs if o.resolve() in sources]
    if clash:
        raise ESRGANError(f"refusing to write over an input: {', '.join(clash)} (choose another -o)")
    for path in inputs:  # every input readable before anything is written
        if not path.is_file():
            raise ESRGANError(f"{path}: file not found")
        read_header(path)
    with new_folder(out_dir):  # a failure before any output leaves no empty folder behind
        for path, target in zip(inputs, outputs, strict=True):
            seed = degradation_seed(args.seed, zlib.crc32(path.name.encode("utf-8")))
            lr = degrade_image(load_rgb(path), args.preset, args.scale, seed, device=device)
            write_image(target, lr)
            print(f"{path} -> {target} ({lr.shape[1]}x{lr.shape[0]})")
    return 0
