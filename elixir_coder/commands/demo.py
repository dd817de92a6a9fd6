"""`elixir-coder demo`: the main job on the embedded default.

Fetches the Elixir 1.14 source from Debian (``apt-get source elixir-lang``), builds its code KG
in the embedded store and runs example named queries. Each step is an ordinary sub-command, so
what the demo prints is what a user gets by running those commands by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: (named query, parameters, what it shows) run after the build.
EXAMPLES: list[tuple[str, list[str], str]] = [
    ("modules", [], "modules of the KG (first rows)"),
    ("functions", ["module=Enum"], "functions of Enum with their arity and kind"),
    ("callers", ["module=Enum", "name=map", "arity=2"], "who calls Enum.map/2"),
    ("behaviour-implementations", [], "modules implementing a behaviour"),
    ("doc-coverage", [], "documentation coverage per module"),
]


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="build the KG of the Elixir 1.14 source (Debian elixir-lang) and run example queries",
        description=__doc__,
    )
    p.add_argument("--package", default="elixir-lang", help="Debian source package to build (default: elixir-lang)")
    p.add_argument("--store", type=Path, default=None, help="store directory (default: the cache)")
    p.add_argument("--limit", type=int, default=10, help="rows shown per example query")
    p.set_defaults(func=run)


def run(args) -> int:
    from elixir_coder.cli import main
    from kg.debian import DebianSourceError, cache_dir, fetch_source, source_version

    try:
        tree = fetch_source(args.package)
    except DebianSourceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    version = source_version(tree) or "0.0.0"
    project = "elixir" if args.package == "elixir-lang" else args.package
    store = args.store or cache_dir() / "stores" / f"{project}@{version}"
    print(f"source: {tree}\nstore:  {store}\n")
    rc = main(["kg", "build", str(tree), "--store", str(store), "--graph", f"{project}@{version}"])
    if rc not in (0, None):
        return rc
    for name, params, what in EXAMPLES:
        print(f"\n== {name}: {what}")
        argv = ["query", "--store", str(store), "--named", name, "--limit", str(args.limit)]
        for p in params:
            argv += ["--param", p]
        rc = main(argv)
        if rc:
            return rc
    return 0
