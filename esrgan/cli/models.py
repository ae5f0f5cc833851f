"""`esrgan models`: every model name `-m` accepts, with its facts and whether it is here already."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the table as JSON")


def run(args: argparse.Namespace) -> int:
    from esrgan.models.hub import cache_dir, human_size, model_table

    rows = model_table()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("NAME", "ARCH", "SHAPE", "SCALE", "SIZE", "LICENSE", "STATUS")
    cells = [header] + [
        (r["name"], r["architecture"], r["shape"], f"x{r['scale']}" if r["scale"] else "?",
         human_size(r["size"]), r["license"], r["status"])
        for r in rows
    ]  # fmt: skip
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            continue
        r = rows[i - 1]
        print(f"    sha256  {_sha(r)}")
        for url in r["urls"]:
            print(f"    url     {url}")
        if r.get("page"):
            print(f"    page    {r['page']}")
        print(f"    from    {'; '.join(r['sources'])}")
        if r.get("source") and r["source"] not in ("packaged", "download", "cache"):
            print(f"    -m uses {r['source']}")
    print(f"\ncache: {cache_dir()}  (ESRGAN_HOME to move it; ESRGAN_MIRROR to download from a mirror)")
    print("fetch with `esrgan download NAME`, or pass -m NAME to any command (downloads on first use)")
    return 0


def _sha(row: dict[str, Any]) -> str:
    if row["sha256"]:
        return row["sha256"] + ("" if row["cross_checked"] else "  (one source)")
    if row.get("sha256_prefix"):
        return f"unknown; the file name gives its first 8 digits: {row['sha256_prefix']}"
    return "unknown"
