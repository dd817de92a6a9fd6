"""Tests of the code checks (reasoning/checks.py) and `elixir-coder check`.

What a user would notice: a rule that fires on its negative fixture or misses its positive one;
a linter line, JSON object or SARIF result that lacks where and what; the wrong exit status in
CI; findings that do not land in (or linger in) the store; a rule missing from the ontology.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, RDFS, SKOS

import ontologies as o
from elixir_coder.cli import main
from reasoning.rules import RULE_IDS as KG_RULE_IDS
from reasoning.checks import RULES, check_source, checkable_files, expectations, score_fixtures
from sparql.store import KnowledgeGraph

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "checks"
Q = Namespace(o.QUALITY.iri)
SECURITY_RULES = {"security/atom-creation", "security/binary-to-term", "security/code-eval",
                  "security/command-injection", "security/sql-interpolation", "security/file-traversal",
                  "security/raw-html"}


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["check", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


# ---- the catalogue and its fixtures ----------------------------------------------------------

def test_catalogue_has_a_dozen_quality_rules_and_every_security_class_asked_for():
    quality = [r for r in RULES.values() if not r.is_security]
    assert len(quality) >= 12
    assert {r.category for r in quality} >= {"readability", "design", "refactor", "warning"}
    assert SECURITY_RULES <= set(RULES)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_has_a_positive_and_a_negative_fixture(rule):
    folder = FIXTURES / rule
    positives = sorted(folder.glob("positive.*"))
    negatives = sorted(folder.glob("negative.*"))
    assert positives and negatives, f"{folder}: needs positive.* and negative.*"
    marked = [e for p in positives for e in expectations(p.read_text()) if e[1] == rule]
    assert marked, f"{rule}: no line of its positive fixture is marked `expect: {rule}`"
    for n in negatives:
        assert not expectations(n.read_text()), f"{n}: a negative fixture expects nothing"


def test_rules_find_exactly_what_the_fixtures_mark():
    """Builds the fixtures' KG (the data-flow rule needs it) and compares every finding with
    the `expect:` marks: no false positive, no false negative, for any rule."""
    scores, misses = score_fixtures(FIXTURES)
    assert misses == []
    for rule in RULES:
        assert scores[rule].tp >= 1 and scores[rule].precision == 1.0, rule


def test_file_path_reached_by_a_parameter_through_a_local_variable_needs_the_data_flow():
    """Without the KG (AST only) the File.write! of a local variable is no finding; `check`
    (with the KG's ec:comesFrom/ec:ofParameter) reports it and names the parameters."""
    path = FIXTURES / "security/file-traversal/positive.ex"
    line = next(ln for ln, r in expectations(path.read_text()) if "target" in path.read_text().splitlines()[ln - 1])
    assert all(f.line != line for f in check_source(str(path), path.read_bytes()))


def test_a_file_with_a_syntax_error_gets_local_findings_but_no_module_wide_guesses():
    src = b"defmodule Broken do\n  @moduledoc false\n  def a(x), do: IO.inspect(x)\n  def b(x, do: (x\nend\n"
    assert [(f.line, f.rule) for f in check_source("broken.ex", src)] == [(3, "warning/io-inspect")]


# ---- the command -------------------------------------------------------------------------------

def test_text_output_is_one_linter_line_per_finding_and_exit_1(capsys):
    code, out, err = run_cli(capsys, FIXTURES / "security/command-injection")
    assert code == 1
    lines = out.splitlines()
    assert lines == sorted(lines, key=lambda l: (l.split(":")[0], int(l.split(":")[1])))
    assert f"{(FIXTURES / 'security/command-injection/positive.ex').as_posix()}:3:31: security/command-injection" in out
    assert len(lines) == 2 and "2 finding(s)" in err


def test_clean_code_exits_0_and_prints_nothing(capsys, tmp_path):
    shutil.copy(FIXTURES / "warning/io-inspect/negative.ex", tmp_path / "clean.ex")
    code, out, _ = run_cli(capsys, tmp_path)
    assert (code, out) == (0, "")


def test_json_lists_objects_with_location_rule_category_severity_message(capsys):
    code, out, _ = run_cli(capsys, "--format", "json", FIXTURES / "security/sql-interpolation")
    items = json.loads(out)
    assert code == 1 and len(items) == 3
    for it in items:
        assert {"file", "line", "column", "rule", "category", "severity", "message"} <= set(it)
        assert it["rule"] == "security/sql-interpolation" and it["severity"] == "high"
    assert [it["line"] for it in items] == [5, 6, 7]


def test_sarif_is_a_2_1_0_log_whose_results_point_at_declared_rules(capsys):
    code, out, _ = run_cli(capsys, "--format", "sarif", FIXTURES / "refactor" / "unless-with-else")
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert ids == ["refactor/unless-with-else"]
    assert len(run["results"]) == 2
    for res in run["results"]:
        assert ids[res["ruleIndex"]] == res["ruleId"] and res["level"] in ("note", "warning", "error")
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"].endswith("unless-with-else/positive.ex")
        assert loc["region"]["startLine"] in (4, 11) and loc["region"]["startColumn"] >= 1


def test_fail_on_sets_the_exit_status_threshold(capsys):
    medium_only = FIXTURES / "security/atom-creation"
    assert run_cli(capsys, "--fail-on", "high", medium_only)[0] == 0
    assert run_cli(capsys, "--fail-on", "medium", medium_only)[0] == 1
    assert run_cli(capsys, "--fail-on", "never", FIXTURES / "security/code-eval")[0] == 0


def test_usage_errors_exit_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, tmp_path / "missing")
    assert code == 2 and "no such file" in err
    code, _, err = run_cli(capsys, "--rule", "nope/nothing", FIXTURES)
    assert code == 2 and "unknown rule" in err
    code, _, err = run_cli(capsys)
    assert code == 2 and "PATH" in err
    with pytest.raises(SystemExit) as e:
        main(["check", "--format", "xml", str(FIXTURES)])
    assert e.value.code == 2


def test_list_rules_names_every_rule(capsys):
    code, out, _ = run_cli(capsys, "--list-rules")
    assert code == 0 and {line.split()[0] for line in out.splitlines()} == set(RULES)


def test_rule_option_keeps_only_that_rule(capsys):
    code, out, _ = run_cli(capsys, "--format", "json", "--rule", "readability/module-doc", FIXTURES / "readability")
    assert code == 1 and {it["rule"] for it in json.loads(out)} == {"readability/module-doc"}


# ---- findings in the store ---------------------------------------------------------------------

def test_findings_are_stored_per_source_graph_and_replaced_on_the_next_check(capsys, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(FIXTURES / "security/file-traversal/positive.ex", proj / "files.ex")
    store = tmp_path / "store"
    code, out, _ = run_cli(capsys, "--store", store, "--format", "json", proj)
    reported = json.loads(out)
    assert code == 1 and len(reported) == 3
    query = """SELECT ?r ?sev ?about ?msg ?line ?col WHERE {
        ?f a sec:SecurityFinding ; q:rule ?r ; q:severity ?sev ; q:about ?about ; q:findingMessage ?msg ;
           sec:vulnerabilityClass sec:Traversal ; ec:hasSpan [ ec:startLine ?line ; ec:startColumn ?col ] }"""
    with KnowledgeGraph.open(store) as kg:
        found = list(kg.query(query))
        graphs = [g.value for g in kg.graphs()]
    assert {r["r"].value for r in found} == {RULES["security/file-traversal"].iri.value}
    assert {r["sev"].value for r in found} == {o.QUALITY.Medium.value}
    assert sorted((int(r["line"].value), int(r["col"].value)) for r in found) == sorted(
        (it["line"], it["column"]) for it in reported)
    rows = {(int(r["line"].value), r["about"].value) for r in found}
    assert any("/findings/" in g for g in graphs)
    assert rows == {(3, o.function_iri("Fixtures.Files", "show", 1).value),
                    (6, o.function_iri("Fixtures.Files", "download", 2).value),
                    (11, o.function_iri("Fixtures.Files", "export", 3).value)}
    # fix the code: the next check leaves no stale findings behind
    (proj / "files.ex").write_text(
        (FIXTURES / "security/file-traversal/negative.ex").read_text())
    code, out, _ = run_cli(capsys, "--store", store, "--format", "json", proj)
    assert (code, json.loads(out)) == (0, [])
    with KnowledgeGraph.open(store) as kg:
        assert list(kg.query("SELECT ?f WHERE { ?f a q:Finding }")) == []
        assert list(kg.query("SELECT ?f WHERE { ?f a sec:SecurityFinding }")) == []


# ---- the ontology -----------------------------------------------------------------------------

def test_every_rule_is_a_labelled_rule_individual_of_its_ontology():
    for name, security in (("quality", False), ("security", True)):
        g = Graph().parse(o.FILES[name])
        declared = {str(g.value(s, Q.ruleId)): s for s in g.subjects(RDF.type, Q.Rule)}
        expected = {r.id for r in RULES.values() if r.is_security == security}
        kg_rules = set() if security else set(KG_RULE_IDS)  # `kg reason`'s rules (reasoning/rules.py)
        assert set(declared) == expected | kg_rules, name
        for rid, s in declared.items():
            if rid in kg_rules:
                assert g.value(s, RDFS.label) is not None and g.value(s, SKOS.definition) is not None
                continue
            rule = RULES[rid]
            assert s == URIRef(rule.iri.value)
            assert g.value(s, RDFS.label) is not None and g.value(s, SKOS.definition) is not None
            assert g.value(s, Q.severity) == URIRef(Q + rule.severity.capitalize())
            assert (s, Q.category, None) in g and g.value(s, Q.ruleId) == Literal(rid)


def test_checkable_files_skip_dependencies_and_build_output(tmp_path):
    (tmp_path / "deps/x").mkdir(parents=True)
    (tmp_path / "deps/x/a.ex").write_text("IO.inspect(1)")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/a.ex").write_text("IO.inspect(1)")
    (tmp_path / "lib/page.html.heex").write_text("<%= raw @x %>")
    assert [p.relative_to(tmp_path).as_posix() for p in checkable_files(tmp_path)] == ["lib/a.ex", "lib/page.html.heex"]


def test_checking_single_files_keeps_their_neighbours_in_a_reused_store(capsys, tmp_path):
    """Two files of one directory, checked one by one into the same store: the second check
    must not drop the first file's facts (a one-file build of the directory's graph would)."""
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(FIXTURES / "warning/io-inspect/positive.ex", proj / "a.ex")
    shutil.copy(FIXTURES / "warning/dbg/positive.ex", proj / "b.ex")
    store = tmp_path / "store"
    code_a, out_a, _ = run_cli(capsys, "--store", store, "--format", "json", proj / "a.ex")
    code_b, out_b, _ = run_cli(capsys, "--store", store, "--format", "json", proj / "b.ex")
    assert {it["rule"] for it in json.loads(out_a)} == {"warning/io-inspect"}
    assert {it["rule"] for it in json.loads(out_b)} == {"warning/dbg"}
    with KnowledgeGraph.open(store) as kg:
        modules = {r["n"].value for r in kg.query("SELECT ?n WHERE { ?m a ec:Module ; ec:name ?n }")}
    assert {"Fixtures.Inspect", "Fixtures.Dbg"} <= modules
