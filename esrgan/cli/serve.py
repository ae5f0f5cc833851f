"""`esrgan serve`: the local web app (upscale page, or a MOS study's rating page with --mos)."""

from __future__ import annotations

import argparse
import os
import sys

from esrgan.cli.options import add_device, positive_float, resolve_device

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--models", metavar="DIR", help="folder of checkpoints the page may choose from")
    parser.add_argument("--mos", metavar="STUDY", help="serve this MOS study's rating page instead")
    parser.add_argument(
        "--max-upload-mb",
        type=positive_float,
        default=200.0,
        metavar="MB",
        help="largest upload (default 200)",
    )
    parser.add_argument(
        "--request-timeout",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="longest any request may take, in seconds (default 60)",
    )
    add_device(parser)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from esrgan.errors import ESRGANError

    if not 0 < args.port < 65536:
        raise ESRGANError(f"--port must be 1..65535, not {args.port}")
    limits = {"max_upload": int(args.max_upload_mb * 2**20), "timeout": args.request_timeout}
    if args.mos:
        from esrgan.web.mos_app import create_mos_app

        app = create_mos_app(args.mos, **limits)
        what = f"MOS study {args.mos}"
    else:
        from esrgan.web.app import create_app

        if args.models is not None and not os.path.isdir(args.models):
            raise ESRGANError(f"--models {args.models}: no such folder")
        app = create_app(models_dir=args.models, device=resolve_device(args.device), **limits)
        what = "upscale page"
    if args.host not in LOCAL_HOSTS:
        print(
            f"esrgan serve: warning: listening on {args.host}: anyone who can reach this machine on port "
            f"{args.port} can use the {what}",
            file=sys.stderr,
        )
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"esrgan serve: {what} at http://{host}:{args.port}/ (Ctrl+C to stop)", file=sys.stderr)
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", timeout_keep_alive=5, limit_concurrency=64
    )
    return 0
