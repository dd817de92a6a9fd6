"""Code-test pairs: module <-> test module, function <-> its tests, function <-> its doctests.

Owns how pairs are found. The kept files of every project are put into a temporary knowledge
graph (``kg.build`` into a pyoxigraph store under the build's work directory) and queried:

* ``module_test``: ``Foo`` <-> ``FooTest`` by name; a test module with no such name is paired
  with the module whose functions its tests exercise most (the KG's ``test:exercises``);
* ``function_test``: a function <-> the test cases whose bodies call it (``test:exercises``;
  the smallest few, concatenated);
* ``doctest``: a function whose ``@doc`` has ``iex>`` examples <-> those examples; and, from
  the installed BEAM's docs, the doc and specs of a function with no source in the corpus.

Only files that survived the filters and dedup are used; the code of a pair never comes from a
test file (helpers and fixtures defined there are not code under test); code and test always
come from the same project, so a pair never straddles two splits.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from model.corpus.records import is_test_path
from ontologies import project_iri, sparql_prefixes

#: At most this many test cases make up one function_test pair (the smallest ones).
MAX_TESTS_PER_FUNCTION = 4
#: Pairs whose code or test is longer than this (characters) are not written.
MAX_PAIR_CHARS = 60_000


def _lines(text: str, start: int, end: int) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[max(start - 1, 0):end])


def format_doctests(doctests) -> str:
    """``iex>`` text of (expression, expected) pairs, as ExUnit.DocTest reads it."""
    out = []
    for expr, expected in doctests:
        lines = expr.split("\n")
        out.append("iex> " + lines[0])
        out += ["...> " + line for line in lines[1:]]
        if expected is not None:
            out.append(expected)
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _mirror(project, paths: list[str], dest: Path) -> Path:
    """A directory of links to the project's kept files only, so the KG holds exactly them."""
    dest.mkdir(parents=True, exist_ok=True)
    for p in paths:
        link = dest / p
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.abspath(project.root / p), link)
    return dest


_MODULES = """
SELECT ?name ?path ?sl ?el ?test WHERE {
  ?f ec:partOfProject <%(p)s> ; ec:relativePath ?path .
  ?s ec:inFile ?f ; ec:startLine ?sl ; ec:endLine ?el .
  ?m ec:hasSpan ?s ; a ec:Module ; ec:name ?name .
  OPTIONAL { ?m a test:TestModule . BIND(true AS ?test) }
}"""

_EXERCISES = """
SELECT ?t ?tpath ?tsl ?tel ?tmod ?fn ?fname ?arity ?fmod ?fpath ?fsl ?fel WHERE {
  ?tf ec:partOfProject <%(p)s> ; ec:relativePath ?tpath .
  ?ts ec:inFile ?tf ; ec:startLine ?tsl ; ec:endLine ?tel .
  ?t ec:hasSpan ?ts ; test:exercises ?fn ; ec:inModule ?tm . ?tm ec:name ?tmod .
  ?fn ec:name ?fname ; ec:arity ?arity ; ec:inModule ?m ; ec:hasSpan ?fs . ?m ec:name ?fmod .
  ?fs ec:inFile ?ff ; ec:startLine ?fsl ; ec:endLine ?fel . ?ff ec:partOfProject <%(p)s> ; ec:relativePath ?fpath .
}"""

_DOCS = """
SELECT ?fn ?fname ?arity ?fmod ?doc ?fpath ?fsl ?fel WHERE {
  ?ff ec:partOfProject <%(p)s> ; ec:relativePath ?fpath .
  ?fs ec:inFile ?ff ; ec:startLine ?fsl ; ec:endLine ?fel .
  ?fn ec:hasSpan ?fs ; a ec:Function ; ec:doc ?doc ; ec:name ?fname ; ec:arity ?arity ; ec:inModule ?m .
  ?m ec:name ?fmod .
  FILTER(CONTAINS(?doc, "iex>"))
}"""


def _v(term):
    return None if term is None else term.value


def _int(term) -> int:
    return int(term.value)


def project_pairs(kg, project, texts: dict[str, str]) -> list[dict]:
    """Pairs of one project already built into ``kg``; ``texts`` maps kept paths to text."""
    from kg.stdlib import split_doctests

    pid = project_iri(project.name, project.version).value
    pre = sparql_prefixes()
    base = {"project": project.name, "split": None}
    pairs: list[dict] = []

    def add(kind, code, test, module, function, code_path, test_path, method):
        if is_test_path(code_path):  # helpers and fixtures defined in test files are not code under test
            return
        if not code.strip() or not test.strip() or max(len(code), len(test)) > MAX_PAIR_CHARS:
            return
        pairs.append({**base, "kind": kind, "code": code, "test": test, "module": module,
                      "function": function, "code_path": code_path, "test_path": test_path,
                      "method": method})

    # -- modules
    modules: dict[str, tuple[str, int, int, bool]] = {}
    for r in kg.query(pre + _MODULES % {"p": pid}):
        path = _v(r["path"])
        if path in texts:
            name = _v(r["name"])
            prev = modules.get(name)
            span = (path, _int(r["sl"]), _int(r["el"]), r["test"] is not None)
            if prev is None or (span[2] - span[1]) > (prev[2] - prev[1]):
                modules[name] = span
    # -- test -> function links
    by_function: dict[tuple, dict] = {}
    tested_modules: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in kg.query(pre + _EXERCISES % {"p": pid}):
        tpath, fpath = _v(r["tpath"]), _v(r["fpath"])
        if tpath not in texts or fpath not in texts:
            continue
        key = (_v(r["fmod"]), _v(r["fname"]), _int(r["arity"]))
        entry = by_function.setdefault(key, {"path": fpath, "spans": set(), "tests": {}})
        entry["spans"].add((_int(r["fsl"]), _int(r["fel"])))
        entry["tests"][_v(r["t"])] = (tpath, _int(r["tsl"]), _int(r["tel"]))
        tested_modules[_v(r["tmod"])][key[0]] += 1

    paired_tests = set()
    for tname, (tpath, tsl, tel, is_test) in sorted(modules.items()):
        if not is_test:
            continue
        target, method = None, None
        if tname.endswith("Test") and tname[:-4] in modules and not modules[tname[:-4]][3]:
            target, method = tname[:-4], "name"
        elif tested_modules.get(tname):
            counts = tested_modules[tname]
            best = max(sorted(counts), key=lambda m: counts[m])
            if best in modules and not modules[best][3]:
                target, method = best, "kg"
        if target:
            cpath, csl, cel, _ = modules[target]
            add("module_test", _lines(texts[cpath], csl, cel), _lines(texts[tpath], tsl, tel),
                target, None, cpath, tpath, method)
            paired_tests.add(tname)

    # -- functions and the tests that exercise them
    for (mod, fname, arity), entry in sorted(by_function.items()):
        code = "".join(_lines(texts[entry["path"]], s, e) for s, e in sorted(entry["spans"]))
        tests = sorted(entry["tests"].values(), key=lambda t: (t[2] - t[1], t))[:MAX_TESTS_PER_FUNCTION]
        tests.sort()
        test = "\n".join(_lines(texts[p], s, e) for p, s, e in tests)
        add("function_test", code, test, mod, f"{fname}/{arity}", entry["path"],
            ",".join(sorted({t[0] for t in tests})), "kg")

    # -- doctests written in the project's @doc
    docs: dict[tuple, dict] = {}
    for r in kg.query(pre + _DOCS % {"p": pid}):
        fpath = _v(r["fpath"])
        if fpath not in texts:
            continue
        key = (_v(r["fmod"]), _v(r["fname"]), _int(r["arity"]))
        entry = docs.setdefault(key, {"path": fpath, "spans": set(), "doc": _v(r["doc"])})
        entry["spans"].add((_int(r["fsl"]), _int(r["fel"])))
    for (mod, fname, arity), entry in sorted(docs.items()):
        examples = split_doctests(entry["doc"])
        if not examples:
            continue
        code = "".join(_lines(texts[entry["path"]], s, e) for s, e in sorted(entry["spans"]))
        add("doctest", code, format_doctests(examples), mod, f"{fname}/{arity}", entry["path"],
            entry["path"], "doc")
    return pairs


def kg_pairs(projects, texts_by_project: dict[tuple[str, str], dict[str, str]], work: Path,
             progress=None) -> tuple[list[dict], list[str]]:
    """Build one temporary KG of every project's kept files under ``work`` and return the pairs
    of all projects, and problems (a project whose KG build failed is reported, not fatal)."""
    from kg.build import build
    from sparql.store import KnowledgeGraph

    work.mkdir(parents=True, exist_ok=True)
    kg = KnowledgeGraph.open(work / "store")
    pairs, problems = [], []
    try:
        for i, project in enumerate(projects):
            texts = texts_by_project.get((project.name, project.version)) or {}
            if not any(p.endswith(".ex") for p in texts):
                if progress:
                    progress(i + 1, len(projects), project.name)
                continue
            src = _mirror(project, sorted(texts), work / "src" / str(i))
            try:
                build(kg, src, graph=f"{project.name}@{project.version}", workers=1)
                pairs += project_pairs(kg, project, texts)
            except Exception as e:  # one project's failure must not lose the others
                problems.append(f"{project.name}@{project.version}: pairs skipped ({type(e).__name__}: {e})")
            if progress:
                progress(i + 1, len(projects), project.name)
    finally:
        close = getattr(kg, "close", None)
        if close:
            close()
    return pairs, problems


def beam_doctest_pairs(items: list[dict], have: set[tuple[str, str]]) -> list[dict]:
    """Doctest pairs from the installed BEAM's docs for functions with no source pair
    (``have`` holds (module, "name/arity") already paired from source)."""
    pairs = []
    for item in items:
        by_fun: dict[str, list] = defaultdict(list)
        for fun, expr, expected in item["doctests"]:
            if fun:
                by_fun[fun].append((expr, expected))
        for fun, examples in sorted(by_fun.items()):
            if (item["module"], fun) in have:
                continue
            doc = item["docs"].get(fun, "")
            prose = doc.split("## Examples")[0].strip()
            code = f'@doc """\n{prose}\n"""\n'
            pairs.append({"kind": "doctest", "split": None, "project": item["app"],
                          "code": code, "test": format_doctests(examples), "module": item["module"],
                          "function": fun, "code_path": f"docs/{item['module']}.exs",
                          "test_path": f"docs/{item['module']}.doctest", "method": "beam-docs"})
    return pairs
