"""`elixir-coder demo`: the main job on the embedded default.

Fetches the Elixir 1.14 source from Debian (``apt-get source elixir-lang``), builds its code KG
in the embedded store and runs example named queries. Then the generation side: when no model is
cached it builds the corpus (``corpus build``), trains the tokenizer (``tokenizer train``) and a
tiny model for a few minutes (``train --config tiny``), and ends with a generation through the
Python API (``Coder.from_pretrained(..., kg=...)``) on the KG it built, printing the code and the
checks it passed. Each step is an ordinary sub-command or API call, so what the demo prints is
what a user gets by running those by hand.
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
        help="the main job: KG of the Elixir 1.14 source, example queries, then a tiny model and a KG-checked generation",
        description=__doc__,
    )
    p.add_argument("--package", default="elixir-lang", help="Debian source package to build (default: elixir-lang)")
    p.add_argument("--store", type=Path, default=None, help="store directory (default: the cache)")
    p.add_argument("--limit", type=int, default=10, help="rows shown per example query")
    p.add_argument("--train-minutes", type=float, default=4.0,
                   help="training budget of the tiny model when none is cached (default: 4)")
    p.add_argument("--no-generate", action="store_true", help="stop after the KG and the queries")
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
    if args.no_generate:
        return 0
    return generate(tree, store, cache_dir(), args.train_minutes)


#: What the demo asks the model for: a GenServer the KG can check (GenServer's callbacks come
#: from the KG just built).
PROMPT = """defmodule Counter do
  use GenServer

  def start_link(initial), do: GenServer.start_link(__MODULE__, initial, name: __MODULE__)

  @impl true
  def init(count), do: {:ok, count}

  @impl true
  def handle_call(:get, _from, count) do
"""


def generate(tree: Path, store: Path, cache: Path, minutes: float) -> int:
    """The generation half of the main job: corpus, tokenizer and a tiny model (each built only
    when not cached), then one generation through the Python API on the KG at ``store``."""
    from elixir_coder.cli import main
    from model.modeling import WEIGHTS_FILE

    corpus, tokenizer, model = cache / "corpus" / "default", cache / "tokenizer" / "default", cache / "models" / "demo-tiny"
    if not (corpus / "manifest.json").exists():
        print(f"\n== corpus build -> {corpus}")
        rc = main(["corpus", "build", str(tree), "--beam-docs", "--out", str(corpus)])
        if rc:
            return rc
    if not (tokenizer / "tokenizer.json").exists():
        print(f"\n== tokenizer train -> {tokenizer}")
        rc = main(["tokenizer", "train", "--corpus", str(corpus), "--vocab-size", "8192", "--out", str(tokenizer)])
        if rc:
            return rc
    if not (model / WEIGHTS_FILE).exists():
        print(f"\n== train --config tiny ({minutes:g} minutes) -> {model}")
        rc = main(["train", "--config", "tiny", "--corpus", str(corpus), "--tokenizer", str(tokenizer),
                   "--kg", str(store), "--out", str(model), "--minutes", str(minutes)])
        if rc:
            return rc

    from elixir_coder import Coder, KnowledgeGraph

    print(f"\n== generation through the Python API (model {model}, KG {store})")
    print("coder = Coder.from_pretrained(model, kg=KnowledgeGraph.open(store, read_only=True))")
    print("coder.generate(PROMPT, constrained=True, max_new_tokens=96)\n")
    with KnowledgeGraph.open(store, read_only=True) as kg:
        coder = Coder.from_pretrained(model, kg=kg)
        result = coder.generate(PROMPT, constrained=True, max_new_tokens=96)
    print(result.code)
    print("checks:")
    for name, check in result.checks.items():
        detail = check.get("detail")
        print(f"  {'pass' if check['passed'] else 'FAIL'}  {name}" + (f": {detail}" if detail and not check["passed"] else ""))
    for r in result.repairs:
        print(f"  repaired: {r}")
    print(f"({result.seconds:.2f} s)")
    return 0
