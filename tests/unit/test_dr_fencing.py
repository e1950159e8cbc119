"""Fencing on fake ports: the active-Region record, the guard, the startup hook, failback."""

from __future__ import annotations

from reference_impl.config import HARDENED, SEED
from reference_impl.context import BACKUP_DAG, GUARD_DAG
from reference_impl.dags import DR_TASKS, scheduled_dr_dags, startup_hook
from reference_impl.failback import failback
from reference_impl.fencing import read_record, write_record
from reference_impl.layout import ACTIVE_REGION_KEY, CANARY_KEY
from reference_impl.ports import UNREACHABLE, StoredObject
from reference_impl.recovery import recovery_workflow
from tests.unit.dr_fakes import PRIMARY, SECONDARY, FakeWorld, make_world, no_data


def set_record(world: FakeWorld, active: str, *, ready: bool = True) -> None:
    ctx = world.ctx(SECONDARY)
    write_record(ctx, read_record(ctx), active, ready=ready, by="test")


def guard(world: FakeWorld, region: str) -> None:
    world.driver.run_process(DR_TASKS[GUARD_DAG](world.ctx(region), {}))


def test_scheduled_dr_dags() -> None:
    seed, hardened = FakeWorld(SEED), FakeWorld(HARDENED)
    assert scheduled_dr_dags(seed.ctx(PRIMARY), 900.0) == {BACKUP_DAG: 900.0}
    assert scheduled_dr_dags(seed.ctx(SECONDARY), 900.0) == {}
    assert scheduled_dr_dags(hardened.ctx(PRIMARY), 900.0) == {BACKUP_DAG: 900.0, GUARD_DAG: 60.0}
    assert scheduled_dr_dags(hardened.ctx(SECONDARY), 900.0) == {GUARD_DAG: 60.0}


def test_failover_lost_race_means_no_failover() -> None:
    world = make_world(HARDENED)
    world.metrics.answer = no_data
    raced: list[str] = []

    def competing_writer(region: str, bucket: str, key: str) -> None:
        # Someone else (an operator, another execution) writes the record first.
        if key == ACTIVE_REGION_KEY and not raced:
            raced.append(key)
            body = {"active": PRIMARY, "epoch": 7, "ready": True}
            world.store.objects[(region, bucket)][key] = StoredObject(key, body, "other", 0.0)

    world.store.before_put = competing_writer
    world.driver.spawn(recovery_workflow(world.ctx(SECONDARY)))
    world.driver.run(200.0)
    assert len(world.journal.of("decision")) == 1
    assert any(n.startswith("failover not started: another writer") for n in world.journal.notes())
    assert world.airflow.call_names(SECONDARY) == []  # no step ran
    record = read_record(world.ctx(SECONDARY))
    assert record is not None and record.active == PRIMARY and record.epoch == 7


def test_guard_pauses_a_region_that_is_not_active_and_writes_the_canary() -> None:
    world = FakeWorld(HARDENED)
    set_record(world, SECONDARY)
    world.clock.t = 120.0
    guard(world, PRIMARY)
    assert world.airflow.paused[PRIMARY] is True
    canary = world.store.body(PRIMARY, CANARY_KEY)
    assert canary is not None and canary["written_at"] == 120.0
    # And never unpauses it by itself, however often it runs.
    for _ in range(3):
        guard(world, PRIMARY)
    assert world.airflow.call_names(PRIMARY) == ["pause"] * 4


def test_guard_leaves_a_region_alone_while_its_failover_restores() -> None:
    world = FakeWorld(HARDENED)
    set_record(world, SECONDARY, ready=False)
    guard(world, SECONDARY)
    assert world.airflow.paused[SECONDARY] is True
    assert world.airflow.call_names(SECONDARY) == []


def test_guard_keeps_the_standby_paused_and_the_primary_running() -> None:
    world = FakeWorld(HARDENED)  # no record: the primary is active
    guard(world, SECONDARY)
    guard(world, PRIMARY)
    assert world.airflow.paused == {PRIMARY: False, SECONDARY: True}


def test_startup_hook_keeps_a_returning_primary_paused() -> None:
    world = FakeWorld(HARDENED)
    set_record(world, SECONDARY)
    world.driver.run_process(startup_hook(world.ctx(PRIMARY)))
    assert world.airflow.paused[PRIMARY] is True
    assert any(
        "stays paused until the record names this Region" in n for n in world.journal.notes()
    )


def test_startup_hook_waits_for_a_readable_record() -> None:
    world = FakeWorld(HARDENED)
    world.store.errors[SECONDARY] = UNREACHABLE  # the primary cannot reach the record
    world.driver.run_process(startup_hook(world.ctx(PRIMARY)))
    assert world.airflow.paused[PRIMARY] is True
    guard(world, PRIMARY)
    assert world.airflow.paused[PRIMARY] is True  # still unknown: still paused
    del world.store.errors[SECONDARY]
    guard(world, PRIMARY)
    assert world.airflow.paused[PRIMARY] is False  # no record: the primary is active


def test_startup_hook_runs_the_primary_when_the_record_says_so() -> None:
    world = FakeWorld(HARDENED)
    world.driver.run_process(startup_hook(world.ctx(PRIMARY)))
    assert world.airflow.call_names(PRIMARY) == ["pause", "unpause"]
    assert world.airflow.paused[PRIMARY] is False


def test_seed_startup_hook_and_failback_do_nothing() -> None:
    world = FakeWorld(SEED)
    world.driver.run_process(startup_hook(world.ctx(PRIMARY)))
    world.driver.run_process(failback(world.ctx(PRIMARY)))
    assert world.airflow.calls == []
    assert world.journal.of("decision") == []


def test_failback_after_a_failover() -> None:
    world = make_world(HARDENED)
    world.metrics.answer = no_data
    world.driver.spawn(recovery_workflow(world.ctx(SECONDARY)))
    world.driver.run(1000.0)
    record = read_record(world.ctx(SECONDARY))
    assert record is not None and record.active == SECONDARY and record.ready
    assert world.airflow.paused[SECONDARY] is False

    # The primary comes back: its startup hook keeps it paused.
    world.driver.run_process(startup_hook(world.ctx(PRIMARY)))
    assert world.airflow.paused[PRIMARY] is True

    world.metrics.answer = lambda t: [1.0]
    world.driver.run_process(failback(world.ctx(PRIMARY)))
    record = read_record(world.ctx(SECONDARY))
    assert record is not None
    assert (record.active, record.epoch, record.ready) == (PRIMARY, 2, True)
    assert world.airflow.paused == {PRIMARY: False, SECONDARY: True}
    assert [d["action"] for d in world.journal.of("decision")] == ["failover", "failback"]

    # The secondary's workflow notices and checks the primary again.
    probes_before = len(world.journal.of("probe"))
    world.driver.run(2000.0)
    assert any("failback seen" in n for n in world.journal.notes())
    assert len(world.journal.of("probe")) > probes_before
    assert world.journal.of("probe")[-1]["result"] == "healthy"


def test_failback_with_nothing_to_fail_back() -> None:
    world = FakeWorld(HARDENED)
    world.driver.run_process(failback(world.ctx(PRIMARY)))
    assert world.journal.of("decision") == []
    assert world.airflow.calls == []


def run_row(date: str, state: str) -> dict[str, object]:
    return {"dag_id": "workload_0", "logical_date": date, "run_id": f"s__{date}", "state": state}


def failed_over_world() -> FakeWorld:
    """A hardened world where the secondary is active and ready, the primary back and fenced."""
    world = make_world(HARDENED)
    world.metrics.answer = no_data
    world.driver.spawn(recovery_workflow(world.ctx(SECONDARY)))
    world.driver.run(1000.0)
    world.driver.run_process(startup_hook(world.ctx(PRIMARY)))
    world.metrics.answer = lambda t: [1.0]
    return world


def test_failback_waits_for_the_secondarys_run_in_flight_then_copies_the_newest_back() -> None:
    world = failed_over_world()
    world.airflow.add_rows(SECONDARY, "dag_run", run_row("D1", "success"), run_row("D2", "running"))
    started = world.clock.t

    # the paused secondary's run in flight ends 50 s into the failback
    world.driver.at(
        started + 50, lambda: world.airflow.add_rows(SECONDARY, "dag_run", run_row("D2", "success"))
    )
    world.driver.run_process(failback(world.ctx(SECONDARY)))

    primary_runs = world.airflow.region_tables(PRIMARY)["dag_run"]
    copied = {k[1]: r["state"] for k, r in primary_runs.items() if k[1] in ("D1", "D2")}
    assert copied == {"D2": "success"}  # the newest run, finished; older ones are not needed
    unpause = [
        t for t, call, region, _ in world.airflow.calls if (call, region) == ("unpause", PRIMARY)
    ]
    assert unpause and unpause[-1] >= started + 50  # not before the run in flight ended
    assert world.airflow.paused == {PRIMARY: False, SECONDARY: True}


def test_failback_goes_on_when_the_runs_cannot_be_copied_back() -> None:
    world = failed_over_world()
    world.airflow.add_rows(SECONDARY, "dag_run", run_row("D1", "success"))
    world.airflow.import_failures = 1
    world.driver.run_process(failback(world.ctx(SECONDARY)))
    assert world.airflow.paused == {PRIMARY: False, SECONDARY: True}
    notes = world.journal.notes()
    assert any(
        n.startswith("failback: dag_run rows not copied back") and "history lacks" in n
        for n in notes
    ), notes
    record = read_record(world.ctx(SECONDARY))
    assert record is not None and (record.active, record.ready) == (PRIMARY, True)


def test_failback_unpauses_the_primary_only_once_its_schedule_passes_the_secondarys() -> None:
    """Airflow's first run after an unpause is the tick it computed at its last parse; the
    failback waits until that tick is no earlier than where the secondary's schedule stopped."""
    world = failed_over_world()
    started = world.clock.t

    def next_runs(region: str, t: float) -> dict[str, str | None]:
        if region == SECONDARY:
            return {"workload_0": "2024-01-01T10:05:00+00:00", "workload_1": None}
        # The primary's parse catches up 90 s into the failback.
        date = "2024-01-01T10:00:00+00:00" if t < started + 90 else "2024-01-01T10:05:00Z"
        return {"workload_0": date, "workload_1": "2024-01-01T09:00:00+00:00"}

    world.airflow.next_runs = next_runs
    world.driver.run_process(failback(world.ctx(SECONDARY)))
    unpause = [
        t for t, call, region, _ in world.airflow.calls if (call, region) == ("unpause", PRIMARY)
    ]
    assert unpause and unpause[-1] >= started + 90
    assert not any("may run again" in n for n in world.journal.notes()), world.journal.notes()
    assert any(n.startswith("failback: waited ") for n in world.journal.notes())
    assert world.airflow.paused == {PRIMARY: False, SECONDARY: True}


def test_failback_unpauses_the_primary_after_its_timeout_and_says_what_may_run_again() -> None:
    world = failed_over_world()
    started = world.clock.t
    world.airflow.next_runs = lambda region, t: {
        "workload_0": "2024-01-01T10:05:00+00:00"
        if region == SECONDARY
        else "2024-01-01T10:00:00+00:00"
    }
    world.driver.run_process(failback(world.ctx(SECONDARY)))
    unpause = [
        t for t, call, region, _ in world.airflow.calls if (call, region) == ("unpause", PRIMARY)
    ]
    limit = HARDENED.failback_schedule_timeout
    assert unpause and started + limit <= unpause[-1] <= started + limit + 120
    notes = [n for n in world.journal.notes() if "may run again" in n]
    assert len(notes) == 1 and "workload_0 next at 2024-01-01T10:00:00" in notes[0], notes
    record = read_record(world.ctx(SECONDARY))
    assert record is not None and (record.active, record.ready) == (PRIMARY, True)
