"""Sub-command registration. Each module adds its sub-commands and calls into the stages."""

from __future__ import annotations


def register(sub) -> None:
    from elixir_coder.commands import demo, kg, query

    kg.register(sub)
    query.register(sub)
    demo.register(sub)
    from elixir_coder.commands import check
    check.register(sub)
    from elixir_coder.commands import onto
    onto.register(sub)
    from elixir_coder.commands import corpus, eval, generate, serve, tokenizer, train
    for module in (serve, corpus, tokenizer, train, generate, eval):
        module.register(sub)


def open_store(path, read_only: bool = False, must_exist: bool = False):
    """The KnowledgeGraph at ``path``, or None after printing why not (callers exit 2).
    ``must_exist`` refuses to create a store (commands that only make sense on a built KG)."""
    import sys
    from pathlib import Path

    from sparql.store import KnowledgeGraph, StoreError

    if must_exist and not read_only and not (Path(path) / "CURRENT").exists():
        print(f"error: {path}: no knowledge graph store here (build one with `elixir-coder kg build`)",
              file=sys.stderr)
        return None
    try:
        return KnowledgeGraph.open(path, read_only=read_only)
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def add_store_options(parser, *, required: bool = True, store_help: str = "store directory") -> None:
    """``--store DIR`` or ``--endpoint URL [--update-endpoint URL] [--user U --password-env VAR]``
    (a remote SPARQL 1.1 endpoint: Virtuoso, the Oxigraph server, ...). One of the two is
    required when ``required``."""
    where = parser.add_mutually_exclusive_group(required=required)
    where.add_argument("--store", metavar="DIR", help=store_help)
    where.add_argument("--endpoint", metavar="URL",
                       help="a SPARQL 1.1 endpoint instead of a store directory (e.g. http://127.0.0.1:8890/sparql)")
    r = parser.add_argument_group("remote endpoint")
    r.add_argument("--update-endpoint", metavar="URL",
                   help="where updates go (default: --endpoint; Virtuoso: .../sparql-auth)")
    r.add_argument("--user", metavar="U", help="user for HTTP authentication")
    r.add_argument("--password-env", metavar="VAR", help="environment variable holding the password of --user")
    r.add_argument("--auth", choices=("digest", "basic"), default="digest", help="HTTP auth scheme (default digest)")
    r.add_argument("--timeout", type=float, default=300.0, metavar="S", help="seconds per request (default 300)")


def endpoint_options(args) -> dict | None:
    """The ``KnowledgeGraph.open`` keyword arguments for ``--endpoint`` (None without it).
    Raises ValueError with a message for the user."""
    import os

    url = getattr(args, "endpoint", None)
    if not url:
        if getattr(args, "update_endpoint", None) or getattr(args, "user", None):
            raise ValueError("--update-endpoint and --user apply to --endpoint URL only")
        return None
    from sparql.store import is_endpoint

    if not is_endpoint(url):
        raise ValueError(f"--endpoint {url!r}: a SPARQL endpoint URL starts with http:// or https://")
    auth = None
    if args.user or args.password_env:
        if not (args.user and args.password_env):
            raise ValueError("give --user U and --password-env VAR together")
        if args.password_env not in os.environ:
            raise ValueError(f"--password-env {args.password_env}: that environment variable is not set")
        auth = (args.user, os.environ[args.password_env])
    return {"update_url": args.update_endpoint, "auth": auth, "auth_scheme": args.auth, "timeout": args.timeout}


def open_kg(args, read_only: bool = False, must_exist: bool = False):
    """The KnowledgeGraph of ``--store DIR`` or ``--endpoint URL`` (see :func:`add_store_options`),
    or None after printing why not (callers exit 2)."""
    import sys

    from sparql.store import KnowledgeGraph, StoreError

    try:
        options = endpoint_options(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return None
    if options is None:
        if not getattr(args, "store", None):
            print("error: give --store DIR or --endpoint URL", file=sys.stderr)
            return None
        return open_store(args.store, read_only=read_only, must_exist=must_exist)
    try:
        return KnowledgeGraph.open(args.endpoint, read_only=read_only, **options)
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return None
