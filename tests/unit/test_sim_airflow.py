"""Airflow in one environment: workload scheduling (catchup=False), scheduling events, the
scheduler's life with faults and its startup hook, DR DAG runs, metadata import/export."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from harness.sim.airflow import logical_date
from harness.sim.world import World
from reference_impl.context import DrContext
from reference_impl.ports import BACKUP_TABLES, PortError
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
    sleeper,
)

SCHEDULE = 300.0  # make_scenario's workload: 2 DAGs every 5 minutes


def runs(world: World, region: str) -> list[tuple[str, float, float, float]]:
    """(dag_id, due_t, start_t, end t) of every successful run in `region`."""
    return [
        (e["dag_id"], e["due_t"], e["start_t"], e.t)
        for e in of_kind(world.history, "run", region=region, state="success")
    ]


def scheduling(world: World, region: str) -> list[tuple[float, bool]]:
    return [(e.t, e["active"]) for e in of_kind(world.history, "scheduling", region=region)]


def unpause_at(world: World, t: float, region: str = S, paused: bool = False) -> None:
    at(world, t, lambda: world.ports_for(region).airflow.set_workload_paused(region, ENV, paused))


def test_the_primary_runs_every_tick_after_latency_and_duration() -> None:
    world = make_world(make_scenario(duration="17m"))
    world.run()
    assert runs(world, P) == [
        ("workload_0", 0.0, 5.0, 65.0),
        ("workload_1", 0.0, 5.0, 65.0),
        ("workload_0", 300.0, 305.0, 365.0),
        ("workload_1", 300.0, 305.0, 365.0),
        ("workload_0", 600.0, 605.0, 665.0),
        ("workload_1", 600.0, 605.0, 665.0),
        ("workload_0", 900.0, 905.0, 965.0),
        ("workload_1", 900.0, 905.0, 965.0),
    ]
    run = of_kind(world.history, "run", region=P)[0]
    assert run["logical_date"] == logical_date(0.0) == "2024-01-01T00:00:00+00:00"
    rows = world.environments.by_region[P].airflow.tables["dag_run"]
    assert ("workload_0", logical_date(900.0)) in rows
    assert rows[("workload_0", logical_date(900.0))]["origin_region"] == P


def test_catchup_false_runs_the_latest_due_tick_then_every_later_one() -> None:
    world = make_world(make_scenario(duration="30m"))
    unpause_at(world, 1000.0)  # due ticks 0..900 passed; 900 is the latest
    world.run()
    secondary = runs(world, S)
    assert [due for _, due, _, _ in secondary] == [900.0, 900.0, 1200.0, 1200.0, 1500.0, 1500.0]
    assert secondary[0][2] == 1005.0  # started after the scheduling latency
    assert scheduling(world, S) == [(1000.0, True)]


def test_restored_runs_count_as_done() -> None:
    world = make_world(make_scenario(duration="30m"))
    row = {"dag_id": "workload_0", "logical_date": logical_date(900.0), "state": "success"}
    airflow = world.ports_for(S).airflow
    at(world, 990.0, lambda: airflow.import_rows(S, ENV, "dag_run", [row], on_conflict="skip"))
    unpause_at(world, 1000.0)
    world.run()
    assert [(dag, due) for dag, due, _, _ in runs(world, S)][:3] == [
        ("workload_1", 900.0),  # its run was not restored
        ("workload_0", 1200.0),
        ("workload_1", 1200.0),
    ]


def test_a_logical_date_never_runs_twice_in_one_environment() -> None:
    world = make_world(make_scenario(duration="20m"))
    unpause_at(world, 1000.0)
    unpause_at(world, 1010.0, paused=True)  # the 900 runs are in flight
    unpause_at(world, 1020.0)
    world.run()
    assert [due for _, due, _, _ in runs(world, S)] == [900.0, 900.0]
    assert scheduling(world, S) == [(1000.0, True), (1010.0, False), (1020.0, True)]


def test_a_run_dropped_before_it_started_runs_at_reactivation() -> None:
    world = make_world(make_scenario(duration="20m"))
    unpause_at(world, 1000.0)
    unpause_at(world, 1002.0, paused=True)  # before the 5 s scheduling latency
    unpause_at(world, 1050.0)
    world.run()
    assert [(due, start) for _, due, start, _ in runs(world, S)] == [(900.0, 1055.0)] * 2


def test_environment_failure_kills_runs_in_flight_and_restarts_with_the_hook_first() -> None:
    hooks: list[tuple[str, float]] = []

    def hook(ctx: DrContext) -> Process[None]:
        hooks.append((ctx.region, ctx.clock.now()))
        ctx.journal.note(f"hook {ctx.region}")
        yield Wait(30.0)

    fault = {"kind": "environment_failure", "at": "5m20s", "duration": "10m"}
    world = make_world(make_scenario([fault], duration="30m"), make_logic(hook=hook))
    world.run()
    # The runs due at 300 started at 305 and would end at 365: the scheduler died at 320.
    assert [due for _, due, _, _ in runs(world, P)][:2] == [0.0, 0.0]
    assert 300.0 not in [due for _, due, _, _ in runs(world, P)]
    # Healed at 920, back after the restart time (60 s), scheduling after the hook (30 s).
    assert hooks == [(P, 0.0), (S, 0.0), (P, 980.0)]
    assert scheduling(world, P) == [(30.0, True), (320.0, False), (1010.0, True)]
    # catchup=False: the tick due at 900 runs, 300 and 600 never do.
    assert [due for _, due, _, _ in runs(world, P)][2:4] == [900.0, 900.0]


def test_environment_failure_stops_heartbeats_but_not_the_api() -> None:
    fault = {"kind": "environment_failure", "at": "10m", "duration": "30m"}
    world = make_world(make_scenario([fault], duration="1h"))
    seen: list[Any] = []
    metrics = world.ports_for(S).metrics
    at(world, 590.0, lambda: seen.append(metrics.scheduler_heartbeat(P, ENV, 120.0)))
    at(world, 1200.0, lambda: seen.append(metrics.scheduler_heartbeat(P, ENV, 120.0)))
    at(world, 1200.0, lambda: seen.append(world.ports_for(S).mwaa.get_environment(P, ENV)))
    world.run()
    assert seen[0] == [1.0] and seen[1] == []
    assert seen[2]["Status"] == "AVAILABLE"


@pytest.mark.parametrize("paused_before", [False, True])
def test_a_region_outage_stops_airflow_and_the_return_keeps_the_pause_state(
    paused_before: bool,
) -> None:
    outage = {"kind": "region_outage", "at": "10m", "duration": "20m"}
    world = make_world(make_scenario([outage], duration="1h"))
    if paused_before:
        unpause_at(world, 300.0, region=P, paused=True)
    world.run()
    if paused_before:
        assert scheduling(world, P) == [(0.0, True), (300.0, False)]
    else:  # healed at 1800, scheduler back 60 s later
        assert scheduling(world, P) == [(0.0, True), (600.0, False), (1860.0, True)]


def test_dr_runs_go_queued_running_success_or_failed() -> None:
    def failing(ctx: DrContext, conf: Mapping[str, Any]) -> Process[None]:
        yield Wait(5.0)
        raise PortError("InternalFailure", "boom")

    logic = make_logic(tasks={"ok": sleeper(100.0), "bad": failing})
    world = make_world(make_scenario(duration="1h"), logic)
    airflow = world.ports_for(S).airflow
    ids: dict[str, str] = {}
    states: list[tuple[float, str, str]] = []

    def trigger() -> None:
        ids["ok"] = airflow.trigger_dag(S, ENV, "ok", {})
        ids["bad"] = airflow.trigger_dag(S, ENV, "bad", {"x": 1})

    def look() -> None:
        for name, run_id in ids.items():
            states.append((world.engine.t, name, airflow.dag_run_state(S, ENV, name, run_id)))

    at(world, 100.0, trigger)
    for t in (100.0, 112.0, 300.0):
        at(world, t, look)
    world.run()
    assert states == [
        (100.0, "ok", "queued"),
        (100.0, "bad", "queued"),
        (112.0, "ok", "running"),
        (112.0, "bad", "running"),
        (300.0, "ok", "success"),
        (300.0, "bad", "failed"),
    ]
    notes = [e["message"] for e in world.history.of_kind("note")]
    assert any("failed: PortError: InternalFailure: boom" in note for note in notes)


def test_unknown_dags_and_runs() -> None:
    world = make_world()
    errors: list[str] = []

    def call() -> None:
        airflow = world.ports_for(S).airflow
        for attempt in (
            lambda: airflow.trigger_dag(S, ENV, "nope", {}),
            lambda: airflow.dag_run_state(S, ENV, "x", "nope"),
            lambda: airflow.export_table(S, ENV, "nope"),
            lambda: airflow.export_table(S, "other-env", "variable"),
        ):
            try:
                attempt()
            except PortError as err:
                errors.append(err.code)

    at(world, 10.0, call)
    world.run()
    assert errors == ["NotFound", "NotFound", "BadRequest", "ResourceNotFoundException"]


def test_dr_runs_die_with_the_scheduler_and_queued_ones_wait_for_its_return() -> None:
    fault = {"kind": "environment_failure", "at": "10m", "duration": "10m"}
    logic = make_logic(tasks={"slow": sleeper(1000.0), "quick": sleeper(1.0)})
    world = make_world(make_scenario([fault], duration="1h"), logic)
    airflow = world.ports_for(P).airflow
    ids: dict[str, str] = {}
    states: list[str] = []
    at(world, 500.0, lambda: ids.update(slow=airflow.trigger_dag(P, ENV, "slow", {})))
    at(world, 700.0, lambda: ids.update(quick=airflow.trigger_dag(P, ENV, "quick", {})))
    at(world, 1000.0, lambda: states.append(airflow.dag_run_state(P, ENV, "quick", ids["quick"])))
    at(
        world,
        3000.0,
        lambda: states.extend(airflow.dag_run_state(P, ENV, d, i) for d, i in ids.items()),
    )
    world.run()
    assert states == ["queued", "failed", "success"]
    env = world.environments.by_region[P].airflow
    assert env.dr_runs[ids["quick"]].start_t == 1200.0 + 60.0 + 10.0  # healed, restarted, launched
    assert any("the scheduler stopped" in e["message"] for e in world.history.of_kind("note"))


def test_scheduled_dr_dags_run_every_interval_one_at_a_time() -> None:
    starts: list[float] = []

    def task(ctx: DrContext, conf: Mapping[str, Any]) -> Process[None]:
        starts.append(ctx.clock.now())
        yield Wait(150.0)  # longer than the interval: the next tick is skipped

    logic = make_logic(tasks={"backup": task}, scheduled={"backup": 100.0})
    world = make_world(make_scenario(duration="10m"), logic)
    world.run()
    # Both Regions schedule it (the tiny logic does not look at the Region).
    assert starts == [110.0, 110.0, 310.0, 310.0, 510.0, 510.0]


def test_import_rows_copy_semantics_and_skip() -> None:
    world = make_world()
    results: list[Any] = []

    def calls() -> None:
        airflow = world.ports_for(P).airflow
        rows = [{"key": "a", "val": "1"}, {"key": "batch_size", "val": "9"}]
        results.append(airflow.import_rows(P, ENV, "variable", rows, on_conflict="fail"))
        results.append(airflow.import_rows(P, ENV, "variable", rows, on_conflict="skip"))
        results.append(airflow.import_rows(P, ENV, "variable", rows[:1] * 2, on_conflict="fail"))
        results.append(
            {r["key"]: r["val"] for r in airflow.export_table(P, ENV, "variable")}["batch_size"]
        )
        airflow.clear_tables(P, ENV, ["variable"])
        results.append(airflow.export_table(P, ENV, "variable"))

    at(world, 10.0, calls)
    world.run()
    assert [(r.inserted, r.skipped, r.failed) for r in results[:3]] == [
        (0, 0, 2),
        (1, 1, 0),
        (0, 0, 2),
    ]
    assert results[3] == "500"  # the existing row was left alone
    assert results[4] == []


def test_export_and_import_cost_grows_with_rows() -> None:
    cal = fixed_calibration()
    world = make_world()
    costs: list[float] = []

    def proc(ctx: DrContext) -> Process[None]:
        for count in (10, 1000):
            rows = [{"key": f"k{i}", "val": "v"} for i in range(count)]
            ctx.airflow.import_rows(S, ENV, "variable", rows, on_conflict="skip")
            assert world.engine.current is not None
            costs.append(world.engine.current.cost)
            yield Wait(1.0)

    world = make_world(logic=make_logic(recovery=proc))
    world.run()
    expected = [cal.airflow.call + cal.airflow.import_.cost(n) for n in (10, 1000)]
    assert costs == pytest.approx(expected)


def test_restore_failure_fails_a_restore_part_way() -> None:
    imported: list[str] = []
    errors: list[str] = []

    def restore(ctx: DrContext, conf: Mapping[str, Any]) -> Process[None]:
        for table in BACKUP_TABLES:
            try:
                ctx.airflow.import_rows(S, ENV, table, [], on_conflict="skip")
            except PortError as err:
                errors.append(err.code)
            else:
                imported.append(table)
            yield Wait(0.0)

    fault = {"kind": "restore_failure", "region": "secondary", "at": "0s", "probability": 1.0}
    logic = make_logic(tasks={"restore": restore})
    world = make_world(make_scenario([fault]), logic)
    at(world, 100.0, lambda: world.ports_for(S).airflow.trigger_dag(S, ENV, "restore", {}))
    world.run()
    assert 1 <= len(imported) < len(BACKUP_TABLES)
    assert imported == list(BACKUP_TABLES[: len(imported)])
    assert errors == ["InternalFailure"] * (len(BACKUP_TABLES) - len(imported))


def test_restore_failure_spares_restores_outside_its_window() -> None:
    def restore(ctx: DrContext, conf: Mapping[str, Any]) -> Process[None]:
        for table in BACKUP_TABLES:
            ctx.airflow.import_rows(S, ENV, table, [], on_conflict="skip")
            yield Wait(0.0)

    fault = {
        "kind": "restore_failure",
        "region": "secondary",
        "at": "0s",
        "duration": "10m",
        "probability": 1.0,
    }
    world = make_world(make_scenario([fault]), make_logic(tasks={"restore": restore}))
    airflow = world.ports_for(S).airflow
    at(world, 1000.0, lambda: airflow.trigger_dag(S, ENV, "restore", {}))
    world.run()
    env = world.environments.by_region[S].airflow
    assert [run.state for run in env.dr_runs.values()] == ["success"]


def test_the_primary_metadata_is_seeded_and_the_standby_has_its_own_secret() -> None:
    world = make_world()
    world.run()
    primary = world.environments.by_region[P].airflow.tables
    standby = world.environments.by_region[S].airflow.tables
    assert len(primary["variable"]) == 3
    assert primary["connection"][("warehouse",)]["password"] == f"secret-of-{P}"
    assert standby["connection"][("warehouse",)]["password"] == f"secret-of-{S}"
    assert list(standby["slot_pool"]) == [("default_pool",)]
    assert not standby["variable"]


def test_a_new_environment_has_only_the_default_pool() -> None:
    world = make_world(make_scenario(strategy="backup_restore"))
    at(world, 10.0, lambda: world.ports_for(S).mwaa.create_environment(S, ENV, {}))
    world.run()
    tables = world.environments.by_region[S].airflow.tables
    assert list(tables["slot_pool"]) == [("default_pool",)]
    assert not tables["variable"] and not tables["connection"]
