"""`mwaa-drill compare`: pairing, better/worse/same, tolerance, regressions and exit codes."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.compare import (
    CompareError,
    Tolerance,
    compare_files,
    compare_reports,
    parse_tolerance,
    render_comparison_markdown,
)
from harness.report import build_report, load_report, unknown_report, validate_report
from harness.scenario import Profile, load_scenario
from harness.sim.calibration import default_calibration
from harness.sim.trial import run_trial
from tests.unit.test_report import never_recovered, outage_scenario, recovered, report_of

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "scenarios"


@cache
def _simulated(name: str, profile: str | None, duration: float, trials: int) -> str:
    scenario = load_scenario(CATALOG / f"{name}.yaml")
    scenario = dataclasses.replace(scenario, duration=duration)
    if profile is not None:
        scenario = dataclasses.replace(scenario, profile=Profile(profile))
    calibration = default_calibration()
    results = [run_trial(scenario, calibration, i).result() for i in range(trials)]
    report = build_report(mode="simulate", scenario=scenario, seed=scenario.seed, trials=results)
    validate_report(report)
    return json.dumps(report)


def simulated_report(
    name: str, profile: str | None = None, *, duration: float = 5400.0, trials: int = 3
) -> dict[str, Any]:
    """The report of a few real simulated trials of a catalog scenario, cut short (cached)."""
    report: dict[str, Any] = json.loads(_simulated(name, profile, duration, trials))
    return report


def cloudwatch(profile: str) -> dict[str, Any]:
    return simulated_report("cloudwatch-outage-warm-standby", profile)


def outage(profile: str = "hardened") -> dict[str, Any]:
    return simulated_report("regional-outage-warm-standby", profile, duration=7200.0)


def write(tmp_path: Path, name: str, report: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def entry(comparison: Any, name: str) -> Any:
    (found,) = [e for e in comparison.objectives if e.name == name]
    return found


def summary_entry(comparison: Any, key: str) -> Any:
    (found,) = [e for e in comparison.summary if e.key == key]
    return found


# Comparing real simulated reports ------------------------------------------------------------


def test_a_report_compared_with_itself_has_no_regression() -> None:
    report = outage()
    comparison = compare_reports(report, copy.deepcopy(report))
    assert not comparison.regression and comparison.regressions == ()
    assert comparison.verdict_change == "same"
    assert [e.name for e in comparison.objectives] == ["rto", "rpo", "max_spurious_failover_rate"]
    assert {e.change for e in comparison.objectives} == {"same"}
    assert {e.change for e in comparison.summary} == {"same"}
    text = render_comparison_markdown(comparison)
    assert text.startswith("## mwaa-drill compare: ✅ no regression\n")
    assert "| objective | target | base | new | change | met |" in text
    assert "| rto | p100 ≤ 20m |" in text
    assert "### Regressions\n\nNone." in text


def test_spurious_failovers_of_the_seed_detector_are_a_regression() -> None:
    base, new = cloudwatch("hardened"), cloudwatch("seed")
    assert base["verdict"] == "pass" and new["verdict"] == "fail"
    comparison = compare_reports(base, new)
    assert comparison.regression
    assert comparison.verdict_change == "worse"
    spurious = entry(comparison, "max_spurious_failover_rate")
    assert (spurious.met_base, spurious.met_new) == (True, False)
    assert spurious.change == "worse"
    assert spurious.observed_new > spurious.observed_base == 0.0
    assert comparison.regressions[0] == "verdict: PASS → FAIL"
    assert comparison.regressions[1].startswith("max_spurious_failover_rate: met → not met; 0% → ")
    # The summary rate is the objective's very number: reported once, not twice.
    assert summary_entry(comparison, "spurious_failover_rate").change == "worse"
    assert len(comparison.regressions) == 2
    text = render_comparison_markdown(comparison)
    assert "## mwaa-drill compare: ❌ 2 regressions" in text
    assert "| verdict | ✅ PASS | ❌ FAIL |" in text
    assert "| ✅ → ❌ |" in text


def test_the_reverse_is_an_improvement() -> None:
    comparison = compare_reports(cloudwatch("seed"), cloudwatch("hardened"))
    assert not comparison.regression
    assert comparison.verdict_change == "better"
    assert entry(comparison, "max_spurious_failover_rate").change == "better"
    assert "✅ better" in render_comparison_markdown(comparison)


def test_slower_detection_is_a_regression_even_with_every_objective_met() -> None:
    base, new = outage("seed"), outage("hardened")
    comparison = compare_reports(base, new)
    detection = summary_entry(comparison, "detection_s.p50")
    assert base["summary"]["detection_s"]["p50"] < new["summary"]["detection_s"]["p50"]
    assert detection.change == "worse" and detection.regression
    assert comparison.regression
    # A generous tolerance accepts it.
    assert not compare_reports(base, new, parse_tolerance(["seconds=1h"])).regression


# The CLI ---------------------------------------------------------------------------------------


def test_cli_exit_1_on_a_regression_and_json_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path, "base.json", cloudwatch("hardened"))
    new = write(tmp_path, "new.json", cloudwatch("seed"))
    out_json = tmp_path / "cmp.json"
    assert main(["compare", str(base), str(new), "--json", str(out_json)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("## mwaa-drill compare: ❌")
    assert f"`{base}`" in captured.out
    assert captured.err == ""
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["regression"] is True
    assert data["verdict"] == {"base": "pass", "new": "fail", "change": "worse"}
    (spurious,) = data["objectives"]
    assert spurious["met"] == {"base": True, "new": False}
    assert spurious["regression"] is True
    assert data["tolerance"]["seconds_relative"] == 0.1
    assert data["base"]["report"] == str(base)


def test_cli_exit_0_without_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path, "base.json", cloudwatch("seed"))
    new = write(tmp_path, "new.json", cloudwatch("hardened"))
    assert main(["compare", str(base), str(new)]) == 0
    assert "✅ no regression" in capsys.readouterr().out


def test_cli_tolerance_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write(tmp_path, "base.json", outage("seed"))
    new = write(tmp_path, "new.json", outage("hardened"))
    assert main(["compare", str(base), str(new)]) == 1
    assert main(["compare", str(base), str(new), "--tolerance", "500%"]) == 0
    assert main(["compare", str(base), str(new), "--tolerance", "seconds=1h,rate=0"]) == 0
    out = capsys.readouterr().out
    assert "Tolerance: seconds ±1h, rates ±0 pp, runs ±0." in out


def test_cli_different_scenarios_warn_but_compare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path, "base.json", cloudwatch("hardened"))
    new = write(tmp_path, "new.json", outage("hardened"))
    assert main(["compare", str(base), str(new)]) == 0
    captured = capsys.readouterr()
    (warning,) = captured.err.splitlines()
    assert warning.startswith("mwaa-drill compare: warning: the reports are of different scenarios")
    assert "'cloudwatch-outage-warm-standby'" in warning
    assert "> ⚠️ the reports are of different scenarios" in captured.out
    assert "| rto | — → p100 ≤ 20m | — | " in captured.out  # added, not a regression


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read: No such file or directory"),
        ("{not json", "not JSON"),
        ('{"verdict": "pass"}', "not a valid mwaa-drill report"),
        ("[1, 2]", "the top level must be an object"),
    ],
)
def test_cli_unreadable_or_invalid_report_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, expected: str
) -> None:
    good = write(tmp_path, "good.json", cloudwatch("hardened"))
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    assert main(["compare", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"{bad}: ") and expected in line
    assert "Traceback" not in captured.err


def test_cli_both_reports_bad_gives_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        str(tmp_path / "a.json"),
        str(tmp_path / "b.json"),
    ]


def test_cli_bad_tolerance_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good.json", cloudwatch("hardened"))
    assert main(["compare", str(good), str(good), "--tolerance", "latency=5%"]) == 2
    assert capsys.readouterr().err.startswith("--tolerance latency=5%: unknown kind 'latency'")


def test_compare_files_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CompareError, match=r"missing\.json: cannot read"):
        compare_files(tmp_path / "missing.json", tmp_path / "missing.json")
    good = write(tmp_path, "good.json", outage())
    comparison = compare_files(good, good)
    assert comparison.base.label == str(good) and not comparison.regression
    assert load_report(good)["scenario"]["name"] == comparison.new.scenario


# Rules on crafted reports ----------------------------------------------------------------------


def with_observed(report: dict[str, Any], name: str, value: float | None) -> dict[str, Any]:
    changed = copy.deepcopy(report)
    for objective in changed["objectives"]:
        if objective["name"] == name:
            objective["observed"] = value
    validate_report(changed)
    return changed


@pytest.mark.parametrize(
    ("factor", "tolerance", "change"),
    [
        (1.0, [], "same"),
        (1.09, [], "same"),
        (1.11, [], "worse"),
        (0.89, [], "better"),
        (1.2, ["seconds=25%"], "same"),
        (1.2, ["seconds=0%"], "worse"),
        (1.2, ["seconds=10m"], "same"),
        (1.2, ["seconds=1s"], "worse"),
        (1.2, ["seconds=1s", "seconds=50%"], "same"),
    ],
)
def test_seconds_tolerance(factor: float, tolerance: list[str], change: str) -> None:
    base = outage()
    rto = next(o for o in base["objectives"] if o["name"] == "rto")["observed"]
    new = with_observed(base, "rto", round(rto * factor, 3))
    comparison = compare_reports(base, new, parse_tolerance(tolerance))
    assert entry(comparison, "rto").change == change
    assert comparison.regression is (change == "worse")


def test_a_met_objective_becoming_unmet_is_a_regression_whatever_the_tolerance() -> None:
    base = report_of(outage_scenario(), recovered(rto_s=1190.0), recovered(rto_s=1190.0))
    new = report_of(outage_scenario(), recovered(rto_s=1210.0), recovered(rto_s=1210.0))
    comparison = compare_reports(base, new, parse_tolerance(["seconds=1h"]))
    rto = entry(comparison, "rto")
    assert rto.change == "same" and (rto.met_base, rto.met_new) == (True, False)
    assert "rto: met → not met" in comparison.regressions


def test_never_recovered_compares_as_infinity() -> None:
    base = report_of(outage_scenario(), recovered(), recovered())
    new = report_of(outage_scenario(), never_recovered(), never_recovered())
    comparison = compare_reports(base, new)
    rto = entry(comparison, "rto")
    assert rto.observed_new is None and rto.value_new == math.inf
    assert rto.change == "worse" and rto.regression
    assert rto.to_json()["infinite"] == {"base": False, "new": True}
    text = render_comparison_markdown(comparison)
    assert "| rto | p95 ≤ 20m | 15m | ∞ | ❌ worse: never recovered | ✅ → ❌ |" in text
    json.dumps(comparison.to_json(), allow_nan=False)
    back = compare_reports(new, base)
    assert entry(back, "rto").change == "better" and not entry(back, "rto").regression


def test_count_and_rate_tolerances() -> None:
    base = report_of(outage_scenario(), recovered(), recovered())
    new = report_of(outage_scenario(), recovered(duplicate_runs=1), recovered())
    assert entry(compare_reports(base, new), "max_duplicate_runs").change == "worse"
    relaxed = compare_reports(base, new, parse_tolerance(["runs=1"]))
    assert entry(relaxed, "max_duplicate_runs").change == "same"
    spurious = report_of(outage_scenario(), recovered(spurious_failover=True), *[recovered()] * 19)
    comparison = compare_reports(base, spurious)  # 0% -> 5%, both within the 5% target
    assert entry(comparison, "max_spurious_failover_rate").change == "worse"
    comparison = compare_reports(base, spurious, parse_tolerance(["rate=5%"]))
    assert entry(comparison, "max_spurious_failover_rate").change == "same"


def test_unknown_verdict_is_a_regression_and_nulls_are_not_compared() -> None:
    base = outage()
    new = unknown_report(
        mode="simulate", scenario=outage_scenario(), seed=1, reason="the Regions never came up"
    )
    comparison = compare_reports(base, new)
    assert comparison.verdict_change == "worse"
    assert comparison.regressions[0] == "verdict: PASS → UNKNOWN"
    assert summary_entry(comparison, "rto_s.p95").change == "n/a"
    assert entry(comparison, "rto").change == "n/a"
    # Objectives only the new report sets are listed as added, not as regressions.
    assert entry(comparison, "max_lost_runs").change == "added"
    assert all(not e.regression for e in comparison.objectives)


def test_removed_objective() -> None:
    base = report_of(outage_scenario(), recovered())
    new = copy.deepcopy(base)
    new["objectives"] = [o for o in new["objectives"] if o["name"] != "max_split_brain"]
    comparison = compare_reports(base, new)
    assert entry(comparison, "max_split_brain").change == "removed"
    assert not comparison.regression


# Tolerance parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        ([], Tolerance(0.10, 0.0, 0.0, 0.0)),
        (["15%"], Tolerance(0.15, 0.0, 0.0, 0.0)),
        (["seconds=30s"], Tolerance(0.0, 30.0, 0.0, 0.0)),
        (["seconds=5%,seconds=1m"], Tolerance(0.05, 60.0, 0.0, 0.0)),
        (["rate=0.02"], Tolerance(0.10, 0.0, 0.02, 0.0)),
        (["rate=1%", "runs=2"], Tolerance(0.10, 0.0, 0.01, 2.0)),
        ([" seconds = 20% , runs=1 ,"], Tolerance(0.20, 0.0, 0.0, 1.0)),
    ],
)
def test_parse_tolerance(texts: list[str], expected: Tolerance) -> None:
    assert parse_tolerance(texts) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus=1", "unknown kind 'bogus'"),
        ("rate=2", "at most 1"),
        ("runs=-1", "must be a finite number >= 0"),
        ("runs=many", "expected a number"),
        ("seconds=soon", "expected a duration"),
        ("seconds=x%", "expected a number"),
        ("rate=nan", "must be a finite number"),
    ],
)
def test_parse_tolerance_errors(text: str, message: str) -> None:
    with pytest.raises(CompareError, match=message) as info:
        parse_tolerance([text])
    assert str(info.value).startswith(f"--tolerance {text}: ")


def test_tolerance_describe() -> None:
    assert Tolerance().describe() == "seconds ±10%, rates ±0 pp, runs ±0"
    assert Tolerance(0.05, 60.0, 0.01, 1.0).describe() == "seconds ±5% or 1m, rates ±1 pp, runs ±1"
