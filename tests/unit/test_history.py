"""The history's event contract: JSON lines round trip, ordering, required fields, known kinds."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from harness.history import EVENT_FIELDS, Event, History, HistoryError, run_change_id
from tests.unit.history_builders import P, S

# A value for every required field of every kind, to build one valid event of each.
SAMPLE_VALUES: dict[str, Any] = {
    "primary": P,
    "secondary": S,
    "duration_s": 3600,
    "aborted": False,
    "name": "restore",
    "state": "started",
    "fault_id": 0,
    "operation_id": 0,
    "fault": "region_outage",
    "region": P,
    "params": {"probability": 0.5},
    "landed": True,
    "detail": "checked",
    "result": "healthy",
    "action": "failover",
    "from_region": P,
    "to_region": S,
    "reason": "probe failed",
    "environment": "drill-env",
    "active": True,
    "backup_id": "backup-1",
    "source": P,
    "dest": S,
    "dag_id": "etl",
    "logical_date": "2024-01-01T00:00:00+00:00",
    "due_t": 0.0,
    "start_t": 1.5,
    "change_id": "variable:threshold",
    "runs": [["etl", "2024-01-01T00:00:00+00:00"]],
    "changes": ["variable:threshold"],
    "message": "look here",
}


def sample_event(t: float, kind: str) -> Event:
    return Event(t, kind, {name: SAMPLE_VALUES[name] for name in EVENT_FIELDS[kind]})


def one_of_each_kind() -> History:
    history = History()
    for number, kind in enumerate(EVENT_FIELDS):
        history.append(sample_event(float(number), kind))
    return history


def to_text(history: History) -> str:
    out = io.StringIO()
    history.write_jsonl(out)
    return out.getvalue()


# Round trip ----------------------------------------------------------------------------------
def test_every_kind_round_trips_through_jsonl() -> None:
    history = one_of_each_kind()
    text = to_text(history)
    assert len(text.splitlines()) == len(EVENT_FIELDS)
    assert History.read_jsonl(text.splitlines()).events == history.events


def test_extra_fields_survive_the_round_trip() -> None:
    history = History()
    history.record(2.5, "probe", region=P, result="unhealthy", detail="timeout", latency_ms=30)
    (event,) = History.read_jsonl(to_text(history).splitlines())
    assert event.t == 2.5
    assert event["latency_ms"] == 30
    assert event.get("missing", "default") == "default"


def test_save_and_load(tmp_path: Path) -> None:
    history = one_of_each_kind()
    path = tmp_path / "history.jsonl"
    history.save(path)
    assert History.load(path).events == history.events


def test_integer_times_read_back_as_floats_and_blank_lines_are_skipped() -> None:
    lines = [
        '{"t": 0, "kind": "note", "message": "a"}',
        "",
        "  ",
        '{"t": 3, "kind": "note", "message": "b"}',
    ]
    history = History.read_jsonl(lines)
    assert [e.t for e in history] == [0.0, 3.0]
    assert all(isinstance(e.t, float) for e in history)


def test_of_kind_and_len() -> None:
    history = one_of_each_kind()
    assert len(history) == len(EVENT_FIELDS)
    assert [e.kind for e in history.of_kind("run", "note")] == ["run", "note"]


def test_run_change_id() -> None:
    assert run_change_id("etl", "2024-01-01") == "run:etl:2024-01-01"


# Ordering ------------------------------------------------------------------------------------
def test_out_of_order_append_raises() -> None:
    history = History()
    history.record(10.0, "note", message="later")
    with pytest.raises(HistoryError, match="out of order"):
        history.record(9.0, "note", message="earlier")
    assert len(history) == 1


def test_events_at_the_same_time_keep_their_order() -> None:
    history = History()
    history.record(5.0, "note", message="first")
    history.record(5.0, "note", message="second")
    assert [e["message"] for e in history] == ["first", "second"]


def test_out_of_order_lines_report_their_line_number() -> None:
    lines = ['{"t": 5, "kind": "note", "message": "a"}', '{"t": 4, "kind": "note", "message": "b"}']
    with pytest.raises(HistoryError, match=r"^line 2: events out of order"):
        History.read_jsonl(lines)


# Contract errors -----------------------------------------------------------------------------
def test_missing_required_field_raises() -> None:
    with pytest.raises(HistoryError, match=r"run event at t=3\.0 lacks due_t, start_t"):
        Event(3.0, "run", {"region": P, "dag_id": "etl", "logical_date": "d", "state": "success"})


def test_missing_required_field_in_a_line_reports_it() -> None:
    with pytest.raises(
        HistoryError,
        match=r"^line 1: decision event at t=1\.0 lacks from_region, to_region, reason",
    ):
        History.read_jsonl(['{"t": 1, "kind": "decision", "action": "failover"}'])


def test_unknown_kind_raises() -> None:
    with pytest.raises(HistoryError, match="unknown event kind 'reboot'"):
        Event(0.0, "reboot", {})
    with pytest.raises(HistoryError, match=r"^line 1: unknown event kind 'reboot'"):
        History.read_jsonl(['{"t": 0, "kind": "reboot"}'])


def test_bad_json_line_reports_its_line_number() -> None:
    lines = ['{"t": 0, "kind": "note", "message": "ok"}', "", '{"t": 1, "kind": "note",']
    with pytest.raises(HistoryError, match=r"^line 3: "):
        History.read_jsonl(lines)


@pytest.mark.parametrize(
    "line",
    [
        "[1, 2]",
        "5",
        '{"kind": "note", "message": "no time"}',
        '{"t": 0, "message": "no kind"}',
    ],
)
def test_a_line_that_is_not_an_event_object_raises(line: str) -> None:
    with pytest.raises(HistoryError, match=r"^line 1: an event is an object"):
        History.read_jsonl([line])


@pytest.mark.parametrize("t", ['"0"', "true", "null"])
def test_event_time_must_be_a_number(t: str) -> None:
    with pytest.raises(HistoryError, match="event time must be a number"):
        History.read_jsonl([f'{{"t": {t}, "kind": "note", "message": "x"}}'])


def test_probe_result_must_be_known() -> None:
    with pytest.raises(HistoryError, match="probe result"):
        Event(0.0, "probe", {"region": P, "result": "maybe", "detail": ""})
