"""`elixir-coder kg build|export` and `elixir-coder query` as a user runs them (subprocesses)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHOP = REPO / "tests" / "fixtures" / "projects" / "shop"


def cli(*args, check=None):
    r = subprocess.run([sys.executable, "-m", "elixir_coder.cli", *map(str, args)], cwd=REPO,
                       capture_output=True, text=True)
    if check is not None:
        assert r.returncode == check, r.stderr
    return r


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli") / "store"
    r = cli("kg", "build", SHOP, "--store", d, "--json", check=0)
    summary = json.loads(r.stdout)
    assert {"files", "files_changed", "files_deleted", "parse_errors", "skipped", "modules", "functions",
            "call_sites", "tests", "triples", "seconds", "graph"} <= set(summary)
    assert summary["graph"] == "https://w3id.org/elixir-coder/graph/shop@0.1.0"
    assert (summary["files"], summary["modules"], summary["functions"], summary["tests"]) == (9, 11, 32, 2)
    return d


def test_build_text_summary_and_strict(tmp_path):
    src = tmp_path / "shop"
    shutil.copytree(SHOP, src)
    r = cli("kg", "build", src, "--store", tmp_path / "s", "--strict", check=0)
    assert "modules     11" in r.stdout
    (src / "lib" / "blob.ex").write_bytes(b"\x00\x01\x02")
    r = cli("kg", "build", src, "--store", tmp_path / "s", check=0)
    assert "skipped: lib/blob.ex: binary file" in r.stderr
    r = cli("kg", "build", src, "--store", tmp_path / "s", "--strict", "--json", check=1)
    assert json.loads(r.stdout)["skipped"] == [{"path": "lib/blob.ex", "reason": "binary file (contains NUL bytes)"}]
    r = cli("kg", "build", src, "--store", tmp_path / "s2", "--graph", "mine@2")
    assert json.loads(cli("kg", "build", src, "--store", tmp_path / "s2", "--graph", "mine@2", "--json").stdout)[
        "graph"].endswith("/graph/mine@2")
    assert cli("kg", "build", tmp_path / "missing", "--store", tmp_path / "s").returncode == 2


def test_export_formats(store, tmp_path):
    nq = cli("kg", "export", "--store", store, check=0).stdout
    assert nq.count("\n") > 1000 and "/graph/shop@0.1.0> ." in nq and "_meta" not in nq
    out = tmp_path / "x.ttl"
    cli("kg", "export", "--store", store, "--format", "ttl", "--graph", "shop", "--output", out, check=0)
    import pyoxigraph as ox
    triples = list(ox.parse(path=str(out), format=ox.RdfFormat.TURTLE))
    assert len(triples) == nq.count("\n")
    nt = cli("kg", "export", "--store", store, "--format", "nt", "--graph", "shop@0.1.0", check=0).stdout
    assert sorted(nt.splitlines()) == sorted(line.rsplit(" <", 1)[0] + " ." for line in nq.splitlines())
    trig = cli("kg", "export", "--store", store, "--format", "trig", check=0).stdout
    assert len(list(ox.parse(trig.encode(), format=ox.RdfFormat.TRIG))) == len(triples)
    r = cli("kg", "export", "--store", store, "--graph", "nope")
    assert r.returncode == 2 and "no graph named 'nope'" in r.stderr


def test_query_formats(store):
    q = "SELECT ?name WHERE { ?m a ec:Protocol ; ec:name ?name }"
    assert cli("query", "--store", store, q, check=0).stdout.splitlines()[2] == "Shop.Priceable"
    data = json.loads(cli("query", "--store", store, q, "--format", "json", check=0).stdout)
    assert data["head"]["vars"] == ["name"]
    assert data["results"]["bindings"] == [{"name": {"type": "literal", "value": "Shop.Priceable"}}]
    rows = list(csv.reader(io.StringIO(cli("query", "--store", store, q, "--format", "csv", check=0).stdout)))
    assert rows == [["name"], ["Shop.Priceable"]]
    tsv = cli("query", "--store", store, q, "--format", "tsv", check=0).stdout
    assert tsv.splitlines() == ["?name", '"Shop.Priceable"']


def test_named_query_and_list(store, tmp_path):
    r = cli("query", "--store", store, "--named", "missing-callbacks", "--format", "csv", check=0)
    assert list(csv.reader(io.StringIO(r.stdout))) == [
        ["module", "behaviour", "callback", "arity"], ["Shop.Gateways.Voucher", "Shop.PaymentGateway", "refund", "1"]]
    r = cli("query", "--store", store, "--named", "callers", "--param", "module=Shop.Cart", "--param", "name=sum",
            "--param", "transitive=true", "--format", "json", check=0)
    callers = [b["caller_name"]["value"] for b in json.loads(r.stdout)["results"]["bindings"]]
    assert callers == ["checkout", "total"]
    r = cli("query", "--list", check=0)
    assert "callers" in r.stdout and "--param transitive=<boolean>" in r.stdout
    f = tmp_path / "q.rq"
    f.write_text("SELECT (COUNT(*) AS ?n) WHERE { ?f a ec:Function }")
    assert cli("query", "--store", store, "--file", f, "--format", "csv", check=0).stdout.split() == ["n", "32"]


def test_query_errors_are_clear(store, tmp_path):
    r = cli("query", "--store", store, "SELEC ?x WHERE {}")
    assert r.returncode == 2 and "SPARQL syntax error" in r.stderr and "Traceback" not in r.stderr
    r = cli("query", "--store", store, "--named", "callers")
    assert r.returncode == 2 and "needs parameter module, name" in r.stderr
    r = cli("query", "--store", store, "--named", "functions", "--param", "module")
    assert r.returncode == 2 and "expected NAME=VALUE" in r.stderr
    r = cli("query", "--store", tmp_path / "nothing", "SELECT * {}")
    assert r.returncode == 2 and "no knowledge graph store here" in r.stderr
    r = cli("query", "--store", store, "--named", "functions", "--param",
            'module=Shop.Cart" } } ; DROP ALL ; #')
    assert r.returncode == 0 and "(0 rows)" in r.stdout
    assert "(32 rows)" in cli("query", "--store", store, "--named", "functions", check=0).stdout
