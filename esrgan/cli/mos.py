"""`esrgan mos create|report`: set up a mean-opinion-score study, and summarise its ratings.

Raters score the images in a browser: `esrgan serve --mos STUDY`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from esrgan.cli.options import add_force, pick


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="mos_command", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="make a study folder (SRGAN protocol)", description=__doc__)
    create.add_argument("study", metavar="STUDY", help="study folder to create")
    create.add_argument(
        "--method",
        action="append",
        required=True,
        metavar="NAME=DIR",
        help="a method and the folder of its outputs (repeat per method)",
    )
    create.add_argument("--hr", required=True, metavar="DIR", help="the HR originals (also rated)")
    create.add_argument(
        "--scale", type=int, default=4, help="LR scale for the nearest-neighbour version (default 4)"
    )
    create.add_argument(
        "--calibration",
        type=int,
        metavar="N",
        help="calibration examples shown first (default 3, or fewer images)",
    )
    create.add_argument(
        "--calibration-hr",
        metavar="DIR",
        help="HR images for calibration, not rated ones (default: the sample photos of installed "
        "packages, skipping any that are rated)",
    )
    create.add_argument(
        "--allow-calibration-overlap",
        action="store_true",
        help="accept --calibration-hr images that are also rated (SRGAN calibrates on other images)",
    )
    create.add_argument("--seed", type=int, help="seed recorded with the study")
    add_force(create, "replace an existing study folder")
    report = sub.add_parser(
        "report", help="MOS, 95%% CI, paired Wilcoxon signed-rank tests; box plot and HTML report"
    )
    report.add_argument("study", metavar="STUDY", help="study folder")
    report.add_argument("-o", "--output", metavar="DIR", help="report folder (default STUDY/report)")
    report.add_argument(
        "--test",
        choices=("wilcoxon", "mannwhitney"),
        default="wilcoxon",
        help="wilcoxon: paired signed-rank on (rater, image) pairs, as SRGAN (default); mannwhitney: "
        "unpaired U test, which ignores the pairing",
    )


def run(args: argparse.Namespace) -> int:
    from esrgan.mos.study import create_study, load_study, parse_method

    if args.mos_command == "create":
        study = create_study(
            args.study,
            [parse_method(m) for m in args.method],
            args.hr,
            **pick(args, "scale calibration calibration_hr seed force"),
            allow_overlap=args.allow_calibration_overlap,
        )
        print(
            f"created MOS study {study.folder}: {len(study.images)} image(s) x {len(study.methods)} "
            f"condition(s) = {len(study.items)} ratings per rater, {len(study.calibration)} calibration "
            f"example(s). Raters: esrgan serve --mos {study.folder}"
        )
        return 0
    from esrgan.mos.report import write_report

    text, out = write_report(load_study(args.study), Path(args.output) if args.output else None, args.test)
    print(text)
    print(f"report: {out / 'report.html'}")
    return 0
