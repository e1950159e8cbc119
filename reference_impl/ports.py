"""The ports through which DR logic sees the world. Nothing else crosses this boundary.

The simulator (`harness.sim`) and the live stack (`harness.live`, boto3 against emulated AWS
endpoints and real Airflow) each implement every port. Contract tests run the same assertions
against both, so a decision cannot differ between the worlds for the same observations.

Calls return at once (see `runtime`): long operations are started by one call and polled by
another, as in AWS (CreateEnvironment then GetEnvironment; trigger a DAG run then read its state).
Failures raise `PortError` with the AWS error code, or a transport code for calls that never got
an HTTP answer. Region arguments are Region names (`us-east-1`); a call to another Region's
endpoint is a cross-Region call and fails when that Region is unreachable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

# Transport failures (no HTTP answer). AWS error codes are used as they are.
UNREACHABLE = "ConnectionRefused"  # refused at once: the endpoint is down
TIMED_OUT = "TimedOut"  # accepted and never answered: the caller's own timeout fired
THROTTLED = "ThrottlingException"
PRECONDITION_FAILED = "PreconditionFailed"  # a conditional write lost its race


class PortError(Exception):
    """A call that failed. `code` is the AWS error code or one of the transport codes above."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class StoredObject:
    key: str
    body: Mapping[str, Any]  # JSON-compatible; the live store serializes it
    etag: str
    last_modified: float  # seconds since the drill's start, on the store's clock


class Metrics(Protocol):
    """CloudWatch, as the health check uses it."""

    def scheduler_heartbeat(
        self, region: str, environment: str, period_s: float
    ) -> Sequence[float]:
        """GetMetricData of AmazonMWAA/SchedulerHeartbeat (dimensions Environment=<environment>,
        Function=Scheduler) in `region`, statistic Average, one period of `period_s` ending now.
        Returns the datapoint values; empty when there is no datapoint."""
        ...


class ObjectStore(Protocol):
    """S3. Objects written in a bucket with replication configured reach the replica bucket
    in the other Region later (the world decides when, and records it)."""

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
        """PutObject; returns the new ETag. `if_match` / `if_none_match` make it conditional
        and raise PortError(PRECONDITION_FAILED) when the condition does not hold."""
        ...

    def get(self, region: str, bucket: str, key: str) -> StoredObject | None:
        """GetObject; None when there is no such key."""
        ...

    def list_keys(self, region: str, bucket: str, prefix: str) -> Sequence[str]:
        """ListObjectsV2 keys under `prefix`, sorted."""
        ...


class Mwaa(Protocol):
    """The MWAA API of a Region."""

    def get_environment(self, region: str, name: str) -> Mapping[str, Any] | None:
        """GetEnvironment's `Environment` (with at least Name and Status); None if absent."""
        ...

    def create_environment(self, region: str, name: str, config: Mapping[str, Any]) -> None:
        """CreateEnvironment: the environment goes CREATING, then AVAILABLE or CREATE_FAILED."""
        ...

    def delete_environment(self, region: str, name: str) -> None: ...


ConflictPolicy = Literal["fail", "skip"]
RunState = Literal["queued", "running", "success", "failed"]


@dataclass(frozen=True)
class ImportResult:
    inserted: int
    skipped: int  # rows that already existed (policy "skip")
    failed: int  # rows not written because the batch failed (policy "fail": COPY semantics)


# The metadata tables a backup carries, each row a JSON object, and the columns that identify a
# row (a second row with the same key is a conflict). Times are seconds on the drill's clock.
#   variable       key, val
#   connection     conn_id, conn_type, host, login, password (None when not exported)
#   slot_pool      pool, slots
#   dag_run        dag_id, logical_date (str), run_id, state, start_date, end_date, origin_region
#   task_instance  dag_id, logical_date, task_id, state
TABLE_KEYS: Mapping[str, tuple[str, ...]] = {
    "variable": ("key",),
    "connection": ("conn_id",),
    "slot_pool": ("pool",),
    "dag_run": ("dag_id", "logical_date"),
    "task_instance": ("dag_id", "logical_date", "task_id"),
}
BACKUP_TABLES: tuple[str, ...] = tuple(TABLE_KEYS)


class Airflow(Protocol):
    """An environment's Airflow, through its REST API (MWAA InvokeRestApi in AWS)."""

    def export_table(self, region: str, environment: str, table: str) -> list[dict[str, Any]]:
        """All rows of a metadata table (variable, connection, slot_pool, dag_run,
        task_instance), as the REST API shows them, read in one transaction."""
        ...

    def import_rows(
        self,
        region: str,
        environment: str,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        on_conflict: ConflictPolicy,
    ) -> ImportResult:
        """Write rows. "fail": one batch, like COPY: a single existing key fails the whole
        batch. "skip": rows whose key exists are left as they are (idempotent)."""
        ...

    def clear_tables(self, region: str, environment: str, tables: Sequence[str]) -> None:
        """Delete every row of the tables (the warm-standby cleanup before a restore)."""
        ...

    def set_workload_paused(self, region: str, environment: str, paused: bool) -> None:
        """Pause or unpause the workload DAGs (not the DR DAGs)."""
        ...

    def tasks_in_flight(self, region: str, environment: str) -> int:
        """How many workload task instances are queued or running in the Region: work that
        goes on after its DAG is paused (Airflow then never ends the DAG run itself)."""
        ...

    def next_scheduled_runs(self, region: str, environment: str) -> dict[str, str | None]:
        """Per workload DAG, the logical date (ISO 8601) of the run its scheduler creates next,
        as the Region's Airflow has it now; None if it schedules none. Paused or not: with
        catchup=False a paused DAG's next run moves on to the latest due tick as time passes
        (Airflow recomputes it at every parse), and it is never a tick the Region ran."""
        ...

    def trigger_dag(
        self, region: str, environment: str, dag_id: str, conf: Mapping[str, Any]
    ) -> str:
        """Trigger a DR DAG (see reference_impl.dags); returns the run id."""
        ...

    def dag_run_state(
        self, region: str, environment: str, dag_id: str, run_id: str
    ) -> RunState: ...


ProbeResult = Literal["healthy", "unhealthy", "unknown"]


class Journal(Protocol):
    """What the DR logic reports about itself, for the drill history. The world records what
    it sees (environment states, runs, replication); the logic records what only it knows."""

    def probe(self, region: str, result: ProbeResult, detail: str) -> None: ...

    def decision(self, action: str, from_region: str, to_region: str, reason: str) -> None: ...

    def backup(self, region: str, backup_id: str, state: str, **details: Any) -> None: ...

    def restore(
        self,
        region: str,
        backup_id: str,
        state: str,
        reason: str = "",
        sources: Sequence[str] = (),
    ) -> None:
        """`sources`: the backup ids the restored rows came from (more than one: a mixed,
        inconsistent restore)."""
        ...

    def note(self, message: str) -> None: ...
