"""`elixir-coder corpus build`: build the training corpus (model/corpus does the work).

Parses the flags into a BuildConfig, shows progress on stderr (rich), prints the statistics
report (a table, or JSON with --json). Exit status: 0 built (problems with single sources are
reported as warnings), 1 nothing could be built, 2 bad arguments.
"""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("corpus", help="build the training corpus",
                       description="Build and inspect the training corpus.")
    csub = p.add_subparsers(dest="corpus_command", metavar="SUBCOMMAND", required=True)
    b = csub.add_parser(
        "build", help="build a corpus from directories, Hex tarballs, Debian packages, BEAM docs",
        description="Read Elixir sources (project directories, Hex package tarballs, Debian source "
                    "packages, the installed BEAM's docs), filter, deduplicate, pair code with tests, "
                    "split by project and write sharded JSONL, manifest.json and stats.json to --out.")
    b.add_argument("src", nargs="*", metavar="SRC",
                   help="a directory (any tree of Elixir projects) or a Hex package tarball (.tar)")
    b.add_argument("--out", required=True, metavar="DIR", help="corpus directory to write")
    b.add_argument("--debian", nargs="+", default=[], metavar="PKG",
                   help="Debian source packages fetched with `apt-get source` (e.g. elixir-lang rabbitmq-server)")
    b.add_argument("--beam-docs", action="store_true",
                   help="add ```elixir blocks and doctests of the installed BEAM's docs")
    b.add_argument("--near-dup-threshold", type=float, default=0.85, metavar="J",
                   help="Jaccard similarity on token shingles above which a file is a near duplicate (default 0.85)")
    b.add_argument("--max-line-length", type=int, default=400, metavar="N",
                   help="drop files with a longer line (default 400)")
    b.add_argument("--max-file-size", type=int, default=512, metavar="KB",
                   help="drop files bigger than this (default 512 KB)")
    b.add_argument("--min-lines", type=int, default=1, metavar="N",
                   help="drop files with fewer non-blank lines (default 1)")
    b.add_argument("--keep-unparsable", action="store_true", help="keep files the Elixir parser rejects")
    b.add_argument("--keep-generated", action="store_true", help="keep files marked as generated")
    b.add_argument("--keep-vendored", action="store_true", help="keep files under deps/, vendor/ ...")
    b.add_argument("--split", default="0.9,0.05,0.05", metavar="T,V,T",
                   help="train,validation,test shares of lines (default 0.9,0.05,0.05)")
    b.add_argument("--no-pairs", action="store_true", help="skip code-test pairs (no temporary KG)")
    b.add_argument("--json", action="store_true", help="print the statistics report as JSON")
    b.set_defaults(func=cmd_build)


class _RichReporter:
    def __init__(self, enabled: bool):
        from model.corpus.build import Reporter

        self._base = Reporter()
        self.progress = None
        self.task = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), transient=False, console=_console())
            self.progress.start()

    def stage(self, name, total=None):
        if self.progress is not None:
            if self.task is not None:
                self.progress.update(self.task, completed=self.progress.tasks[-1].total or 1)
            self.task = self.progress.add_task(name, total=total)

    def advance(self, done, total=None, label=""):
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=done, total=total or self.progress.tasks[-1].total)

    def warn(self, message):
        if self.progress is not None:
            self.progress.console.print(f"[yellow]warning:[/] {message}")
        else:
            print(f"warning: {message}", file=sys.stderr)

    def done(self):
        if self.progress is not None:
            self.progress.stop()


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _fractions(text: str) -> dict | None:
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        return None
    if len(values) != 3 or any(v < 0 for v in values) or not sum(values) or values[0] <= 0:
        return None
    total = sum(values)
    return dict(zip(("train", "validation", "test"), (v / total for v in values)))


def cmd_build(args) -> int:
    from model.corpus.build import BuildConfig, BuildError, build
    from model.corpus.dedup import DedupConfig
    from model.corpus.quality import QualityConfig

    fractions = _fractions(args.split)
    if fractions is None:
        print(f"error: --split {args.split!r}: expected three non-negative shares like 0.9,0.05,0.05", file=sys.stderr)
        return 2
    if not 0 < args.near_dup_threshold <= 1:
        print("error: --near-dup-threshold must be in (0, 1]", file=sys.stderr)
        return 2
    cfg = BuildConfig(
        quality=QualityConfig(require_parse=not args.keep_unparsable, drop_generated=not args.keep_generated,
                              drop_vendored=not args.keep_vendored, max_line_length=args.max_line_length,
                              max_bytes=args.max_file_size * 1024, min_lines=args.min_lines),
        dedup=DedupConfig(threshold=args.near_dup_threshold), fractions=fractions, pairs=not args.no_pairs)
    reporter = _RichReporter(enabled=not args.json and sys.stderr.isatty())
    try:
        stats = build(args.src, args.out, debian=args.debian, beam_docs=args.beam_docs, config=cfg,
                      reporter=reporter)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print_stats(stats)
    return 0


def print_stats(stats: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    c = stats["counts"]
    console = Console()
    t = Table(title=f"corpus {stats['out']} ({stats['seconds']} s)")
    t.add_column("stage")
    t.add_column("files", justify="right")
    t.add_column("removed", justify="right")
    t.add_row("files in", str(c["files_in"]), "")
    prev = c["files_in"]
    for stage, n in c["after_filters"].items():
        t.add_row(f"after {stage}", str(n), str(prev - n))
        prev = n
    t.add_row("after dedup (exact + near)", str(c["after_dedup"]), str(prev - c["after_dedup"]))
    console.print(t)
    s = Table(title="splits")
    for col in ("split", "files", "lines", "chars", "pairs", "projects"):
        s.add_column(col)
    for split in ("train", "validation", "test"):
        s.add_row(split, str(c["files"][split]), str(c["lines"][split]), str(c["chars"][split]),
                  str(c["pairs"][split]), ", ".join(c["projects"][split])[:60])
    console.print(s)
    console.print(f"pairs: {c['pair_kinds']}  leakage across splits: {stats['leakage']}")
    bal = ", ".join(f"{k} {v['files']} ({v['share']:.0%}, target {v['target']:.0%})"
                    for k, v in stats["test_balance"].items())
    console.print(f"test types: {c['test_types']}; balance of written tests: {bal}")
    for e in stats["errors"]:
        console.print(f"[yellow]warning:[/] {e}")
