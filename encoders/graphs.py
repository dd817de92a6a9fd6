"""Graph builders: KG subgraphs and per-function data-flow graphs as PyTorch Geometric graphs.

Owns (a) :func:`dataflow_graph`, a function's data-flow graph (every variable occurrence of its
clauses a node, ``ec:comesFrom`` / ``ec:computedFrom`` edges, node features from the tokens of
the variable name); (b) :meth:`EntityIndex.subgraph`, the k-hop KG subgraph around the entities
a snippet mentions (modules, functions, behaviours, callbacks) fetched by SPARQL, with typed
edges; and (c) :class:`EntityIndex`, which finds entity mentions in a text (aliases included)
and reads the triples that K-BERT attaches to them as branches (``model/kbert.py``).

Graphs are homogeneous :class:`torch_geometric.data.Data` with ``node_type`` and ``edge_type``
(what an R-GCN wants); :func:`to_hetero` gives the same graph as ``HeteroData``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

import torch
from pyoxigraph import NamedNode
from torch_geometric.data import Data, HeteroData

from ontologies import EC, ID, OTP, TEST

NODE_TYPES = ("module", "function", "callback", "variable", "test", "other")

# Relations followed when growing a subgraph (subject -> object as stored), then the data-flow ones.
KG_RELATIONS: tuple[tuple[str, NamedNode], ...] = (
    ("inModule", EC.inModule),
    ("callbackOf", OTP.callbackOf),
    ("implementsBehaviour", OTP.implementsBehaviour),
    ("implementsProtocol", EC.implementsProtocol),
    ("dependsOn", EC.dependsOn),
    ("nestedIn", EC.nestedIn),
    ("exercises", TEST.exercises),
)
DATAFLOW_RELATIONS: tuple[tuple[str, NamedNode], ...] = (
    ("comesFrom", EC.comesFrom),
    ("computedFrom", EC.computedFrom),
)
#: every edge type a graph may hold; "hasVariable" links a function to its variable occurrences.
EDGE_TYPES: tuple[str, ...] = tuple(n for n, _ in KG_RELATIONS) + tuple(n for n, _ in DATAFLOW_RELATIONS) + ("hasVariable",)
#: the GNN also passes messages backwards: edge type t reversed is t + len(EDGE_TYPES)
NUM_RELATIONS = 2 * len(EDGE_TYPES)

_MENTION = re.compile(r"(?<![\w.:@])((?:[A-Z][A-Za-z0-9_]*)(?:\.[A-Z][A-Za-z0-9_]*)*)(?:\.([a-z_][A-Za-z0-9_]*[?!]?))?")
_ALIAS = re.compile(r"\balias\s+((?:[A-Z][A-Za-z0-9_]*)(?:\.[A-Z][A-Za-z0-9_]*)*)(?:\s*,\s*as:\s*([A-Z][A-Za-z0-9_]*))?")


def iri_label(iri: str) -> str:
    """A readable name for an IRI minted by ``ontologies`` (``…/id/module/Enum`` -> ``Enum``,
    ``…/id/function/Enum/map/2`` -> ``Enum.map/2``)."""
    if iri.startswith(ID):
        parts = [unquote(p) for p in iri[len(ID):].split("/")]
        kind, rest = parts[0], parts[1:]
        if kind in ("function", "callback") and len(rest) >= 3:
            return f"{rest[0]}.{rest[1]}/{rest[2]}"
        if rest:
            return "/".join(rest).split("#")[-1]
    return iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _node_type(iri: str, types: set[str]) -> int:
    if EC.Variable.value in types:
        return NODE_TYPES.index("variable")
    if OTP.Callback.value in types or "/id/callback/" in iri:
        return NODE_TYPES.index("callback")
    if EC.Function.value in types or "/id/function/" in iri:
        return NODE_TYPES.index("function")
    if TEST.TestCase.value in types:
        return NODE_TYPES.index("test")
    if EC.Module.value in types or "/id/module/" in iri:
        return NODE_TYPES.index("module")
    return NODE_TYPES.index("other")


_ENTITY = re.compile(r"/id/(module|function|callback)/|#test-\d")


def _is_entity(iri: str) -> bool:
    """Modules, functions, callbacks and test cases; not spans, directives, specs, clauses."""
    return _ENTITY.search(iri) is not None


def _values(iris: Iterable[str]) -> str:
    return " ".join(str(NamedNode(i)) for i in iris)


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    iri: str          # the entity's IRI
    name: str         # as resolved ("Shop.Cart", "Enum.map/2")


class EntityIndex:
    """What the KG knows about the entities a text can mention; queries are cached per entity.

    ``tokenize`` maps a label to token ids (node features); without it graphs carry no tokens."""

    def __init__(self, kg, tokenize: Callable[[str], list[int]] | None = None, pad_id: int = 0,
                 max_label_tokens: int = 8):
        self.kg = kg
        self.tokenize = tokenize
        self.pad_id = pad_id
        self.max_label_tokens = max_label_tokens
        self._facts: dict[str, list[tuple[str, str]]] = {}
        self._info: dict[str, tuple[str, int]] = {}
        self._edges: dict[str, list[tuple[str, str, int]]] = {}
        self._flows: dict[tuple[str, int], tuple[list[str], list]] = {}
        self._rel_index = {p.value: k for k, (_, p) in enumerate(KG_RELATIONS)}
        self._functions: dict[str, dict[str, list[str]]] = {}
        self.modules: dict[str, str] = {}
        rows = kg.query("""SELECT DISTINCT ?m ?n WHERE {
            { ?m a ec:Module . OPTIONAL { ?m ec:name ?n } }
            UNION { ?x otp:implementsBehaviour ?m } UNION { ?x ec:implementsProtocol ?m } }""")
        for r in rows:
            iri = r["m"].value
            name = r["n"].value if r["n"] is not None else iri_label(iri)
            if name and name[0].isupper():
                self.modules.setdefault(name, iri)
        self._by_last: dict[str, list[str]] = {}
        for name in self.modules:
            self._by_last.setdefault(name.rsplit(".", 1)[-1], []).append(name)

    # ---- mentions ----------------------------------------------------------------------------
    def _resolve_module(self, written: str, aliases: dict[str, str]) -> str | None:
        if written in self.modules:
            return written
        head, _, tail = written.partition(".")
        if head in aliases:
            full = aliases[head] + ("." + tail if tail else "")
            if full in self.modules:
                return full
        candidates = self._by_last.get(written, [])
        return candidates[0] if len(candidates) == 1 else None

    def functions_of(self, module_iri: str) -> dict[str, list[str]]:
        """name -> function IRIs (one per arity) of a module."""
        if module_iri not in self._functions:
            rows = self.kg.query(f"""SELECT ?f ?n WHERE {{ VALUES ?m {{ {_values([module_iri])} }}
                ?f a ec:Function ; ec:inModule ?m ; ec:name ?n }} ORDER BY ?f""")
            out: dict[str, list[str]] = {}
            for r in rows:
                out.setdefault(r["n"].value, []).append(r["f"].value)
            self._functions[module_iri] = out
        return self._functions[module_iri]

    def mentions(self, text: str) -> list[Mention]:
        """Entity mentions in ``text`` in order: ``Mod`` and ``Mod.fun`` (function mention spans
        the whole ``Mod.fun``), aliases written in the text resolved."""
        aliases = {}
        for m in _ALIAS.finditer(text):
            aliases[m.group(2) or m.group(1).rsplit(".", 1)[-1]] = m.group(1)
        out = []
        for m in _MENTION.finditer(text):
            module = self._resolve_module(m.group(1), aliases)
            if module is None:
                continue
            miri = self.modules[module]
            fun = m.group(2)
            if fun:
                fiifs = self.functions_of(miri).get(fun)
                if fiifs:
                    out.append(Mention(m.start(), m.end(), fiifs[0], f"{module}.{fun}"))
                    continue
            out.append(Mention(m.start(1), m.end(1), miri, module))
        return out

    # ---- branch triples ----------------------------------------------------------------------
    def facts(self, iri: str) -> list[tuple[str, str]]:
        """(relation, object) pairs K-BERT attaches to an entity, most telling first:
        behaviours and callbacks, protocols, then functions / arity and spec."""
        if iri in self._facts:
            return self._facts[iri]
        e = str(NamedNode(iri))   # the entity as a constant in every branch: index lookups only
        rows = self.kg.query(f"""SELECT ?rank ?rel ?o WHERE {{
          {{ {e} otp:implementsBehaviour ?b . BIND(0 AS ?rank) BIND("implements" AS ?rel) BIND(STR(?b) AS ?o) }}
          UNION {{ {e} a otp:Behaviour . BIND(1 AS ?rank) BIND("is" AS ?rel) BIND("behaviour" AS ?o) }}
          UNION {{ ?c otp:callbackOf {e} . ?c ec:name ?cn ; ec:arity ?ca .
                   BIND(2 AS ?rank) BIND("callback" AS ?rel) BIND(CONCAT(?cn, "/", STR(?ca)) AS ?o) }}
          UNION {{ {e} ec:implementsProtocol ?p . BIND(3 AS ?rank) BIND("implements" AS ?rel) BIND(STR(?p) AS ?o) }}
          UNION {{ ?f ec:inModule {e} . ?f a ec:Function ; ec:name ?fn ; ec:arity ?fa ; ec:visibility "public" .
                   BIND(4 AS ?rank) BIND("defines" AS ?rel) BIND(CONCAT(?fn, "/", STR(?fa)) AS ?o) }}
          UNION {{ {e} a ec:Function ; ec:arity ?a . BIND(5 AS ?rank) BIND("arity" AS ?rel) BIND(STR(?a) AS ?o) }}
          UNION {{ {e} ec:hasSpec ?s . ?s ec:specText ?st . BIND(6 AS ?rank) BIND("spec" AS ?rel) BIND(?st AS ?o) }}
          UNION {{ {e} otp:callbackOf ?m . BIND(7 AS ?rank) BIND("callbackOf" AS ?rel) BIND(STR(?m) AS ?o) }}
        }} ORDER BY ?rank ?o""")
        out = []
        for r in rows:
            o = r["o"].value
            if o.startswith("http"):
                o = iri_label(o)
            out.append((r["rel"].value, o))
        self._facts[iri] = out
        return out

    # ---- graphs --------------------------------------------------------------------------------
    def _label_tokens(self, labels: Sequence[str]) -> torch.Tensor:
        t = self.max_label_tokens
        out = torch.full((len(labels), t), self.pad_id, dtype=torch.long)
        if self.tokenize is not None:
            for i, label in enumerate(labels):
                ids = self.tokenize(label)[:t]
                if ids:
                    out[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def _nodes_info(self, iris: list[str]) -> tuple[list[str], list[int]]:
        """Labels and node types, cached per IRI (one query per batch of unseen IRIs)."""
        todo = [i for i in iris if i not in self._info]
        for chunk in range(0, len(todo), 100):
            part = todo[chunk:chunk + 100]
            labels: dict[str, str | None] = {i: None for i in part}
            types: dict[str, set[str]] = {i: set() for i in part}
            for kind, pattern in (("t", "?x a ?v"), ("n", "?x ec:name ?v"), ("n", "?x ec:variableName ?v"),
                                  ("n", "?x test:testName ?v")):
                rows = self.kg.query(f"SELECT ?x ?v WHERE {{ VALUES ?x {{ {_values(part)} }} {pattern} }}")
                for r in rows:
                    x = r["x"].value
                    if kind == "t":
                        types[x].add(r["v"].value)
                    elif labels[x] is None:
                        labels[x] = r["v"].value
            for i in part:
                self._info[i] = (labels[i] or iri_label(i), _node_type(i, types[i]))
        return [self._info[i][0] for i in iris], [self._info[i][1] for i in iris]

    def _edges_of(self, iri: str) -> list[tuple[str, str, int]]:
        """Typed edges between ``iri`` and other entities (both directions), cached."""
        got = self._edges.get(iri)
        if got is None:
            e = str(NamedNode(iri))
            preds = " ".join(str(p) for _, p in KG_RELATIONS)
            rows = self.kg.query(f"""SELECT ?s ?p ?o WHERE {{
                {{ VALUES ?p {{ {preds} }} {e} ?p ?o . BIND({e} AS ?s) FILTER(isIRI(?o)) }}
                UNION {{ VALUES ?p {{ {preds} }} ?s ?p {e} . BIND({e} AS ?o) }} }}""")
            got = sorted({(r["s"].value, r["o"].value, self._rel_index[r["p"].value]) for r in rows
                          if _is_entity(r["s"].value) and _is_entity(r["o"].value)})
            self._edges[iri] = got
        return got

    def _graph(self, nodes: list[str], edges: list[tuple[str, str, int]], anchors: list[str]) -> Data:
        index = {iri: k for k, iri in enumerate(nodes)}
        labels, ntypes = self._nodes_info(nodes)
        kept = [(index[s], index[o], t) for s, o, t in edges if s in index and o in index]
        edge_index = torch.tensor([[s for s, _, _ in kept], [o for _, o, _ in kept]], dtype=torch.long).view(2, -1)
        data = Data(x_tokens=self._label_tokens(labels), node_type=torch.tensor(ntypes, dtype=torch.long),
                    edge_index=edge_index, edge_type=torch.tensor([t for _, _, t in kept], dtype=torch.long),
                    num_nodes=len(nodes))
        data.iris = list(nodes)
        data.labels = labels
        data.anchor_index = torch.tensor([index[a] for a in anchors if a in index], dtype=torch.long)
        return data

    def subgraph(self, entities: Sequence[str], hops: int = 1, max_nodes: int = 64,
                 dataflow: bool = False, max_variables: int = 16) -> Data:
        """The k-hop neighbourhood of ``entities`` over the relations of ``KG_RELATIONS`` (both
        directions), breadth first, at most ``max_nodes`` nodes (the entities always kept).
        ``dataflow`` adds each function's variable occurrences (``hasVariable``) with their
        ``comesFrom`` / ``computedFrom`` edges."""
        nodes: list[str] = []
        seen: set[str] = set()
        for e in entities:
            if e not in seen:
                seen.add(e)
                nodes.append(e)
        edges: list[tuple[str, str, int]] = []
        frontier = list(nodes)
        for _ in range(hops):
            if not frontier or len(nodes) >= max_nodes:
                break
            nxt = []
            for x in frontier:
                for s_, o_, t in self._edges_of(x):
                    for n in (s_, o_):
                        if n not in seen and len(nodes) < max_nodes:
                            seen.add(n)
                            nodes.append(n)
                            nxt.append(n)
                    edges.append((s_, o_, t))
            frontier = nxt
        if dataflow:
            functions = [n for n in nodes if "/id/function/" in n]
            for f in functions:
                if len(nodes) >= max_nodes:
                    break
                g_nodes, g_edges = self._dataflow(f, max_nodes - len(nodes), max_variables)
                for n in g_nodes:
                    if n not in seen:
                        seen.add(n)
                        nodes.append(n)
                        edges.append((f, n, EDGE_TYPES.index("hasVariable")))
                edges.extend(g_edges)
        return self._graph(nodes, edges, list(entities))

    def _dataflow(self, function_iri: str, budget: int, max_variables: int | None = None):
        limit = min(budget, max_variables or budget)
        if limit <= 0:
            return [], []
        key = (function_iri, limit)
        if key in self._flows:
            return self._flows[key]
        f = str(NamedNode(function_iri))
        rows = self.kg.query(f"""SELECT ?v ?l ?c WHERE {{
            ?cl ec:inFunction {f} . ?v ec:inClause ?cl ; a ec:Variable ; ec:hasSpan ?sp .
            ?sp ec:startLine ?l ; ec:startColumn ?c }} ORDER BY ?l ?c ?v LIMIT {int(limit)}""")
        variables = [r["v"].value for r in rows]
        edges = []
        if variables:
            rel = {p.value: EDGE_TYPES.index(n) for n, p in DATAFLOW_RELATIONS}
            erows = self.kg.query(f"""SELECT ?s ?p ?o WHERE {{ ?cl ec:inFunction {f} . ?s ec:inClause ?cl .
                ?s ?p ?o . FILTER(?p IN ({", ".join(str(p) for _, p in DATAFLOW_RELATIONS)})) }}""")
            vs = set(variables)
            edges = sorted({(r["s"].value, r["o"].value, rel[r["p"].value]) for r in erows
                            if r["s"].value in vs and r["o"].value in vs})
        self._flows[key] = (variables, edges)
        return variables, edges

    def dataflow_graph(self, function_iri: str, max_nodes: int = 256) -> Data:
        """(a) A function's data-flow graph: its variable occurrences (nodes, features from the
        variable names' tokens) and the ``comesFrom`` / ``computedFrom`` edges between them."""
        nodes, edges = self._dataflow(function_iri, max_nodes)
        return self._graph(nodes, edges, [])


def dataflow_graph(kg, function_iri: str | NamedNode, tokenize=None, pad_id: int = 0,
                   max_nodes: int = 256) -> Data:
    """Convenience: :meth:`EntityIndex.dataflow_graph` without building the module index."""
    idx = EntityIndex.__new__(EntityIndex)
    idx.kg, idx.tokenize, idx.pad_id, idx.max_label_tokens = kg, tokenize, pad_id, 8
    idx._info, idx._flows = {}, {}
    iri = function_iri.value if isinstance(function_iri, NamedNode) else str(function_iri)
    return idx.dataflow_graph(iri, max_nodes)


def to_hetero(data: Data) -> HeteroData:
    """The same graph as ``HeteroData``: node types of ``NODE_TYPES`` (``x_tokens`` each),
    edge types ``(source type, relation, target type)`` for the relations present."""
    out = HeteroData()
    local = torch.empty(data.num_nodes, dtype=torch.long)
    for t, name in enumerate(NODE_TYPES):
        mask = data.node_type == t
        local[mask] = torch.arange(int(mask.sum()))
        if mask.any():
            out[name].x_tokens = data.x_tokens[mask]
            out[name].num_nodes = int(mask.sum())
    src, dst = data.edge_index
    groups: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    for s_, d_, r in zip(src.tolist(), dst.tolist(), data.edge_type.tolist()):
        key = (NODE_TYPES[int(data.node_type[s_])], EDGE_TYPES[r], NODE_TYPES[int(data.node_type[d_])])
        groups.setdefault(key, []).append((int(local[s_]), int(local[d_])))
    for key, pairs in groups.items():
        out[key].edge_index = torch.tensor(pairs, dtype=torch.long).t().contiguous()
    return out
