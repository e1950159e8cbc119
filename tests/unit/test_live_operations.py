"""The live drill's operator actions: each runs in a thread, recorded as `operation` events."""

from __future__ import annotations

import threading
from typing import Any

from harness.live.operations import OperationRunner, live_operations
from harness.scenario import scenario_from_data
from harness.scenario.model import OperationAction
from harness.sim.operations import ScheduledOperation
from reference_impl.context import DrContext
from reference_impl.runtime import Process, Wait

FAILBACK = ScheduledOperation(0, OperationAction.FAILBACK, 100.0)


def runner(action: Any, stop: threading.Event | None = None) -> tuple[OperationRunner, list[Any]]:
    events: list[Any] = []
    lines: list[str] = []

    def record(kind: str, **data: Any) -> None:
        events.append((kind, data))

    made = OperationRunner(
        "us-west-2",
        lambda: None,  # type: ignore[arg-type,return-value]  # the fake actions ignore it
        {OperationAction.FAILBACK: action},
        stop or threading.Event(),
        record,
        lines.append,
    )
    return made, events


def states(events: list[Any]) -> list[tuple[str, str | None]]:
    return [(data["state"], data.get("reason")) for kind, data in events if kind == "operation"]


def test_an_action_that_ends_is_done() -> None:
    ran: list[str] = []

    def action(ctx: DrContext) -> Process[None]:
        yield Wait(0.0)
        ran.append("failback")

    made, events = runner(action)
    made.start(FAILBACK).join(5.0)
    assert ran == ["failback"]
    assert states(events) == [("started", None), ("done", None)]
    assert events[0][1]["region"] == "us-west-2" and events[0][1]["action"] == "failback"


def test_an_action_that_raises_is_failed_with_the_error() -> None:
    def action(ctx: DrContext) -> Process[None]:
        yield Wait(0.0)
        raise RuntimeError("boom")

    made, events = runner(action)
    made.start(FAILBACK).join(5.0)
    assert states(events) == [("started", None), ("failed", "RuntimeError: boom")]


def test_a_drill_that_stops_closes_the_action_at_its_next_wait() -> None:
    def action(ctx: DrContext) -> Process[None]:
        yield Wait(3600.0)

    stop = threading.Event()
    made, events = runner(action, stop)
    thread = made.start(FAILBACK)
    stop.set()
    thread.join(5.0)
    assert not thread.is_alive()
    assert states(events) == [("started", None), ("failed", "the drill stopped first")]


def test_live_operation_times_are_drawn_once_from_the_seed() -> None:
    scenario = scenario_from_data(
        {
            "name": "x",
            "strategy": "warm_standby",
            "profile": "hardened",
            "duration": "3h",
            "seed": 5,
            "faults": [{"kind": "region_outage", "at": "40m"}],
            "operations": [{"action": "failback", "at": {"uniform": ["2h", "2h30m"]}}],
        }
    )
    (first,) = live_operations(scenario)
    assert live_operations(scenario) == (first,)
    assert 7200.0 <= first.at <= 9000.0
