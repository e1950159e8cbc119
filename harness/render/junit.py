"""A report as JUnit XML, for the test-report views of CI systems (GitHub, GitLab, Jenkins).

Layout: a <testsuites> root holding one <testsuite> per report, named after the scenario, with
the run's facts (mode, strategy, profile, seed, trials, verdict, tool) as <properties>. In it:

- one <testcase> per objective (classname `mwaa-drill.<scenario>.objectives`, name the
  objective's): a <failure> when met is false (message: observed against target; text: the
  detail), <skipped> with the detail as message when met is null (not applicable, or nothing
  could be judged), else passed;
- one <testcase> named `trials` (classname `mwaa-drill.<scenario>.trials`) for the trials as
  a group. It mirrors the campaign verdict, so that the XML is red exactly when the exit code
  is not 0:
  - <failure> when the campaign verdict is fail and at least one trial failed (message
    `N of M trials failed`);
  - else <error> when the campaign verdict is unknown (message: the verdict's reasons; this
    covers drills that ran no trial or were aborted);
  - else passed. Failing trials a percentile objective tolerates (rto at p95, say) do not
    fail the group; they are listed in its <system-out>.
  The text lists every failing and unknown trial, one line each with its seed and reasons (at
  most TRIALS_LISTED lines; the JSON report has them all).

A campaign that fails on an objective alone (a spurious-failover rate over a target above
zero, where no single trial fails) shows as that objective's failure; the `trials` test then
passes. The XML is deterministic: the same report gives the same bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from harness.render import objective_rows

TRIALS_LISTED = 100  # lines of failing/unknown trials in the trials test case's text
TOOL = "mwaa-drill"

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def render_junit(report: Mapping[str, Any]) -> str:
    """The report as a JUnit XML document (UTF-8 text with its XML declaration)."""
    root = ET.Element("testsuites", {"name": TOOL})
    suite = _suite(report)
    root.append(suite)
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, suite.get(key, "0"))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _suite(report: Mapping[str, Any]) -> ET.Element:
    scenario = report["scenario"]
    name = str(scenario.get("name", "?"))
    prefix = f"{TOOL}.{name}"
    cases = [*_objective_cases(report, f"{prefix}.objectives"), _trials_case(report, prefix)]
    counts = {
        "tests": len(cases),
        "failures": sum(1 for case in cases if case.find("failure") is not None),
        "errors": sum(1 for case in cases if case.find("error") is not None),
        "skipped": sum(1 for case in cases if case.find("skipped") is not None),
    }
    suite = ET.Element("testsuite", {"name": _text(name)})
    for key, count in counts.items():
        suite.set(key, str(count))
    properties = ET.SubElement(suite, "properties")
    facts = (
        ("mode", report["mode"]),
        ("strategy", scenario.get("strategy", "?")),
        ("profile", scenario.get("profile", "?")),
        ("scenario_file", scenario.get("file", "?")),
        ("seed", report["seed"]),
        ("trials", report["summary"]["trials"]),
        ("verdict", report["verdict"]),
        ("tool", f"{report['tool']['name']} {report['tool']['version']}"),
        ("schema_version", report["schema_version"]),
    )
    for key, value in facts:
        ET.SubElement(properties, "property", {"name": key, "value": _text(value)})
    suite.extend(cases)
    return suite


def _objective_cases(report: Mapping[str, Any], classname: str) -> list[ET.Element]:
    cases = []
    for entry, row in zip(report["objectives"], objective_rows(report), strict=True):
        name, target, observed, _, detail = row
        case = _case(classname, name)
        if entry["met"] is False:
            message = f"{name}: observed {observed}, target {target}"
            _child(case, "failure", message, detail, type="objective")
        elif entry["met"] is None:
            _child(case, "skipped", detail)
        cases.append(case)
    return cases


def _trials_case(report: Mapping[str, Any], prefix: str) -> ET.Element:
    trials: Sequence[Mapping[str, Any]] = report["trials"]
    case = _case(f"{prefix}.trials", "trials")
    failed = [t for t in trials if t["verdict"] == "fail"]
    unknown = [t for t in trials if t["verdict"] == "unknown"]
    listing = _listing([*failed, *unknown])
    verdict = report["verdict"]
    if verdict == "fail" and failed:
        message = f"{len(failed)} of {len(trials)} trials failed"
        if unknown:
            message += f"; {len(unknown)} could not be judged"
        _child(case, "failure", message, listing, type="trials")
    elif verdict == "unknown":
        message = "the drill could not be judged: " + "; ".join(report["reasons"])
        _child(case, "error", message, listing, type="unknown")
    elif listing:
        counts = f"{len(failed)} failing and {len(unknown)} unknown of {len(trials)} trials"
        note = f"{counts}, within the campaign's objectives:\n{listing}"
        ET.SubElement(case, "system-out").text = _text(note)
    return case


def _listing(trials: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for trial in sorted(trials, key=lambda t: int(t["index"]))[:TRIALS_LISTED]:
        reasons = "; ".join(trial["reasons"]) or "(no reason given)"
        lines.append(
            f"trial {trial['index']} (seed {trial['seed']}): {trial['verdict']}: {reasons}"
        )
    if len(trials) > TRIALS_LISTED:
        lines.append(f"... and {len(trials) - TRIALS_LISTED} more; the JSON report has them all")
    return "\n".join(lines)


def _case(classname: str, name: str) -> ET.Element:
    return ET.Element("testcase", {"classname": _text(classname), "name": _text(name)})


def _child(case: ET.Element, tag: str, message: str, text: str = "", **attrs: str) -> None:
    element = ET.SubElement(case, tag, {"message": _text(message), **attrs})
    if text:
        element.text = _text(text)


def _text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", str(value))
