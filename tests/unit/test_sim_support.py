"""Shared helpers of the simulator tests (and a few tests of the helpers themselves).

The helpers build scenarios from plain data (validated and defaulted like files), a calibration
whose every distribution is fixed so times can be asserted exactly, and tiny DR logics written
here, so the world can be tested without reference_impl.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

from harness.history import History
from harness.scenario import scenario_from_data
from harness.scenario.model import Scenario
from harness.sim.calibration import Calibration, Fixed, default_calibration
from harness.sim.world import DrLogic, World
from reference_impl.context import DrContext
from reference_impl.runtime import Process, Wait

P = "us-east-1"
S = "us-west-2"
ENV = "mwaa-drill-env"


def make_scenario(faults: list[dict[str, Any]] | None = None, **fields: Any) -> Scenario:
    doc: dict[str, Any] = {
        "name": "sim-test",
        "strategy": "warm_standby",
        "profile": "hardened",
        "duration": "2h",
        "workload": {"dags": 2, "schedule": "5m"},
        "faults": faults or [],
    }
    doc.update(fields)
    return scenario_from_data(doc)


def fixed_calibration() -> Calibration:
    """The default calibration with every distribution fixed at a round number."""
    cal = default_calibration()
    return dataclasses.replace(
        cal,
        source="<fixed test calibration>",
        cloudwatch=dataclasses.replace(cal.cloudwatch, delivery_delay=Fixed(30.0)),
        s3=dataclasses.replace(cal.s3, replication_lag=Fixed(10.0)),
        mwaa=dataclasses.replace(cal.mwaa, create_time=Fixed(1500.0), delete_time=Fixed(600.0)),
        airflow=dataclasses.replace(
            cal.airflow,
            scheduler_restart=Fixed(60.0),
            scheduling_latency=Fixed(5.0),
            task_start_latency=Fixed(10.0),
            workload_run=Fixed(60.0),
        ),
        workflow=dataclasses.replace(cal.workflow, start_offset=Fixed(0.0)),
    )


def idle(ctx: DrContext) -> Process[None]:
    """A process that does nothing."""
    return
    yield


def fixed_schedule(
    schedule: Mapping[str, float], ctx: DrContext, backup_interval: float
) -> Mapping[str, float]:
    return schedule


def make_logic(
    *,
    tasks: Mapping[str, Callable[[DrContext, Mapping[str, Any]], Process[Any]]] | None = None,
    scheduled: Mapping[str, float] | None = None,
    hook: Callable[[DrContext], Process[None]] = idle,
    recovery: Callable[[DrContext], Process[None]] = idle,
) -> DrLogic:
    return DrLogic(
        tasks=dict(tasks or {}),
        # partial of a module-level function: a logic must pickle to reach worker processes
        scheduled_dr_dags=functools.partial(fixed_schedule, dict(scheduled or {})),
        startup_hook=hook,
        recovery_workflow=recovery,
    )


def make_world(
    scenario: Scenario | None = None,
    logic: DrLogic | None = None,
    calibration: Calibration | None = None,
    seed: int = 1,
) -> World:
    return World(
        scenario or make_scenario(),
        calibration or fixed_calibration(),
        seed,
        logic or make_logic(),
    )


def at(world: World, t: float, action: Callable[[], Any]) -> None:
    """Do something in the world at virtual time t."""

    def run() -> None:
        action()  # its result, if any, is not wanted

    world.engine.at(t, run)


def of_kind(history: History, kind: str, **match: Any) -> list[Any]:
    return [e for e in history if e.kind == kind and all(e.get(k) == v for k, v in match.items())]


def sleeper(seconds: float) -> Callable[[DrContext, Mapping[str, Any]], Process[None]]:
    """A DR task that waits `seconds`."""

    def task(ctx: DrContext, conf: Mapping[str, Any]) -> Process[None]:
        yield Wait(seconds)

    return task


# Tests of the helpers ---------------------------------------------------------------------------


def test_fixed_calibration_has_no_random_distribution() -> None:
    cal = fixed_calibration()
    assert cal.airflow.workload_run == Fixed(60.0)
    assert cal.mwaa.create_time == Fixed(1500.0)


def test_make_scenario_fills_fault_defaults() -> None:
    scenario = make_scenario([{"kind": "region_outage", "at": "10m"}])
    assert scenario.faults[0].params["unreachable_as"] == "refused"
    assert scenario.faults[0].region == P
