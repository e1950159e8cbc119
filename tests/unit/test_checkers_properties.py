"""Properties of the checkers over generated valid histories (random events in time order)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checkers import measure_trial
from harness.history import Event, History
from harness.measures import TrialMeasures
from harness.scenario.model import FaultKind
from tests.unit.history_builders import P, S

DAGS = ("etl", "report")
DATES = ("d0", "d1", "d2", "d3")
CHANGE_IDS = ("variable:a", "variable:b", "run:etl:d0", "run:report:d1")
NUMBERS = ("detection_s", "rto_s", "rpo_s", "lost_runs")

# Repeats weight the kinds that move the numbers.
KINDS = (
    *("run",) * 4,
    *("scheduling",) * 3,
    *("fault_on", "fault_off", "decision", "inventory", "change") * 2,
    *("env_state", "restore", "probe", "phase", "backup"),
)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)

# Quarter seconds are exact in binary floating point, so sums and differences are exact too.
times = st.integers(min_value=0, max_value=4 * 3600).map(lambda q: q / 4)
regions = st.sampled_from((P, P, S, S, "eu-west-1"))  # a third Region must be ignored
run_keys = st.tuples(st.sampled_from(DAGS), st.sampled_from(DATES))


@st.composite
def event_data(draw: st.DrawFn, t: float) -> tuple[str, dict[str, Any]]:
    """One event of a random kind (other than drill_start/drill_end/note) at time t."""
    kind = draw(st.sampled_from(KINDS))
    # Weight the faults that matter: otherwise most histories have no t_fault at all.
    fault = draw(
        st.one_of(
            st.sampled_from(("region_outage", "environment_failure")),
            st.sampled_from([k.value for k in FaultKind]),
        )
    )
    fault_id = draw(st.integers(0, 3))
    if kind == "fault_on":
        return kind, {"fault_id": fault_id, "fault": fault, "region": draw(regions), "params": {}}
    if kind == "fault_off":
        return kind, {"fault_id": fault_id, "fault": fault, "region": draw(regions)}
    if kind == "decision":
        source, dest = draw(st.sampled_from(((P, S), (S, P))))
        action = draw(st.sampled_from(("failover", "failback")))
        return kind, {"action": action, "from_region": source, "to_region": dest, "reason": "x"}
    if kind == "run":
        dag_id, logical_date = draw(run_keys)
        # Due before it ended, mostly not long before.
        due_t = draw(st.integers(max(0, int(4 * t) - 1200), int(4 * t)).map(lambda q: q / 4))
        return kind, {
            "region": draw(regions),
            "dag_id": dag_id,
            "logical_date": logical_date,
            "due_t": due_t,
            "start_t": due_t,
            "state": draw(st.sampled_from(("success", "failed"))),
        }
    if kind == "change":
        return kind, {"region": draw(regions), "change_id": draw(st.sampled_from(CHANGE_IDS))}
    if kind == "inventory":
        runs = draw(st.lists(run_keys, max_size=4, unique=True))
        changes = draw(st.lists(st.sampled_from(CHANGE_IDS), max_size=3, unique=True))
        return kind, {"region": draw(regions), "runs": [list(r) for r in runs], "changes": changes}
    if kind == "scheduling":
        return kind, {"region": draw(regions), "active": draw(st.booleans())}
    if kind == "env_state":
        state = draw(st.sampled_from(("CREATING", "AVAILABLE", "CREATE_FAILED", "UNAVAILABLE")))
        return kind, {"region": draw(regions), "environment": "env", "state": state}
    if kind == "restore":
        state = draw(st.sampled_from(("started", "completed", "failed")))
        return kind, {"region": draw(regions), "backup_id": "b", "state": state, "reason": "r"}
    if kind == "probe":
        result = draw(st.sampled_from(("healthy", "unhealthy", "unknown")))
        return kind, {"region": draw(regions), "result": result, "detail": ""}
    if kind == "phase":
        return kind, {"name": "restore", "state": draw(st.sampled_from(("started", "done")))}
    return "backup", {"region": draw(regions), "backup_id": "b", "state": "completed"}


@st.composite
def outage_and_recovery(draw: st.DrawFn) -> list[tuple[float, str, dict[str, Any]]]:
    """A primary run, an outage of the primary, a failover, a secondary run due after the outage,
    an inventory, both Regions scheduling: random events alone rarely make a recovered trial."""
    stamps = sorted(draw(st.lists(times, min_size=6, max_size=6)))
    primary_t, fault_t, due_t, end_t, inventory_t = stamps[:5]
    secondary_active_t = draw(st.sampled_from(stamps))
    failover_t = draw(st.sampled_from(stamps))
    old_dag_id, old_date = draw(run_keys)
    dag_id, logical_date = draw(run_keys)
    runs = draw(st.lists(run_keys, max_size=4, unique=True))
    changes = draw(st.lists(st.sampled_from(CHANGE_IDS), max_size=3, unique=True))
    outage = {"fault_id": 9, "fault": "region_outage", "region": P, "params": {}}
    run = {
        "region": S,
        "dag_id": dag_id,
        "logical_date": logical_date,
        "due_t": due_t,
        "start_t": due_t,
        "state": "success",
    }
    inventory = {"region": S, "runs": [list(r) for r in runs], "changes": changes}
    old_run = {**run, "region": P, "dag_id": old_dag_id, "logical_date": old_date}
    old_run.update(due_t=primary_t, start_t=primary_t)
    return [
        (0.0, "scheduling", {"region": P, "active": True}),
        (primary_t, "run", old_run),
        (secondary_active_t, "scheduling", {"region": S, "active": True}),
        (
            failover_t,
            "decision",
            {"action": "failover", "from_region": P, "to_region": S, "reason": "x"},
        ),
        (fault_t, "fault_on", outage),
        (end_t, "run", run),
        (inventory_t, "inventory", inventory),
    ]


@st.composite
def histories(draw: st.DrawFn, with_start: bool = True) -> list[Event]:
    """A drill_start at 0, random events in time order, and usually a drill_end after them."""
    timed = [(t, *draw(event_data(t))) for t in draw(st.lists(times, max_size=30))]
    if draw(st.booleans()):
        timed.extend(draw(outage_and_recovery()))
    timed.sort(key=lambda item: item[0])
    events = [Event(0.0, "drill_start", {"primary": P, "secondary": S, "duration_s": 3600})]
    if not with_start:
        events = []
    events.extend(Event(t, kind, data) for t, kind, data in timed)
    ending = draw(st.sampled_from(("complete", "aborted", "missing")))
    if ending != "missing":
        last = events[-1].t if events else 0.0
        end_t = last + draw(st.integers(0, 400))
        events.append(Event(end_t, "drill_end", {"aborted": ending == "aborted", "reason": "r"}))
    return list(History(events))  # History refuses anything out of order


def drill_length(events: list[Event]) -> float:
    ends = [e.t for e in events if e.kind == "drill_end"]
    return ends[0] if ends else events[-1].t


@PROPERTY_SETTINGS
@given(histories())
def test_numbers_stay_in_their_ranges(events: list[Event]) -> None:
    m = measure_trial(events)
    assert 0.0 <= m.split_brain_s <= drill_length(events)
    for value in (m.detection_s, m.rto_s, m.rpo_s):
        assert value is None or value >= 0.0
    assert m.lost_runs is None or m.lost_runs >= 0
    assert m.duplicate_runs >= 0
    assert m.failover_triggered == (m.failovers > 0)
    assert not m.spurious_failover or m.failover_triggered


@PROPERTY_SETTINGS
@given(histories())
def test_every_missing_number_has_a_reason_starting_with_its_name(events: list[Event]) -> None:
    m = measure_trial(events)
    assert_reasons_explain_gaps(m)
    assert m.complete == (not any(r.startswith("history:") for r in m.reasons))


@PROPERTY_SETTINGS
@given(histories())
def test_recovery_is_consistent(events: list[Event]) -> None:
    m = measure_trial(events)
    assert m.recovered == (m.rto_s is not None)
    if m.recovered:
        assert m.t_fault is not None
    if m.rpo_s is not None or m.lost_runs is not None:
        assert m.recovered
    assert (m.rpo_s is None) == (m.lost_runs is None)
    if m.t_fault is None:
        assert not m.recovered and m.detection_s is None


@PROPERTY_SETTINGS
@given(histories(), st.data())
def test_notes_change_nothing(events: list[Event], data: st.DataObject) -> None:
    positions = data.draw(st.lists(st.integers(0, len(events) - 1), max_size=5))
    noted = list(events)
    # Insert from the back so earlier positions still point at the same events; each note
    # takes the time of the event it follows, so the history stays in order.
    for position in sorted(positions, reverse=True):
        noted.insert(position + 1, Event(events[position].t, "note", {"message": "look"}))
    assert measure_trial(noted) == measure_trial(events)


@PROPERTY_SETTINGS
@given(histories(with_start=False))
def test_histories_without_drill_start_are_not_judged(events: list[Event]) -> None:
    m = measure_trial(events)
    assert m.complete is False
    assert m.reasons[0] == "history: no drill_start event"
    assert_reasons_explain_gaps(m)


def assert_reasons_explain_gaps(m: TrialMeasures) -> None:
    for name in NUMBERS:
        if getattr(m, name) is None:
            assert any(r.startswith(f"{name}: ") for r in m.reasons), (name, m.reasons)
    # failback_s is explained only when a failback was decided or asked for (an operation)
    if m.failback_s is None and any(r.startswith("failback_s: ") for r in m.reasons):
        assert any(r.startswith("failback_s: never completed") for r in m.reasons)
    known = ("history", *NUMBERS, "failback_s")
    assert all(r.split(":", 1)[0] in known for r in m.reasons), m.reasons
