"""The one KnowledgeGraph API over an RDF store.

Owns how the code KG is stored, queried, exported and changed: the embedded pyoxigraph store on
disk, or a remote SPARQL 1.1 endpoint behind the same public methods (sparql/remote.py supplies
a Store-like object over HTTP; ``KnowledgeGraph.open(url)`` dispatches to it), the meta graph
of per-file build records, per-file transactional writes, and the resolution pass that derives
``ec:resolvesTo`` and ``test:exercises`` inside the store. The build (kg/build.py) drives it
through the methods :class:`kg.build.StoreAPI` names; it never touches pyoxigraph itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pyoxigraph as ox

from kg.build import FileRecord
from kg.facts import RDF_TYPE, boolean, string
from ontologies import EC, META, META_GRAPH, PREFIXES, TEST
from sparql.named import place_values

_XSD_INT = "<http://www.w3.org/2001/XMLSchema#integer>"
_TRUE = boolean(True)

EXPORT_FORMATS = {
    "nq": ox.RdfFormat.N_QUADS,
    "nt": ox.RdfFormat.N_TRIPLES,
    "ttl": ox.RdfFormat.TURTLE,
    "trig": ox.RdfFormat.TRIG,
}


def is_endpoint(location) -> bool:
    """True for an http(s) URL (a remote SPARQL endpoint), False for a store directory."""
    return isinstance(location, str) and location.lower().startswith(("http://", "https://"))


class StoreError(RuntimeError):
    """A store problem a user can act on (message says what to do)."""


class StoreLocked(StoreError):
    pass


class KnowledgeGraph:
    """A code knowledge graph: named graphs of facts (one per project@version) + a meta graph."""

    def __init__(self, store: ox.Store, path: Path | None = None, read_only: bool = False):
        self._store = store
        self.path = path
        self.read_only = read_only

    # ---- life cycle -----------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, read_only: bool = False, *, auth: tuple[str, str] | None = None,
             update_url: str | None = None, timeout: float | None = 300.0, **options) -> "KnowledgeGraph":
        """Open (creating it if needed) the store at ``path``. Only one process may write a
        store; ``read_only`` opens a snapshot that works beside a writer.

        ``path`` may be the URL of a SPARQL 1.1 endpoint (``http://…``): the same API then runs
        on it (sparql/remote.py), with ``auth=(user, password)`` (digest by default;
        ``auth_scheme="basic"``), ``update_url`` (Virtuoso: ``…/sparql-auth``), ``timeout`` in
        seconds, and the options of :class:`sparql.remote.RemoteStore` (``store_url`` for Graph
        Store Protocol writes, ``batch_triples``, ``retries``)."""
        if is_endpoint(path):
            from sparql.remote import connect

            return connect(str(path), update_url=update_url, auth=auth, timeout=timeout,
                           read_only=read_only, **options)
        if auth is not None or update_url is not None or options:
            raise StoreError(f"{path}: auth, update_url and endpoint options apply to a SPARQL endpoint URL only")
        path = Path(path)
        if read_only:
            if not (path / "CURRENT").exists():
                raise StoreError(f"{path}: no knowledge graph store here (build one with `elixir-coder kg build`)")
            try:
                return cls(ox.Store.read_only(str(path)), path, read_only=True)
            except OSError as e:
                raise StoreError(f"{path}: cannot open the store read-only: {e}") from None
        if path.exists() and not path.is_dir():
            raise StoreError(f"{path}: not a directory")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"{path}: cannot create its parent directory: {e}") from None
        try:
            return cls(ox.Store(str(path)), path)
        except OSError as e:
            if "lock" in str(e).lower():
                raise StoreLocked(
                    f"{path}: the store is locked by another process (a build still running?); "
                    "wait for it to finish or stop it") from None
            raise StoreError(f"{path}: cannot open the store: {e}") from None

    def close(self) -> None:
        if self._store is not None:
            if not self.read_only:
                self._store.flush()
            self._store = None

    def __enter__(self) -> "KnowledgeGraph":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- reading --------------------------------------------------------------------------
    def graphs(self) -> list[ox.NamedNode]:
        """The named graphs of facts (the meta graph excluded), sorted."""
        return sorted((g for g in self._store.named_graphs() if g != META_GRAPH), key=lambda g: g.value)

    def query(self, sparql: str, params: Mapping[str, ox.NamedNode | ox.Literal] | None = None,
              graphs: Iterable[ox.NamedNode] | None = None):
        """Run a SPARQL query; the default graph is the union of the fact graphs (``graphs``
        or all but meta). ``params`` are RDF terms, never pasted into the text as given: each
        ``# @values`` line of the text becomes a VALUES row of their serialized terms
        (sparql/named.py says why), the others are bound by SEP-0007 substitution. The
        ontology PREFIXes are predeclared. Raises SyntaxError."""
        sparql, rest = place_values(sparql, params or {})
        subs = {ox.Variable(k): v for k, v in rest.items()}
        return self._store.query(
            sparql,
            prefixes=PREFIXES,
            default_graph=list(graphs) if graphs is not None else self.graphs(),
            substitutions=subs or None,
        )

    def update(self, sparql: str) -> None:
        """One SPARQL UPDATE request = one transaction."""
        self._store.update(sparql, prefixes=PREFIXES)

    def replace_graph(self, graph: str | ox.NamedNode, ntriples: str) -> None:
        """Replace one graph's triples with ``ntriples``: one update request, one transaction
        (a remote endpoint: DROP, then the batched writes of sparql/remote.py)."""
        g = graph if isinstance(graph, ox.NamedNode) else ox.NamedNode(graph)
        if isinstance(self._store, ox.Store):
            self._store.update(f"DROP SILENT GRAPH {g} ;\nINSERT DATA {{ GRAPH {g} {{\n{ntriples}}} }}")
            return
        self._store.update(f"DROP SILENT GRAPH {g}")
        self._store.load(f"{g} {{\n{ntriples}\n}}\n".encode("utf-8"), ox.RdfFormat.TRIG)

    def export(self, output, fmt: str = "nq", graph: ox.NamedNode | None = None) -> int:
        """Write the fact graphs (or one) to ``output`` (a binary file or path). Returns the
        number of statements. ``nt``/``ttl`` flatten the graphs into one set of triples."""
        if fmt not in EXPORT_FORMATS:
            raise StoreError(f"unknown export format {fmt!r} (one of {', '.join(EXPORT_FORMATS)})")
        rdf_format = EXPORT_FORMATS[fmt]
        graphs = [graph] if graph is not None else self.graphs()
        count = 0

        def statements():
            nonlocal count
            for g in graphs:
                for q in self._store.quads_for_pattern(None, None, None, g):
                    count += 1
                    yield q if rdf_format in (ox.RdfFormat.N_QUADS, ox.RdfFormat.TRIG) else q.triple

        prefixes = PREFIXES if rdf_format in (ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG) else None
        ox.serialize(statements(), output, rdf_format, prefixes=prefixes)
        return count

    def counts(self, graph: ox.NamedNode) -> dict[str, int]:
        """Modules, functions, call sites, tests and triples in one graph."""
        out = self._type_counts(graph, ("modules", "functions", "call_sites", "tests"))
        out["triples"] = int(next(iter(self._store.query(
            f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }}")))["n"].value)
        return out

    _COUNTED = {"modules": EC.Module, "functions": EC.Function, "call_sites": EC.CallSite, "tests": TEST.TestCase}

    def _type_counts(self, graph: ox.NamedNode, keys: tuple[str, ...]) -> dict[str, int]:
        """Distinct individuals of the counted classes in one graph (one scan per class)."""
        sums = " ".join(f"(SUM(IF(?t = {self._COUNTED[k]}, 1, 0)) AS ?{k})" for k in keys)
        values = " ".join(str(self._COUNTED[k]) for k in keys)
        row = next(iter(self._store.query(
            f"SELECT {sums} WHERE {{ VALUES ?t {{ {values} }} GRAPH {graph} {{ ?s a ?t }} }}")))
        return {k: int(row[k].value) if row[k] is not None else 0 for k in keys}

    def summary_counts(self, graph: ox.NamedNode) -> dict[str, int]:
        """Like :meth:`counts` but cheap enough for every incremental build: call sites and
        triples are summed from the files' build records (plus the derived links and the
        project node) instead of scanning the graph (0.2 s and 0.8 s on the Elixir source).
        The triple count is the facts written: a fact two files both state (a module split
        over files) counts twice, so it can exceed :meth:`counts`' by a few."""
        m = META
        q = f"""SELECT (SUM(?t) AS ?triples) (SUM(?m) AS ?modules) (SUM(?f) AS ?functions)
                       (SUM(?c) AS ?call_sites) (SUM(?x) AS ?tests)
                WHERE {{ GRAPH {META_GRAPH} {{ ?r {m.graph} {graph} ; {m.triples} ?t ; {m.modules} ?m ;
                         {m.functions} ?f ; {m.callSites} ?c ; {m.tests} ?x }} }}"""
        row = next(iter(self._store.query(q)))
        files = int(row["triples"].value) if row["triples"] is not None else 0
        # Call sites belong to one file, so their sum is exact; modules, functions and tests
        # can be stated by several files (defimpl for a list, a module split over files) and
        # are counted distinct (a small type scan).
        out = {"call_sites": int(row["call_sites"].value) if row["call_sites"] is not None else 0}
        out.update(self._type_counts(graph, ("modules", "functions", "tests")))
        derived = next(iter(self._store.query(
            f"""SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH {graph} {{
                  {{ ?c ec:resolvesTo ?f }} UNION {{ ?t test:exercises ?f }} UNION {{ ?p a ec:Project ; ?pp ?po }} }} }}""",
            prefixes=PREFIXES)))["n"]
        out["triples"] = files + int(derived.value)
        return out

    # ---- build records (meta graph) -------------------------------------------------------
    def file_records(self, graph: ox.NamedNode) -> dict[str, FileRecord]:
        """path -> record of every file the store holds for ``graph`` (without subjects)."""
        q = f"""SELECT ?f ?path ?hash ?mtime ?size WHERE {{ GRAPH {META_GRAPH} {{
            ?f {META.graph} {graph} ; {META.path} ?path .
            OPTIONAL {{ ?f {META.contentHash} ?hash }}
            OPTIONAL {{ ?f {META.mtime} ?mtime }}
            OPTIONAL {{ ?f {META.size} ?size }} }} }}"""
        out = {}
        for row in self._store.query(q):
            out[row["path"].value] = FileRecord(
                file=row["f"].value, path=row["path"].value,
                sha256=row["hash"].value if row["hash"] is not None else None,
                mtime_ns=int(row["mtime"].value) if row["mtime"] is not None else -1,
                size=int(row["size"].value) if row["size"] is not None else -1)
        return out

    def file_subjects(self, files: Iterable[str]) -> dict[str, list[str]]:
        """file IRI -> the subjects it owned at its last ingest."""
        files = list(files)
        out: dict[str, list[str]] = {f: [] for f in files}
        for chunk in _chunks(files, 500):
            values = " ".join(f"<{f}>" for f in chunk)
            q = f"SELECT ?f ?s WHERE {{ VALUES ?f {{ {values} }} GRAPH {META_GRAPH} {{ ?f {META.subjects} ?s }} }}"
            for row in self._store.query(q):
                out[row["f"].value] = [s for s in row["s"].value.split("\n") if s]
        return out

    def module_files(self, graph: ox.NamedNode, modules: Iterable[str]) -> dict[str, set[str]]:
        """module IRI -> files of ``graph`` that define it (a module may be split over files)."""
        modules = list(modules)
        out: dict[str, set[str]] = {}
        for chunk in _chunks(modules, 500):
            values = " ".join(f"<{m}>" for m in chunk)
            q = f"SELECT ?m ?f WHERE {{ VALUES ?m {{ {values} }} GRAPH {graph} {{ ?m {EC.inFile} ?f }} }}"
            for row in self._store.query(q):
                out.setdefault(row["m"].value, set()).add(row["f"].value)
        return out

    def file_problems(self, graph: ox.NamedNode) -> list[tuple[str, str, str]]:
        """(path, status, reason) of every file of ``graph`` whose parse status is not ok."""
        q = f"""SELECT ?path ?status ?msg ?line ?col WHERE {{ GRAPH {graph} {{
            ?f ec:parseStatus ?status . FILTER(?status != "ok")
            ?f ec:relativePath ?path .
            OPTIONAL {{ ?f ec:hasParseProblem ?pb . ?pb ec:message ?msg .
                       OPTIONAL {{ ?pb ec:startLine ?line }} OPTIONAL {{ ?pb ec:startColumn ?col }} }} }} }}"""
        found: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
        for row in self._store.query(q, prefixes=PREFIXES):
            probs = found.setdefault((row["path"].value, row["status"].value), [])
            if row["msg"] is not None:
                line = int(row["line"].value) if row["line"] is not None else 0
                col = int(row["col"].value) if row["col"] is not None else 0
                probs.append((line, col, row["msg"].value))
        out = []
        for (path, status), probs in sorted(found.items()):
            probs.sort()
            text = "; ".join(f"line {ln}:{c}: {m}" if ln else m for ln, c, m in probs[:3])
            if len(probs) > 3:
                text += f" (and {len(probs) - 3} more)"
            out.append((path, status, text or status))
        return out

    def needs_resolution(self) -> bool:
        """True when a build changed facts and did not finish its resolution pass."""
        return bool(self._store.query(f"ASK {{ GRAPH {META_GRAPH} {{ ?g {META.needsResolution} ?x }} }}"))

    # ---- writing --------------------------------------------------------------------------
    def apply_files(self, graph: ox.NamedNode, deletes: Iterable[tuple[str, list[str]]] = (),
                    inserts: Iterable[tuple[FileRecord, str]] = (), extra_ntriples: str = "") -> None:
        """Replace some files' facts in ONE transaction: drop the triples of each deleted
        file's subjects and its record, add each inserted file's N-Triples and record, and flag
        the graph for resolution. A build killed at any moment leaves each file all old or
        all new."""
        deletes, inserts = list(deletes), list(inserts)
        g = str(graph)
        flag = f"{g} {META.needsResolution} {_TRUE} ."
        if not deletes:
            # Additive change: the TriG loader is several times faster than the SPARQL parser.
            data = _trig(g, [nt for _, nt in inserts] + [extra_ntriples],
                         [_record_ntriples(r, g) for r, _ in inserts] + [flag + "\n"])
            self._store.load(data, ox.RdfFormat.TRIG)
            return
        parts = []
        subjects = sorted({s for _, subs in deletes for s in subs})
        for chunk in _chunks(subjects, 2000):
            values = " ".join(f"<{s}>" for s in chunk)
            parts.append(f"DELETE {{ GRAPH {g} {{ ?s ?p ?o }} }} WHERE {{ VALUES ?s {{ {values} }} GRAPH {g} {{ ?s ?p ?o }} }}")
        for f, _ in deletes:
            parts.append(f"DELETE WHERE {{ GRAPH {META_GRAPH} {{ <{f}> ?p ?o }} }}")
        body = [nt for _, nt in inserts] + [extra_ntriples]
        meta = [_record_ntriples(r, g) for r, _ in inserts] + [flag + "\n"]
        parts.append(f"INSERT DATA {{ GRAPH {g} {{\n{''.join(body)}}}\nGRAPH {META_GRAPH} {{\n{''.join(meta)}}} }}")
        self._store.update(" ;\n".join(parts))

    # ---- fresh builds: the bulk loader ---------------------------------------------------
    # A graph built from nothing is written with pyoxigraph's bulk loader (3-4x faster than
    # transactional loads, measured on the Elixir source) between two transactional markers.
    # The loader is not transactional, so a build killed in between leaves the marker: the next
    # build drops the graph and starts it again (``bulk_pending`` / ``drop_graph``).
    def bulk_pending(self, graph: ox.NamedNode) -> bool:
        return bool(self._store.query(f"ASK {{ GRAPH {META_GRAPH} {{ {graph} {META.bulkBuild} ?x }} }}"))

    def drop_graph(self, graph: ox.NamedNode) -> None:
        """Remove a graph's facts, its build records and its markers (one transaction)."""
        g = str(graph)
        self._store.update(f"""DROP SILENT GRAPH {g} ;
            DELETE WHERE {{ GRAPH {META_GRAPH} {{ ?f {META.graph} {g} ; ?p ?o }} }} ;
            DELETE WHERE {{ GRAPH {META_GRAPH} {{ {g} ?p ?o }} }} ;
            INSERT DATA {{ GRAPH {META_GRAPH} {{ {g} {META.needsResolution} {_TRUE} }} }}""")

    def begin_bulk(self, graph: ox.NamedNode) -> None:
        self._store.update(f"INSERT DATA {{ GRAPH {META_GRAPH} {{ {graph} {META.bulkBuild} {_TRUE} . "
                           f"{graph} {META.needsResolution} {_TRUE} }} }}")

    def bulk_insert(self, graph: ox.NamedNode, inserts: Iterable[tuple[FileRecord, str]],
                    extra_ntriples: str = "") -> None:
        """Add new files' facts and records with the bulk loader (only between begin_bulk and
        end_bulk: not transactional)."""
        g = str(graph)
        inserts = list(inserts)
        data = _trig(g, [nt for _, nt in inserts] + [extra_ntriples], [_record_ntriples(r, g) for r, _ in inserts])
        # lenient: the text is ours (IRIs minted by ontologies, literals escaped by kg.facts).
        self._store.bulk_load(data, ox.RdfFormat.TRIG, lenient=True)

    def resolve_added(self) -> None:
        """The resolution pass for a store that only gained facts since its last full pass
        (a fresh graph in a bulk build): no link can have gone stale, so the new links are
        computed with SELECTs and written with the bulk loader (a transactional SPARQL
        INSERT of ~50k links took 4.8 s on the Elixir source; this takes a fraction)."""
        # exercises reads the resolvesTo links, so the second pass runs after the first is loaded
        self._bulk_links(EC.resolvesTo, "SELECT DISTINCT ?g ?s ?o WHERE { GRAPH ?g { ?s ec:candidateTarget ?o } "
                                        "GRAPH ?h { ?o a ec:Function } }")
        self._bulk_links(TEST.exercises, "SELECT DISTINCT ?g ?s ?o WHERE { GRAPH ?g { ?c test:inTest ?s ; "
                                         "ec:resolvesTo ?o . ?o a ec:Function } }")

    def _bulk_links(self, predicate: ox.NamedNode, select: str) -> None:
        """Bulk-load ``?s predicate ?o`` into graph ``?g`` for every row of ``select``."""
        by_graph: dict[str, list[str]] = {}
        for row in self._store.query(select, prefixes=PREFIXES):
            by_graph.setdefault(str(row["g"]), []).append(f"{row['s']} {predicate} {row['o']} .\n")
        data = "".join(f"{g} {{\n{''.join(lines)}}}\n" for g, lines in by_graph.items())
        if data:
            self._store.bulk_load(data.encode("utf-8"), ox.RdfFormat.TRIG, lenient=True)

    def end_bulk(self, graph: ox.NamedNode) -> None:
        """Close a bulk build: drop its marker and the resolution flags (its resolution pass
        ran inside the bulk window)."""
        self._store.update(f"DELETE WHERE {{ GRAPH {META_GRAPH} {{ {graph} {META.bulkBuild} ?x }} }} ; "
                           f"DELETE WHERE {{ GRAPH {META_GRAPH} {{ ?g {META.needsResolution} ?y }} }}")

    def touch_records(self, graph: ox.NamedNode, records: Iterable[FileRecord]) -> None:
        """Refresh mtime/size of files whose content did not change (one transaction)."""
        records = list(records)
        if not records:
            return
        parts = []
        for r in records:
            f = f"<{r.file}>"
            parts.append(f"DELETE WHERE {{ GRAPH {META_GRAPH} {{ {f} {META.mtime} ?m . {f} {META.size} ?s }} }}")
        ins = "".join(f"<{r.file}> {META.mtime} \"{r.mtime_ns}\"^^{_XSD_INT} .\n"
                      f"<{r.file}> {META.size} \"{r.size}\"^^{_XSD_INT} .\n" for r in records)
        parts.append(f"INSERT DATA {{ GRAPH {META_GRAPH} {{ {ins} }} }}")
        self._store.update(" ;\n".join(parts))

    # ---- resolution -----------------------------------------------------------------------
    def resolve(self, call_sites: Iterable[str] | None = None, functions: Iterable[str] | None = None) -> None:
        """Derive ``ec:resolvesTo`` (a call site's candidate that exists as an ``ec:Function``
        in any graph, written in the call site's graph) and ``test:exercises`` (a test whose
        call sites resolve to a function of the test's own graph), then clear the
        needs-resolution flags, all in one transaction.

        With ``call_sites``/``functions`` (IRIs) only those call sites and the call sites whose
        candidates are among those functions are redone (a small incremental build); without
        them every graph is redone. Both give the same store."""
        clear = f"DELETE WHERE {{ GRAPH {META_GRAPH} {{ ?g {META.needsResolution} ?x }} }}"
        if call_sites is None and functions is None:
            self._store.update(f"""
              DELETE {{ GRAPH ?g {{ ?c ec:resolvesTo ?f }} }} WHERE {{ GRAPH ?g {{ ?c ec:resolvesTo ?f }} }} ;
              DELETE {{ GRAPH ?g {{ ?t test:exercises ?f }} }} WHERE {{ GRAPH ?g {{ ?t test:exercises ?f }} }} ;
              INSERT {{ GRAPH ?g {{ ?c ec:resolvesTo ?f }} }}
                WHERE {{ GRAPH ?g {{ ?c ec:candidateTarget ?f }} FILTER EXISTS {{ GRAPH ?h {{ ?f a ec:Function }} }} }} ;
              INSERT {{ GRAPH ?g {{ ?t test:exercises ?f }} }}
                WHERE {{ GRAPH ?g {{ ?c test:inTest ?t ; ec:resolvesTo ?f . ?f a ec:Function }} }} ;
              {clear}""", prefixes=PREFIXES)
            return
        fvals = " ".join(f"<{f}>" for f in sorted(set(functions or ())))
        cvals = " ".join(f"<{c}>" for c in sorted(set(call_sites or ())))
        parts = []
        if fvals:
            # Functions added or removed: re-derive every link that names them.
            parts += [
                f"""DELETE {{ GRAPH ?g {{ ?c ec:resolvesTo ?f }} }}
                    WHERE {{ VALUES ?f {{ {fvals} }} GRAPH ?g {{ ?c ec:resolvesTo ?f }} }}""",
                f"""INSERT {{ GRAPH ?g {{ ?c ec:resolvesTo ?f }} }}
                    WHERE {{ VALUES ?f {{ {fvals} }} GRAPH ?g {{ ?c ec:candidateTarget ?f }}
                             FILTER EXISTS {{ GRAPH ?h {{ ?f a ec:Function }} }} }}""",
                f"""DELETE {{ GRAPH ?g {{ ?t test:exercises ?f }} }}
                    WHERE {{ VALUES ?f {{ {fvals} }} GRAPH ?g {{ ?t test:exercises ?f }} }}""",
                f"""INSERT {{ GRAPH ?g {{ ?t test:exercises ?f }} }}
                    WHERE {{ VALUES ?f {{ {fvals} }} GRAPH ?g {{ ?c ec:resolvesTo ?f ; test:inTest ?t . ?f a ec:Function }} }}""",
            ]
        if cvals:
            # New call sites (their file was just written): link them; their tests are new too.
            parts += [
                f"""INSERT {{ GRAPH ?g {{ ?c ec:resolvesTo ?f }} }}
                    WHERE {{ VALUES ?c {{ {cvals} }} GRAPH ?g {{ ?c ec:candidateTarget ?f }}
                             FILTER EXISTS {{ GRAPH ?h {{ ?f a ec:Function }} }} }}""",
                f"""INSERT {{ GRAPH ?g {{ ?t test:exercises ?f }} }}
                    WHERE {{ VALUES ?c {{ {cvals} }} GRAPH ?g {{ ?c test:inTest ?t ; ec:resolvesTo ?f . ?f a ec:Function }} }}""",
            ]
        parts.append(clear)
        self._store.update(" ;\n".join(parts), prefixes=PREFIXES)


# ---- helpers ------------------------------------------------------------------------------

def _chunks(items: list, n: int):
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _trig(graph: str, facts: list[str], records: list[str]) -> bytes:
    """A TriG document: N-Triples lines are valid inside TriG graph blocks, so the facts need
    no per-line rewriting (which cost more than the parse)."""
    return "".join([graph, " {\n", *facts, "\n}\n", str(META_GRAPH), " {\n", *records, "\n}\n"]).encode("utf-8")


def _record_ntriples(r: FileRecord, graph: str) -> str:
    f = f"<{r.file}>"
    lines = [
        f"{f} {RDF_TYPE} {META.SourceRecord} .",
        f"{f} {META.graph} {graph} .",
        f"{f} {META.path} {string(r.path)} .",
        f"{f} {META.mtime} \"{r.mtime_ns}\"^^{_XSD_INT} .",
        f"{f} {META.size} \"{r.size}\"^^{_XSD_INT} .",
        f"{f} {META.subjects} {string(chr(10).join(sorted(r.subjects or ())))} .",
        f"{f} {META.triples} \"{r.triples}\"^^{_XSD_INT} .",
        *(f"{f} {p} \"{n}\"^^{_XSD_INT} ." for p, n in zip(
            (META.modules, META.functions, META.callSites, META.tests), r.counts)),
    ]
    if r.sha256:
        lines.append(f"{f} {META.contentHash} {string(r.sha256)} .")
    return "\n".join(lines) + "\n"
