"""MWAA environments: who exists at the start, creation (AVAILABLE or CREATE_FAILED), deletion,
and env_state events on every change."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from harness.sim.world import World
from reference_impl.context import DrContext
from reference_impl.ports import PortError
from reference_impl.runtime import Process, Wait
from tests.unit.test_sim_support import (
    ENV,
    P,
    S,
    at,
    fixed_calibration,
    make_logic,
    make_scenario,
    make_world,
    of_kind,
)


def states(world: World, region: str) -> list[tuple[float, str]]:
    return [(e.t, e["state"]) for e in of_kind(world.history, "env_state", region=region)]


def test_warm_standby_starts_with_both_environments_the_standby_paused() -> None:
    world = make_world(make_scenario(strategy="warm_standby"))
    history = world.run()
    assert states(world, P) == [(0.0, "AVAILABLE")]
    assert states(world, S) == [(0.0, "AVAILABLE")]
    scheduling = [(e["region"], e["active"]) for e in history.of_kind("scheduling")]
    assert scheduling == [(P, True)]  # the standby never schedules the workload
    assert not of_kind(history, "run", region=S)


def test_backup_restore_starts_without_a_secondary_environment() -> None:
    world = make_world(make_scenario(strategy="backup_restore"))
    world.run()
    assert states(world, S) == []
    assert world.ports_for(S).mwaa.get_environment(S, ENV) is None


def create_at(world: World, t: float, config: Mapping[str, Any] | None = None) -> None:
    at(world, t, lambda: world.ports_for(S).mwaa.create_environment(S, ENV, config or {}))


def test_creation_takes_the_calibrated_time_and_starts_paused() -> None:
    world = make_world(make_scenario(strategy="backup_restore"))
    create_at(world, 1000.0)
    history = world.run()
    assert states(world, S) == [(1000.0, "CREATING"), (2500.0, "AVAILABLE")]
    env = world.ports_for(P).mwaa.get_environment(S, ENV)
    assert env is not None and env["Status"] == "AVAILABLE"
    assert not of_kind(history, "scheduling", region=S)  # dags_are_paused_at_creation


def test_creation_can_start_unpaused() -> None:
    world = make_world(make_scenario(strategy="backup_restore"))
    options = {"AirflowConfigurationOptions": {"core.dags_are_paused_at_creation": "False"}}
    create_at(world, 1000.0, options)
    history = world.run()
    assert [e.t for e in of_kind(history, "scheduling", region=S, active=True)] == [2500.0]


def test_the_calibrated_failure_probability_ends_in_create_failed() -> None:
    cal = fixed_calibration()
    cal = dataclasses.replace(
        cal, mwaa=dataclasses.replace(cal.mwaa, create_failure_probability=1.0)
    )
    world = make_world(make_scenario(strategy="backup_restore"), calibration=cal)
    create_at(world, 1000.0)
    world.run()
    assert states(world, S) == [(1000.0, "CREATING"), (2500.0, "CREATE_FAILED")]


def test_create_environment_failure_fails_creations_started_in_its_window() -> None:
    fault = {
        "kind": "create_environment_failure",
        "at": "10m",
        "duration": "10m",
        "probability": 1.0,
    }
    world = make_world(make_scenario([fault], strategy="backup_restore", duration="3h"))
    mwaa = world.ports_for(S).mwaa
    create_at(world, 700.0)  # in the window: fails after its usual creation time
    at(world, 2300.0, lambda: mwaa.delete_environment(S, ENV))
    create_at(world, 3000.0)  # after the window: succeeds
    world.run()
    assert states(world, S) == [
        (700.0, "CREATING"),
        (2200.0, "CREATE_FAILED"),
        (2300.0, "DELETING"),
        (2900.0, "DELETED"),
        (3000.0, "CREATING"),
        (4500.0, "AVAILABLE"),
    ]


def test_an_existing_name_must_be_deleted_before_it_is_created_again() -> None:
    world = make_world(make_scenario(strategy="warm_standby"))
    errors: list[str] = []

    def attempt(call: Callable[[], None]) -> None:
        try:
            call()
        except PortError as err:
            errors.append(err.code)

    mwaa = world.ports_for(S).mwaa
    at(world, 10.0, lambda: attempt(lambda: mwaa.create_environment(S, ENV, {})))
    at(world, 20.0, lambda: attempt(lambda: mwaa.delete_environment(P, "nope")))
    world.run()
    assert errors == ["ValidationException", "ResourceNotFoundException"]


def test_deleting_stops_the_scheduler_and_the_environment_disappears() -> None:
    world = make_world(make_scenario(strategy="warm_standby"))
    at(world, 1000.0, lambda: world.ports_for(P).mwaa.delete_environment(P, ENV))
    history = world.run()
    assert states(world, P) == [(0.0, "AVAILABLE"), (1000.0, "DELETING"), (1600.0, "DELETED")]
    assert [(e.t, e["active"]) for e in of_kind(history, "scheduling", region=P)] == [
        (0.0, True),
        (1000.0, False),
    ]
    assert world.environments.get(P) is None


def test_a_restore_dag_can_run_in_a_new_environment() -> None:
    seen: list[str] = []

    def task(ctx: DrContext, conf: Mapping[str, Any]) -> Process[None]:
        seen.append(ctx.region)
        yield Wait(1.0)

    def recovery(ctx: DrContext) -> Process[None]:
        ctx.mwaa.create_environment(S, ENV, {})
        while (ctx.mwaa.get_environment(S, ENV) or {}).get("Status") != "AVAILABLE":
            yield Wait(60.0)
        ctx.airflow.trigger_dag(S, ENV, "restore", {})

    logic = make_logic(tasks={"restore": task}, recovery=recovery)
    world = make_world(make_scenario(strategy="backup_restore"), logic)
    world.run()
    assert seen == [S]
