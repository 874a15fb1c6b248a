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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="obskit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"obskit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
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
