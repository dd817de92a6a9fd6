"""The build: incremental updates end identical to a fresh build, bad input is reported per
file without losing anything else, and a build killed at any moment recovers on the next run."""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


from kg import sources
from kg.build import build
from ontologies import graph_iri
from sparql.store import KnowledgeGraph

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "tests" / "fixtures" / "projects" / "shop"


def export(store_dir: Path) -> list[str]:
    with KnowledgeGraph.open(store_dir) as kg:
        buf = io.BytesIO()
        kg.export(buf, "nq")
    return sorted(buf.getvalue().decode().splitlines())


def fresh_export(src: Path, tmp: Path, **kw) -> list[str]:
    store = tmp / f"fresh-{random.random()}"
    with KnowledgeGraph.open(store) as kg:
        build(kg, src, **kw)
    return export(store)


def ask(store_dir: Path, query: str) -> list[tuple]:
    with KnowledgeGraph.open(store_dir) as kg:
        return sorted(tuple(t.value for t in row) for row in kg.query(query))


# ---- identity -----------------------------------------------------------------------------

def test_project_identity(tmp_path):
    assert sources.project_identity(SHOP) == ("shop", "0.1.0")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "mix.exs").write_text('defmodule A.MixProject do\n def project, do: [app: :alpha, version: "2.0.1"]\nend\n')
    assert sources.project_identity(tmp_path / "a") == ("alpha", "2.0.1")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "VERSION").write_text("1.14.0\n")
    assert sources.project_identity(tmp_path / "b") == ("b", "1.14.0")
    (tmp_path / "c").mkdir()
    assert sources.project_identity(tmp_path / "c") == ("c", "0.0.0")
    assert sources.discover(SHOP, graph="other").project == "other"
    assert (sources.discover(SHOP, graph="other@9").project, sources.discover(SHOP, graph="other@9").version) == ("other", "9")


# ---- incremental --------------------------------------------------------------------------

def test_incremental_build_equals_fresh_build(tmp_path):
    src = tmp_path / "shop"
    shutil.copytree(SHOP, src)
    store = tmp_path / "store"
    with KnowledgeGraph.open(store) as kg:
        first = build(kg, src)
        assert first.files == first.files_changed == 9 and first.modules == 11 and first.tests == 2
        again = build(kg, src)
        assert (again.files_changed, again.files_deleted) == (0, 0)
        assert again.triples == first.triples

        # change one file (sum/1 goes away), delete one, add one, touch one without changing it
        cart = src / "lib/shop/cart.ex"
        cart.write_text(cart.read_text().replace("|> sum()", "|> Enum.sum()").replace(
            "  defp sum(prices), do: Enum.sum(prices)\n", ""))
        (src / "lib/shop/item.ex").unlink()
        (src / "lib/shop/extra.ex").write_text("defmodule Shop.Extra do\n  def go, do: Shop.Cart.total([])\nend\n")
        os.utime(src / "lib/shop/server.ex", ns=(1, 1))
        third = build(kg, src)
        assert (third.files_changed, third.files_deleted) == (2, 1)
        assert third.modules == 11
    incremental = export(store)
    assert incremental == fresh_export(src, tmp_path)
    text = "\n".join(incremental)
    assert "function/Shop.Cart/sum/1>" not in text and "module/Shop.Item>" not in text.split("dependsOn")[0]
    # The added file's call resolves to a function of an unchanged file.
    assert ask(store, "SELECT ?f WHERE { ?c ec:calledName 'total' ; ec:resolvesTo ?f . "
                      "?c ec:inClause/ec:inFunction <https://w3id.org/elixir-coder/id/function/Shop.Extra/go/0> }") \
        == [("https://w3id.org/elixir-coder/id/function/Shop.Cart/total/1",)]


def test_removing_a_function_removes_links_to_it_from_unchanged_files(tmp_path):
    src = tmp_path / "shop"
    shutil.copytree(SHOP, src)
    store = tmp_path / "store"
    exercised = "SELECT ?f WHERE { ?t test:exercises ?f }"
    with KnowledgeGraph.open(store) as kg:
        build(kg, src)
    assert ("https://w3id.org/elixir-coder/id/function/Shop.Cart/total/1",) in ask(store, exercised)
    cart = src / "lib/shop/cart.ex"
    cart.write_text(cart.read_text().replace("def total(cart)", "def total_price(cart)").replace(
        "total(cart), \"EUR\"", "total_price(cart), \"EUR\""))
    with KnowledgeGraph.open(store) as kg:
        assert build(kg, src).files_changed == 1
    assert ("https://w3id.org/elixir-coder/id/function/Shop.Cart/total/1",) not in ask(store, exercised)
    assert export(store) == fresh_export(src, tmp_path)
    # and back: the test's call resolves again
    cart.write_text((SHOP / "lib/shop/cart.ex").read_text())
    with KnowledgeGraph.open(store) as kg:
        build(kg, src)
    assert ("https://w3id.org/elixir-coder/id/function/Shop.Cart/total/1",) in ask(store, exercised)
    assert export(store) == fresh_export(src, tmp_path)


def test_module_split_over_two_files_keeps_the_other_half(tmp_path):
    src = tmp_path / "split"
    (src / "lib").mkdir(parents=True)
    (src / "lib/a.ex").write_text("defmodule Split do\n  def a(x), do: b(x)\nend\n")
    (src / "lib/b.ex").write_text("defmodule Split do\n  def b(x), do: x\nend\n")
    (src / "lib/c.ex").write_text("defmodule User do\n  def u, do: Split.b(1)\nend\n")
    store = tmp_path / "store"
    with KnowledgeGraph.open(store) as kg:
        build(kg, src)
    (src / "lib/a.ex").write_text("defmodule Split do\n  def a2(x), do: b(x)\nend\n")
    with KnowledgeGraph.open(store) as kg:
        build(kg, src)
    assert export(store) == fresh_export(src, tmp_path)
    funcs = ask(store, "SELECT ?n WHERE { ?f ec:inModule <https://w3id.org/elixir-coder/id/module/Split> ; ec:name ?n }")
    assert funcs == [("a2",), ("b",)]
    (src / "lib/a.ex").unlink()
    with KnowledgeGraph.open(store) as kg:
        assert build(kg, src).files_deleted == 1
    assert export(store) == fresh_export(src, tmp_path)


def test_calls_resolve_across_graphs_in_either_build_order(tmp_path):
    lib = tmp_path / "lib_project"
    app = tmp_path / "app_project"
    (lib / "lib").mkdir(parents=True)
    (app / "lib").mkdir(parents=True)
    (lib / "lib/l.ex").write_text("defmodule Lib do\n  def helper(x), do: x\nend\n")
    (app / "lib/a.ex").write_text("defmodule App do\n  def run, do: Lib.helper(1)\nend\n")
    q = "SELECT ?f WHERE { ?c ec:resolvesTo ?f }"
    expected = [("https://w3id.org/elixir-coder/id/function/Lib/helper/1",)]
    store = tmp_path / "s1"
    with KnowledgeGraph.open(store) as kg:
        build(kg, app)
        build(kg, lib)
        assert {g.value for g in kg.graphs()} == {graph_iri("app_project", "0.0.0").value,
                                                  graph_iri("lib_project", "0.0.0").value}
    assert ask(store, q) == expected
    # the other order gives the same store
    store2 = tmp_path / "s2"
    with KnowledgeGraph.open(store2) as kg:
        build(kg, lib)
        build(kg, app)
    assert export(store2) == export(store)
    # removing the callee in its own graph unlinks the caller in the other graph
    (lib / "lib/l.ex").write_text("defmodule Lib do\n  def other(x), do: x\nend\n")
    with KnowledgeGraph.open(store) as kg:
        build(kg, lib)
    assert ask(store, q) == []


# ---- bad input ----------------------------------------------------------------------------

def test_bad_input_is_reported_per_file_and_the_rest_is_kept(tmp_path):
    src = tmp_path / "bad"
    shutil.copytree(SHOP, src)
    bad = src / "lib" / "bad"
    bad.mkdir()
    (bad / "binary.ex").write_bytes(b"\x7fELF\x00\x00\x01\x02" * 100)
    (bad / "latin1.ex").write_bytes("defmodule Caf\xe9 do\nend\n".encode("latin-1"))
    (bad / "huge.ex").write_bytes(b"# filler\n" * (10 * 1024 * 1024 // 9 + 1))
    (bad / "deep.ex").write_text("defmodule Deep do\n  def f do\n    " + "[" * 500 + "1" + "]" * 500 + "\n  end\nend\n")
    (bad / "truncated.ex").write_text("defmodule Truncated do\n  def f(x) do\n    case x do\n")
    (bad / "empty.ex").write_bytes(b"")
    (bad / "loop").symlink_to(bad)  # directory link back to an ancestor
    (bad / "self.ex").symlink_to(bad / "self.ex")  # file link to itself
    os.mkfifo(bad / "fifo.ex")  # opening it would block: root can read chmod 000 files, so this is our unreadable file
    store = tmp_path / "store"
    with KnowledgeGraph.open(store) as kg:
        s = build(kg, src)
    reasons = {d["path"]: d["reason"] for d in s.skipped}
    assert reasons["lib/bad/binary.ex"].startswith("binary file")
    assert reasons["lib/bad/latin1.ex"].startswith("not valid UTF-8 (byte 0xe9")
    assert reasons["lib/bad/huge.ex"].startswith("file too large (10.0 MB > limit 5.0 MB)")
    assert reasons["lib/bad/empty.ex"] == "empty file"
    assert reasons["lib/bad/loop"].startswith("symlink loop")
    assert reasons["lib/bad/self.ex"] == "symlink loop"
    assert reasons["lib/bad/fifo.ex"] == "unreadable: not a regular file (fifo)"
    assert "lib/bad/deep.ex" not in reasons  # 500-deep nesting is parsed, not lost
    assert [d["path"] for d in s.parse_error_files] == ["lib/bad/truncated.ex"]
    assert s.parse_errors == 1
    # nothing else is lost: the good files give exactly what they give alone
    assert s.modules == 11 + 2  # Deep and Truncated
    # reported again by an unchanged rebuild (the store remembers), and a bigger limit takes the file
    with KnowledgeGraph.open(store) as kg:
        again = build(kg, src)
        assert again.files_changed == 0 and again.skipped == s.skipped
        bigger = build(kg, src, max_bytes=20 * 1024 * 1024)
        assert "lib/bad/huge.ex" not in {d["path"] for d in bigger.skipped}
    statuses = ask(store, "SELECT ?p ?s WHERE { ?f ec:relativePath ?p ; ec:parseStatus ?s . FILTER(?s != 'ok') }")
    assert ("lib/bad/binary.ex", "skipped") in statuses and ("lib/bad/truncated.ex", "error") in statuses


def test_store_is_locked_for_a_second_writer(tmp_path):
    store = tmp_path / "store"
    with KnowledgeGraph.open(store):
        code = f"from sparql.store import KnowledgeGraph\nKnowledgeGraph.open({str(store)!r})"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
        assert r.returncode != 0 and "locked by another process" in r.stderr
        # readers are fine beside the writer
        with KnowledgeGraph.open(store, read_only=True) as ro:
            assert ro.graphs() == []


# ---- crash safety -------------------------------------------------------------------------

def _generated_project(root: Path, n: int = 40) -> Path:
    (root / "lib").mkdir(parents=True)
    (root / "test").mkdir()
    (root / "mix.exs").write_text('defmodule Gen.MixProject do\n  def project, do: [app: :gen, version: "1.0.0"]\nend\n')
    for i in range(n):
        prev = f"Gen.M{i - 1}.f(x)" if i else "x"
        body = "\n".join(f"  def g{j}(x), do: f(x) + {j}" for j in range(30))
        (root / "lib" / f"m{i}.ex").write_text(
            f"defmodule Gen.M{i} do\n  @doc \"f\"\n  def f(x), do: {prev}\n{body}\n  defp h(y), do: y\nend\n")
        (root / "test" / f"m{i}_test.exs").write_text(
            f"defmodule Gen.M{i}Test do\n  use ExUnit.Case\n  test \"f\" do\n    assert Gen.M{i}.f(1) == 1\n  end\nend\n")
    return root


def _cli_build(src: Path, store: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "elixir_coder.cli", "kg", "build", str(src), "--store", str(store)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sigkill_at_random_moments_then_rerun_equals_uninterrupted_build(tmp_path):
    src = _generated_project(tmp_path / "gen")
    reference = fresh_export(src, tmp_path)
    # time an uninterrupted CLI build to spread the kills over it
    t0 = time.monotonic()
    p = _cli_build(src, tmp_path / "timing")
    assert p.wait() == 0, p.stderr.read()
    span = time.monotonic() - t0
    rng = random.Random(20240611)
    store = tmp_path / "killed"
    for i in range(4):
        if i == 2:  # also kill an incremental build: change a third of the files
            for f in sorted((src / "lib").glob("*.ex"))[::3]:
                f.write_text(f.read_text().replace("defp h(y), do: y", "defp h(y), do: y + 1"))
            reference = fresh_export(src, tmp_path)
        if i != 2:
            # a fresh store: the kill lands in a fresh build's bulk-load window or its
            # resolution pass (i == 2 kills an incremental build instead)
            shutil.rmtree(store, ignore_errors=True)
        p = _cli_build(src, store)
        time.sleep(rng.uniform(0.3, 1.0) * span)
        p.send_signal(signal.SIGKILL)
        p.wait()
        p = _cli_build(src, store)
        assert p.wait() == 0, p.stderr.read()
        assert export(store) == reference, f"iteration {i}"
