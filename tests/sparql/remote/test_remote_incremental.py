"""An incremental build through an endpoint (changed, added and deleted files: the
transactional SPARQL UPDATE path, not the bulk path of a fresh build) ends with the same facts as
the same builds on disk."""

from __future__ import annotations

import io
import shutil

import pyoxigraph as ox
import pytest

from kg.build import build
from sparql import named
from sparql.store import KnowledgeGraph

from remote_helpers import SHOP, norm, open_oxigraph, open_virtuoso


def nquads(kg) -> set[tuple[str, str, str, str]]:
    out = io.BytesIO()
    kg.export(out, "nq")
    return {(str(q.subject), str(q.predicate), norm(q.object), str(q.graph_name))
            for q in ox.parse(out.getvalue(), ox.RdfFormat.N_QUADS)}


@pytest.mark.parametrize("backend", ("oxigraph", "virtuoso"))
def test_incremental_rebuild_through_an_endpoint(tmp_path, oxigraph_server, virtuoso, backend):
    """Change, add and delete files, rebuild: the endpoint ends with the embedded store's facts."""
    src = tmp_path / "shop"
    shutil.copytree(SHOP, src)
    local = KnowledgeGraph.open(tmp_path / "store")
    remote = open_oxigraph(oxigraph_server) if backend == "oxigraph" else open_virtuoso(virtuoso)
    remote.drop_all()
    for kg in (local, remote):
        build(kg, src)
    cart = src / "lib" / "shop" / "cart.ex"
    cart.write_text(cart.read_text().replace("defp unused_helper(x), do: x * 2",
                                             "def doubled(x), do: sum([x, x])"))
    (src / "lib" / "shop" / "gateways.ex").unlink()
    (src / "lib" / "shop" / "extra.ex").write_text("defmodule Shop.Extra do\n  def hi, do: Shop.Cart.new()\nend\n")
    summaries = [build(kg, src) for kg in (local, remote)]
    assert summaries[0].files_changed == summaries[1].files_changed == 2
    assert summaries[0].files_deleted == summaries[1].files_deleted == 1
    assert nquads(remote) == nquads(local)
    nq = named.get("functions")
    names = {row["name"].value for row in remote.query(nq.text, params=nq.bind({"module": "Shop.Cart"}))}
    assert "doubled" in names and "unused_helper" not in names
    remote.drop_all()
    local.close()




@pytest.mark.parametrize("backend", ("oxigraph", "virtuoso"))
def test_fresh_bulk_build_through_an_endpoint(tmp_path, oxigraph_server, virtuoso, backend):
    """A fresh graph of more than kg.build.IN_PROCESS_MAX files takes the bulk path (bulk
    inserts between markers, then resolve_added): same facts as on disk."""
    from kg.build import IN_PROCESS_MAX

    src = tmp_path / "many"
    (src / "lib").mkdir(parents=True)
    (src / "mix.exs").write_text('defmodule Many.MixProject do\n  use Mix.Project\n'
                                 '  def project, do: [app: :many, version: "1.2.3"]\nend\n')
    n = IN_PROCESS_MAX + 8
    for i in range(n):
        nxt = f"Many.M{(i + 1) % n}"
        (src / "lib" / f"m{i}.ex").write_text(
            f"defmodule Many.M{i} do\n  @doc \"Step {i}.\"\n  def step(x), do: {nxt}.step(x + {i})\n"
            f"  defp helper(y), do: Enum.map(y, &(&1 * 2))\nend\n")
    local = KnowledgeGraph.open(tmp_path / "store")
    remote = open_oxigraph(oxigraph_server) if backend == "oxigraph" else open_virtuoso(virtuoso)
    remote.drop_all()
    summaries = [build(kg, src, workers=1) for kg in (local, remote)]
    assert summaries[0].files_changed == summaries[1].files_changed == n + 1
    assert not remote.needs_resolution()
    facts = nquads(local)
    assert sum("resolvesTo" in q[1] for q in facts) >= n  # the bulk resolution pass ran
    assert nquads(remote) == facts
    remote.drop_all()
    local.close()
