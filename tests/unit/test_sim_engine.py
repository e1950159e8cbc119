"""The event loop: deterministic order, virtual cost charged to processes, kill, bounds."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from harness.sim.engine import Engine
from reference_impl.runtime import Process, Wait


def test_callbacks_run_in_time_order_and_ties_in_scheduling_order() -> None:
    engine = Engine(end=100.0)
    seen: list[tuple[float, str]] = []
    for name, t in [("c", 5.0), ("a", 1.0), ("b1", 3.0), ("b2", 3.0), ("b3", 3.0)]:
        engine.at(t, functools.partial(lambda n: seen.append((engine.now(), n)), name))
    engine.run()
    assert seen == [(1.0, "a"), (3.0, "b1"), (3.0, "b2"), (3.0, "b3"), (5.0, "c")]


def test_nothing_at_or_after_the_end_runs_and_the_clock_stops_at_the_end() -> None:
    engine = Engine(end=10.0)
    seen: list[float] = []
    for t in (9.999, 10.0, 11.0):
        engine.at(t, lambda: seen.append(engine.now()))
    engine.run()
    assert seen == [9.999]
    assert engine.now() == 10.0


def test_a_time_in_the_past_runs_now() -> None:
    engine = Engine(end=10.0)
    seen: list[float] = []
    engine.at(5.0, lambda: engine.at(1.0, lambda: seen.append(engine.now())))
    engine.run()
    assert seen == [5.0]


def test_a_process_resumes_after_its_wait_plus_the_cost_its_calls_charged() -> None:
    engine = Engine(end=1000.0)
    times: list[float] = []

    def proc() -> Process[str]:
        times.append(engine.now())
        engine.charge(2.5)  # a port call
        engine.charge(0.5)
        yield Wait(10.0)
        times.append(engine.now())
        yield Wait(0.0)  # a checkpoint: only the cost of the calls passes
        times.append(engine.now())
        engine.charge(4.0)
        return "done"

    results: list[tuple[float, Any, BaseException | None]] = []
    engine.spawn(proc(), "p", delay=1.0, on_done=lambda v, e: results.append((engine.now(), v, e)))
    engine.run()
    assert times == [1.0, 14.0, 14.0]
    assert results == [(18.0, "done", None)]  # the last calls take time too


def test_charges_outside_a_process_are_ignored() -> None:
    engine = Engine(end=10.0)
    engine.charge(5.0)
    engine.run()
    assert engine.now() == 10.0


def test_an_exception_in_a_process_goes_to_on_done() -> None:
    engine = Engine(end=100.0)

    def proc() -> Process[None]:
        yield Wait(1.0)
        raise RuntimeError("boom")

    results: list[Any] = []
    engine.spawn(proc(), "p", on_done=lambda v, e: results.append((engine.now(), v, e)))
    engine.run()
    assert len(results) == 1
    assert results[0][0] == 1.0 and isinstance(results[0][2], RuntimeError)


def test_yielding_something_else_than_a_wait_fails_the_process() -> None:
    engine = Engine(end=100.0)

    def proc() -> Any:
        yield 5

    errors: list[BaseException | None] = []
    engine.spawn(proc(), "p", on_done=lambda v, e: errors.append(e))
    engine.run()
    assert isinstance(errors[0], TypeError)


def test_a_killed_process_never_resumes_and_its_finally_runs_without_charging() -> None:
    engine = Engine(end=100.0)
    steps: list[float] = []
    cleaned: list[bool] = []

    def proc() -> Process[None]:
        try:
            while True:
                steps.append(engine.now())
                yield Wait(10.0)
        finally:
            engine.charge(1000.0)  # nobody pays this
            cleaned.append(True)

    done: list[Any] = []
    handle = engine.spawn(proc(), "p", on_done=lambda v, e: done.append(e))
    engine.at(25.0, lambda: engine.kill(handle))
    engine.run()
    assert steps == [0.0, 10.0, 20.0]
    assert cleaned == [True]
    assert done == []  # killed: the killer owns the outcome
    assert not handle.alive and handle.killed


def test_a_process_can_be_killed_during_its_own_step() -> None:
    engine = Engine(end=100.0)
    handles: list[Any] = []
    steps: list[float] = []

    def proc() -> Process[None]:
        steps.append(engine.now())
        engine.kill(handles[0])  # e.g. a task that stops its own scheduler
        yield Wait(1.0)
        steps.append(engine.now())

    handles.append(engine.spawn(proc(), "p"))
    engine.run()
    assert steps == [0.0]


def test_killing_a_finished_process_cancels_its_pending_on_done() -> None:
    engine = Engine(end=100.0)

    def proc() -> Process[None]:
        engine.charge(10.0)  # ends at 10, after its calls
        return
        yield

    done: list[Any] = []
    handle = engine.spawn(proc(), "p", on_done=lambda v, e: done.append(v))
    engine.at(5.0, lambda: engine.kill(handle))
    engine.run()
    assert done == []


@pytest.mark.parametrize("wait", [-5.0, 0.0])
def test_negative_and_zero_waits_resume_at_once(wait: float) -> None:
    engine = Engine(end=100.0)
    times: list[float] = []

    def proc() -> Process[None]:
        yield Wait(wait)
        times.append(engine.now())

    engine.spawn(proc(), "p", delay=3.0)
    engine.run()
    assert times == [3.0]
