"""The one command line: ``elixir-coder``. Parses arguments and calls the stage packages."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="elixir-coder",
        description="Knowledge graph, reasoning and generation for Elixir code.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from elixir_coder import commands

    commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
