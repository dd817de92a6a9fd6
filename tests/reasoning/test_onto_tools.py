"""`elixir-coder onto diff | convert | query | validate`: what a curator sees when comparing two
versions, moving files to Protégé and back, asking SPARQL of the ontologies, and checking a KG
(file or store) against the shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rdflib import Graph
from rdflib.compare import isomorphic

import ontologies as o
from elixir_coder.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ONTO_FIXTURES = Path(__file__).resolve().parents[1] / "ontologies" / "fixtures"
ZOO = "http://example.org/zoo#"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
RDFS_SUB = "http://www.w3.org/2000/01/rdf-schema#subClassOf"


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main(["onto", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


# ---- diff -----------------------------------------------------------------------------------

def test_diff_groups_added_removed_and_changed_by_entity(capsys, tmp_path):
    text = (FIXTURES / "zoo.ttl").read_text()
    text = text.replace('rdfs:label "Cat"', 'rdfs:label "House cat"')
    text = text.replace(":Cat a owl:Class ; rdfs:subClassOf :Mammal", ":Cat a owl:Class ; rdfs:subClassOf :Animal")
    text = text.replace(':tom a owl:NamedIndividual, :Cat .', "")
    text += '\n:Dog a owl:Class ; rdfs:subClassOf :Mammal .\n'
    new = tmp_path / "zoo2.ttl"
    new.write_text(text)
    rc, out, _ = run(capsys, "diff", str(FIXTURES / "zoo.ttl"), str(new), "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["differ"] is True
    by = {e["entity"]: e for e in data["entities"]}
    assert set(by) == {ZOO + "Cat", ZOO + "Dog", ZOO + "tom", ZOO + "alice"} - {ZOO + "alice"}
    cat = by[ZOO + "Cat"]
    assert {(c["predicate"], c["old"], c["new"]) for c in cat["changed"]} == {
        (RDFS_LABEL, '"Cat"', '"House cat"'), (RDFS_SUB, f"<{ZOO}Mammal>", f"<{ZOO}Animal>")}
    assert {a["value"] for a in by[ZOO + "Dog"]["added"]} >= {f"<{ZOO}Mammal>"}
    assert by[ZOO + "tom"]["removed"] and not by[ZOO + "tom"]["added"]


def test_diff_of_the_same_ontology_in_two_syntaxes_is_empty(capsys, tmp_path):
    xml = tmp_path / "zoo.owl"
    assert run(capsys, "convert", str(FIXTURES / "zoo.ttl"), str(xml))[0] == 0
    rc, out, _ = run(capsys, "diff", str(FIXTURES / "zoo.ttl"), str(xml))
    assert rc == 0 and out == "no differences\n"  # blank-node labels and syntax are no difference


# ---- convert --------------------------------------------------------------------------------

def test_convert_round_trip_turtle_rdfxml_turtle(capsys, tmp_path):
    src = o.FILES["otp"]
    rc, _, err = run(capsys, "convert", str(src), str(tmp_path / "otp.owl"))
    assert rc == 0, err
    assert (tmp_path / "otp.owl").read_text().lstrip().startswith("<?xml")
    assert run(capsys, "convert", str(tmp_path / "otp.owl"), str(tmp_path / "back.ttl"))[0] == 0
    assert isomorphic(Graph().parse(src), Graph().parse(tmp_path / "back.ttl"))


def test_convert_owlxml_and_ntriples(capsys, tmp_path):
    pytest.importorskip("pyhornedowl")
    src = FIXTURES / "zoo.ttl"
    assert run(capsys, "convert", str(src), str(tmp_path / "zoo.owx"))[0] == 0
    assert "<Ontology" in (tmp_path / "zoo.owx").read_text()
    assert run(capsys, "convert", str(tmp_path / "zoo.owx"), str(tmp_path / "zoo.nt"))[0] == 0
    rc, out, _ = run(capsys, "diff", str(src), str(tmp_path / "zoo.nt"))
    assert out == "no differences\n"


def test_convert_bad_input_writes_nothing(capsys, tmp_path):
    bad = tmp_path / "bad.ttl"
    bad.write_text("@prefix : <http://x#> . :a :b")
    rc, _, err = run(capsys, "convert", str(bad), str(tmp_path / "out.owl"))
    assert rc == 2 and "bad.ttl" in err
    assert not (tmp_path / "out.owl").exists()
    rc, _, err = run(capsys, "convert", str(FIXTURES / "zoo.ttl"), str(tmp_path / "out.json"))
    assert rc == 2 and "turtle" in err and "rdfxml" in err


# ---- query ----------------------------------------------------------------------------------

def test_query_over_the_project_ontologies(capsys):
    rc, out, _ = run(capsys, "query", "SELECT ?c WHERE { ?c rdfs:subClassOf ec:CallSite }", "--json")
    assert rc == 0
    subclasses = {r["c"] for r in json.loads(out)}
    assert o.EC.RemoteCall.value in subclasses and o.EC.LocalCall.value in subclasses
    assert o.EC.Module.value not in subclasses


def test_query_over_given_files_and_bad_query(capsys):
    rc, out, _ = run(capsys, "query", "ASK { ?s rdfs:label \"Keeper\" }", "--input", str(FIXTURES / "zoo.ttl"))
    assert rc == 0 and out.strip() == "true"
    rc, _, err = run(capsys, "query", "SELEC ?x", "--input", str(FIXTURES / "zoo.ttl"))
    assert rc == 2 and "bad query" in err


# ---- validate -------------------------------------------------------------------------------

def _broken_kg(tmp_path) -> Path:
    """The conforming fixture KG with one call-site arity written as a string (CallSiteShape)."""
    g = Graph().parse(ONTO_FIXTURES / "kg.ttl")
    update = (ONTO_FIXTURES / "broken" / "callsite_arity_string.ru").read_text()
    ns = {v.prefix: v.iri for v in (o.EC, o.OTP, o.TEST)}
    ns["xsd"] = "http://www.w3.org/2001/XMLSchema#"
    g.update(update, initNs=ns)
    path = tmp_path / "broken.nt"
    g.serialize(path, format="nt", encoding="utf-8")
    return path


def test_validate_conforming_and_broken_kg_files(capsys, tmp_path):
    rc, out, _ = run(capsys, "validate", str(ONTO_FIXTURES / "kg.ttl"))
    assert rc == 0 and out.startswith("conforms")
    rc, out, _ = run(capsys, "validate", str(_broken_kg(tmp_path)), "--json")
    assert rc == 1
    data = json.loads(out)
    assert data["conforms"] is False
    assert {v["focus"] for v in data["violations"]} == {
        "https://w3id.org/elixir-coder/id/file/shop@0.1.0/lib/shop/cart.ex#call-37-5-37-19"}
    assert {v["path"] for v in data["violations"]} == {o.EC.callArity.value}


def test_validate_a_store_opened_read_only(capsys, tmp_path):
    from sparql.store import KnowledgeGraph

    nt = _broken_kg(tmp_path).read_text()
    store = tmp_path / "store"
    with KnowledgeGraph.open(store) as kg:
        kg.update(f"INSERT DATA {{ GRAPH <urn:test:shop> {{ {nt} }} }}")
    rc, out, _ = run(capsys, "validate", "--store", str(store))
    assert rc == 1 and "does not conform" in out and "call-37-5-37-19" in out
    rc, _, err = run(capsys, "validate", str(tmp_path / "nowhere"))
    assert rc == 2 and "nowhere" in err


@pytest.mark.parametrize("cmd", ["reason", "report", "validate", "diff", "convert", "query"])
def test_every_subcommand_has_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main(["onto", cmd, "--help"])
    assert e.value.code == 0
    assert "usage: elixir-coder onto " + cmd in capsys.readouterr().out
