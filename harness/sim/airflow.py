"""Airflow inside one MWAA environment: metadata tables, the scheduler, the workload DAGs and
the DR DAGs.

The scheduler is up when the environment is AVAILABLE, its Region is not dark and no
environment_failure holds it down. On every (re)start it publishes heartbeats, runs the DR
logic's startup hook, and only when the hook is done schedules anything. When it stops, running
DR tasks are killed (their runs fail), workload runs in flight never finish, heartbeats stop.

Workload DAGs (`catchup=False`) run at ticks k * schedule while the Region is *scheduling*:
scheduler up, environment AVAILABLE, workload unpaused. On (re)activation the latest due tick
runs unless its logical date is already in the metadata (restored runs count); then every later
tick. A logical date never runs twice in one environment. A run starts after the scheduling
latency and succeeds after its duration; it is then written to dag_run and task_instance and
recorded as a `run` event. `scheduling` events mark every change of the Region's scheduling.

DR DAGs run the DR logic's tasks as engine processes with the Region's DrContext: triggered
ones (trigger_dag) and the scheduled ones (`scheduled_dr_dags`, one run at a time per DAG).
A run goes queued -> running -> success, or failed when its task raises or the scheduler dies.
DR runs are kept apart from the metadata tables, which hold the workload's history only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from harness.scenario.model import FaultKind
from harness.sim.engine import Proc
from reference_impl.ports import (
    BACKUP_TABLES,
    TABLE_KEYS,
    ConflictPolicy,
    ImportResult,
    PortError,
    RunState,
)

if TYPE_CHECKING:
    from harness.sim.world import World

# Logical dates are ISO times from a fixed base date: tick k of a 5-minute schedule is
# BASE_DATE + k * 5 min. Any fixed date works; it only has to be the same in both Regions.
BASE_DATE = datetime(2024, 1, 1, tzinfo=UTC)
WORKLOAD_TASK = "work"

DOWN, STARTING, UP = "down", "starting", "up"


def logical_date(due_t: float) -> str:
    return (BASE_DATE + timedelta(seconds=due_t)).isoformat()


def seeded_tables(region: str, role: str) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Metadata of an environment when the drill starts or when it is created.

    Every environment has Airflow's default pool. The primary (`role` "primary") also holds
    variables and a connection with its password: what a restore must carry over. A warm
    standby ("standby") was deployed with its own copy of the connection (its own secret), as
    infrastructure code would; an environment created during the drill ("new") has nothing else.
    """
    tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {name: {} for name in TABLE_KEYS}
    rows: list[tuple[str, dict[str, Any]]] = [("slot_pool", {"pool": "default_pool", "slots": 128})]
    if role == "primary":
        rows += [
            ("variable", {"key": "data_bucket", "val": "s3://analytics-data"}),
            ("variable", {"key": "batch_size", "val": "500"}),
            ("variable", {"key": "alert_email", "val": "oncall@example.com"}),
        ]
    if role in ("primary", "standby"):
        connection = {
            "conn_id": "warehouse",
            "conn_type": "postgres",
            "host": f"warehouse.{region}.internal",
            "login": "etl",
            "password": f"secret-of-{region}",
        }
        rows.append(("connection", connection))
    for table, row in rows:
        tables[table][row_key(table, row)] = row
    return tables


def row_key(table: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(column) for column in TABLE_KEYS[table])


@dataclass
class DrRun:
    dag_id: str
    run_id: str
    conf: Mapping[str, Any]
    state: RunState = "queued"
    start_t: float = math.nan
    proc: Proc | None = None
    restore_imports_left: int | None = None  # restore_failure: imports before it fails


class AirflowEnv:
    def __init__(self, world: World, region: str, name: str, paused: bool, role: str) -> None:
        self.world = world
        self.region = region
        self.name = name
        self.paused = paused
        self.available = False  # MWAA says AVAILABLE (the environment sets it)
        self.tables = seeded_tables(region, role)
        self.rng: random.Random = world.rng(f"airflow:{region}")
        self.cal = world.calibration.airflow
        # The scheduler: `incarnation` changes at every start and stop, so callbacks that
        # belong to an earlier life see they are stale.
        self.scheduler = DOWN
        self.incarnation = 0
        self._restart_pending = False
        self._hook: Proc | None = None
        # Scheduling: `generation` changes whenever scheduling stops or starts.
        self.scheduling = False
        self.generation = 0
        self._pending: set[tuple[str, int]] = set()  # runs about to start, this generation
        self.started: set[tuple[str, int]] = set()  # (dag_id, tick) ever started here
        # DR DAG runs, by run id, in trigger order.
        self.dr_runs: dict[str, DrRun] = {}
        self._last_scheduled: dict[str, DrRun] = {}
        self._run_ids = 0

    # The scheduler -----------------------------------------------------------------------------
    def should_run(self) -> bool:
        return (
            self.available
            and not self.world.network.is_out(self.region)
            and not self.world.environment_failed(self.region)
        )

    def reconcile(self, restart_delay: bool) -> None:
        """Start or stop the scheduler to match the world. A scheduler coming back after a
        fault heals takes `scheduler_restart`; one in a new environment starts at once."""
        if self.should_run():
            if self.scheduler != DOWN or self._restart_pending:
                return
            if restart_delay:
                self._restart_pending = True
                self.world.engine.after(self.cal.scheduler_restart.sample(self.rng), self._restart)
            else:
                self._start()
        elif self.scheduler != DOWN:
            self._stop()

    def _restart(self) -> None:
        self._restart_pending = False
        if self.scheduler == DOWN and self.should_run():
            self._start()

    def _start(self) -> None:
        world = self.world
        self.scheduler = STARTING
        self.incarnation += 1
        incarnation = self.incarnation
        world.cloudwatch.scheduler_up(self.region, self.name, world.engine.t)

        def hook_done(_: Any, error: BaseException | None) -> None:
            if error is not None:
                world.note(f"{self.region}: startup hook failed: {describe(error)}")
            if incarnation == self.incarnation:
                self._scheduler_ready()

        context = world.context(self.region)
        self._hook = world.spawn(
            lambda: world.logic.startup_hook(context),
            f"startup_hook@{self.region}",
            on_done=hook_done,
        )

    def _scheduler_ready(self) -> None:
        self.scheduler = UP
        self._hook = None
        world = self.world
        try:
            schedule = world.logic.scheduled_dr_dags(
                world.context(self.region), world.scenario.backup.interval
            )
        except Exception as error:  # the DR logic's bug: recorded, the trial goes on
            world.note(f"{self.region}: scheduled_dr_dags failed: {describe(error)}")
            schedule = {}
        for dag_id, interval in schedule.items():
            if dag_id not in world.logic.tasks:
                world.note(f"{self.region}: scheduled DR DAG {dag_id} has no task")
                continue
            first = max(1, math.ceil(world.engine.t / interval))
            self._schedule_dr_tick(dag_id, interval, first, self.incarnation)
        for run in self.dr_runs.values():
            if run.state == "queued":
                self._launch(run)
        self.update_scheduling()

    def _stop(self) -> None:
        world = self.world
        self.scheduler = DOWN
        self.incarnation += 1
        world.cloudwatch.scheduler_down(self.region, world.engine.t)
        if self._hook is not None:
            world.engine.kill(self._hook)
            self._hook = None
        for run in self.dr_runs.values():
            if run.state == "running":
                if run.proc is not None:
                    world.engine.kill(run.proc)
                run.state = "failed"
                world.note(f"{self.region}: DR run {run.run_id} failed: the scheduler stopped")
        # Workload runs in flight never finish and leave nothing in the metadata.
        runs = self.tables["dag_run"]
        for key in [key for key, row in runs.items() if row.get("state") == "running"]:
            del runs[key]
        self.update_scheduling()

    # Workload scheduling -----------------------------------------------------------------------
    def update_scheduling(self) -> None:
        active = self.scheduler == UP and self.available and not self.paused
        if active == self.scheduling:
            return
        world = self.world
        self.scheduling = active
        self.generation += 1
        self._pending = set()
        world.history.record(world.engine.t, "scheduling", region=self.region, active=active)
        if active:
            # catchup=False: the latest due tick, unless already done, then every later one.
            tick = math.floor(world.engine.t / world.scenario.workload.schedule + 1e-9)
            self._tick(tick, self.generation)

    def _tick(self, tick: int, generation: int) -> None:
        if generation != self.generation:
            return
        for dag_id in self.world.topology.workload_dags:
            self._consider(dag_id, tick)
        due_next = (tick + 1) * self.world.scenario.workload.schedule
        self.world.engine.at(due_next, lambda: self._tick(tick + 1, generation))

    def _consider(self, dag_id: str, tick: int) -> None:
        key = (dag_id, tick)
        if key in self.started or key in self._pending or self._has_run(dag_id, tick):
            return
        self._pending.add(key)
        generation = self.generation
        latency = self.cal.scheduling_latency.sample(self.rng)
        self.world.engine.after(latency, lambda: self._start_run(dag_id, tick, generation))

    def next_scheduled(self, dag_id: str) -> str:
        """The logical date of the tick this scheduler runs next for `dag_id`, paused or not
        (catchup=False): the latest due tick, unless it started here or is in the metadata,
        then the first later one."""
        tick = math.floor(self.world.engine.t / self.world.scenario.workload.schedule + 1e-9)
        while (dag_id, tick) in self.started or self._has_run(dag_id, tick):
            tick += 1  # finite: only ticks up to the latest due one have runs
        return self.world.logical_date(tick)

    def _has_run(self, dag_id: str, tick: int) -> bool:
        return (dag_id, self.world.logical_date(tick)) in self.tables["dag_run"]

    def _start_run(self, dag_id: str, tick: int, generation: int) -> None:
        key = (dag_id, tick)
        self._pending.discard(key)
        if generation != self.generation or key in self.started or self._has_run(dag_id, tick):
            return
        self.started.add(key)
        start_t = self.world.engine.t
        # A running run is in the metadata, as Airflow's REST API shows it (a failback waits
        # for it); backups leave running rows out.
        date = self.world.logical_date(tick)
        self.tables["dag_run"][(dag_id, date)] = {
            "dag_id": dag_id,
            "logical_date": date,
            "run_id": f"scheduled__{date}",
            "state": "running",
            "start_date": start_t,
            "end_date": None,
            "origin_region": self.region,
        }
        incarnation = self.incarnation
        duration = self.cal.workload_run.sample(self.rng)
        self.world.engine.after(duration, lambda: self._end_run(dag_id, tick, start_t, incarnation))

    def _end_run(self, dag_id: str, tick: int, start_t: float, incarnation: int) -> None:
        if incarnation != self.incarnation:
            return  # the scheduler died under it: the run never finishes
        world = self.world
        end_t = world.engine.t
        date = world.logical_date(tick)
        key = (dag_id, date)
        self.tables["dag_run"][key] = {
            "dag_id": dag_id,
            "logical_date": date,
            "run_id": f"scheduled__{date}",
            "state": "success",
            "start_date": start_t,
            "end_date": end_t,
            "origin_region": self.region,
        }
        self.tables["task_instance"][(dag_id, date, WORKLOAD_TASK)] = {
            "dag_id": dag_id,
            "logical_date": date,
            "task_id": WORKLOAD_TASK,
            "state": "success",
        }
        world.history.record(
            end_t,
            "run",
            region=self.region,
            dag_id=dag_id,
            logical_date=date,
            due_t=tick * world.scenario.workload.schedule,
            start_t=start_t,
            state="success",
        )

    # DR DAGs --------------------------------------------------------------------------------------
    def trigger(self, dag_id: str, conf: Mapping[str, Any], kind: str = "manual") -> DrRun:
        if dag_id not in self.world.logic.tasks:
            raise PortError("NotFound", f"no DAG {dag_id}")
        self._run_ids += 1
        run = DrRun(dag_id, f"{kind}__{dag_id}__{self._run_ids}", dict(conf))
        self.dr_runs[run.run_id] = run
        if self.scheduler == UP:
            self._launch(run)
        return run

    def _launch(self, run: DrRun) -> None:
        incarnation = self.incarnation
        latency = self.cal.task_start_latency.sample(self.rng)
        self.world.engine.after(latency, lambda: self._run_task(run, incarnation))

    def _run_task(self, run: DrRun, incarnation: int) -> None:
        if incarnation != self.incarnation or run.state != "queued":
            return  # stays queued: the next scheduler start launches it
        world = self.world
        run.state = "running"
        run.start_t = world.engine.t

        def done(_: Any, error: BaseException | None) -> None:
            run.state = "failed" if error is not None else "success"
            if error is not None:
                world.note(f"{self.region}: DR run {run.run_id} failed: {describe(error)}")

        task = world.logic.tasks[run.dag_id]
        context = world.context(self.region)
        run.proc = world.spawn(
            lambda: task(context, run.conf), f"{run.run_id}@{self.region}", on_done=done, tag=run
        )

    def _schedule_dr_tick(self, dag_id: str, interval: float, tick: int, incarnation: int) -> None:
        def fire() -> None:
            if incarnation != self.incarnation:
                return
            last = self._last_scheduled.get(dag_id)
            if last is None or last.state in ("success", "failed"):  # one run at a time
                self._last_scheduled[dag_id] = self.trigger(dag_id, {}, kind="scheduled")
            self._schedule_dr_tick(dag_id, interval, tick + 1, incarnation)

        self.world.engine.at(tick * interval, fire)

    def run_state(self, run_id: str) -> RunState:
        run = self.dr_runs.get(run_id)
        if run is None:
            raise PortError("NotFound", f"no DAG run {run_id}")
        return run.state

    # Metadata ---------------------------------------------------------------------------------
    def table(self, name: str) -> dict[tuple[Any, ...], dict[str, Any]]:
        found = self.tables.get(name)
        if found is None:
            raise PortError("BadRequest", f"no table {name}")
        return found

    def import_rows(
        self, table: str, rows: Sequence[Mapping[str, Any]], on_conflict: str
    ) -> ImportResult:
        target = self.table(table)
        self._restore_failure()
        keys = [row_key(table, row) for row in rows]
        if on_conflict == "fail":
            # COPY: one batch; a key already there (or twice in the batch) fails all of it.
            if len(set(keys)) != len(keys) or any(key in target for key in keys):
                return ImportResult(inserted=0, skipped=0, failed=len(rows))
            for key, row in zip(keys, rows, strict=True):
                target[key] = dict(row)
            return ImportResult(inserted=len(rows), skipped=0, failed=0)
        inserted = skipped = 0
        for key, row in zip(keys, rows, strict=True):
            if key in target:
                skipped += 1
            else:
                target[key] = dict(row)
                inserted += 1
        return ImportResult(inserted=inserted, skipped=skipped, failed=0)

    def _restore_failure(self) -> None:
        """restore_failure: a DR run started in the fault window fails, with the fault's
        probability, part-way through its restore: after 1..n-1 tables were imported."""
        proc = self.world.engine.current
        run = proc.tag if proc is not None else None
        if not isinstance(run, DrRun):
            return
        if run.restore_imports_left is None:
            faults = self.world.faults.active(FaultKind.RESTORE_FAILURE, self.region, run.start_t)
            doomed = any(self.rng.random() < fault.params["probability"] for fault in faults)
            run.restore_imports_left = self.rng.randint(1, len(BACKUP_TABLES) - 1) if doomed else -1
        if run.restore_imports_left < 0:
            return
        if run.restore_imports_left == 0:
            raise PortError("InternalFailure", "the restore failed part-way (restore_failure)")
        run.restore_imports_left -= 1

    def successful_runs(self) -> list[list[str]]:
        """[dag_id, logical_date] of every successful dag_run row, for the inventory."""
        return [
            [str(row["dag_id"]), str(row["logical_date"])]
            for row in self.tables["dag_run"].values()
            if row.get("state") == "success"
        ]


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class AirflowPort:
    """reference_impl.ports.Airflow for DR code running in `caller`: the REST API of the
    environment named, which must be AVAILABLE (its scheduler need not be up)."""

    def __init__(self, world: World, caller: str) -> None:
        self.world = world
        self.caller = caller
        self.cal = world.calibration.airflow

    def _env(self, region: str, environment: str) -> AirflowEnv:
        world = self.world
        world.network.check(self.caller, region)
        world.engine.charge(self.cal.call)
        env = world.environments.get(region, environment)
        if env is None:
            raise PortError("ResourceNotFoundException", f"no environment {environment}")
        if not env.airflow.available:
            raise PortError("ValidationException", f"environment {environment} is {env.state}")
        return env.airflow

    def export_table(self, region: str, environment: str, table: str) -> list[dict[str, Any]]:
        env = self._env(region, environment)
        rows = [dict(row) for row in env.table(table).values()]
        self.world.engine.charge(self.cal.export.cost(len(rows)))
        return rows

    def import_rows(
        self,
        region: str,
        environment: str,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        on_conflict: ConflictPolicy,
    ) -> ImportResult:
        env = self._env(region, environment)
        self.world.engine.charge(self.cal.import_.cost(len(rows)))
        return env.import_rows(table, rows, on_conflict)

    def clear_tables(self, region: str, environment: str, tables: Sequence[str]) -> None:
        env = self._env(region, environment)
        targets = [env.table(name) for name in tables]  # every name checked before any delete
        for target in targets:
            target.clear()
        self.world.engine.charge(self.cal.clear)

    def set_workload_paused(self, region: str, environment: str, paused: bool) -> None:
        env = self._env(region, environment)
        env.paused = paused
        env.update_scheduling()

    def tasks_in_flight(self, region: str, environment: str) -> int:
        env = self._env(region, environment)
        # A workload run's task row is written when it ends: a running run is its task running.
        return sum(1 for row in env.table("dag_run").values() if row["state"] == "running")

    def next_scheduled_runs(self, region: str, environment: str) -> dict[str, str | None]:
        env = self._env(region, environment)
        return {dag_id: env.next_scheduled(dag_id) for dag_id in self.world.topology.workload_dags}

    def trigger_dag(
        self, region: str, environment: str, dag_id: str, conf: Mapping[str, Any]
    ) -> str:
        return self._env(region, environment).trigger(dag_id, conf).run_id

    def dag_run_state(self, region: str, environment: str, dag_id: str, run_id: str) -> RunState:
        env = self._env(region, environment)
        state = env.run_state(run_id)
        if env.dr_runs[run_id].dag_id != dag_id:
            raise PortError("NotFound", f"no run {run_id} of {dag_id}")
        return state
