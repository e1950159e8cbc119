"""JUnit XML: one suite per report, a test case per objective and one for the trials."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.render import junit
from harness.render.junit import render_junit
from harness.report import unknown_report
from tests.unit.test_compare import cloudwatch, outage, write
from tests.unit.test_report import outage_scenario, recovered, report_of

REPO = Path(__file__).resolve().parents[2]


def parse(text: str) -> ET.Element:
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    return root


def suite_of(text: str) -> ET.Element:
    (suite,) = parse(text).findall("testsuite")
    return suite


def cases(suite: ET.Element) -> dict[str, ET.Element]:
    return {case.attrib["name"]: case for case in suite.findall("testcase")}


def outcome(case: ET.Element) -> str:
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "passed"


def check_counts(root_text: str) -> None:
    """The count attributes agree with the test cases, on the suite and on the root."""
    root = parse(root_text)
    suite = root.find("testsuite")
    assert suite is not None
    found = [outcome(case) for case in suite.findall("testcase")]
    expected = {
        "tests": len(found),
        "failures": found.count("failure"),
        "errors": found.count("error"),
        "skipped": found.count("skipped"),
    }
    for element in (root, suite):
        assert {key: int(element.attrib[key]) for key in expected} == expected


def test_a_passing_simulated_report() -> None:
    report = outage("hardened")
    assert report["verdict"] == "pass"
    text = render_junit(report)
    check_counts(text)
    suite = suite_of(text)
    assert suite.attrib["name"] == "regional-outage-warm-standby"
    assert suite.attrib["tests"] == "4" and suite.attrib["failures"] == "0"
    found = cases(suite)
    assert list(found) == ["rto", "rpo", "max_spurious_failover_rate", "trials"]
    assert {outcome(case) for case in found.values()} == {"passed"}
    assert found["rto"].attrib["classname"] == "mwaa-drill.regional-outage-warm-standby.objectives"
    assert found["trials"].attrib["classname"] == "mwaa-drill.regional-outage-warm-standby.trials"
    properties = {p.attrib["name"]: p.attrib["value"] for p in suite.iter("property")}
    assert properties["verdict"] == "pass"
    assert properties["profile"] == "hardened"
    assert properties["trials"] == "3"
    assert properties["mode"] == "simulate"


def test_spurious_failovers_fail_the_objective_and_the_trials() -> None:
    report = cloudwatch("seed")
    assert report["verdict"] == "fail"
    text = render_junit(report)
    check_counts(text)
    found = cases(suite_of(text))
    failure = found["max_spurious_failover_rate"].find("failure")
    assert failure is not None
    assert failure.attrib["message"].startswith("max_spurious_failover_rate: observed ")
    assert failure.attrib["message"].endswith(", target ≤ 0%")
    assert failure.text == report["objectives"][0]["detail"]
    trials = found["trials"].find("failure")
    assert trials is not None
    failing = [t for t in report["trials"] if t["verdict"] == "fail"]
    assert trials.attrib["message"] == f"{len(failing)} of 3 trials failed"
    assert trials.text is not None
    lines = trials.text.splitlines()
    assert len(lines) == len(failing)
    assert lines[0].startswith(f"trial {failing[0]['index']} (seed {failing[0]['seed']}): fail: ")
    assert "spurious failover (the target rate is 0)" in lines[0]


def test_not_applicable_objective_is_skipped() -> None:
    report = cloudwatch("hardened")
    extra = {
        "name": "rto",
        "target": 1200.0,
        "observed": None,
        "met": None,
        "detail": "not applicable: no fault in this scenario stops the primary",
        "unit": "seconds",
        "percentile": 100.0,
    }
    report = copy.deepcopy(report)
    report["objectives"].insert(0, extra)
    text = render_junit(report)
    check_counts(text)
    found = cases(suite_of(text))
    skipped = found["rto"].find("skipped")
    assert skipped is not None and skipped.attrib["message"] == extra["detail"]
    assert outcome(found["trials"]) == "passed"


def test_an_unknown_drill_is_an_error() -> None:
    report = unknown_report(
        mode="live", scenario=outage_scenario(), seed=1, reason="the Regions never came up"
    )
    text = render_junit(report)
    check_counts(text)
    found = cases(suite_of(text))
    error = found["trials"].find("error")
    assert error is not None
    assert error.attrib["message"].startswith("the drill could not be judged: aborted: ")
    assert "no trials were run" in error.attrib["message"]
    assert {outcome(found[name]) for name in found if name != "trials"} == {"skipped"}


def test_failing_trials_within_a_percentile_do_not_fail_the_group() -> None:
    measures = [recovered() for _ in range(99)] + [recovered(rto_s=5000.0)]
    report = report_of(outage_scenario(), *measures)
    assert report["verdict"] == "pass"
    found = cases(suite_of(render_junit(report)))
    assert outcome(found["trials"]) == "passed"
    out = found["trials"].find("system-out")
    assert out is not None and out.text is not None
    assert out.text.startswith("1 failing and 0 unknown of 100 trials, within the campaign's")
    assert "trial 99 (seed 1099): fail: rto 1h23m20s > 20m" in out.text


def test_long_listings_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(junit, "TRIALS_LISTED", 2)
    report = report_of(outage_scenario(), *[recovered(rto_s=5000.0)] * 5)
    failure = cases(suite_of(render_junit(report)))["trials"].find("failure")
    assert failure is not None and failure.text is not None
    lines = failure.text.splitlines()
    assert lines[:2] == [
        "trial 0 (seed 1000): fail: rto 1h23m20s > 20m",
        "trial 1 (seed 1001): fail: rto 1h23m20s > 20m",
    ]
    assert lines[2] == "... and 3 more; the JSON report has them all"


def test_deterministic_and_survives_a_json_round_trip() -> None:
    report = cloudwatch("seed")
    text = render_junit(report)
    assert render_junit(json.loads(json.dumps(report))) == text


def test_characters_xml_cannot_carry_are_replaced() -> None:
    report = copy.deepcopy(cloudwatch("seed"))
    report["trials"][0]["reasons"] = ['bad \x01 byte <&> "quoted"']
    report["scenario"]["name"] = "a\x1bname"
    suite = suite_of(render_junit(report))
    assert suite.attrib["name"] == "a\ufffdname"
    failure = cases(suite)["trials"].find("failure")
    assert failure is not None and failure.text is not None
    assert 'bad \ufffd byte <&> "quoted"' in failure.text


# The CLI ---------------------------------------------------------------------------------------


def test_report_format_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = cloudwatch("seed")
    path = write(tmp_path, "report.json", report)
    assert main(["report", str(path), "--format", "junit"]) == 0
    out = capsys.readouterr().out
    assert out == render_junit(report)
    output = tmp_path / "junit.xml"
    assert main(["report", str(path), "--format", "junit", "-o", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == out


def test_simulate_writes_junit(tmp_path: Path) -> None:
    data = yaml.safe_load(
        (REPO / "scenarios" / "cloudwatch-outage-warm-standby.yaml").read_text(encoding="utf-8")
    )
    data.update(duration="90m", profile="seed")
    scenario = tmp_path / "cw.yaml"
    scenario.write_text(yaml.safe_dump(data), encoding="utf-8")
    report_path, junit_path = tmp_path / "out.json", tmp_path / "junit.xml"
    args = ["simulate", str(scenario), "--trials", "2", "--workers", "1"]
    code = main([*args, "--json", str(report_path), "--junit", str(junit_path)])
    assert code == 1
    text = junit_path.read_text(encoding="utf-8")
    check_counts(text)
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    assert text == render_junit(report)
    assert suite_of(text).attrib["failures"] == "2"
