"""The ``obskit`` command: thin argparse subcommands over the library (promtool's spirit).

Exit codes: 0 ok, 1 problems found, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from obskit import __version__
from obskit.errors import ObskitError

__all__ = ["main"]


def _cmd_tsdb_inspect(args: argparse.Namespace) -> int:
    from obskit.tsdb.inspect import format_report, inspect_dir

    report = inspect_dir(args.dir)
    if args.format == "json":
        print(json.dumps(report, indent=1))
    else:
        print(format_report(report))
    return 1 if report["corrupt_blocks"] else 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from obskit.config import load_settings
    from obskit.server import run
    from obskit.telemetry import configure_logging

    settings = load_settings(
        args.config, data_dir=args.data_dir, listen=args.listen, log_level=args.log_level
    )
    configure_logging(settings.log_level)
    run(settings)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="obskit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"obskit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the HTTP service (ingest; data in ./obskit-data, listening on 127.0.0.1:9201)",
    )
    serve.add_argument("--data-dir", help="data directory (default ./obskit-data)")
    serve.add_argument("--listen", help="HOST:PORT to listen on (default 127.0.0.1:9201)")
    serve.add_argument("--config", help="YAML config file (settings also via OBSKIT_* env)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=_cmd_serve)
    tsdb = sub.add_parser("tsdb", help="inspect a data directory")
    tsdb_sub = tsdb.add_subparsers(dest="tsdb_command", required=True)
    inspect = tsdb_sub.add_parser(
        "inspect", help="blocks, series, samples, bytes/sample and codec mix of a data directory"
    )
    inspect.add_argument("dir", help="data directory")
    inspect.add_argument("--format", choices=["text", "json"], default="text")
    inspect.set_defaults(func=_cmd_tsdb_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ObskitError as exc:
        print(f"obskit: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
