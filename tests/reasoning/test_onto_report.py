"""`elixir-coder onto report`: each defect kind is found on the term that has it (and nowhere
else), the levels follow ROBOT, and `--fail-on` gives CI the exit status it needs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from elixir_coder.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures"
D = "http://example.org/defects#"


def report(capsys, *args) -> tuple[int, str, str]:
    rc = main(["onto", "report", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_each_defect_kind_is_found_on_its_term(capsys):
    rc, out, _ = report(capsys, "--input", str(FIXTURES / "defects.ttl"), "--json", "--fail-on", "none")
    assert rc == 0
    data = json.loads(out)
    found = {(p["rule"], p["subject"]) for p in data["problems"]}
    assert found == {
        ("missing_label", D + "NoLabel"),
        ("missing_definition", D + "NoDefinition"),
        ("duplicate_label", D + "TwinA"),
        ("duplicate_label", D + "TwinB"),
        ("deprecated_reference", D + "UsesOld"),
        ("dangling_reference", D + "Dangles"),
        ("undeclared_term", D + "undeclaredProp"),
        ("naming_convention", D + "bad_name"),
    }
    levels = {p["rule"]: p["level"] for p in data["problems"]}
    assert levels["missing_label"] == "ERROR" and levels["missing_definition"] == "WARN"
    assert levels["naming_convention"] == "INFO"
    assert data["counts"] == {"ERROR": 4, "WARN": 3, "INFO": 1}


def test_tsv_has_robot_columns(capsys):
    _, out, _ = report(capsys, "--input", str(FIXTURES / "defects.ttl"), "--fail-on", "none")
    rows = list(csv.reader(io.StringIO(out), delimiter="\t"))
    assert rows[0] == ["Level", "Rule Name", "Subject", "Property", "Value"]
    dangling = [r for r in rows if r[1] == "dangling_reference"]
    assert dangling == [["ERROR", "dangling_reference", D + "Dangles",
                         "http://www.w3.org/2000/01/rdf-schema#subClassOf", D + "Nowhere"]]
    # errors come first
    assert [r[0] for r in rows[1:]] == sorted((r[0] for r in rows[1:]), key=["ERROR", "WARN", "INFO"].index)


def test_clean_ontology_has_no_problems(capsys):
    rc, out, err = report(capsys, "--input", str(FIXTURES / "zoo.ttl"), "--fail-on", "info")
    assert rc == 0
    assert out.strip().splitlines() == ["Level\tRule Name\tSubject\tProperty\tValue"]


def test_fail_on_levels(capsys, tmp_path):
    # only a WARN: the zoo with one definition removed
    text = (FIXTURES / "zoo.ttl").read_text().replace('skos:definition "A human." ', "")
    warn_only = tmp_path / "warn.ttl"
    warn_only.write_text(text)
    assert report(capsys, "--input", str(warn_only))[0] == 0  # default: fail on ERROR
    assert report(capsys, "--input", str(warn_only), "--fail-on", "WARN")[0] == 1
    assert report(capsys, "--input", str(warn_only), "--fail-on", "info")[0] == 1
    rc, _, err = report(capsys, "--input", str(FIXTURES / "defects.ttl"))
    assert rc == 1 and "failing" in err
    assert report(capsys, "--input", str(FIXTURES / "defects.ttl"), "--fail-on", "NONE")[0] == 0


def test_report_to_file(capsys, tmp_path):
    out = tmp_path / "r.json"
    rc, stdout, _ = report(capsys, "--input", str(FIXTURES / "defects.ttl"), "--format", "json",
                           "--output", str(out), "--fail-on", "none")
    assert rc == 0 and stdout == ""
    assert json.loads(out.read_text())["counts"]["ERROR"] == 4


def test_the_projects_own_ontologies_pass_the_report(capsys):
    """The ontology is code: CI fails on an ERROR in our own Turtle (missing label, duplicate
    label, dangling reference)."""
    code = main(["onto", "report", "--json", "--fail-on", "ERROR"])
    report = json.loads(capsys.readouterr().out)
    errors = [p for p in report["problems"] if p["level"] == "ERROR"]
    assert code == 0 and errors == [] and report["counts"]["ERROR"] == 0
