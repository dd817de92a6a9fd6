"""`elixir-coder kg stdlib`: introspect the installed Elixir/OTP apps into the store.

Wires kg.stdlib (facts from the BEAM, through the sidecar) to sparql.store: each app's graph
(beam/app@version) is replaced in one transaction, then call sites of every graph are resolved
again so that project calls into the stdlib get ``ec:resolvesTo``.
"""

from __future__ import annotations

import json
import sys
import time


def add_stdlib_command(kg_subparsers) -> None:
    """Add ``stdlib`` to the ``kg`` sub-command group."""
    from kg.stdlib import DEFAULT_APPS

    p = kg_subparsers.add_parser(
        "stdlib", help="add the installed Elixir/OTP apps (modules, functions, docs, specs, callbacks) to the KG",
        description="Introspect installed applications with the real BEAM and write one named graph per "
                    f"app@version (replaced if present). Default apps: {' '.join(DEFAULT_APPS)}.")
    from elixir_coder.commands import add_store_options

    add_store_options(p, store_help="store directory (created if missing)")
    p.add_argument("--apps", nargs="+", metavar="APP",
                   help="applications to introspect (space or comma separated; any installed OTP app works)")
    p.add_argument("--modules", nargs="+", metavar="MODULE",
                   help="only these modules of the app(s) (e.g. GenServer, :ets); with one app")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_stdlib)


def _split(values) -> list[str]:
    out: list[str] = []
    for v in values or ():
        out += [x for x in v.split(",") if x.strip()]
    return [x.strip() for x in out]


def cmd_stdlib(args) -> int:
    from kg.sidecar import Sidecar, SidecarError
    from kg.stdlib import DEFAULT_APPS, AppNotInstalled, app_facts
    from elixir_coder.commands import open_kg
    from sparql.store import StoreError

    apps = _split(args.apps) or list(DEFAULT_APPS)
    modules = _split(args.modules) or None
    if modules and len(apps) != 1:
        print("error: --modules filters one app: name it with --apps", file=sys.stderr)
        return 2
    started = time.monotonic()
    console = None
    if sys.stderr.isatty() and not args.json:
        from rich.console import Console

        console = Console(stderr=True)
    kg = open_kg(args)
    if kg is None:
        return 2
    done, failed = [], []
    try:
        with kg, Sidecar() as sidecar:
            for app in apps:
                try:
                    facts = _introspect(app_facts, sidecar, app, modules, console)
                except AppNotInstalled as e:
                    failed.append((app, str(e)))
                    print(f"error: {e}", file=sys.stderr)
                    continue
                except LookupError as e:  # --modules names a module the app lacks
                    failed.append((app, str(e)))
                    print(f"error: {e}", file=sys.stderr)
                    continue
                # Embedded: one update request = one transaction (readers see the old graph or
                # the new one); an endpoint gets it in batches (sparql/remote.py).
                kg.replace_graph(facts.graph, facts.ntriples())
                done.append(facts)
                for m, why in facts.missing:
                    print(f"warning: {app}: module {m} could not be loaded ({why})", file=sys.stderr)
                if console is not None:
                    console.print(f"[green]✓[/] {app}@{facts.version}: {facts.modules} modules, "
                                  f"{facts.functions} functions, {facts.callbacks} callbacks, "
                                  f"{facts.triples} triples ({facts.seconds:.1f} s)", highlight=False)
            if done:
                kg.resolve()
    except SidecarError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    seconds = round(time.monotonic() - started, 3)
    summary = {
        "apps": [f.summary() for f in done],
        "modules": sum(f.modules for f in done),
        "functions": sum(f.functions for f in done),
        "callbacks": sum(f.callbacks for f in done),
        "triples": sum(f.triples for f in done),
        "seconds": seconds,
        "failed": [{"app": a, "error": msg} for a, msg in failed],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for f in done:
            print(f"{f.app}@{f.version}  modules {f.modules}  functions {f.functions}  "
                  f"callbacks {f.callbacks}  triples {f.triples}  ({f.seconds:.1f} s)")
        print(f"total  modules {summary['modules']}  functions {summary['functions']}  "
              f"callbacks {summary['callbacks']}  triples {summary['triples']}  ({seconds:.1f} s)")
    if failed:
        names = ", ".join(a for a, _ in failed)
        if done:
            print(f"error: not added: {names}; added: {', '.join(f.app for f in done)}", file=sys.stderr)
            return 1
        print(f"error: nothing added ({names})", file=sys.stderr)
        return 2
    return 0


def _introspect(app_facts, sidecar, app, modules, console):
    if console is None:
        return app_facts(app, sidecar, modules=modules)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(f"introspecting {app}", total=None)
        return app_facts(app, sidecar, modules=modules,
                         progress=lambda done, total: bar.update(task, completed=done, total=total))
