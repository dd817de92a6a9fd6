"""`elixir-coder serve`: a SPARQL 1.1 Protocol endpoint over an embedded store, for other tools
(YASGUI, Protégé's SPARQL tab, any SPARQL client).

No HTTP server of our own: it runs the ``oxigraph`` server (sparql/servers.py), read-only by
default (``oxigraph serve-read-only``), on loopback by default, with the union of the graphs as
the default graph (so queries without GRAPH see the whole KG, as ``elixir-coder query`` does).
"""

from __future__ import annotations

import ipaddress
import json
import signal
import sys
from pathlib import Path


def register(sub) -> None:
    s = sub.add_parser("serve", help="serve a store as a SPARQL 1.1 endpoint (read-only, loopback by default)",
                       description="Run the Oxigraph SPARQL server over the store: GET/POST /query (SPARQL 1.1 "
                                   "Protocol), /store (Graph Store Protocol, read), and with --writable /update. "
                                   "The default graph is the union of the store's graphs.")
    s.add_argument("--store", required=True, metavar="DIR", help="store directory (built with `kg build`)")
    s.add_argument("--bind", default="127.0.0.1:7878", metavar="HOST:PORT",
                   help="address to listen on (default 127.0.0.1:7878; port 0 picks a free one)")
    s.add_argument("--writable", action="store_true",
                   help="accept SPARQL UPDATE and Graph Store writes (default: read-only)")
    s.add_argument("--cors", action="store_true", help="allow cross-origin requests (browser tools such as YASGUI)")
    s.add_argument("--timeout", type=int, metavar="S", help="stop queries after S seconds")
    s.add_argument("--json", action="store_true", help="print the endpoint URLs as one JSON line when ready")
    s.set_defaults(func=cmd_serve)


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) -> (host, port). Raises ValueError."""
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--bind {bind!r}: expected HOST:PORT, e.g. 127.0.0.1:7878")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args) -> int:
    from sparql.servers import OxigraphServer, ServerError

    store = Path(args.store)
    if not (store / "CURRENT").exists():
        print(f"error: {store}: no knowledge graph store here (build one with `elixir-coder kg build`)",
              file=sys.stderr)
        return 2
    try:
        host, port = parse_bind(args.bind)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not is_loopback(host):
        print(f"warning: listening on {host}, not loopback: anyone who can reach this machine can query "
              f"the KG{' and change it (--writable)' if args.writable else ''}; there is no authentication",
              file=sys.stderr)
    server = OxigraphServer(location=store, host=host, port=port or None, read_only=not args.writable,
                            union_default_graph=True, timeout_s=args.timeout, cors=args.cors)
    try:
        server.start()
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    info = {"query": server.query_url, "update": server.update_url if args.writable else None,
            "store": server.store_url, "read_only": not args.writable, "pid": server.proc.pid}
    if args.json:
        print(json.dumps(info), flush=True)
    else:
        print(f"SPARQL endpoint: {server.query_url}" + ("" if args.writable else " (read-only)"), flush=True)
        if args.writable:
            print(f"updates:         {server.update_url}", flush=True)
        print("stop with Ctrl-C", file=sys.stderr, flush=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        code = server.proc.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        server.stop()
    if code not in (0, -signal.SIGTERM):
        print(f"error: the SPARQL server exited with status {code}", file=sys.stderr)
        return 1
    return 0
