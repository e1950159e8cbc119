"""Stop conditions of a live drill, without starting one: `objective_lost` on hand-built
histories, the drill's wait loop on a fake clock, the verdict of a drill stopped that way, and
the `run -v` event stream."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

from harness.checkers import measure_trial
from harness.history import Event
from harness.live.drill import LiveDrill, LiveSettings, _Recorder
from harness.live.stop import EVENT_LINE_CHARS, EventTail, event_line, objective_lost
from harness.report import TrialResult, build_report
from harness.scenario import parse_scenario
from harness.scenario.model import Objective, Objectives, Scenario, StopConditions
from tests.unit.history_builders import HistoryBuilder, P, S

SCENARIO = parse_scenario(
    """\
name: stop-test
strategy: warm_standby
profile: hardened
duration: 3h
faults: [{kind: region_outage, at: 40m, duration: 90m}]
"""
)


def with_objectives(**given: Any) -> Scenario:
    return dataclasses.replace(SCENARIO, objectives=Objectives(**given))


def rto(target: float, percentile: float = 100.0) -> Scenario:
    return with_objectives(rto=Objective("rto", target, percentile))


# objective_lost ---------------------------------------------------------------------------------


def test_nothing_lost_without_objectives() -> None:
    events = HistoryBuilder().outage(100.0).active(0.0, P).active(50.0, S).events()
    assert objective_lost(SCENARIO, events, 5000.0) is None


def test_split_brain_over_the_maximum_is_lost() -> None:
    scenario = with_objectives(max_split_brain=30.0)
    events = HistoryBuilder().active(0.0, P).active(100.0, S).events()  # both from t=100
    assert objective_lost(scenario, events, 130.0) is None  # exactly at the maximum
    lost = objective_lost(scenario, events, 131.0)
    assert lost == "max_split_brain already lost: both Regions scheduled for 31s > 30s"


def test_split_brain_that_ended_under_the_maximum_is_not_lost() -> None:
    scenario = with_objectives(max_split_brain=30.0)
    events = HistoryBuilder().active(0.0, P, until=110.0).active(100.0, S).events()
    assert objective_lost(scenario, events, 10_000.0) is None


def test_events_after_now_are_not_counted() -> None:
    scenario = with_objectives(max_split_brain=0.0)
    events = HistoryBuilder().active(0.0, P).active(100.0, S).events()
    assert objective_lost(scenario, events, 99.0) is None


def test_duplicate_runs_over_the_maximum_are_lost() -> None:
    scenario = with_objectives(max_duplicate_runs=0)
    builder = HistoryBuilder().run(10.0, P, "workload_0", "2024-01-01T00:00", due_t=0.0)
    assert objective_lost(scenario, builder.events(), 500.0) is None
    builder.run(400.0, S, "workload_0", "2024-01-01T00:00", due_t=0.0)
    assert objective_lost(scenario, builder.events(), 500.0) == (
        "max_duplicate_runs already lost: 1 run(s) done in both Regions > 0"
    )


def test_rto_lost_once_the_open_outage_outlasts_the_target() -> None:
    events = HistoryBuilder().outage(100.0).events()
    assert objective_lost(rto(60.0), events, 160.0) is None
    lost = objective_lost(rto(60.0), events, 161.0)
    assert lost is not None
    assert lost.startswith("rto already lost: not recovered 1m1s after the primary fault")
    assert "target 1m" in lost


def test_rto_settle_time_waits_for_late_runs() -> None:
    events = HistoryBuilder().outage(100.0).events()
    assert objective_lost(rto(60.0), events, 161.0, settle_s=2.0) is None
    assert objective_lost(rto(60.0), events, 163.0, settle_s=2.0) is not None


def test_rto_recovered_in_time_is_never_lost() -> None:
    builder = HistoryBuilder().outage(100.0).run(150.0, S, "workload_0", "d1", due_t=120.0)
    assert objective_lost(rto(60.0), builder.events(), 10_000.0) is None


def test_rto_recovered_late_is_lost() -> None:
    builder = HistoryBuilder().outage(100.0).run(190.0, S, "workload_0", "d1", due_t=120.0)
    assert objective_lost(rto(60.0), builder.events(), 200.0) == (
        "rto already lost: recovered after 1m30s > target 1m"
    )


def test_rto_catch_up_runs_due_before_the_fault_are_no_recovery() -> None:
    builder = HistoryBuilder().outage(100.0).run(150.0, S, "workload_0", "d0", due_t=50.0)
    assert objective_lost(rto(60.0), builder.events(), 200.0) is not None


def test_rto_of_a_lower_percentile_is_never_called_lost() -> None:
    events = HistoryBuilder().outage(100.0).events()
    assert objective_lost(rto(60.0, percentile=95.0), events, 10_000.0) is None


def test_rto_before_any_primary_fault_is_not_lost() -> None:
    events = HistoryBuilder().outage(100.0, region=S).events()  # the secondary, not t_fault
    assert objective_lost(rto(60.0), events, 10_000.0) is None


def test_spurious_failover_is_lost_only_when_the_target_rate_is_0() -> None:
    events = HistoryBuilder().failover(50.0).events()  # the primary could still run
    zero = with_objectives(max_spurious_failover_rate=0.0)
    lost = objective_lost(zero, events, 60.0)
    assert lost is not None and lost.startswith("max_spurious_failover_rate already lost: ")
    some = with_objectives(max_spurious_failover_rate=0.1)
    assert objective_lost(some, events, 60.0) is None


def test_a_failover_during_the_outage_is_not_spurious() -> None:
    events = HistoryBuilder().outage(100.0).failover(130.0).events()
    assert objective_lost(with_objectives(max_spurious_failover_rate=0.0), events, 200.0) is None


# The verdict of a drill stopped by a lost objective ----------------------------------------------


def test_a_drill_aborted_for_split_brain_fails() -> None:
    scenario = with_objectives(max_split_brain=30.0)
    builder = HistoryBuilder().active(0.0, P).active(100.0, S)
    lost = objective_lost(scenario, builder.events(), 140.0)
    assert lost is not None
    reason = f"stop condition: {lost}"
    history = builder.end(140.0, aborted=True, reason=reason).history()
    report = build_report(
        mode="live",
        scenario=scenario,
        seed=0,
        trials=[TrialResult(0, 0, measure_trial(history))],
        aborted=reason,
    )
    assert report["verdict"] == "fail"
    assert report["reasons"][0] == f"aborted: {reason}"


# The drill's wait loop, on a fake clock -----------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


class FakeStop:
    """threading.Event's wait, advancing the fake clock instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.clock.t += seconds
        return False


def waiting_drill(scenario: Scenario, stop: StopConditions) -> tuple[LiveDrill, list[str]]:
    """A LiveDrill in its fault phase, built without provisioning anything."""
    lines: list[str] = []
    clock = FakeClock()
    drill = object.__new__(LiveDrill)
    scenario = dataclasses.replace(scenario, stop=stop)
    drill.original = scenario
    drill.scenario = scenario  # time scale 1
    drill.settings = LiveSettings(time_scale=1.0)
    drill.clock = clock  # type: ignore[assignment]
    drill.stop = FakeStop(clock)  # type: ignore[assignment]
    drill.recorder = _Recorder(clock)  # type: ignore[arg-type]
    drill.progress = lines.append
    drill.spec = None
    drill.aborted = None
    drill.t_ready = 10.0
    drill.end_t = 10.0 + scenario.duration
    return drill, lines


def test_without_stop_conditions_the_wait_runs_to_its_end() -> None:
    drill, lines = waiting_drill(with_objectives(max_split_brain=0.0), StopConditions())
    drill.recorder.record("scheduling", t=0.0, region=P, active=True)
    drill.recorder.record("scheduling", t=0.0, region=S, active=True)
    assert drill._sleep_until(100.0) is True
    assert drill.aborted is None
    assert max(drill.stop.waits) == 30.0  # type: ignore[attr-defined]
    assert sum(1 for line in lines if "provisioning" in line) == 3  # a status line per 30 s


def test_an_objective_lost_aborts_the_wait_within_2_seconds() -> None:
    drill, lines = waiting_drill(
        with_objectives(max_split_brain=30.0), StopConditions(on_objective_lost=True)
    )
    drill.recorder.record("scheduling", t=0.0, region=P, active=True)
    drill.recorder.record("scheduling", t=20.0, region=S, active=True)
    assert drill._sleep_until(1000.0) is False
    assert drill.clock.now() <= 52.0
    assert drill.aborted is not None
    assert drill.aborted.startswith("stop condition: max_split_brain already lost: ")
    assert any(line.endswith("healing every fault, tearing down") for line in lines)


def test_max_duration_aborts_the_wait() -> None:
    drill, _ = waiting_drill(SCENARIO, StopConditions(max_duration=600.0))
    assert drill._sleep_until(400.0) is True  # before the cap
    assert drill._sleep_until(2000.0) is False
    assert drill.aborted is not None
    assert drill.aborted.startswith("stop condition: max_duration reached (10m of scenario time")
    assert 610.0 <= drill.clock.now() <= 612.0


def test_max_duration_is_scenario_time_compressed() -> None:
    drill, _ = waiting_drill(SCENARIO, StopConditions(max_duration=600.0))
    drill.settings = LiveSettings(time_scale=30.0)
    assert drill._cap() == 10.0 + 20.0


def test_max_duration_equal_to_the_drill_lets_it_end_normally() -> None:
    drill, _ = waiting_drill(SCENARIO, StopConditions(max_duration=SCENARIO.duration))
    assert drill.end_t is not None
    assert drill._sleep_until(drill.end_t) is True
    assert drill.aborted is None


# The -v stream ------------------------------------------------------------------------------------


def test_event_lines_are_compact() -> None:
    decision = Event(
        812.42,
        "decision",
        {"action": "failover", "from_region": P, "to_region": S, "reason": "3 checks unhealthy"},
    )
    assert event_line(decision) == (
        "t=   812.4s decision       action=failover from_region=us-east-1 to_region=us-west-2 "
        "reason='3 checks unhealthy'"
    )
    run = HistoryBuilder(start=False).run(5.0, P, "workload_0", "d1", due_t=0.0).events()[0]
    assert event_line(run) == (
        "t=     5.0s run            region=us-east-1 dag_id=workload_0 logical_date=d1 "
        "state=success"
    )
    note = Event(1.0, "note", {"message": "x" * 1000})
    assert len(event_line(note)) == EVENT_LINE_CHARS


def test_the_tail_gives_each_event_once_in_time_order() -> None:
    tail = EventTail()
    a, b, c = (Event(float(t), "note", {"message": str(t)}) for t in (3, 1, 2))
    assert tail.new({"harness": [a], "journal": [b]}) == [b, a]
    assert tail.new({"harness": [a], "journal": [b]}) == []
    assert tail.new({"harness": [a, c], "journal": [b]}) == [c]


def test_the_drill_streams_its_events_once() -> None:
    drill, _ = waiting_drill(SCENARIO, StopConditions())
    streamed: list[str] = []
    drill.on_event = streamed.append
    drill._tail = EventTail()
    drill._tail_lock = threading.Lock()
    drill.recorder.record("scheduling", t=1.0, region=P, active=True)
    drill._stream_events()
    drill._stream_events()
    assert streamed == ["t=     1.0s scheduling     region=us-east-1 active=true"]


def test_no_stream_without_verbose() -> None:
    drill, _ = waiting_drill(SCENARIO, StopConditions())
    drill.on_event = None
    drill._stream_events()  # nothing to do, nothing read


@pytest.mark.parametrize("verbose", [False, True])
def test_run_accepts_verbose(verbose: bool) -> None:
    from harness.cli import _build_parser

    argv = ["run", "s.yaml", *(["-v"] if verbose else [])]
    assert _build_parser().parse_args(argv).verbose is verbose
