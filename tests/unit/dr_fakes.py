"""Small in-memory fakes of the DR ports and a minimal driver, for the reference_impl unit tests.

Not a simulator: port calls cost no time, nothing fails unless a test says so, S3 replication
happens when a test calls `FakeStore.replicate` (or at once with `auto_replicate`). The driver
runs processes on a fake clock, resuming each after its `Wait`.
"""

from __future__ import annotations

import copy
import functools
import heapq
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.journal import JournalEvents
from reference_impl.backup import backup_task
from reference_impl.config import ProfileConfig, StrategyName
from reference_impl.context import DrContext, Topology
from reference_impl.dags import DR_TASKS
from reference_impl.ports import (
    PRECONDITION_FAILED,
    TABLE_KEYS,
    ImportResult,
    PortError,
    RunState,
    StoredObject,
)
from reference_impl.runtime import Process, Wait

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
ENV = "mwaa-drill-env"


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


class Driver:
    """Runs generator processes and timed callbacks in time order (ties: first come first)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def at(self, t: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (t, next(self._seq), callback))

    def spawn(
        self,
        process: Process[Any],
        on_done: Callable[[Any, BaseException | None], None] | None = None,
    ) -> None:
        def resume() -> None:
            try:
                wait = next(process)
            except StopIteration as stop:
                if on_done:
                    on_done(stop.value, None)
                return
            except Exception as err:
                if on_done is None:
                    raise
                on_done(None, err)
                return
            assert isinstance(wait, Wait), wait
            self.at(self.clock.t + wait.seconds, resume)

        self.at(self.clock.t, resume)

    def run(self, until: float) -> None:
        while self._queue and self._queue[0][0] <= until:
            t, _, callback = heapq.heappop(self._queue)
            self.clock.t = max(self.clock.t, t)
            callback()
        self.clock.t = max(self.clock.t, until)

    def run_process(self, process: Process[Any], until: float = 1e9) -> Any:
        """Run one process (and whatever it starts) until it ends; its result."""
        outcome: dict[str, Any] = {}

        def done(value: Any, error: BaseException | None) -> None:
            outcome["value"], outcome["error"] = value, error

        self.spawn(process, done)
        while "value" not in outcome and self._queue and self._queue[0][0] <= until:
            t, _, callback = heapq.heappop(self._queue)
            self.clock.t = max(self.clock.t, t)
            callback()
        if outcome.get("error") is not None:
            raise outcome["error"]
        return outcome.get("value")


@dataclass
class FakeJournal(JournalEvents):
    clock: FakeClock
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def _record(self, kind: str, **data: Any) -> None:
        self.events.append((self.clock.now(), kind, data))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [data for _, k, data in self.events if k == kind]

    def notes(self) -> list[str]:
        return [str(data["message"]) for data in self.of("note")]


class FakeStore:
    def __init__(self, clock: FakeClock, topology: Topology) -> None:
        self.clock = clock
        self.topology = topology
        self.objects: dict[tuple[str, str], dict[str, StoredObject]] = {}
        self.errors: dict[str, str] = {}  # Region -> error code for every call there
        self.before_put: Callable[[str, str, str], None] | None = None
        self.auto_replicate = False
        self._etags = itertools.count(1)

    def _bucket(self, region: str, bucket: str) -> dict[str, StoredObject]:
        if region in self.errors:
            raise PortError(self.errors[region])
        return self.objects.setdefault((region, bucket), {})

    def put(
        self,
        region: str,
        bucket: str,
        key: str,
        body: Mapping[str, Any],
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        if self.before_put is not None:
            self.before_put(region, bucket, key)
        objects = self._bucket(region, bucket)
        existing = objects.get(key)
        if if_none_match and existing is not None:
            raise PortError(PRECONDITION_FAILED, key)
        if if_match is not None and (existing is None or existing.etag != if_match):
            raise PortError(PRECONDITION_FAILED, key)
        etag = f"etag-{next(self._etags)}"
        objects[key] = StoredObject(key, _copy(body), etag, self.clock.now())
        if self.auto_replicate and region == self.topology.primary:
            self.replicate(key)
        return etag

    def get(self, region: str, bucket: str, key: str) -> StoredObject | None:
        return self._bucket(region, bucket).get(key)

    def list_keys(self, region: str, bucket: str, prefix: str) -> Sequence[str]:
        return sorted(k for k in self._bucket(region, bucket) if k.startswith(prefix))

    def replicate(self, *keys: str) -> None:
        """Copy objects (all when no key is given) from the primary's bucket to the secondary's."""
        source = self.objects.get((self.topology.primary, self.topology.bucket(PRIMARY)), {})
        dest = self.objects.setdefault(
            (self.topology.secondary, self.topology.bucket(SECONDARY)), {}
        )
        for key in keys or tuple(source):
            dest[key] = source[key]

    def body(self, region: str, key: str) -> Mapping[str, Any] | None:
        obj = self.objects.get((region, self.topology.bucket(region)), {}).get(key)
        return None if obj is None else obj.body


def _copy(body: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(body))


class FakeMetrics:
    """Scripted CloudWatch: `answer(t)` returns the datapoints, or raises PortError."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.answer: Callable[[float], Sequence[float]] = lambda t: [1.0]
        self.calls = 0

    def scheduler_heartbeat(
        self, region: str, environment: str, period_s: float
    ) -> Sequence[float]:
        self.calls += 1
        return self.answer(self.clock.now())


def healthy(t: float) -> Sequence[float]:
    return [1.0]


def no_data(t: float) -> Sequence[float]:
    return []


def failing(code: str, after: float = 0.0) -> Callable[[float], Sequence[float]]:
    def answer(t: float) -> Sequence[float]:
        if t >= after:
            raise PortError(code)
        return [1.0]

    return answer


class FakeMwaa:
    """Environments that take `create_time` to create and end as `outcomes` says, in turn
    (then AVAILABLE); `delete_time` to delete."""

    def __init__(self, driver: Driver, create_time: float = 1200.0) -> None:
        self.driver = driver
        self.create_time = create_time
        self.delete_time = 300.0
        self.outcomes: list[str] = []
        self.envs: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[float, str, str]] = []

    def get_environment(self, region: str, name: str) -> Mapping[str, Any] | None:
        env = self.envs.get(region)
        return None if env is None else dict(env)

    def create_environment(self, region: str, name: str, config: Mapping[str, Any]) -> None:
        self.calls.append((self.driver.clock.t, "create", region))
        if region in self.envs:
            raise PortError("ResourceAlreadyExistsException", name)
        self.envs[region] = {"Name": name, "Status": "CREATING", "config": dict(config)}
        outcome = self.outcomes.pop(0) if self.outcomes else "AVAILABLE"

        def finish() -> None:
            if self.envs.get(region, {}).get("Status") == "CREATING":
                self.envs[region]["Status"] = outcome

        self.driver.at(self.driver.clock.t + self.create_time, finish)

    def delete_environment(self, region: str, name: str) -> None:
        self.calls.append((self.driver.clock.t, "delete", region))
        self.envs[region]["Status"] = "DELETING"

        def gone() -> None:
            self.envs.pop(region)

        self.driver.at(self.driver.clock.t + self.delete_time, gone)


def table_key(table: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(column) for column in TABLE_KEYS[table])


class FakeAirflow:
    """Metadata tables, workload pause state and DR DAG runs per Region. A triggered DR DAG
    runs its reference_impl task on the driver, with that Region's context."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.tables: dict[str, dict[str, dict[tuple[Any, ...], dict[str, Any]]]] = {}
        self.paused: dict[str, bool] = {}
        self.runs: dict[str, RunState] = {}
        self.calls: list[tuple[float, str, str, str]] = []  # (t, call, region, detail)
        self.errors: dict[str, str] = {}  # Region -> error code for every call there
        self.import_failures = 0  # the next N imports raise InternalFailure
        self.on_export: Callable[[str, str], None] | None = None  # (region, table) before a read
        # Region -> {workload DAG: logical date of its next run}; a callable of the time, so a
        # paused DAG's next run can move on as in Airflow (default: no workload DAGs).
        self.next_runs: Callable[[str, float], dict[str, str | None]] = lambda region, t: {}
        self._ids = itertools.count(1)

    def _log(self, call: str, region: str, detail: str = "") -> None:
        if region in self.errors:
            raise PortError(self.errors[region])
        self.calls.append((self.world.clock.t, call, region, detail))

    def region_tables(self, region: str) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
        return self.tables.setdefault(region, {table: {} for table in TABLE_KEYS})

    def add_rows(self, region: str, table: str, *rows: dict[str, Any]) -> None:
        for row in rows:
            self.region_tables(region)[table][table_key(table, row)] = dict(row)

    def export_table(self, region: str, environment: str, table: str) -> list[dict[str, Any]]:
        self._log("export", region, table)
        if self.on_export is not None:
            self.on_export(region, table)
        return [dict(row) for row in self.region_tables(region)[table].values()]

    def import_rows(
        self,
        region: str,
        environment: str,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        on_conflict: str,
    ) -> ImportResult:
        self._log("import", region, table)
        if self.import_failures > 0:
            self.import_failures -= 1
            raise PortError("InternalFailure", "import failed")
        target = self.region_tables(region)[table]
        keys = [table_key(table, row) for row in rows]
        if on_conflict == "fail":
            if len(set(keys)) != len(keys) or any(k in target for k in keys):
                return ImportResult(0, 0, len(rows))
            for key, row in zip(keys, rows, strict=True):
                target[key] = dict(row)
            return ImportResult(len(rows), 0, 0)
        inserted = 0
        for key, row in zip(keys, rows, strict=True):
            if key not in target:
                target[key] = dict(row)
                inserted += 1
        return ImportResult(inserted, len(rows) - inserted, 0)

    def clear_tables(self, region: str, environment: str, tables: Sequence[str]) -> None:
        self._log("clear", region, ",".join(tables))
        for table in tables:
            self.region_tables(region)[table].clear()

    def set_workload_paused(self, region: str, environment: str, paused: bool) -> None:
        self._log("pause" if paused else "unpause", region)
        self.paused[region] = paused

    def tasks_in_flight(self, region: str, environment: str) -> int:
        self._log("tasks_in_flight", region)
        # As the simulator: a running workload run is its task running.
        runs = self.region_tables(region)["dag_run"].values()
        return sum(1 for row in runs if row.get("state") == "running")

    def next_scheduled_runs(self, region: str, environment: str) -> dict[str, str | None]:
        self._log("next_runs", region)
        return dict(self.next_runs(region, self.world.clock.t))

    def trigger_dag(
        self, region: str, environment: str, dag_id: str, conf: Mapping[str, Any]
    ) -> str:
        self._log("trigger", region, dag_id)
        run_id = f"{dag_id}-{next(self._ids)}"
        self.runs[run_id] = "running"

        def done(value: Any, error: BaseException | None) -> None:
            self.runs[run_id] = "failed" if error is not None else "success"

        task = DR_TASKS[dag_id](self.world.ctx(region), conf)
        self.world.driver.spawn(task, done)
        return run_id

    def dag_run_state(self, region: str, environment: str, dag_id: str, run_id: str) -> RunState:
        return self.runs[run_id]

    def call_names(self, region: str | None = None) -> list[str]:
        return [
            f"{call}:{detail}" if detail else call
            for _, call, r, detail in self.calls
            if region is None or r == region
        ]


class FakeWorld:
    def __init__(self, config: ProfileConfig, strategy: StrategyName = "warm_standby") -> None:
        self.config = config
        self.strategy: StrategyName = strategy
        self.topology = Topology(PRIMARY, SECONDARY)
        self.clock = FakeClock()
        self.driver = Driver(self.clock)
        self.journal = FakeJournal(self.clock)
        self.store = FakeStore(self.clock, self.topology)
        self.metrics = FakeMetrics(self.clock)
        self.mwaa = FakeMwaa(self.driver)
        self.airflow = FakeAirflow(self)
        self.mwaa.envs[PRIMARY] = {"Name": ENV, "Status": "AVAILABLE", "EnvironmentClass": "mw1"}
        if strategy == "warm_standby":
            self.mwaa.envs[SECONDARY] = {"Name": ENV, "Status": "AVAILABLE"}
        self.airflow.paused = {PRIMARY: False, SECONDARY: True}

    def ctx(self, region: str) -> DrContext:
        return DrContext(
            region=region,
            strategy=self.strategy,
            topology=self.topology,
            config=self.config,
            clock=self.clock,
            metrics=self.metrics,
            store=self.store,
            mwaa=self.mwaa,
            airflow=self.airflow,
            journal=self.journal,
        )

    def write_canary(self, written_at: float) -> None:
        """A canary as the primary's guard writes it, already replicated."""
        body = {"region": PRIMARY, "environment": ENV, "written_at": written_at}
        self.store.objects.setdefault((SECONDARY, self.topology.bucket(SECONDARY)), {})[
            "dr/canary.json"
        ] = StoredObject("dr/canary.json", body, f"canary-{written_at}", written_at)

    def keep_canary_fresh(self, until: float, every: float = 60.0) -> None:
        for i in range(int(until // every) + 1):
            self.driver.at(i * every, functools.partial(self.write_canary, i * every))


def seed_primary(world: FakeWorld, runs: int = 3) -> None:
    """Primary metadata, one backup of it, replicated to the secondary."""
    af = world.airflow
    af.add_rows(PRIMARY, "variable", {"key": "batch_size", "val": "500"})
    af.add_rows(
        PRIMARY,
        "connection",
        {"conn_id": "warehouse", "conn_type": "postgres", "password": "s3cr3t"},
    )
    af.add_rows(PRIMARY, "slot_pool", {"pool": "default_pool", "slots": 128})
    for i in range(runs):
        date = f"2024-01-01T00:{i:02d}:00"
        af.add_rows(PRIMARY, "dag_run", {"dag_id": "w0", "logical_date": date, "state": "success"})
        af.add_rows(
            PRIMARY,
            "task_instance",
            {"dag_id": "w0", "logical_date": date, "task_id": "work", "state": "success"},
        )
    world.driver.run_process(backup_task(world.ctx(PRIMARY), {}))
    world.store.replicate()


def make_world(config: ProfileConfig, strategy: StrategyName = "warm_standby") -> FakeWorld:
    world = FakeWorld(config, strategy)
    world.airflow.add_rows(SECONDARY, "slot_pool", {"pool": "default_pool", "slots": 128})
    seed_primary(world)
    return world
