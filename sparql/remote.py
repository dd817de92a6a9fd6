"""The KnowledgeGraph API on a remote SPARQL 1.1 endpoint (Virtuoso, the Oxigraph server, any
SPARQL 1.1 Protocol service), through SPARQLWrapper.

Owns the HTTP side of the store: :class:`RemoteStore` speaks the small part of pyoxigraph's
``Store`` interface that :class:`sparql.store.KnowledgeGraph` uses (``query``, ``update``,
``load``, ``bulk_load``, ``named_graphs``, ``quads_for_pattern``, ``flush``), so every method of
the KnowledgeGraph (named queries, the build's transactional and bulk writes, resolution,
export, counts, reasoning rules) runs unchanged on an endpoint; :class:`RemoteKnowledgeGraph` is
the KnowledgeGraph over it. Results come back as pyoxigraph terms and solutions (parsed by
pyoxigraph from the W3C results formats), so callers cannot tell the backends apart.

What an endpoint does differently, and how it is handled here:

* **Dataset.** The embedded store's default graph is the union of the fact graphs; here each
  is sent as a ``default-graph-uri`` (an empty list as a graph nobody writes: Virtuoso's
  ``DefaultGraph`` and "all graphs" default would otherwise change what unscoped queries see),
  and, when the query says GRAPH, the KG's graphs as ``named-graph-uri`` (a protocol dataset
  without them has no named graphs). Only graphs under the ontology base are the KG's.
* **Truncation** (Virtuoso's ``ResultSetMaxRows``, default 10,000): the answer comes with HTTP
  200 and only an ``X-SPARQL-MaxRows`` header says rows are missing. A query whose answer was
  cut raises :class:`ResultTruncated`; it is never returned as complete. Export pages by
  subject (keyset, no ``OFFSET``: ``ORDER BY … OFFSET`` past ``MaxSortedTopRows`` fails on
  Virtuoso with SR353) and shrinks the page when a page is cut or refused.
* **Timeouts.** Virtuoso's ``MaxQueryExecutionTime`` (60 s by default) stops a query (S1T00,
  or a partial "anytime" answer flagged by ``X-SQL-State``), the client ``timeout`` too: both
  raise :class:`RemoteTimeout`.
* **Dialect.** Virtuoso has no ``LATERAL`` (SEP-0006, used by the named queries): such a query
  is rewritten (:func:`unlateral`) and, unless it holds a transitive path, run with the joins
  in the written order (``define sql:select-option "order"``: Virtuoso's hash joins between
  subqueries lost rows). It divides integers into an integer and returns computed booleans as
  1/0: ``a / ?b``, ``BIND(BOUND(?x) AS ?y)`` and ``COALESCE(?x, false)`` are cast. ``ASK`` with a
  dataset can answer true for an empty graph: asked as a one-row SELECT. INSERT/DELETE
  templates with a variable graph fail on duplicate rows (SR002): the WHERE becomes ``SELECT
  DISTINCT *``. A transitive path inside a UNION branch that holds a VALUES row answers nothing
  there: refused with :class:`RemoteError`. Transitive memory errors are raised with a hint.
  Blank nodes cannot be written (Virtuoso refuses them in ``INSERT DATA``); the KG has none.
  The parity tests (tests/sparql/remote/) check every named query on all three backends.
* **Writes** go in batches of ``batch_triples``: by the Graph Store Protocol (N-Triples POSTed
  per graph to the Oxigraph server's ``/store`` or Virtuoso's ``/sparql-graph-crud-auth``, or
  ``store_url``), else by ``INSERT DATA`` (500 triples a request on Virtuoso: SP031), the meta
  graph's build records last (a build killed between batches leaves files without records,
  which the next build writes again).
* **Connection errors** (refused, reset, 502/503/504) are retried with exponential backoff;
  everything else raises at once with the server's message. Digest credentials stay with the
  store's own urllib opener (SPARQLWrapper's DIGEST installs a process-wide one).
"""

from __future__ import annotations

import re
import socket
import time
import urllib.error
from collections.abc import Iterable, Mapping
from http.client import HTTPException

import pyoxigraph as ox
from SPARQLWrapper import BASIC, POST, SPARQLWrapper

from ontologies import BASE, META_GRAPH
from sparql.store import KnowledgeGraph, StoreError  # store imports this module lazily

#: A graph IRI nobody writes: the default graph of a query that must see no default graph.
EMPTY_GRAPH = "urn:x-elixir-coder:empty-default-graph"
_XML = "application/sparql-results+xml"
_NT = "application/n-triples"
_FORM = re.compile(r"^\s*(?:(?:#[^\n]*\n|\s+)|(?:PREFIX\s+[\w.-]*:\s*<[^>]*>)|(?:BASE\s*<[^>]*>))*\s*(\w+)",
                   re.I)
_LATERAL = re.compile(r"\bLATERAL\s*\{", re.I)
_RETRY_HTTP = (502, 503, 504)
_BOOL_BIND = re.compile(r"BIND\s*\(\s*(BOUND\s*\(\s*\?\w+\s*\))\s+AS", re.I)
_BOOL_COALESCE = re.compile(r"COALESCE\s*\(\s*\?\w+\s*,\s*(?:true|false)\s*\)", re.I)
_GRAPH = re.compile(r"\bGRAPH\b", re.I)
_DIVIDE = re.compile(r"(?<=\s)/\s+(\?\w+)")


class RemoteError(RuntimeError):
    """The endpoint refused or failed a request (the message carries the server's answer)."""


class RemoteTimeout(RemoteError):
    """No answer within the client timeout, or the server's own time limit cut the query."""


class ResultTruncated(RemoteError):
    """The endpoint returned only part of the answer (Virtuoso ``ResultSetMaxRows``)."""


class RemoteStore:
    """A SPARQL 1.1 Protocol endpoint behind the subset of ``pyoxigraph.Store`` the
    KnowledgeGraph uses. ``auth`` is ``(user, password)``; ``auth_scheme`` ``digest``
    (Virtuoso's ``/sparql-auth``) or ``basic``."""

    def __init__(self, query_url: str, update_url: str | None = None, *, auth: tuple[str, str] | None = None,
                 auth_scheme: str = "digest", timeout: float | None = 300.0, retries: int = 4,
                 backoff: float = 0.5, store_url: str | None = None, batch_triples: int = 10_000,
                 page_subjects: int = 2000, write_mode: str = "auto", graphs_ttl: float = 10.0):
        if not re.match(r"^https?://", query_url or ""):
            raise ValueError(f"{query_url!r}: an endpoint URL starts with http:// or https://")
        if auth_scheme not in ("digest", "basic"):
            raise ValueError(f"auth scheme {auth_scheme!r}: one of digest, basic")
        self.query_url = query_url
        self.update_url = update_url or query_url
        self.store_url = store_url
        self.auth = auth
        self.auth_scheme = auth_scheme
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.batch_triples = batch_triples
        self.page_subjects = page_subjects
        if write_mode not in ("auto", "gsp", "update"):
            raise ValueError(f"write mode {write_mode!r}: one of auto, gsp, update")
        self.write_mode = write_mode
        self._flavour: str | None = None
        self._opener_cache = None
        self._graphs: tuple[float, list] | None = None
        self.graphs_ttl = graphs_ttl
        self.requests = 0  # HTTP requests sent (benchmarks read it)

    # ---- HTTP ---------------------------------------------------------------------------
    def _request(self, url: str, text: str, *, update: bool, accept: str | None,
                 default_graphs: list[str] | None, named_graphs: list[str] | None):
        """The SPARQL 1.1 Protocol request, encoded by SPARQLWrapper (POST, form-encoded)."""
        w = SPARQLWrapper(url, updateEndpoint=url if update else None, agent="elixir-coder")
        w.setMethod(POST)
        w.setOnlyConneg(True)  # no format= parameter: the Accept header alone
        if self.auth is not None and self.auth_scheme == "basic":
            w.setHTTPAuth(BASIC)  # a header on this request only
            w.setCredentials(*self.auth)
        if accept:
            w.addCustomHttpHeader("Accept", accept)
        for g in default_graphs or ():
            w.addDefaultGraph(g)
        for g in named_graphs or ():
            w.addNamedGraph(g)
        w.setQuery(text)
        # SPARQLWrapper guesses the operation from the text (and can guess wrong when a comment
        # holds a keyword): say it.
        w.queryType = "INSERT" if update else query_form(text)
        # Digest auth is answered by this store's own opener: SPARQLWrapper's DIGEST installs a
        # process-wide urllib opener, which would lend these credentials to every later request.
        return w._createRequest()

    def _send(self, text: str, *, update: bool = False, accept: str | None = None,
              default_graphs: list[str] | None = None, named_graphs: list[str] | None = None):
        """One request (retried on connection errors). Returns (headers, body bytes)."""
        url = self.update_url if update else self.query_url
        attempt = 0
        while True:
            request = self._request(url, text, update=update, accept=accept,
                                    default_graphs=default_graphs, named_graphs=named_graphs)
            try:
                self.requests += 1
                with self._opener().open(request, timeout=self.timeout) as r:
                    headers = {k.lower(): v for k, v in r.headers.items()}
                    body = r.read()
                self._note_server(headers)
                return headers, body
            except urllib.error.HTTPError as e:
                body = e.read().decode("utf-8", "replace")[:3000]
                self._note_server({k.lower(): v for k, v in (e.headers or {}).items()})
                if e.code in _RETRY_HTTP and attempt < self.retries:
                    pass
                elif e.code == 400:
                    raise SyntaxError(f"{url}: the endpoint rejected the request: {body}") from None
                elif e.code == 401:
                    who = f"user {self.auth[0]!r}" if self.auth else "no credentials"
                    raise StoreError(f"{url}: not authorized ({who}): give --user and --password-env "
                                     f"(updates on Virtuoso go to /sparql-auth as a user with SPARQL_UPDATE): "
                                     f"{body}") from None
                elif e.code == 403:
                    raise StoreError(f"{url}: forbidden (HTTP 403; a read-only endpoint?): {body}") from None
                elif e.code == 404:
                    raise StoreError(f"{url}: no SPARQL endpoint there (HTTP 404): {body}") from None
                elif e.code == 500:
                    raise _classify(url, body) from None
                else:
                    raise RemoteError(f"{url}: HTTP {e.code}: {body}") from None
            except (TimeoutError, socket.timeout) as e:
                raise RemoteTimeout(f"{url}: no answer within {self.timeout} s ({e}); raise --timeout "
                                    "or narrow the query") from None
            except (urllib.error.URLError, ConnectionError, HTTPException, OSError) as e:
                reason = getattr(e, "reason", e)
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    raise RemoteTimeout(f"{url}: no answer within {self.timeout} s; raise --timeout "
                                        "or narrow the query") from None
                if attempt >= self.retries:
                    raise StoreError(f"{url}: cannot reach the endpoint after {attempt + 1} tries: "
                                     f"{reason}") from None
            time.sleep(self.backoff * (2 ** attempt))
            attempt += 1

    def _note_server(self, headers: dict[str, str]) -> None:
        if self._flavour is None:
            server = headers.get("server", "").lower()
            self._flavour = "virtuoso" if "virtuoso" in server else "oxigraph" if "oxigraph" in server else "generic"

    @property
    def flavour(self) -> str:
        """``virtuoso``, ``oxigraph`` or ``generic`` (from the Server header)."""
        if self._flavour is None:
            self._send("ASK {}", accept=_XML)
        return self._flavour

    # ---- the Store interface ------------------------------------------------------------
    def query(self, sparql: str, prefixes: Mapping[str, str] | None = None,
              default_graph: list | None = None, substitutions: Mapping | None = None,
              **_ignored):
        """SELECT/ASK -> pyoxigraph QuerySolutions/QueryBoolean; CONSTRUCT/DESCRIBE ->
        QueryTriples. Raises SyntaxError, ResultTruncated, RemoteTimeout, RemoteError."""
        text = self.prepare(sparql, prefixes, substitutions)
        form = query_form(text)
        graphs = named = None
        if default_graph is not None:
            graphs = [g.value if hasattr(g, "value") else str(g) for g in default_graph] or [EMPTY_GRAPH]
            if _GRAPH.search(text):
                # A protocol dataset with default graphs only has NO named graphs (the Oxigraph
                # server follows the spec; Virtuoso does not): name them, as the embedded store
                # keeps every named graph visible to GRAPH.
                named = [g.value for g in self.named_graphs()] or [EMPTY_GRAPH]
        if form in ("CONSTRUCT", "DESCRIBE"):
            headers, body = self._send(text, accept=_NT, default_graphs=graphs, named_graphs=named)
            self._check(headers, text)
            mem = ox.Store()
            fmt = ox.RdfFormat.N_TRIPLES if "n-triples" in headers.get("content-type", "") else ox.RdfFormat.TURTLE
            mem.load(body, fmt)
            return mem.query("CONSTRUCT WHERE { ?s ?p ?o }")
        if form == "ASK" and self.flavour == "virtuoso":
            # Virtuoso answers ASK { GRAPH <g> {…} } with true for an empty graph once a
            # default-graph-uri is given: ask for one row instead.
            m = _FORM.match(text)
            text = text[:m.start(1)] + "SELECT *" + text[m.end(1):] + "\nLIMIT 1"
            headers, body = self._send(text, accept=_XML, default_graphs=graphs, named_graphs=named)
            self._check(headers, text)
            found = any(True for _ in ox.parse_query_results(body, ox.QueryResultsFormat.XML))
            return ox.parse_query_results('{"head": {}, "boolean": %s}' % ("true" if found else "false"),
                                          ox.QueryResultsFormat.JSON)
        headers, body = self._send(text, accept=_XML, default_graphs=graphs, named_graphs=named)
        self._check(headers, text)
        ctype = headers.get("content-type", "")
        fmt = ox.QueryResultsFormat.JSON if "json" in ctype else ox.QueryResultsFormat.XML
        return ox.parse_query_results(body, fmt)

    def _check(self, headers: dict[str, str], text: str) -> None:
        if "x-sql-state" in headers:
            state = headers["x-sql-state"]
            msg = headers.get("x-sql-message", "")
            if state.upper() in ("S1TAT", "S1T00"):
                raise RemoteTimeout(f"{self.query_url}: the server's query time limit cut the answer "
                                    f"({state}: {msg}); raise MaxQueryExecutionTime in its ini or narrow the query")
            raise RemoteError(f"{self.query_url}: partial answer ({state}: {msg})")
        if "x-sparql-maxrows" in headers:
            n = headers["x-sparql-maxrows"]
            raise ResultTruncated(
                f"{self.query_url}: the endpoint cut the answer at {n} rows (Virtuoso ResultSetMaxRows, "
                "signalled by X-SPARQL-MaxRows); the answer is incomplete, so it is not returned. "
                "Raise [SPARQL] ResultSetMaxRows in virtuoso.ini (the managed instance does), or add "
                "LIMIT / narrow the query.")

    def update(self, sparql: str, prefixes: Mapping[str, str] | None = None) -> None:
        text = self.prepare(sparql, prefixes, None)
        self._graphs = None
        if self.flavour == "virtuoso":
            text = distinct_where(text)
        headers, body = self._send(text, update=True, accept=_XML)
        if "x-sql-state" in headers:
            raise RemoteError(f"{self.update_url}: update failed ({headers['x-sql-state']}: "
                              f"{headers.get('x-sql-message', '')})")

    def prepare(self, sparql: str, prefixes: Mapping[str, str] | None, substitutions: Mapping | None) -> str:
        """The text sent: PREFIX lines, SEP-0007 substitutions as a trailing VALUES row (a
        join with the projected solutions: the same answers), dialect rewrites."""
        head = "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in (prefixes or {}).items())
        text = head + sparql
        if substitutions:
            names = " ".join(str(k) if str(k).startswith("?") else f"?{k}" for k in substitutions)
            terms = " ".join(str(v) for v in substitutions.values())
            text += f"\nVALUES ({names}) {{ ( {terms} ) }}"
        if self.flavour == "virtuoso":
            if _LATERAL.search(text):
                text = unlateral(text)
                # LATERAL means "evaluate in this order". Virtuoso's own choice of (hash) joins
                # between the subqueries lost rows (9 of 1,440 `functions` rows on Mix's KG, a
                # different 9 after each load), so the written order is kept, except around a
                # transitive path, where that option lost rows instead (`data-flow-into`: 1 of
                # 8). Both measured on Virtuoso 7.2.
                if not _PATH.search(text):
                    text = 'define sql:select-option "order"\n' + text
            if _path_in_values_union_branch(text):
                raise RemoteError(
                    "Virtuoso 7.2 cannot start a transitive property path (p+ / p*) inside a UNION branch "
                    "that also holds a VALUES row (it answers nothing instead of the closure): run this "
                    "query on the embedded store or the Oxigraph server, or move the VALUES out of the branch")
            # SPARQL divides integers into a decimal; Virtuoso into an integer (2 / 4 = 0).
            text = _DIVIDE.sub(r"/ <http://www.w3.org/2001/XMLSchema#decimal>(\1)", text)
            # Virtuoso returns computed booleans as 1/0 (xsd:integer) unless cast.
            text = _BOOL_BIND.sub(r"BIND(<http://www.w3.org/2001/XMLSchema#boolean>(\1) AS", text)
            text = _BOOL_COALESCE.sub(r"<http://www.w3.org/2001/XMLSchema#boolean>(\g<0>)", text)
        return text

    def load(self, data, format=ox.RdfFormat.TRIG, **_ignored) -> None:
        """Add a TriG/N-Quads/N-Triples document (in batches; see the module doc)."""
        self._write(ox.parse(data, format))

    def bulk_load(self, data, format=ox.RdfFormat.TRIG, **_ignored) -> None:
        self._write(ox.parse(data, format))

    def _write(self, quads: Iterable[ox.Quad]) -> None:
        self._graphs = None
        facts: dict[str, list[str]] = {}
        meta: list[str] = []
        for q in quads:
            if isinstance(q.subject, ox.BlankNode) or isinstance(q.object, ox.BlankNode):
                raise RemoteError("blank nodes cannot be written to a remote endpoint in batches "
                                  "(Virtuoso refuses them in INSERT DATA); mint IRIs")
            if isinstance(q.graph_name, ox.DefaultGraph):
                raise RemoteError("a remote KG holds named graphs only (the default graph is the union)")
            line = f"{q.subject} {q.predicate} {q.object} .\n"
            (meta if q.graph_name == META_GRAPH else facts.setdefault(q.graph_name.value, [])).append(line)
        if meta:
            facts.setdefault(META_GRAPH.value, []).extend(meta)  # last: records after their facts
        gsp = self.gsp_url()
        for g, lines in facts.items():
            for i in range(0, len(lines), self.batch_triples):
                chunk = lines[i:i + self.batch_triples]
                if gsp:
                    self._gsp_post(gsp, g, "".join(chunk))
                else:
                    # Virtuoso compiles INSERT DATA to SQL (10,000 lines at most): small batches.
                    step = 500 if self.flavour == "virtuoso" else len(chunk)
                    for j in range(0, len(chunk), step):
                        self.update(f"INSERT DATA {{ GRAPH <{g}> {{\n" + "".join(chunk[j:j + step]) + "} }")

    def gsp_url(self) -> str | None:
        """Where batches go by the Graph Store Protocol: ``store_url`` if given, else the known
        place on the Oxigraph server (``/store``) and Virtuoso (``/sparql-graph-crud-auth``,
        digest auth); None: SPARQL ``INSERT DATA``."""
        if self.store_url is not None or self.write_mode == "update":
            return self.store_url or None
        if self.flavour == "oxigraph" and self.update_url.endswith("/update"):
            return self.update_url[: -len("/update")] + "/store"
        if self.flavour == "virtuoso" and self.update_url.endswith("/sparql-auth"):
            return self.update_url[: -len("/sparql-auth")] + "/sparql-graph-crud-auth"
        return None

    def _opener(self):
        """This store's urllib opener (digest credentials stay with it)."""
        if self._opener_cache is None:
            import urllib.request

            handlers = []
            if self.auth is not None:
                pm = urllib.request.HTTPPasswordMgrWithDefaultRealm()
                for u in {self.query_url, self.update_url}:
                    origin = re.match(r"^https?://[^/]+", u).group(0)
                    pm.add_password(None, origin + "/", *self.auth)
                handler = (urllib.request.HTTPDigestAuthHandler if self.auth_scheme == "digest"
                           else urllib.request.HTTPBasicAuthHandler)
                handlers.append(handler(pm))
            self._opener_cache = urllib.request.build_opener(*handlers)
        return self._opener_cache

    def _gsp_post(self, url: str, graph: str, ntriples: str) -> None:
        """Graph Store Protocol: POST N-Triples into ``graph`` (adds; never replaces)."""
        import urllib.parse
        import urllib.request

        target = url + ("&" if "?" in url else "?") + urllib.parse.urlencode({"graph": graph})
        req = urllib.request.Request(target, data=ntriples.encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/n-triples"})
        attempt = 0
        while True:
            try:
                self.requests += 1
                with self._opener().open(req, timeout=self.timeout) as r:
                    r.read()
                return
            except urllib.error.HTTPError as e:
                if e.code in _RETRY_HTTP and attempt < self.retries:
                    pass
                else:
                    body = e.read().decode("utf-8", "replace")[:2000]
                    if e.code in (401, 403):
                        raise StoreError(f"{url}: not authorized to write (HTTP {e.code}): give --user and "
                                         f"--password-env of a user with SPARQL_UPDATE: {body}") from None
                    raise RemoteError(f"{url}: HTTP {e.code}: {body}") from None
            except (TimeoutError, socket.timeout):
                raise RemoteTimeout(f"{url}: no answer within {self.timeout} s") from None
            except (urllib.error.URLError, ConnectionError, HTTPException, OSError) as e:
                if attempt >= self.retries:
                    raise StoreError(f"{url}: cannot reach the endpoint: {e}") from None
            time.sleep(self.backoff * (2 ** attempt))
            attempt += 1

    def named_graphs(self) -> list[ox.NamedNode]:
        """The endpoint's named graphs that are ours (IRIs under the ontology base): Virtuoso
        lists its system graphs too. Listing them costs a scan on a big store (20 ms on 0.4M
        triples), and every query over "all graphs" needs the list, so it is kept for
        ``graphs_ttl`` seconds; this client's own writes refresh it at once."""
        now = time.monotonic()
        if self._graphs is not None and now - self._graphs[0] < self.graphs_ttl:
            return list(self._graphs[1])
        where = "GRAPH ?g { }" if self.flavour == "oxigraph" else "GRAPH ?g { ?s ?p ?o }"
        rows = self.query(f"SELECT DISTINCT ?g WHERE {{ {where} }}")
        graphs = [r["g"] for r in rows if isinstance(r["g"], ox.NamedNode) and r["g"].value.startswith(BASE)]
        self._graphs = (now, graphs)
        return list(graphs)

    def quads_for_pattern(self, subject=None, predicate=None, obj=None, graph=None):
        """Every quad of one graph (only this pattern is used: export), paged by subject so
        that no answer reaches the endpoint's row cap."""
        if subject is not None or predicate is not None or obj is not None or graph is None:
            raise NotImplementedError("RemoteStore.quads_for_pattern: only (None, None, None, graph)")
        g = str(graph)
        try:
            rows = self.query(f"SELECT ?s ?p ?o WHERE {{ GRAPH {g} {{ ?s ?p ?o }} }}")
            for r in rows:
                yield ox.Quad(r["s"], r["p"], r["o"], graph)
            return
        except ResultTruncated:
            pass
        yield from self._paged_quads(graph)

    def _paged_quads(self, graph):
        g = str(graph)
        last = None
        page = self.page_subjects
        while True:
            after = f'FILTER(STR(?s) > {ox.Literal(last)})' if last is not None else ""
            while True:
                try:
                    subs = [r["s"] for r in self.query(
                        f"SELECT DISTINCT ?s WHERE {{ GRAPH {g} {{ ?s ?p ?o }} {after} }} ORDER BY STR(?s) LIMIT {page}")]
                    break
                except RemoteError as e:  # the row cap, or Virtuoso's MaxSortedTopRows (SR353)
                    if page == 1 or not (isinstance(e, ResultTruncated) or "SR353" in str(e)):
                        raise
                    page //= 2
            if not subs:
                return
            while True:
                values = " ".join(str(s) for s in subs)
                try:
                    rows = list(self.query(f"SELECT ?s ?p ?o WHERE {{ VALUES ?s {{ {values} }} GRAPH {g} {{ ?s ?p ?o }} }}"))
                    break
                except ResultTruncated:
                    if len(subs) == 1:
                        raise
                    subs = subs[: len(subs) // 2]
                    page = max(1, len(subs))
            self.page_subjects = page  # remember what the endpoint allows
            for r in rows:
                yield ox.Quad(r["s"], r["p"], r["o"], graph)
            last = subs[-1].value

    def flush(self) -> None:
        pass


def _scan(text: str):
    """(index, char) of the characters of ``text`` outside strings, IRIs and comments."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if c in "\"'":
            long = text.startswith(c * 3, i)
            quote = c * 3 if long else c
            j = i + len(quote)
            while j < n and not text.startswith(quote, j):
                j += 2 if text[j] == "\\" else 1
            i = j + len(quote)
            continue
        if c == "<":
            m = re.match(r"<[^<>\"{}|^`\\\s]*>", text[i:])
            if m:
                i += m.end()
                continue
        yield i, c
        i += 1


def _match_brace(text: str, open_at: int) -> int:
    depth = 0
    for i, c in _scan(text[open_at:]):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return open_at + i
    raise SyntaxError("unbalanced braces in the update")


_CORRELATED = re.compile(r"\bGROUP\s+BY\b|\)\s*[+*]|[\w>]\s*[+*]\s+[?$<\w]", re.I)


def unlateral(text: str) -> str:
    """SPARQL 1.1 without ``LATERAL`` (SEP-0006), for endpoints that lack it (Virtuoso):

    * ``LATERAL { OPTIONAL { X } }`` -> ``OPTIONAL { X }`` (a left join keeps the rows without X;
      ``{ OPTIONAL { X } }`` would not);
    * ``LATERAL { SELECT … }`` whose answer depends on the outer rows (GROUP BY, or a ``+``/``*``
      path that must start from them) -> the same subquery with the group's preceding patterns
      copied in front of its WHERE (decorrelation);
    * any other ``LATERAL { X }`` -> ``{ X }`` (a join on the variables X projects).
    """
    while True:
        visible = [(i, c) for i, c in _scan(text)]
        pos = next((i for i, _ in visible if text.startswith("LATERAL", i)
                    and (i == 0 or not text[i - 1].isalnum()) and re.match(r"LATERAL\s*\{", text[i:])), None)
        if pos is None:
            return text
        brace = text.index("{", pos)
        close = _match_brace(text, brace)
        body = text[brace + 1:close].strip()
        # the enclosing group: the nearest unmatched "{" before the keyword
        depth, group = 0, None
        for i, c in reversed([v for v in visible if v[0] < pos]):
            if c == "}":
                depth += 1
            elif c == "{":
                if depth == 0:
                    group = i
                    break
                depth -= 1
        left = text[group + 1:pos] if group is not None else ""
        inner = body
        if inner.startswith("{") and _match_brace(inner, 0) == len(inner) - 1 and \
                re.match(r"\{\s*SELECT\b", inner, re.I):
            inner = inner[1:-1].strip()
        if body.upper().startswith("OPTIONAL") and _match_brace(body, body.index("{")) == len(body) - 1:
            repl = body
        elif re.match(r"SELECT\b", inner, re.I) and _CORRELATED.search(inner):
            w = re.search(r"\bWHERE\s*\{", inner, re.I) or re.search(r"\{", inner)
            at = w.end()
            repl = "{ " + inner[:at] + "\n" + left + "\n" + inner[at:] + " }"
        else:
            repl = "{ " + body + " }"
        text = text[:pos] + repl + text[close + 1:]


_PATH = re.compile(r"\)\s*[+*]|[\w>]\s*[+*]\s+[?$<\w]")


def _path_in_values_union_branch(text: str) -> bool:
    """True when a UNION branch (a group right before or after UNION) holds, at its own
    level, both a VALUES row and a transitive property path."""
    visible = dict(_scan(text))
    for i, c in visible.items():
        if c != "{":
            continue
        j = _match_brace(text, i)
        before = text[:i].rstrip()
        after = text[j + 1:].lstrip()
        if not (before.upper().endswith("UNION") or after.upper().startswith("UNION")):
            continue
        own, depth = [], 0
        for k in range(i + 1, j):
            ch = visible.get(k)
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif depth == 0 and ch is not None:
                own.append(text[k])
            elif depth == 0:
                own.append(" ")
        body = "".join(own)
        if re.search(r"\bVALUES\b", body, re.I) and _PATH.search(body) and not _contradictory_values(text[i:j]):
            return True
    return False


def _contradictory_values(group: str) -> bool:
    """A group whose one-variable VALUES rows give one variable two different constants
    (``VALUES ?t { true }`` and ``VALUES (?t) { ( false ) }``) has no solution anyway."""
    seen: dict[str, str] = {}
    for m in re.finditer(r"VALUES\s*\(?\s*\?(\w+)\s*\)?\s*\{\s*\(?\s*([^\s(){}]+)\s*\)?\s*\}", group, re.I):
        var, value = m.group(1), re.sub(r'^"(.*)"(\^\^<[^>]*>)?$', r"\1", m.group(2))
        if value.upper() == "UNDEF":
            continue
        if seen.setdefault(var, value) != value:
            return True
    return False


def distinct_where(text: str) -> str:
    """``INSERT/DELETE {T} WHERE {W}`` -> ``... WHERE { SELECT DISTINCT * WHERE {W} }``: the
    same update (templates are sets), but Virtuoso 7.2 fails a template with a variable graph
    when the WHERE yields duplicate rows ("SR002: Function string_output_string needs a string
    output")."""
    out, pos, depth = [], 0, 0
    positions = [i for i, _ in _scan(text)]
    visible = {i: text[i] for i in positions}
    i = 0
    n = len(text)
    while i < n:
        if i in visible and visible[i] == "{":
            depth += 1
        elif i in visible and visible[i] == "}":
            depth -= 1
        if depth == 0 and i in visible and text[i:i + 5].upper() == "WHERE" and (i == 0 or not text[i - 1].isalnum()):
            before = text[:i].rstrip()
            if before.endswith("}"):  # a template precedes: a modify operation
                j = text.index("{", i)
                k = _match_brace(text, j)
                out.append(text[pos:j])
                out.append("{ SELECT DISTINCT * WHERE " + text[j:k + 1] + " }")
                pos = i = k + 1
                continue
        i += 1
    out.append(text[pos:])
    return "".join(out)


def query_form(text: str) -> str:
    """SELECT, ASK, CONSTRUCT or DESCRIBE (after the prologue and comments)."""
    m = _FORM.match(text)
    word = m.group(1).upper() if m else ""
    return word if word in ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE") else "SELECT"


def _classify(url: str, text: str) -> RemoteError:
    if "SR353" in text:
        return RemoteError(f"{url}: the endpoint refuses ORDER BY with this OFFSET (Virtuoso SR353, "
                           f"MaxSortedTopRows): page without OFFSET or raise the limit: {text}")
    if "transitive" in text.lower() and ("memory" in text.lower() or "exceed" in text.lower()):
        return RemoteError(f"{url}: a property path (e.g. calls+) ran out of the endpoint's transitive "
                           f"memory: bound the query (start from a given node) or raise the server's "
                           f"limits: {text}")
    if "S1T00" in text or "timeout" in text.lower() or "time limit" in text.lower():
        return RemoteTimeout(f"{url}: the server's time limit stopped the query (Virtuoso "
                             f"MaxQueryExecutionTime): {text}")
    return RemoteError(f"{url}: the endpoint failed the request: {text}")


def connect(url: str, *, update_url: str | None = None, auth: tuple[str, str] | None = None,
            auth_scheme: str = "digest", timeout: float | None = 300.0, read_only: bool = False,
            store_url: str | None = None, **options):
    """A :class:`RemoteKnowledgeGraph` on ``url`` (checked with one ASK, so a wrong URL fails
    here with a clear error, not at the first query)."""
    try:
        store = RemoteStore(url, update_url, auth=auth, auth_scheme=auth_scheme, timeout=timeout,
                            store_url=store_url, **options)
    except ValueError as e:
        raise StoreError(str(e)) from None
    try:
        store.flavour  # noqa: B018 (one request: the endpoint answers SPARQL)
    except SyntaxError as e:
        raise StoreError(f"{url}: does not answer SPARQL: {e}") from None
    except RemoteError as e:
        raise StoreError(f"{url}: not a SPARQL endpoint, or it fails: {e}") from None
    return RemoteKnowledgeGraph(store, url, read_only=read_only)


class RemoteKnowledgeGraph(KnowledgeGraph):
    """The KnowledgeGraph over a :class:`RemoteStore`: every method is inherited."""

    def __init__(self, store: RemoteStore, url: str, read_only: bool = False):
        super().__init__(store, None, read_only=read_only)
        self.url = url

    @property
    def remote(self) -> RemoteStore:
        return self._store

    def update(self, sparql: str) -> None:
        if self.read_only:
            raise StoreError(f"{self.url}: opened read-only")
        super().update(sparql)

    def drop_all(self) -> int:
        """Drop every graph of ours on the endpoint (facts, inferred, meta); returns how many.
        Other graphs (Virtuoso's system graphs, other users' data) stay."""
        graphs = self._store.named_graphs()
        for g in graphs:
            self._store.update(f"DROP SILENT GRAPH {g}")
        return len(graphs)

    def __repr__(self) -> str:
        return f"<RemoteKnowledgeGraph {self.url} ({self._store.flavour})>"


__all__ = ["RemoteStore", "RemoteKnowledgeGraph", "RemoteError", "RemoteTimeout", "ResultTruncated",
           "connect", "query_form", "EMPTY_GRAPH"]
