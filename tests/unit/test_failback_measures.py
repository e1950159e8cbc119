"""Failback time, and split brain and duplicates across a failback: checkers and report."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.checkers import failback_time
from harness.compare import compare_reports
from harness.render.markdown import render_markdown
from harness.report import TrialResult, build_report, validate_report
from harness.scenario.model import Objectives, Operation, OperationAction
from tests.unit.history_builders import HistoryBuilder, P, S
from tests.unit.test_report import objective, outage_scenario, recovered


def failed_over() -> HistoryBuilder:
    """P runs, goes dark at 600 until 1800; S takes over at 720 and runs from 780."""
    return (
        HistoryBuilder(duration_s=7200.0)
        .active(0, P)
        .run(60, P, "etl", "d0", due_t=0)
        .outage(600, until=1800)
        .inactive(600, P)
        .failover(720)
        .active(780, S)
        .run(960, S, "etl", "d3", due_t=900)
    )


def operation(b: HistoryBuilder, t: float, state: str = "started") -> HistoryBuilder:
    return b.add(t, "operation", operation_id=0, action="failback", state=state, region=S)


def test_failback_time_runs_from_the_decision_to_the_first_primary_run_due_after_it() -> None:
    b = operation(failed_over(), 3000).failback(3000).inactive(3000.5, S).active(3001, P)
    # a catch-up run due before the decision does not count
    b.run(3100, P, "etl", "d9", due_t=2700).run(3360, P, "etl", "d11", due_t=3300)
    m = operation(b, 3002, "done").end(7200).measure()
    assert m.failback_s == 360.0
    assert (m.split_brain_s, m.duplicate_runs) == (0.0, 0)
    assert not any(r.startswith("failback_s") for r in m.reasons)


def test_no_failback_asked_for_is_no_number_and_no_reason() -> None:
    m = failed_over().end(7200).measure()
    assert m.failback_s is None
    assert not any(r.startswith("failback_s") for r in m.reasons)


def test_a_failback_asked_for_that_decided_nothing_says_what_the_dr_logic_said() -> None:
    b = operation(failed_over(), 3000).note(3000, "failback: not supported (seed)")
    m = operation(b, 3000, "done").end(7200).measure()
    assert m.failback_s is None
    assert "failback_s: no failback decided: failback: not supported (seed)" in m.reasons


def test_a_failback_that_never_ran_the_workload_in_the_primary() -> None:
    m = operation(failed_over(), 3000).failback(3000).end(7200).measure()
    assert m.failback_s is None
    assert any(r.startswith("failback_s: never completed") for r in m.reasons)


def test_a_failed_operation_is_the_reason() -> None:
    b = operation(failed_over(), 3000)
    b.add(
        3000,
        "operation",
        operation_id=0,
        action="failback",
        state="failed",
        region=S,
        reason="boom",
    )
    m = b.end(7200).measure()
    assert "failback_s: no failback decided: the operation failed: boom" in m.reasons


def test_both_regions_scheduling_during_the_hand_over_is_split_brain_and_duplicates() -> None:
    # The primary resumes at 3001 but the secondary is paused only at 3090, and both run d10.
    b = operation(failed_over(), 3000).failback(3000).active(3001, P)
    b.run(3060, P, "etl", "d10", due_t=3000).run(3080, S, "etl", "d10", due_t=3000)
    m = b.inactive(3090, S).end(7200).measure()
    assert m.split_brain_s == 89.0
    assert m.duplicate_runs == 1
    assert m.failback_s == 60.0


@given(
    decided=st.floats(min_value=1000, max_value=6000),
    dues=st.lists(st.floats(min_value=0, max_value=7000), max_size=6),
)
def test_failback_time_is_the_first_qualifying_run(decided: float, dues: list[float]) -> None:
    events = HistoryBuilder(duration_s=7200.0).failback(decided)
    ends = sorted(max(decided, due) + 10 for due in dues)
    for end, due in zip(ends, dues, strict=True):
        events.run(end, P, "etl", f"d{due}", due_t=due)
    value, reason = failback_time(events.end(7200).events(), P)
    qualifying = [end for end, due in zip(ends, dues, strict=True) if due >= decided]
    if qualifying:
        assert value == min(qualifying) - decided and reason is None
    else:
        assert value is None and reason is not None and reason.startswith("failback_s")


def failback_report(*failbacks: float | None, **objectives: Any) -> dict[str, Any]:
    scenario = outage_scenario(
        operations=(Operation(OperationAction.FAILBACK, 9000.0),),
        objectives=Objectives(**objectives),
    )
    trials = [recovered(failback_s=value) for value in failbacks]

    results = [TrialResult(index=i, seed=i, measures=m) for i, m in enumerate(trials)]
    report = build_report(mode="simulate", scenario=scenario, seed=1, trials=results)
    validate_report(report)
    return report


def test_max_failback_time_met_and_reported() -> None:
    report = failback_report(120.0, 300.0, max_failback_time=600.0)
    entry = objective(report, "max_failback_time")
    assert (entry["observed"], entry["met"], entry["unit"]) == (300.0, True, "seconds")
    assert report["summary"]["failback_s"]["max"] == 300.0
    assert [t["failback_s"] for t in report["trials"]] == [120.0, 300.0]
    assert report["verdict"] == "pass"
    assert "| failback |" in render_markdown(report)


def test_max_failback_time_broken_by_a_slow_or_a_missing_failback() -> None:
    slow = failback_report(120.0, 700.0, max_failback_time=600.0)
    assert objective(slow, "max_failback_time")["met"] is False
    assert slow["trials"][1]["verdict"] == "fail"
    never = failback_report(120.0, None, max_failback_time=600.0)
    entry = objective(never, "max_failback_time")
    assert (entry["observed"], entry["met"]) == (120.0, False)
    assert "1 of 2 judged trials never completed the failback" in entry["detail"]
    assert "failback never completed" in never["trials"][1]["reasons"]


def test_max_failback_time_without_a_failback_operation_is_not_applicable() -> None:
    scenario = replace(outage_scenario(), objectives=Objectives(max_failback_time=600.0))

    report = build_report(
        mode="simulate",
        scenario=scenario,
        seed=1,
        trials=[TrialResult(index=0, seed=0, measures=recovered())],
    )
    entry = objective(report, "max_failback_time")
    assert entry["met"] is None and entry["detail"].startswith("not applicable")
    assert report["verdict"] == "pass"
    assert "| failback |" not in render_markdown(report)


def test_compare_reads_failback_times_and_flags_a_slower_failback() -> None:
    base = failback_report(120.0, 300.0, max_failback_time=600.0)
    new = failback_report(120.0, 500.0, max_failback_time=600.0)
    comparison = compare_reports(base, new)
    keys = [change.key for change in comparison.summary]
    assert "failback_s.p95" in keys
    assert any("failback" in line for line in comparison.regressions), comparison.regressions
    plain = compare_reports(report_without_failback(), report_without_failback())
    assert not any(change.key.startswith("failback") for change in plain.summary)


def report_without_failback() -> dict[str, Any]:
    report = build_report(
        mode="simulate",
        scenario=outage_scenario(),
        seed=1,
        trials=[TrialResult(index=0, seed=0, measures=recovered())],
    )
    return report
