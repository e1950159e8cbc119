from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.measures import TrialMeasures
from harness.report import (
    SCHEMA_VERSION,
    ReportError,
    TrialResult,
    build_report,
    exit_code,
    expects_primary_fault,
    load_report,
    unknown_report,
    validate_report,
)
from harness.scenario.model import (
    Fault,
    FaultKind,
    Objective,
    Objectives,
    Profile,
    Scenario,
    Strategy,
    Uniform,
)

OBJECTIVES = Objectives(
    rto=Objective("rto", 1200.0, 95.0),
    rpo=Objective("rpo", 900.0),
    max_spurious_failover_rate=0.05,
    max_split_brain=0.0,
    max_lost_runs=0,
    max_duplicate_runs=0,
)


def outage_scenario(**changes: Any) -> Scenario:
    scenario = Scenario(
        name="regional-outage-warm-standby",
        strategy=Strategy.WARM_STANDBY,
        profile=Profile.HARDENED,
        duration=10800.0,
        faults=(Fault(FaultKind.REGION_OUTAGE, "us-east-1", Uniform(2400.0, 3000.0), 5400.0),),
        objectives=OBJECTIVES,
        source="scenarios/regional-outage-warm-standby.yaml",
    )
    return replace(scenario, **changes)


def cloudwatch_scenario(**changes: Any) -> Scenario:
    scenario = Scenario(
        name="cloudwatch-outage-warm-standby",
        strategy=Strategy.WARM_STANDBY,
        profile=Profile.SEED,
        duration=7200.0,
        faults=(Fault(FaultKind.CLOUDWATCH_OUTAGE, "us-east-1", 1800.0, 1800.0),),
        objectives=OBJECTIVES,
    )
    return replace(scenario, **changes)


def recovered(**changes: Any) -> TrialMeasures:
    """A trial that failed over once and recovered within every target."""
    measures = TrialMeasures(
        t_fault=2500.0,
        failovers=1,
        failover_triggered=True,
        spurious_failover=False,
        recovered=True,
        detection_s=180.0,
        rto_s=900.0,
        rpo_s=300.0,
        split_brain_s=0.0,
        lost_runs=0,
        duplicate_runs=0,
        complete=True,
    )
    return replace(measures, **changes)


def quiet(**changes: Any) -> TrialMeasures:
    """A trial with no primary fault and no failover (a CloudWatch outage done right)."""
    measures = TrialMeasures(
        t_fault=None,
        failovers=0,
        failover_triggered=False,
        spurious_failover=False,
        recovered=False,
        detection_s=None,
        rto_s=None,
        rpo_s=None,
        split_brain_s=0.0,
        lost_runs=None,
        duplicate_runs=0,
        complete=True,
    )
    return replace(measures, **changes)


def never_recovered(**changes: Any) -> TrialMeasures:
    return recovered(
        recovered=False,
        rto_s=None,
        rpo_s=None,
        lost_runs=None,
        reasons=("rto_s: never recovered before the drill ended",),
        **changes,
    )


def trials_of(*measures: TrialMeasures) -> list[TrialResult]:
    return [TrialResult(index=i, seed=1000 + i, measures=m) for i, m in enumerate(measures)]


def report_of(scenario: Scenario, *measures: TrialMeasures, **kwargs: Any) -> dict[str, Any]:
    report = build_report(
        mode="simulate", scenario=scenario, seed=7, trials=trials_of(*measures), **kwargs
    )
    check_valid(report)
    return report


def check_valid(report: dict[str, Any]) -> None:
    validate_report(report)
    json.dumps(report, allow_nan=False)
    assert next(iter(report)) == "schema_version"


def objective(report: dict[str, Any], name: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [e for e in report["objectives"] if e["name"] == name]
    assert len(entries) == 1
    return entries[0]


# Verdicts ------------------------------------------------------------------------------------


def test_all_pass():
    report = report_of(outage_scenario(), *[recovered(rto_s=600.0 + i) for i in range(30)])
    assert report["verdict"] == "pass"
    assert exit_code(report) == 0
    assert report["reasons"] == ["every objective met over 30 trials"]
    assert [e["name"] for e in report["objectives"]] == [
        "rto",
        "rpo",
        "max_spurious_failover_rate",
        "max_split_brain",
        "max_lost_runs",
        "max_duplicate_runs",
    ]
    assert all(e["met"] is True for e in report["objectives"])
    assert objective(report, "rto")["observed"] == pytest.approx(627.55)  # p95 of 600..629
    assert all(t["verdict"] == "pass" and t["reasons"] == [] for t in report["trials"])
    summary = report["summary"]
    assert summary["trials"] == 30
    assert summary["failovers"] == 30
    assert summary["recovered"] == 30
    assert summary["unknown_trials"] == 0
    assert summary["rto_s"] == {"p50": 614.5, "p95": 627.55, "p99": 628.71, "max": 629.0, "n": 30}
    assert summary["spurious_failover_rate"]["value"] == 0.0
    assert summary["spurious_failover_rate"]["upper_95"] == pytest.approx(1 - 0.05 ** (1 / 30))


def test_report_header():
    report = report_of(outage_scenario(), recovered(), settings={"detector": {"confirmations": 3}})
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["tool"]["name"] == "mwaa-drill"
    assert report["mode"] == "simulate"
    assert report["seed"] == 7
    assert report["aborted"] is None
    assert report["settings"] == {"detector": {"confirmations": 3}}
    scenario = report["scenario"]
    assert scenario["file"] == "scenarios/regional-outage-warm-standby.yaml"
    assert "source" not in scenario
    assert scenario["faults"][0]["at"] == {"uniform": [2400.0, 3000.0]}
    trial = report["trials"][0]
    assert (trial["index"], trial["seed"]) == (0, 1000)


def test_rto_violated():
    # 9 fast trials and one slow one: p95 sits at rank 8.55, between 15m and 27m10s.
    measures = [recovered() for _ in range(9)] + [recovered(rto_s=1630.0)]
    report = report_of(outage_scenario(), *measures)
    assert report["verdict"] == "fail"
    assert exit_code(report) == 1
    slow = report["trials"][9]
    assert slow["verdict"] == "fail"
    assert "rto 27m10s > 20m" in slow["reasons"]
    rto = objective(report, "rto")
    assert rto["met"] is False
    assert rto["observed"] == pytest.approx(900 + 0.55 * 730)
    assert rto["percentile"] == 95.0
    assert any(r.startswith("rto: ") for r in report["reasons"])


def test_one_slow_trial_does_not_break_a_p95_it_stays_within():
    measures = [recovered() for _ in range(99)] + [recovered(rto_s=5000.0)]
    report = report_of(outage_scenario(), *measures)
    assert report["trials"][99]["verdict"] == "fail"
    assert objective(report, "rto")["met"] is True
    assert report["verdict"] == "pass"


def test_never_recovered():
    report = report_of(outage_scenario(), recovered(), never_recovered())
    assert report["verdict"] == "fail"
    trial = report["trials"][1]
    assert trial["verdict"] == "fail"
    assert trial["reasons"] == [
        "rto_s: never recovered before the drill ended",
        "rto: never recovered",
        "rpo: never recovered",
    ]
    for name in ("rto", "rpo"):
        entry = objective(report, name)
        assert entry["observed"] is None
        assert entry["met"] is False
        assert entry["detail"].startswith("1 of 2 trials never recovered")
    assert report["summary"]["recovered"] == 1
    assert report["summary"]["rto_s"]["n"] == 1
    # Lost runs of the unrecovered trial are not measured and not judged.
    assert objective(report, "max_lost_runs")["met"] is True


def test_a_never_recovered_trial_beyond_the_percentile_counts_as_slow_only():
    measures = [recovered() for _ in range(99)] + [never_recovered()]
    report = report_of(outage_scenario(), *measures)
    rto = objective(report, "rto")
    assert rto["met"] is True
    assert rto["observed"] == 900.0
    assert "1 of 100 trials never recovered" in rto["detail"]
    assert objective(report, "rpo")["met"] is False  # rpo is p100
    assert report["verdict"] == "fail"


def test_spurious_failover_with_target_zero_fails_the_trial():
    scenario = cloudwatch_scenario(objectives=Objectives(max_spurious_failover_rate=0.0))
    report = report_of(scenario, quiet(), quiet(spurious_failover=True, failover_triggered=True))
    assert report["verdict"] == "fail"
    assert report["trials"][0]["verdict"] == "pass"
    assert report["trials"][1]["verdict"] == "fail"
    assert "spurious failover (the target rate is 0)" in report["trials"][1]["reasons"]
    entry = objective(report, "max_spurious_failover_rate")
    assert entry["observed"] == 0.5
    assert entry["met"] is False
    assert report["summary"]["spurious_failovers"] == 1
    assert report["summary"]["failovers"] == 1


def test_spurious_failover_within_a_five_percent_target():
    measures = [quiet() for _ in range(299)] + [quiet(spurious_failover=True)]
    report = report_of(cloudwatch_scenario(), *measures)
    assert report["trials"][299]["verdict"] == "pass"  # not a per-trial failure at 5%
    entry = objective(report, "max_spurious_failover_rate")
    assert entry["observed"] == pytest.approx(1 / 300)
    assert entry["met"] is True
    assert "upper bound 1.57%" in entry["detail"]
    assert report["verdict"] == "pass"


def test_spurious_rate_over_five_percent():
    measures = [quiet() for _ in range(90)] + [quiet(spurious_failover=True) for _ in range(10)]
    report = report_of(cloudwatch_scenario(), *measures)
    assert objective(report, "max_spurious_failover_rate")["met"] is False
    assert report["verdict"] == "fail"
    assert report["summary"]["spurious_failover_rate"]["value"] == pytest.approx(0.1)


def test_cloudwatch_outage_rto_and_rpo_not_applicable():
    scenario = cloudwatch_scenario()
    assert not expects_primary_fault(scenario)
    report = report_of(scenario, *[quiet() for _ in range(5)])
    for name in ("rto", "rpo"):
        entry = objective(report, name)
        assert entry["observed"] is None
        assert entry["met"] is None
        assert entry["detail"] == "not applicable: no fault in this scenario stops the primary"
    assert report["verdict"] == "pass"
    assert report["summary"]["rto_s"] is None
    assert report["summary"]["detection_s"] is None


def test_fault_on_the_secondary_does_not_expect_a_primary_fault():
    fault = Fault(FaultKind.ENVIRONMENT_FAILURE, "us-west-2", 600.0)
    assert not expects_primary_fault(outage_scenario(faults=(fault,)))
    assert expects_primary_fault(outage_scenario())


def test_incomplete_trial_is_unknown():
    report = report_of(outage_scenario(), recovered(), recovered(complete=False, rto_s=99999.0))
    trial = report["trials"][1]
    assert trial["verdict"] == "unknown"
    assert any("did not complete" in r for r in trial["reasons"])
    assert report["verdict"] == "unknown"
    assert exit_code(report) == 3
    assert report["summary"]["unknown_trials"] == 1
    assert "1 of 2 trials could not be judged" in report["reasons"]
    assert objective(report, "rto")["met"] is True  # judged over the one complete trial


def test_primary_fault_never_started_is_unknown():
    report = report_of(outage_scenario(), recovered(), quiet())
    assert report["trials"][1]["verdict"] == "unknown"
    assert "the primary fault never started" in report["trials"][1]["reasons"]
    assert report["verdict"] == "unknown"


def test_all_trials_unknown_leaves_objectives_unjudged():
    report = report_of(outage_scenario(), quiet(), quiet())
    assert report["verdict"] == "unknown"
    for entry in report["objectives"]:
        assert entry["met"] is None, entry
    assert any(r.startswith("rto not judged") for r in report["reasons"])


def test_unknown_trial_can_still_break_a_max_objective():
    report = report_of(outage_scenario(), recovered(complete=False, split_brain_s=42.0))
    assert report["trials"][0]["verdict"] == "unknown"
    assert objective(report, "max_split_brain")["met"] is False
    assert report["verdict"] == "fail"


def test_unmeasured_rpo_on_a_recovered_trial_is_unknown():
    report = report_of(outage_scenario(), recovered(rpo_s=None))
    assert report["trials"][0]["verdict"] == "unknown"
    assert "rpo not judged: not measured" in report["trials"][0]["reasons"]
    assert report["verdict"] == "unknown"


def test_unmeasured_lost_runs_on_a_recovered_trial_is_unknown():
    report = report_of(outage_scenario(), recovered(lost_runs=None))
    assert report["trials"][0]["verdict"] == "unknown"


def test_split_brain_lost_and_duplicate_runs():
    report = report_of(
        outage_scenario(),
        recovered(split_brain_s=90.0),
        recovered(lost_runs=2),
        recovered(duplicate_runs=3),
    )
    reasons = [t["reasons"] for t in report["trials"]]
    assert reasons == [["split brain 1m30s > 0s"], ["lost runs 2 > 0"], ["duplicate runs 3 > 0"]]
    assert objective(report, "max_split_brain")["observed"] == 90.0
    assert objective(report, "max_lost_runs")["observed"] == 2
    assert objective(report, "max_duplicate_runs")["observed"] == 3
    summary = report["summary"]
    assert (summary["split_brain_trials"], summary["lost_runs"], summary["duplicate_runs"]) == (
        1,
        2,
        3,
    )
    assert report["verdict"] == "fail"


def test_values_are_judged_as_rounded():
    report = report_of(outage_scenario(), recovered(rto_s=1200.0004, detection_s=1 / 3))
    trial = report["trials"][0]
    assert trial["rto_s"] == 1200.0
    assert trial["detection_s"] == 0.333
    assert trial["verdict"] == "pass"


def test_non_finite_measures_become_null_with_a_reason():
    report = report_of(outage_scenario(), recovered(rpo_s=math.nan, detection_s=math.inf))
    trial = report["trials"][0]
    assert trial["rpo_s"] is None
    assert trial["detection_s"] is None
    assert any(r.startswith("rpo_s: nan") for r in trial["reasons"])
    assert trial["verdict"] == "unknown"


def test_aborted_drill_is_at_best_unknown():
    report = report_of(outage_scenario(), recovered(), aborted="interrupted by the operator")
    assert report["aborted"] == "interrupted by the operator"
    assert report["verdict"] == "unknown"
    assert report["reasons"][0] == "aborted: interrupted by the operator"


def test_aborted_drill_that_already_failed_fails():
    report = report_of(outage_scenario(), never_recovered(), aborted="stopped")
    assert report["verdict"] == "fail"
    assert report["reasons"][0] == "aborted: stopped"


def test_zero_trials_unknown_report():
    report = unknown_report(
        mode="live",
        scenario=outage_scenario(),
        seed=3,
        reason="the emulated endpoints did not start",
        settings={"backend": "moto"},
    )
    check_valid(report)
    assert report["verdict"] == "unknown"
    assert exit_code(report) == 3
    assert report["mode"] == "live"
    assert report["trials"] == []
    assert report["aborted"] == "the emulated endpoints did not start"
    assert "no trials were run" in report["reasons"]
    summary = report["summary"]
    assert summary["trials"] == 0
    assert summary["spurious_failover_rate"] == {"value": None, "upper_95": 1.0}
    assert summary["rto_s"] is None
    assert all(e["met"] is None for e in report["objectives"])


def test_no_objectives_passes_when_every_trial_completes():
    report = report_of(outage_scenario(objectives=Objectives()), recovered())
    assert report["objectives"] == []
    assert report["verdict"] == "pass"


def test_trial_extra_is_merged():
    trial = TrialResult(
        index=0,
        seed=1,
        measures=recovered(),
        extra={"history": Path("out/trial-0000.jsonl"), "fault_at": [2512.25]},
    )
    report = build_report(mode="simulate", scenario=outage_scenario(), seed=1, trials=[trial])
    check_valid(report)
    assert report["trials"][0]["history"] == "out/trial-0000.jsonl"
    assert report["trials"][0]["fault_at"] == [2512.25]


def test_trial_extra_must_not_overwrite_a_measure():
    trial = TrialResult(index=0, seed=1, measures=recovered(), extra={"rto_s": 1.0})
    with pytest.raises(ValueError, match="clash"):
        build_report(mode="simulate", scenario=outage_scenario(), seed=1, trials=[trial])


def test_settings_with_infinity_become_null():
    report = report_of(outage_scenario(), recovered(), settings={"timeout": math.inf})
    assert report["settings"] == {"timeout": None}


# Schema --------------------------------------------------------------------------------------


def sample_report() -> dict[str, Any]:
    return report_of(outage_scenario(), recovered(), never_recovered())


@pytest.mark.parametrize(
    "key", ["schema_version", "tool", "mode", "verdict", "reasons", "objectives", "summary"]
)
def test_schema_rejects_a_missing_key(key):
    report = sample_report()
    del report[key]
    with pytest.raises(ReportError, match=key):
        validate_report(report)


def test_schema_rejects_a_bad_verdict():
    report = sample_report()
    report["verdict"] = "maybe"
    with pytest.raises(ReportError, match="verdict"):
        validate_report(report)
    with pytest.raises(ReportError):
        exit_code(report)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("trials", 0, "verdict"), "ok"),
        (("summary", "rto_s", "p50"), "fast"),
        (("summary", "rto_s", "mean"), 3.0),  # no extra keys in a percentile object
        (("objectives", 0, "colour"), "red"),  # nor in an objective entry
        (("objectives", 0, "met"), "yes"),
        (("mode",), "dry-run"),
        (("schema_version",), "2.0"),
    ],
)
def test_schema_rejects_bad_values(path, value):
    report = sample_report()
    target = report
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ReportError):
        validate_report(report)


def test_schema_allows_extra_keys_where_forward_compatible():
    report = sample_report()
    report["new_top_level"] = 1
    report["scenario"]["new_field"] = 1
    report["settings"]["anything"] = {"goes": True}
    report["trials"][0]["history"] = "x.jsonl"
    validate_report(report)


def test_validate_rejects_nan():
    report = sample_report()
    report["trials"][0]["rto_s"] = math.nan
    with pytest.raises(ReportError, match="NaN"):
        validate_report(report)


def test_load_report_round_trip(tmp_path):
    report = sample_report()
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report, allow_nan=False), encoding="utf-8")
    assert load_report(path) == report


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"schema_version": "1.0"}', "NaN"])
def test_load_report_rejects(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReportError):
        load_report(path)


def test_exit_codes():
    report = copy.deepcopy(sample_report())
    for verdict, code in (("pass", 0), ("fail", 1), ("unknown", 3)):
        report["verdict"] = verdict
        assert exit_code(report) == code


def test_mode_is_checked():
    with pytest.raises(ValueError):
        build_report(mode="dry", scenario=outage_scenario(), seed=1, trials=[])  # type: ignore[arg-type]


def test_a_torn_restore_breaks_max_torn_restores() -> None:
    scenario = outage_scenario(objectives=Objectives(max_torn_restores=0))
    report = report_of(scenario, recovered(), recovered(torn_restores=1))
    check_valid(report)
    assert report["verdict"] == "fail"
    assert objective(report, "max_torn_restores")["observed"] == 1
    assert report["summary"]["torn_restore_trials"] == 1
    assert [t["torn_restores"] for t in report["trials"]] == [0, 1]
    assert "torn restores 1 > 0" in report["trials"][1]["reasons"]
