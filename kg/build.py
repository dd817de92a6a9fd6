"""Building and updating the code KG from sources, incrementally and crash-safely.

Owns the build loop: find each source's files, decide which changed since the last build (mtime
and size, then content hash), extract changed files in worker processes, write each file's facts
in one store transaction together with its build record, drop the facts of deleted files, and
finish with the store's resolution pass. A build killed at any moment and run again ends with
exactly the store of an uninterrupted build.

The store is reached only through :class:`StoreAPI` (sparql.store.KnowledgeGraph implements it):
imports point down the data flow, so nothing here imports ``sparql``.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol

from kg import sources
from kg.extract import FileContext, extract_source
from kg.facts import FileFacts, Problem, RDF_TYPE, integer, iri, string
from ontologies import EC, ID, file_iri, graph_iri, local_iri, project_iri

#: Above this many changed files the resolution pass is redone graph-wide (cheaper than
#: hundreds of targeted updates, and the same result).
TARGETED_RESOLUTION_MAX = 32
#: Below this many files to read, extraction stays in process (a pool costs ~50 ms to start).
IN_PROCESS_MAX = 16
CHUNK = 8  # files per worker task: amortises the inter-process round trip
WRITE_BATCH = 64  # new files per load transaction (each file stays all-or-nothing)
BULK_BATCH = 96  # files per bulk-loader call in a fresh build

_FUNCTION_PREFIX = ID + "function/"
_MODULE_PREFIX = ID + "module/"


@dataclass
class FileRecord:
    """What the store remembers about one ingested file (the meta graph's SourceRecord)."""

    file: str  # file IRI (no <>)
    path: str  # relative POSIX path
    sha256: str | None
    mtime_ns: int
    size: int
    subjects: list[str] | None = None
    triples: int = 0  # distinct facts the file wrote (summed for the build summary)
    counts: tuple[int, int, int, int] = (0, 0, 0, 0)  # modules, functions, call sites, tests


class StoreAPI(Protocol):
    """The store methods a build needs (implemented by sparql.store.KnowledgeGraph)."""

    def file_records(self, graph) -> dict[str, FileRecord]: ...
    def file_subjects(self, files: Iterable[str]) -> dict[str, list[str]]: ...
    def module_files(self, graph, modules: Iterable[str]) -> dict[str, set[str]]: ...
    def needs_resolution(self) -> bool: ...
    def apply_files(self, graph, deletes=(), inserts=(), extra_ntriples: str = "") -> None: ...
    def touch_records(self, graph, records: Iterable[FileRecord]) -> None: ...
    def resolve(self, call_sites=None, functions=None) -> None: ...
    def counts(self, graph) -> dict[str, int]: ...
    def summary_counts(self, graph) -> dict[str, int]: ...
    def bulk_pending(self, graph) -> bool: ...
    def drop_graph(self, graph) -> None: ...
    def begin_bulk(self, graph) -> None: ...
    def bulk_insert(self, graph, inserts, extra_ntriples: str = "") -> None: ...
    def resolve_added(self) -> None: ...
    def end_bulk(self, graph) -> None: ...
    def file_problems(self, graph) -> list[tuple[str, str, str]]: ...


@dataclass
class BuildSummary:
    graph: str
    files: int = 0
    files_changed: int = 0
    files_deleted: int = 0
    parse_errors: int = 0
    skipped: list[dict] = field(default_factory=list)  # {path, reason}
    parse_error_files: list[dict] = field(default_factory=list)  # {path, reason}
    modules: int = 0
    functions: int = 0
    call_sites: int = 0
    tests: int = 0
    triples: int = 0
    lines_read: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @property
    def failed(self) -> bool:
        """What ``--strict`` turns into a failing exit code."""
        return bool(self.skipped or self.parse_errors)


@dataclass
class _Result:
    """One file read (and extracted) by a worker. Plain data: it crosses a process boundary."""

    path: str
    sha256: str | None
    size: int
    mtime_ns: int
    reason: str | None = None  # why the file is skipped
    ntriples: str = ""
    subjects: list[str] = field(default_factory=list)
    line_count: int = 0
    triple_count: int = 0
    counts: tuple[int, int, int, int] = (0, 0, 0, 0)


Progress = Callable[[int, int], None]  # (files done, files total)


# ---- workers ------------------------------------------------------------------------------

def _process(root: str, path: str, project: str, version: str, max_bytes: int) -> _Result:
    rr = sources.read_source(Path(root) / path, max_bytes)
    res = _Result(path, rr.sha256, rr.size, rr.mtime_ns, rr.reason)
    ctx = FileContext(project, version, path)
    facts = None
    if rr.reason is None:
        try:
            facts = extract_source(rr.data, ctx)
        except RecursionError:
            res.reason = "too deeply nested to extract (recursion limit)"
        except Exception as e:  # a bug in the extractor must cost one file, not the build
            res.reason = f"extractor failed: {type(e).__name__}: {e}"
    if facts is None:
        facts = _skipped_facts(ctx, res.reason or "not read", rr.sha256)
    res.ntriples = facts.ntriples()
    res.subjects = sorted(facts.subjects)
    res.line_count = facts.line_count
    res.triple_count = len(set(facts.lines))
    res.counts = tuple(facts.counts.get(k, 0) for k in ("modules", "functions", "call_sites", "tests"))
    return res


def _process_chunk(root: str, paths: list[str], project: str, version: str, max_bytes: int) -> list[_Result]:
    return [_process(root, p, project, version, max_bytes) for p in paths]


def _skipped_facts(ctx: FileContext, reason: str, sha256: str | None) -> FileFacts:
    """The SourceFile record of a file that was not parsed (docs/kg-model.md: File)."""
    f = file_iri(ctx.project, ctx.version, ctx.path)
    facts = FileFacts(file=f, status="skipped", problems=[Problem(reason)])
    facts.add(f, RDF_TYPE, iri(EC.SourceFile))
    facts.add(f, EC.partOfProject, iri(project_iri(ctx.project, ctx.version)))
    facts.add(f, EC.relativePath, string(ctx.path))
    facts.add(f, EC.parseStatus, string("skipped"))
    if sha256:
        facts.add(f, EC.contentHash, string(sha256))
    p = local_iri(f, "problem-0-0")
    facts.add(f, EC.hasParseProblem, iri(p))
    facts.add(p, RDF_TYPE, iri(EC.ParseProblem))
    facts.add(p, EC.message, string(reason))
    facts.add(p, EC.startLine, integer(0))
    facts.add(p, EC.startColumn, integer(0))
    return facts


def _project_ntriples(project: str, version: str) -> str:
    p = iri(project_iri(project, version))
    return (f"{p} {RDF_TYPE} {iri(EC.Project)} .\n"
            f"{p} {iri(EC.projectName)} {string(project)} .\n"
            f"{p} {iri(EC.projectVersion)} {string(version)} .\n")


# ---- the build ----------------------------------------------------------------------------

def build(store: StoreAPI, src: str | Path, *, graph: str | None = None,
          max_bytes: int = sources.DEFAULT_MAX_BYTES, workers: int = 2,
          progress: Progress | None = None) -> BuildSummary:
    """Build or update the named graph of one source (a project directory) in ``store``."""
    t0 = time.perf_counter()
    source = sources.discover(src, graph)
    g = graph_iri(source.project, source.version)
    summary = BuildSummary(graph=g.value, files=len(source.files))
    # Read before writing anything: a flag left by a killed build means its resolution pass
    # never ran, so this build must redo it everywhere.
    stale_resolution = store.needs_resolution()
    if store.bulk_pending(g):
        # A fresh build was killed inside the (non-transactional) bulk loader: start it again.
        store.drop_graph(g)
        stale_resolution = True
    records = store.file_records(g)
    if not records and len(source.files) > IN_PROCESS_MAX:
        return _bulk_build(store, source, g, summary, max_bytes, workers, progress, t0, stale_resolution)

    # 1. Which files may have changed: a cheap stat first, the content hash in the worker.
    to_read: list[str] = []
    touched: list[FileRecord] = []
    for path in source.files:
        rec = records.get(path)
        if rec is not None and rec.sha256:
            try:
                st = os.stat(source.root / path)
                if st.st_mtime_ns == rec.mtime_ns and st.st_size == rec.size:
                    continue
            except OSError:
                pass  # the read reports it
        to_read.append(path)
    deleted = sorted(set(records) - set(source.files))

    results = {r.path: r for r in _extract(source, to_read, max_bytes, workers, progress)}
    changed: dict[str, _Result] = {}
    for path, res in results.items():
        rec = records.get(path)
        if rec is not None and rec.sha256 and res.sha256 == rec.sha256:
            touched.append(FileRecord(rec.file, path, rec.sha256, res.mtime_ns, res.size))
        elif (rec is not None and rec.sha256 is None and res.sha256 is None
              and (rec.mtime_ns, rec.size) == (res.mtime_ns, res.size)):
            continue  # still unreadable or too large, unchanged (its report is in the store)
        else:
            changed[path] = res

    # 2. Files that share an entity (a module split over files) with a changed or deleted file
    # lose its triples when that file's subjects are dropped: redo them in the same transaction.
    old_paths = [p for p in list(changed) + deleted if p in records]
    old_subjects = store.file_subjects(records[p].file for p in old_paths)
    by_file = {rec.file: p for p, rec in records.items()}
    groups = _UnionFind()
    frontier = old_paths
    while frontier:
        modules = {s for p in frontier for s in old_subjects.get(records[p].file, ()) if s.startswith(_MODULE_PREFIX)}
        extra = []
        for owners in store.module_files(g, modules).values() if modules else ():
            paths = sorted(by_file[f] for f in owners if f in by_file)
            for p in paths[1:]:
                groups.union(paths[0], p)
            extra += [p for p in paths if p not in changed and p not in deleted]
        extra = sorted(set(extra))
        need = [p for p in extra if p not in results and p in source.files]
        for res in _extract(source, need, max_bytes, workers, None):
            results[res.path] = res
        for p in extra:
            changed[p] = results[p]
        touched = [t for t in touched if t.path not in changed]
        old_subjects.update(store.file_subjects(records[p].file for p in extra))
        frontier = extra

    # 3. Write: one transaction per file (or per group of files sharing an entity).
    project_nt = _project_ntriples(source.project, source.version)
    new_batch: list[tuple[FileRecord, str]] = []
    touched_functions: set[str] = set()
    new_subjects: set[str] = set()
    components: dict[str, list[str]] = {}
    for p in sorted(set(changed) | set(deleted)):
        components.setdefault(groups.find(p), []).append(p)
    for members in components.values():
        deletes, inserts = [], []
        for p in members:
            if p in records:
                subs = old_subjects.get(records[p].file, [])
                deletes.append((records[p].file, subs))
                touched_functions.update(s for s in subs if _is_function(s))
            if p in changed:
                res = changed[p]
                fiv = file_iri(source.project, source.version, p).value
                inserts.append((FileRecord(fiv, p, res.sha256, res.mtime_ns, res.size, res.subjects, res.triple_count, res.counts), res.ntriples))
                touched_functions.update(s for s in res.subjects if _is_function(s))
                new_subjects.update(res.subjects)
        if deletes:
            store.apply_files(g, deletes=deletes, inserts=inserts, extra_ntriples=project_nt)
        else:
            new_batch += inserts
            if len(new_batch) >= WRITE_BATCH:
                store.apply_files(g, inserts=new_batch, extra_ntriples=project_nt)
                new_batch = []
    if new_batch:
        store.apply_files(g, inserts=new_batch, extra_ntriples=project_nt)
    store.touch_records(g, touched)

    # 4. Derived links.
    n_changed = len(changed) + len(deleted)
    if stale_resolution or n_changed > TARGETED_RESOLUTION_MAX:
        store.resolve()
    elif n_changed:
        store.resolve(call_sites=sorted(s for s in new_subjects if "#" in s and not s.startswith(ID + "struct/")),
                      functions=sorted(touched_functions))

    summary.files_changed = len(changed)
    summary.files_deleted = len(deleted)
    summary.lines_read = sum(r.line_count for r in results.values())
    return _finish(store, source, g, summary, t0)


def _bulk_build(store: StoreAPI, source: sources.Source, g, summary: BuildSummary, max_bytes: int,
                workers: int, progress: Progress | None, t0: float, stale_resolution: bool) -> BuildSummary:
    """A graph built from nothing: extraction streams into the bulk loader batch by batch while
    the workers go on, then one full resolution pass (the store clears the marker last)."""
    store.begin_bulk(g)
    project_nt = _project_ntriples(source.project, source.version)
    batch: list[tuple[FileRecord, str]] = []
    lines = 0
    for res in _extract_iter(source, list(source.files), max_bytes, workers, progress):
        fiv = file_iri(source.project, source.version, res.path).value
        batch.append((FileRecord(fiv, res.path, res.sha256, res.mtime_ns, res.size, res.subjects, res.triple_count, res.counts), res.ntriples))
        lines += res.line_count
        if len(batch) >= BULK_BATCH:
            store.bulk_insert(g, batch)
            batch = []
    store.bulk_insert(g, batch, extra_ntriples=project_nt)
    if stale_resolution:
        store.resolve()  # another graph's links may be stale: the full transactional pass
    else:
        store.resolve_added()
    store.end_bulk(g)
    summary.files_changed = len(source.files)
    summary.lines_read = lines
    return _finish(store, source, g, summary, t0)


def _finish(store: StoreAPI, source: sources.Source, g, summary: BuildSummary, t0: float) -> BuildSummary:
    """The summary: the state of the graph, not only of this run (an unchanged bad file is
    still reported)."""
    summary.skipped = [{"path": p, "reason": r} for p, r in source.reports]
    for path, status, message in store.file_problems(g):
        if status == "skipped":
            summary.skipped.append({"path": path, "reason": message})
        elif status == "error":
            summary.parse_error_files.append({"path": path, "reason": message})
    summary.skipped.sort(key=lambda d: d["path"])
    summary.parse_errors = len({d["path"] for d in summary.parse_error_files})
    for k, v in store.summary_counts(g).items():
        setattr(summary, k, v)
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary


def _is_function(subject: str) -> bool:
    return subject.startswith(_FUNCTION_PREFIX) and "/clause/" not in subject


def _extract(source: sources.Source, paths: list[str], max_bytes: int, workers: int,
             progress: Progress | None) -> list[_Result]:
    return list(_extract_iter(source, paths, max_bytes, workers, progress))


def _extract_iter(source: sources.Source, paths: list[str], max_bytes: int, workers: int,
                  progress: Progress | None):
    """Results as the workers finish them (in submission order)."""
    total = len(paths)
    if progress:
        progress(0, total)
    root = str(source.root)
    if total <= IN_PROCESS_MAX or workers <= 1:
        for i, p in enumerate(paths, 1):
            yield _process(root, p, source.project, source.version, max_bytes)
            if progress:
                progress(i, total)
        return
    # Big files first so that the last chunks are short and both workers finish together.
    order = sorted(paths, key=lambda p: -_size(source.root / p))
    chunks = [order[i:i + CHUNK] for i in range(0, total, CHUNK)]
    done = 0
    # fork: workers inherit the imported extractor instead of re-importing it (~0.3 s each).
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(_process_chunk, root, c, source.project, source.version, max_bytes) for c in chunks]
        for fut in futures:
            for res in fut.result():
                done += 1
                yield res
            if progress:
                progress(done, total)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class _UnionFind:
    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


__all__ = ["FileRecord", "StoreAPI", "BuildSummary", "build", "TARGETED_RESOLUTION_MAX"]
