"""`esrgan download NAME...`: fetch known models into the cache, verified (see `esrgan models`)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="+", metavar="NAME", help="model names from `esrgan models`")
    parser.add_argument(
        "--allow-unverified",
        action="store_true",
        help="accept a model that has no published sha256 (its size/prefix are still checked)",
    )
    parser.add_argument(
        "--from",
        dest="source",
        metavar="FILE",
        help="a file fetched by hand (e.g. from Google Drive): verify it and put it in the cache",
    )


def run(args: argparse.Namespace) -> int:
    from esrgan.errors import ESRGANError
    from esrgan.models import hub

    if args.source and len(args.names) != 1:
        raise ESRGANError("--from takes one NAME")
    models = []
    for name in args.names:
        if name in hub.BUILTIN_FILES:
            print(f"{name}: ships inside the package ({hub.resolve_model(name)})")
            continue
        model = hub.known_model(name)
        if model is None:
            raise ESRGANError(f"unknown model name {name!r} (known: {', '.join(hub.all_names())})")
        models.append(model)
    for model in models:
        if args.source:
            path = hub.fetch_model(model, source=args.source, allow_unverified=args.allow_unverified)
            print(f"{model.name}: verified and copied to {path}")
        elif hub.is_cached(model):
            print(f"{model.name}: already cached at {hub.cached_path(model)}")
        else:
            path = hub.fetch_model(model, allow_unverified=args.allow_unverified)
            check = "sha256 verified" if model.sha256 else "NOT verified: no published sha256"
            print(f"{model.name}: downloaded to {path} ({path.stat().st_size / 2**20:.1f} MB, {check})")
    return 0
