"""The recovery workflow on fake ports: when it decides, and the failover steps of each strategy."""

from __future__ import annotations

import pytest

from reference_impl.config import HARDENED, SEED, ProfileConfig
from reference_impl.fencing import read_record, write_record
from reference_impl.layout import ENVIRONMENT_CONFIG_KEY
from reference_impl.ports import THROTTLED, TIMED_OUT, UNREACHABLE
from reference_impl.recovery import recovery_workflow
from tests.unit.dr_fakes import PRIMARY, SECONDARY, FakeWorld, failing, make_world, no_data


def start(world: FakeWorld, until: float) -> None:
    world.driver.spawn(recovery_workflow(world.ctx(SECONDARY)))
    world.driver.run(until)


def decision_times(world: FakeWorld) -> list[float]:
    return [t for t, kind, data in world.journal.events if kind == "decision"]


def calls(world: FakeWorld) -> list[str]:
    """The failover's calls in the secondary, in order."""
    return world.airflow.call_names(SECONDARY)


# Seed: when it decides -------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["ServiceUnavailable", UNREACHABLE, THROTTLED])
def test_seed_fails_over_on_the_first_error(code: str) -> None:
    world = make_world(SEED)
    world.metrics.answer = failing(code, after=500.0)
    start(world, 4000.0)
    assert decision_times(world) == [600.0]
    probes = world.journal.of("probe")
    assert [p["result"] for p in probes] == ["healthy", "unhealthy"]
    assert probes[1]["region"] == PRIMARY
    assert world.airflow.paused[SECONDARY] is False  # the standby took over


def test_seed_misses_an_outage_whose_endpoints_hang() -> None:
    world = make_world(SEED)
    world.metrics.answer = failing(TIMED_OUT, after=500.0)
    start(world, 7200.0)
    assert decision_times(world) == []
    failed_checks = [p for p in world.journal.of("probe") if p["result"] == "unknown"]
    assert len(failed_checks) == 23
    assert all(p["detail"] == "check FAILED: timed out" for p in failed_checks)
    assert calls(world) == []


def test_seed_workflow_ends_after_its_failover() -> None:
    world = make_world(SEED)
    world.metrics.answer = no_data
    start(world, 20000.0)
    assert len(world.journal.of("probe")) == 1  # schedule disabled: no check after it
    assert "recovery workflow: own schedule disabled" in world.journal.notes()


# Hardened: when it decides ---------------------------------------------------------------------
@pytest.mark.parametrize("code", ["ServiceUnavailable", UNREACHABLE, THROTTLED, TIMED_OUT])
def test_hardened_ignores_errors_while_the_canary_is_fresh(code: str) -> None:
    world = make_world(HARDENED)
    world.keep_canary_fresh(until=7200.0)
    world.metrics.answer = failing(code)
    start(world, 7200.0)
    assert decision_times(world) == []
    assert {p["result"] for p in world.journal.of("probe")} == {"unknown"}


def test_hardened_ignores_missing_data_while_the_canary_is_fresh() -> None:
    world = make_world(HARDENED)
    world.keep_canary_fresh(until=7200.0)
    world.metrics.answer = no_data
    start(world, 7200.0)
    assert decision_times(world) == []


def test_hardened_fails_over_when_cloudwatch_fails_and_the_canary_is_stale() -> None:
    world = make_world(HARDENED)
    world.keep_canary_fresh(until=1000.0)  # last canary written at t=960
    world.metrics.answer = failing(UNREACHABLE, after=1000.0)
    start(world, 3000.0)
    # Stale from t=1260 (age > 300): counted checks at 1320, 1380, 1440.
    assert decision_times(world) == [1440.0]
    record = read_record(world.ctx(SECONDARY))
    assert record is not None and record.active == SECONDARY and record.ready


def test_hardened_stops_checking_after_a_completed_failover() -> None:
    world = make_world(HARDENED)
    world.metrics.answer = no_data  # and no canary at all
    start(world, 10000.0)
    assert decision_times(world) == [180.0]
    assert max(t for t, kind, _ in world.journal.events if kind == "probe") == 180.0


# The failover steps ------------------------------------------------------------------------------
def test_seed_warm_standby_steps_in_order() -> None:
    world = make_world(SEED)
    world.metrics.answer = no_data
    start(world, 4000.0)
    assert calls(world) == [
        "trigger:mwaa_dr_cleanup",
        "clear:variable,connection,slot_pool,dag_run,task_instance",
        "trigger:mwaa_dr_restore",
        *[f"import:{t}" for t in ("variable", "connection", "slot_pool", "dag_run")],
        "import:task_instance",
        "unpause",
    ]
    trigger_times = [t for t, call, r, _ in world.airflow.calls if call == "trigger"]
    assert trigger_times[1] - trigger_times[0] >= 30.0  # the cool-off
    restored = world.airflow.region_tables(SECONDARY)
    assert len(restored["dag_run"]) == 3
    assert [r["state"] for r in world.journal.of("restore")] == ["started", "completed"]


def test_hardened_warm_standby_steps_in_order() -> None:
    world = make_world(HARDENED)
    world.metrics.answer = no_data
    start(world, 4000.0)
    assert calls(world) == [
        "trigger:mwaa_dr_restore",  # no cleanup: the restore skips what the standby has
        *[f"import:{t}" for t in ("variable", "connection", "slot_pool", "dag_run")],
        "import:task_instance",
        "unpause",
    ]
    notes = world.journal.notes()
    claimed = next(i for i, n in enumerate(notes) if "record claimed" in n)
    triggered = next(i for i, n in enumerate(notes) if "triggered" in n)
    assert claimed < triggered  # fencing is the first step
    assert notes[-1] == "failover completed"


def test_decision_is_journaled_before_the_steps() -> None:
    world = make_world(SEED)
    world.metrics.answer = no_data
    start(world, 4000.0)
    kinds = [kind for _, kind, _ in world.journal.events]
    assert kinds.index("decision") < kinds.index("restore")


def backup_restore_world(config: ProfileConfig, outcomes: list[str]) -> FakeWorld:
    world = make_world(config, "backup_restore")
    world.mwaa.outcomes = list(outcomes)
    # Healthy for the first check (it saves the primary's configuration), then dead.
    world.metrics.answer = lambda t: [1.0] if t < 400 else []
    return world


def test_backup_restore_saves_the_primary_config_when_healthy() -> None:
    world = backup_restore_world(SEED, [])
    start(world, 350.0)
    saved = world.store.body(SECONDARY, ENVIRONMENT_CONFIG_KEY)
    assert saved is not None
    assert saved["environment"]["EnvironmentClass"] == "mw1"


def test_seed_backup_restore_steps_in_order() -> None:
    world = backup_restore_world(SEED, [])
    start(world, 10000.0)
    assert decision_times(world) == [600.0]
    assert [(c, r) for _, c, r in world.mwaa.calls] == [("create", SECONDARY)]
    created_with = world.mwaa.envs[SECONDARY]["config"]
    assert created_with["EnvironmentClass"] == "mw1" and "Status" not in created_with
    assert calls(world)[0] == "trigger:mwaa_dr_restore"
    assert calls(world)[-1] == "unpause"
    restore_trigger = next(t for t, c, r, _ in world.airflow.calls if c == "trigger")
    assert restore_trigger >= 600.0 + world.mwaa.create_time


def test_seed_polls_through_create_failed_until_its_timeout() -> None:
    world = backup_restore_world(SEED, ["CREATE_FAILED"])
    start(world, 20000.0)
    assert [c for _, c, _ in world.mwaa.calls] == ["create"]  # never deleted, never retried
    assert calls(world) == []  # no restore, no unpause
    notes = world.journal.notes()
    assert "failover: the recovery workflow timed out" in notes
    assert world.clock.now() == 20000.0
    assert world.mwaa.envs[SECONDARY]["Status"] == "CREATE_FAILED"


def test_hardened_deletes_and_retries_a_failed_creation() -> None:
    world = backup_restore_world(HARDENED, ["CREATE_FAILED", "CREATE_FAILED"])
    start(world, 20000.0)
    assert [c for _, c, _ in world.mwaa.calls] == [
        "create",
        "delete",
        "create",
        "delete",
        "create",
    ]
    assert calls(world)[-1] == "unpause"
    assert world.journal.notes()[-1] == "failover completed"


def test_hardened_retries_the_whole_failover_with_backoff() -> None:
    outcomes = ["CREATE_FAILED"] * 3  # every creation of the first attempt fails
    world = backup_restore_world(HARDENED, outcomes)
    start(world, 30000.0)
    creates = [t for t, c, _ in world.mwaa.calls if c == "create"]
    assert len(creates) == 4  # 3 in the first attempt, then the retry succeeds
    assert any("retry in 300s" in n for n in world.journal.notes())
    assert len(decision_times(world)) == 1  # a retry is not a new decision
    assert calls(world)[-1] == "unpause"


def test_hardened_retries_a_failed_restore() -> None:
    world = make_world(HARDENED)
    world.metrics.answer = no_data
    world.airflow.import_failures = 2  # the first two restore runs fail part-way
    start(world, 4000.0)
    triggers = [n for n in calls(world) if n == "trigger:mwaa_dr_restore"]
    assert len(triggers) == 3
    assert calls(world)[-1] == "unpause"
    states = [r["state"] for r in world.journal.of("restore")]
    assert states[-1] == "completed" and states.count("failed") == 2


def test_seed_gives_up_after_one_failed_restore() -> None:
    world = make_world(SEED)
    world.metrics.answer = no_data
    world.airflow.import_failures = 1
    start(world, 4000.0)
    assert "unpause" not in calls(world)
    assert world.journal.notes()[-1] == "failover FAILED; workflow ends"


def test_hardened_does_not_unpause_when_the_record_changed_hands() -> None:
    world = make_world(HARDENED)
    world.metrics.answer = no_data
    # An operator fails back while the restore runs (decision and claim at t=180).
    world.driver.at(
        200.0,
        lambda: write_record(
            world.ctx(SECONDARY), read_record(world.ctx(SECONDARY)), PRIMARY, ready=True, by="op"
        ),
    )
    start(world, 300.0)
    assert "failover: the active-Region record changed; not unpausing" in world.journal.notes()
    assert "unpause" not in calls(world)
