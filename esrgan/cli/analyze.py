"""`esrgan analyze sparsity|brightness`: the paper's analyses of VGG features and output brightness."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from esrgan.atomic import atomic_directory
from esrgan.cli.options import add_device, add_force, resolve_device
from esrgan.errors import ESRGANError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)

    sp = sub.add_parser(
        "sparsity",
        help="share of activated VGG19 neurons before/after each ReLU (paper Fig. 6)",
        description="Per VGG19 conv layer, the share of non-zero values before its ReLU and of activated "
        "(non-zero) values after it. The paper reports 11.17%% activated after VGG19-54 on 'baboon'.",
    )
    sp.add_argument("image", metavar="IMAGE", help="an RGB image (the paper uses Set14 'baboon')")
    weights = sp.add_mutually_exclusive_group()
    weights.add_argument(
        "--vgg-weights", metavar="PATH", help="torchvision VGG19 weights (vgg19-dcbb9e9d.pth)"
    )
    weights.add_argument(
        "--random-vgg", action="store_true", help="use RANDOM VGG19 weights (only to try the command)"
    )
    sp.add_argument("--feature-layer", default="conv5_4", help="layer whose feature maps are drawn (conv5_4)")
    add_device(sp)
    sp.add_argument("-o", "--output", help="report folder (default: sparsity_<image name>)")
    add_force(sp, "replace an existing report folder")

    br = sub.add_parser(
        "brightness",
        help="grey-level histograms of SR results vs ground truth (paper Fig. 9a)",
        description="Gaussian-smoothed grey-level histograms of one or more folders of SR results against "
        "the ground truth, with the mean brightness shift, earth mover's and L1 distances.",
    )
    br.add_argument(
        "--sr", nargs="+", required=True, metavar="DIR", help="folders of SR results (one per model)"
    )
    br.add_argument(
        "--hr", required=True, metavar="DIR", help="folder of ground-truth images (matched by name)"
    )
    br.add_argument("--labels", nargs="+", help="a name per --sr folder (default: the folder names)")
    br.add_argument("--sigma", type=float, default=2.0, help="Gaussian smoothing in grey levels (default 2)")
    br.add_argument("-o", "--output", default="brightness", help="report folder (default: ./brightness)")
    add_force(br, "replace an existing report folder")


def run(args: argparse.Namespace) -> int:
    if args.analysis == "sparsity":
        return _run_sparsity(args)
    return _run_brightness(args)


def _run_sparsity(args: argparse.Namespace) -> int:
    from esrgan.analysis.report import RANDOM_VGG_NOTICE, write_csv, write_json
    from esrgan.analysis.sparsity import activation_sparsity, make_extractor, plot_feature_maps, plot_sparsity
    from esrgan.images.image_io import read_image
    from esrgan.losses.vgg19 import vgg19_layer_index

    if not args.feature_layer.startswith("conv"):
        raise ESRGANError(f"--feature-layer must be a conv layer (e.g. conv5_4), got {args.feature_layer!r}")
    vgg19_layer_index(args.feature_layer)
    image_path = Path(args.image)
    pixels = read_image(image_path).pixels
    output = args.output or f"sparsity_{image_path.stem}"
    extractor = make_extractor(weights_path=args.vgg_weights, random_init=args.random_vgg).to(
        resolve_device(args.device)
    )
    if extractor.is_random:
        print(f"WARNING: {RANDOM_VGG_NOTICE}", file=sys.stderr)
    print(f"VGG19 weights: {extractor.weights_source}")
    print(f"image: {image_path} ({pixels.shape[1]}x{pixels.shape[0]})")

    results = activation_sparsity(pixels, extractor)
    print(f"{'layer':<9}{'non-zero before ReLU':>22}{'activated after ReLU':>22}")
    for r in results:
        print(f"{r.layer:<9}{100 * r.nonzero_before:>21.2f}%{100 * r.active_after:>21.2f}%")
    last = results[-1]
    print(f"after VGG19-54 (relu5_4): {100 * last.active_after:.2f}% activated (paper, 'baboon': 11.17%)")

    tag = " [RANDOM VGG19 WEIGHTS]" if extractor.is_random else ""
    with atomic_directory(output, replace=args.force) as out:
        title = f"VGG19 activation sparsity: {image_path.name}{tag}"
        plot_sparsity(results, out / "sparsity.png", title=title)
        plot_feature_maps(
            pixels,
            extractor,
            args.feature_layer,
            out / f"feature_maps_{args.feature_layer}.png",
            title=f"{image_path.name}: {args.feature_layer} before/after ReLU{tag}",
        )
        rows = [r.as_row() for r in results]
        write_csv(out / "sparsity.csv", rows)
        write_json(
            out / "sparsity.json",
            {
                "image": str(image_path),
                "vgg_weights": extractor.weights_source,
                "random_vgg": extractor.is_random,
                "layers": rows,
            },
        )
    print(f"wrote {output}: sparsity.png, feature maps, CSV and JSON")
    return 0


def _run_brightness(args: argparse.Namespace) -> int:
    from esrgan.analysis.brightness import analyze_brightness, plot_brightness
    from esrgan.analysis.report import write_csv, write_json

    labels = args.labels or [Path(d).name or str(d) for d in args.sr]
    if len(labels) != len(args.sr):
        raise ESRGANError(f"--labels gives {len(labels)} names for {len(args.sr)} --sr folders")
    if len(set(labels)) != len(labels):
        raise ESRGANError(f"labels must be distinct, got {labels} (pass --labels)")
    result = analyze_brightness(dict(zip(labels, args.sr, strict=True)), args.hr, sigma=args.sigma)
    print(f"{'results':<24}{'images':>7}{'mean shift':>12}{'EMD':>9}{'L1':>9}")
    for row in result.rows():
        print(
            f"{row['results']:<24}{row['images']:>7}{row['mean_shift']:>+12.3f}{row['emd']:>9.3f}{row['l1']:>9.4f}"
        )
    with atomic_directory(args.output, replace=args.force) as out:
        plot_brightness(result, out / "brightness.png")
        write_csv(out / "brightness.csv", result.rows())
        write_json(
            out / "brightness.json",
            {
                "hr": str(args.hr),
                "sigma": result.sigma,
                "distances": result.rows(),
                "histograms": {k: v.tolist() for k, v in result.histograms.items()},
                "ground_truth_histogram": result.reference.tolist(),
            },
        )
    print(f"wrote {args.output}: brightness.png, CSV and JSON")
    return 0
