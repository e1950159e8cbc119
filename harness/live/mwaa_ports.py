"""The live Mwaa and Airflow ports: boto3 `mwaa` clients against the Regions of `LiveAws`.

    mwaa, airflow = live_mwaa_ports(aws, "us-west-2", clock, workload_dags=["canary"])
    mwaa.create_environment("us-east-1", "env", {...CreateEnvironment parameters...})
    airflow.trigger_dag("us-east-1", "env", "dr_restore", {"backup_id": "b1"})

As `harness.live.ports`: a port is made for the caller's Region, every call goes to the
*target* Region's endpoint (its fault proxy; LiveAws clients already have
`Config(inject_host_prefix=False)`), and failures are `PortError`s through `translate_error`.
GetEnvironment's ResourceNotFoundException is None. InvokeRestApi answers of Airflow 4xx/5xx
come as RestApiClientException / RestApiServerException; a 404 of Airflow (no such DAG or
run) is PortError("NotFound"), as the simulator says; every other one keeps MWAA's code with
Airflow's status and body in the message.

The Airflow port speaks the stable REST API of the environment's Airflow line through
InvokeRestApi: Airflow 3 (paths relative to /api/v2) or 2.10 (/api/v1). The line comes from
the environment's AirflowVersion (GetEnvironment, once per environment and port); what differs
is `harness.live.airflow_api.RestDialect`. Row formats are those of
`reference_impl.ports.TABLE_KEYS`:

    variable       GET /variables (paged)          key, val <- key, value
    connection     GET /connections (paged)        conn_id, conn_type, host, login, password
    slot_pool      GET /pools (paged)              pool, slots <- name, slots
    dag_run        POST /dags/~/dagRuns/list       finished (success/failed) and running
                                                   runs of the workload DAGs (a backup
                                                   leaves running ones out; a failback
                                                   waits for them)
    task_instance  POST /dags/~/dagRuns/~/         task instances of the workload DAGs in a
                   taskInstances/list              finished state

Imports: variable, connection and slot_pool are one bulk PATCH on Airflow 3 (`action:
create`, `action_on_existence` "fail" or "skip"); Airflow answers 200 even when entities
failed, so the BODY's `errors` decide. Airflow 2.10 has no bulk endpoints: the existing keys
are listed, then every new entity is one POST (409: created meanwhile, counted as existing).
dag_run rows are POSTed one by one (`POST /dags/{id}/dagRuns`, with the
logical date, a short deterministic run id and the row's origin in `conf`), then PATCHed to
their state; task_instance rows are PATCHed onto the task instances of the restored run.

DRIFT RISKS (where this differs from the simulator's `harness.sim.airflow.AirflowPort`):
- Not one transaction: an export is several paged reads; rows written between pages can be
  missed or seen twice (pages are bounded by `max_pages`, then RuntimeError).
- Secrets: Airflow masks connection passwords (and sensitive variables) as "***": exported
  passwords are None; a masked variable value is exported as "***" (the simulator exports
  everything in clear).
- "fail" on variable/connection/slot_pool relies on Airflow's bulk create refusing the whole
  action when any key exists; duplicate keys inside a batch fail it here, before any call. If
  Airflow reports some entities created and some failed, the result says so (inserted and
  failed both non-zero), which the simulator never does.
- Airflow 2.10: "fail" and "skip" on variable/connection/slot_pool are decided from a list of
  the existing keys, then one POST per new entity: not atomic (a failure part-way leaves the
  entities already POSTed), and a variable created between the list and its POST is
  overwritten (POST /variables is an upsert in 2.10).
- "fail" on dag_run is checked first (a list of existing runs), then the runs are POSTed one
  by one: not atomic, a concurrent writer or a failure part-way leaves a partial import
  (PortError raised, rows already written stay).
- dag_run: restored runs are `manual` runs with run id `r__<hash>` (Airflow refuses
  `scheduled__` ids): compare runs by (dag_id, logical_date). Their start_date/end_date are
  those of the restore in Airflow; the exported row takes the original ones (and
  origin_region) back from the run's conf when the run was restored by this port. Times of
  runs Airflow ran itself are its own start/end on the drill clock. logical_date is ISO 8601
  in UTC as Python's isoformat writes it (Airflow's "Z" normalized to "+00:00").
- task_instance rows only exist with their DAG run (Airflow creates them with the run);
  importing a task_instance whose run is absent is a foreign-key violation: "fail" fails the
  whole batch (ImportResult failed), "skip" leaves it out (skipped). The simulator does not
  check that key: a torn backup's orphan task rows import there. Importing one that exists
  with "fail" fails the batch only if the TI already has a finished state.
- Setting a restored run's state makes Airflow mark its task instances "skipped"; an import
  treats those of runs restored by this port (ORIGIN_KEY in conf) as not there yet, so the
  task_instance rows of a backup still import after its dag_run rows, as in the simulator.
  Airflow 2.10 marks them "success" when the run is set to success ("skipped" when failed):
  there a task row imported into a restored run with the same state as its placeholder is
  indistinguishable from it, so importing it again with "fail" does not fail (harmless for
  the DR logic: the dag_run rows, imported first, do fail).
- task_instance exports hold the task instances of finished runs only (as the simulator,
  which writes a run's task rows with the run).
- clear_tables: default_pool cannot be deleted in Airflow and is kept; dag_run and
  task_instance are cleared by deleting every run of the workload DAGs (task instances go
  with their runs), so clearing either clears both.
- dag_run export leaves out runs without a logical date (triggered with logical_date null,
  as trigger_dag does): they have no (dag_id, logical_date) key.
- DR DAG runs (trigger_dag) live in the same Airflow tables; exports only show runs of the
  `workload_dags` given, so they stay apart as in the simulator.
- set_workload_paused pauses exactly the `workload_dags` given (the simulator knows its
  topology's workload DAGs itself); next_scheduled_runs reads exactly those DAGs.
- tasks_in_flight counts workload task instances queued, running, restarting or deferred;
  the simulator counts running workload runs (its runs are their one task).
- next_scheduled_runs is Airflow's DagModel.next_dagrun, recomputed when the DAG file is
  parsed (every `dag_dir_refresh_s` in drills) and when the scheduler creates a run: a paused
  DAG's next run moves on at parses only, not continuously as in the simulator. Live, it
  counts only runs Airflow scheduled itself (restored runs are `manual` and do not move it,
  unless one has exactly its logical date); the simulator counts every run in its metadata.
- InvokeRestApi paths are at most 64 characters: long DAG or run ids make a call fail with
  ValidationException. trigger_dag picks short run ids (`dr__<12 hex>`).
- Retries are botocore's: a trigger or import whose answer was lost can be applied twice.
- The environment must be AVAILABLE (or UPDATE_FAILED) in the live MWAA; the simulator
  accepts AVAILABLE only. Any other state is ValidationException in both.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ParamValidationError

from harness.live.airflow_api import COLLECTIONS, RestDialect, dialect_for
from harness.live.ports import (
    ClientFactory,
    DrillClock,
    aws_clients,
    client_error_code,
    translate_error,
)
from reference_impl.ports import (
    TABLE_KEYS,
    ConflictPolicy,
    ImportResult,
    PortError,
    RunState,
)

if TYPE_CHECKING:
    from harness.live.endpoints import LiveAws

NOT_FOUND = "NotFound"  # the simulator's code for a DAG or run that does not exist
BAD_REQUEST = "BadRequest"
MASKED = "***"
FINISHED_RUN_STATES = ("success", "failed")
EXPORTED_RUN_STATES = (*FINISHED_RUN_STATES, "running")  # as the simulator's dag_run table
FINISHED_TI_STATES = ("success", "failed", "skipped", "upstream_failed", "removed")
# Task states Airflow moves on while the DAG is paused (a scheduled or up_for_retry task of a
# paused DAG is never queued, so it is not in flight)
IN_FLIGHT_TI_STATES = ("queued", "running", "restarting", "deferred")
ORIGIN_KEY = "mwaa_drill_origin"  # the conf key of a restored run's original row
DEFAULT_POOL = "default_pool"
MAX_PATH = 64


def live_mwaa_ports(
    aws: LiveAws,
    caller: str,
    clock: DrillClock,
    workload_dags: Sequence[str],
    *,
    defaults: Mapping[str, Any] | None = None,
    **settings: Any,
) -> tuple[LiveMwaa, LiveAirflow]:
    """The Mwaa and Airflow ports of DR code running in `caller`."""
    if caller not in aws.regions:
        raise ValueError(f"caller {caller!r} is not a Region of this LiveAws: {aws.regions}")
    clients = aws_clients(aws, caller, **settings)
    return (
        LiveMwaa(clients, caller, defaults=defaults),
        LiveAirflow(clients, caller, clock, workload_dags),
    )


@contextmanager
def _translated() -> Iterator[None]:
    """PortErrors of world failures; Airflow's 404 behind InvokeRestApi is NotFound."""
    try:
        yield
    except ClientError as err:
        code = client_error_code(err)
        status = err.response.get("RestApiStatusCode")
        if code == "RestApiClientException" and status == 404:
            raise PortError(NOT_FOUND, str(err.response.get("RestApiResponse", ""))) from err
        if code.startswith("RestApi"):
            detail = f"Airflow {status}: {err.response.get('RestApiResponse')}"
            raise PortError(code, detail) from err
        port_error = translate_error(err)
        if port_error is None:
            raise
        raise port_error from err
    except Exception as err:
        port_error = translate_error(err)
        if port_error is None or port_error is err:
            raise
        raise port_error from err


# Mwaa -----------------------------------------------------------------------------------------


class LiveMwaa:
    """reference_impl.ports.Mwaa for DR code running in `caller`, against the MWAA API.

    `defaults`: CreateEnvironment parameters used when the config given lacks them (the
    simulator needs none; the MWAA API requires ExecutionRoleArn, SourceBucketArn, DagS3Path
    and NetworkConfiguration). `region_overrides`: per target Region, parameters that replace
    the config's (a configuration saved from the primary names the primary's DAG bucket; an
    environment created in the secondary must use the secondary's). A "Name" in the config is
    ignored: the name argument wins."""

    def __init__(
        self,
        clients: ClientFactory,
        caller: str,
        *,
        defaults: Mapping[str, Any] | None = None,
        region_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.clients = clients
        self.caller = caller
        self.defaults = dict(defaults or {})
        self.region_overrides = {k: dict(v) for k, v in (region_overrides or {}).items()}

    def get_environment(self, region: str, name: str) -> Mapping[str, Any] | None:
        client = self.clients("mwaa", region)
        try:
            with _translated():
                answer = client.get_environment(Name=name)
        except PortError as err:
            if err.code == "ResourceNotFoundException":
                return None
            raise
        return dict(json_plain(answer["Environment"]))

    def create_environment(self, region: str, name: str, config: Mapping[str, Any]) -> None:
        request = {
            **self.defaults,
            **{k: v for k, v in config.items() if k != "Name"},
            **self.region_overrides.get(region, {}),
        }
        client = self.clients("mwaa", region)
        try:
            with _translated():
                client.create_environment(Name=name, **request)
        except ParamValidationError as err:  # boto3 refuses it before sending, as the sim does
            raise PortError("ValidationException", str(err)) from err

    def delete_environment(self, region: str, name: str) -> None:
        client = self.clients("mwaa", region)
        with _translated():
            client.delete_environment(Name=name)


# Airflow --------------------------------------------------------------------------------------


def json_plain(value: Any) -> Any:
    """boto3's answer as the JSON the API sent: datetimes back to ISO 8601 strings (DR code
    stores what it reads in S3, as JSON; the simulator's answers are plain JSON already)."""
    if isinstance(value, datetime):
        return normalize_date(value.isoformat())
    if isinstance(value, Mapping):
        return {str(k): json_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_plain(v) for v in value]
    return value


def normalize_date(value: Any) -> str | None:
    """An Airflow datetime as Python's UTC isoformat (None stays None)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def restored_run_id(dag_id: str, logical_date: str) -> str:
    """A short run id, the same for the same (dag_id, logical_date) (InvokeRestApi paths are
    at most 64 characters; Airflow refuses `scheduled__` ids)."""
    digest = hashlib.sha256(f"{dag_id}\0{logical_date}".encode()).hexdigest()
    return f"r__{digest[:12]}"


def _check_table(table: str) -> None:
    if table not in TABLE_KEYS:
        raise PortError(BAD_REQUEST, f"no table {table}")


def _key(table: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(column) for column in TABLE_KEYS[table])


class LiveAirflow:
    """reference_impl.ports.Airflow for DR code running in `caller`, through InvokeRestApi."""

    def __init__(
        self,
        clients: ClientFactory,
        caller: str,
        clock: DrillClock,
        workload_dags: Sequence[str],
        *,
        max_pages: int = 100,
        page_size: int = 100,
        new_run_id: Callable[[], str] | None = None,
    ) -> None:
        self.clients = clients
        self.caller = caller
        self.clock = clock
        self.workload_dags = tuple(workload_dags)
        self.max_pages = max_pages
        self.page_size = min(page_size, 100)  # Airflow caps list limits at 100
        self.new_run_id = new_run_id or (lambda: f"dr__{uuid.uuid4().hex[:12]}")
        self._dialects: dict[tuple[str, str], RestDialect] = {}

    def dialect(self, region: str, environment: str) -> RestDialect:
        """The REST dialect of the environment's Airflow, from its AirflowVersion (asked once
        per environment; an unknown environment is ResourceNotFoundException)."""
        key = (region, environment)
        if key not in self._dialects:
            client = self.clients("mwaa", region)
            with _translated():
                answer = client.get_environment(Name=environment)
            version = str(answer["Environment"].get("AirflowVersion", ""))
            try:
                self._dialects[key] = dialect_for(version)
            except ValueError as err:
                raise PortError("ValidationException", str(err)) from err
        return self._dialects[key]

    # REST -----------------------------------------------------------------------------------
    def _rest(
        self,
        region: str,
        environment: str,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        kwargs: dict[str, Any] = {"Name": environment, "Path": path, "Method": method}
        if query:
            kwargs["QueryParameters"] = dict(query)
        if body is not None:
            kwargs["Body"] = body
        client = self.clients("mwaa", region)
        with _translated():
            answer = client.invoke_rest_api(**kwargs)
        return answer.get("RestApiResponse")

    def _get_pages(self, region: str, environment: str, path: str, field: str) -> list[Any]:
        items: list[Any] = []
        for page in range(self.max_pages):
            query = {"limit": str(self.page_size), "offset": str(page * self.page_size)}
            answer = self._rest(region, environment, "GET", path, query=query)
            got = list(answer.get(field) or [])
            items.extend(got)
            total = answer.get("total_entries")
            if len(got) < self.page_size or (isinstance(total, int) and len(items) >= total):
                return items
        raise RuntimeError(f"GET {path}: more than {self.max_pages} pages")

    def _post_pages(
        self, region: str, environment: str, path: str, field: str, body: Mapping[str, Any]
    ) -> list[Any]:
        items: list[Any] = []
        for page in range(self.max_pages):
            request = {**body, "page_limit": self.page_size, "page_offset": page * self.page_size}
            answer = self._rest(region, environment, "POST", path, body=request)
            got = list(answer.get(field) or [])
            items.extend(got)
            total = answer.get("total_entries")
            if len(got) < self.page_size or (isinstance(total, int) and len(items) >= total):
                return items
        raise RuntimeError(f"POST {path}: more than {self.max_pages} pages")

    def _runs(self, region: str, environment: str, states: Sequence[str] = ()) -> list[Any]:
        if not self.workload_dags:
            return []
        dialect = self.dialect(region, environment)
        body = dialect.runs_list_body(list(self.workload_dags), list(states))
        return self._post_pages(region, environment, "/dags/~/dagRuns/list", "dag_runs", body)

    def _drill_time(self, value: Any) -> float | None:
        if value is None:
            return None
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return self.clock.drill_time_of(parsed.timestamp())

    # Export ---------------------------------------------------------------------------------
    def export_table(self, region: str, environment: str, table: str) -> list[dict[str, Any]]:
        _check_table(table)
        if table in COLLECTIONS:
            path, field, _ = COLLECTIONS[table]
            items = self._get_pages(region, environment, path, field)
            return [self._port_row(table, item) for item in items]
        if table == "dag_run":
            runs = self._runs(region, environment, EXPORTED_RUN_STATES)
            return [self._run_row(region, run) for run in runs if run.get("logical_date")]
        if not self.workload_dags:
            return []
        # Task instances of finished runs only: Airflow marks a task done seconds before its
        # run, and a task row without its run cannot be restored (in the simulator a run's
        # task rows are written with the run). Runs are listed first: a run that finishes
        # between the two reads has its tasks left out, never the other way round.
        finished = {
            (run.get("dag_id"), run.get("dag_run_id"))
            for run in self._runs(region, environment, FINISHED_RUN_STATES)
        }
        body = {"dag_ids": list(self.workload_dags), "state": list(FINISHED_TI_STATES)}
        items = self._post_pages(
            region, environment, "/dags/~/dagRuns/~/taskInstances/list", "task_instances", body
        )
        dialect = self.dialect(region, environment)
        return [
            {
                "dag_id": item.get("dag_id"),
                "logical_date": normalize_date(dialect.ti_logical_date(item)),
                "task_id": item.get("task_id"),
                "state": item.get("state"),
            }
            for item in items
            if (item.get("dag_id"), item.get("dag_run_id")) in finished
        ]

    @staticmethod
    def _port_row(table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        if table == "variable":
            return {"key": item.get("key"), "val": item.get("value")}
        if table == "slot_pool":
            return {"pool": item.get("name"), "slots": item.get("slots")}
        password = item.get("password")
        return {
            "conn_id": item.get("connection_id"),
            "conn_type": item.get("conn_type"),
            "host": item.get("host"),
            "login": item.get("login"),
            "password": None if password in (None, "", MASKED) else password,
        }

    def _run_row(self, region: str, run: Mapping[str, Any]) -> dict[str, Any]:
        conf = run.get("conf") or {}
        origin = conf.get(ORIGIN_KEY) if isinstance(conf, Mapping) else None
        row = {
            "dag_id": run.get("dag_id"),
            "logical_date": normalize_date(run.get("logical_date")),
            "run_id": run.get("dag_run_id"),
            "state": run.get("state"),
            "start_date": self._drill_time(run.get("start_date")),
            "end_date": self._drill_time(run.get("end_date")),
            "origin_region": region,
        }
        if isinstance(origin, Mapping):
            for column in ("run_id", "start_date", "end_date", "origin_region"):
                if column in origin:
                    row[column] = origin[column]
        return row

    # Import ---------------------------------------------------------------------------------
    def import_rows(
        self,
        region: str,
        environment: str,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        on_conflict: ConflictPolicy,
    ) -> ImportResult:
        _check_table(table)
        if on_conflict not in ("fail", "skip"):
            raise ValueError(f"on_conflict is 'fail' or 'skip', got {on_conflict!r}")
        if not rows:
            return ImportResult(inserted=0, skipped=0, failed=0)
        # Duplicate keys inside the batch: "fail" fails it all; "skip" keeps the first.
        unique: dict[tuple[Any, ...], Mapping[str, Any]] = {}
        for row in rows:
            unique.setdefault(_key(table, row), row)
        duplicates = len(rows) - len(unique)
        if duplicates and on_conflict == "fail":
            return ImportResult(inserted=0, skipped=0, failed=len(rows))
        batch = list(unique.values())
        if table in COLLECTIONS and self.dialect(region, environment).bulk:
            result = self._bulk_create(region, environment, table, batch, on_conflict)
        elif table in COLLECTIONS:
            result = self._create_each(region, environment, table, batch, on_conflict)
        elif table == "dag_run":
            result = self._import_runs(region, environment, batch, on_conflict)
        else:
            result = self._import_task_instances(region, environment, batch, on_conflict)
        return ImportResult(result.inserted, result.skipped + duplicates, result.failed)

    @staticmethod
    def _entity(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
        if table == "variable":
            value = row.get("val")
            return {"key": row["key"], "value": value if isinstance(value, str) else str(value)}
        if table == "slot_pool":
            return {"name": row["pool"], "slots": row["slots"]}
        entity: dict[str, Any] = {"connection_id": row["conn_id"], "conn_type": row["conn_type"]}
        for column in ("host", "login", "password"):
            if row.get(column) is not None:
                entity[column] = row[column]
        return entity

    def _bulk_create(
        self,
        region: str,
        environment: str,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        on_conflict: ConflictPolicy,
    ) -> ImportResult:
        dialect = self.dialect(region, environment)
        entities = [self._entity(table, row) for row in rows]
        body = dialect.bulk_body("create", entities, on_conflict)
        answer = self._rest(region, environment, "PATCH", COLLECTIONS[table][0], body=body)
        outcome = (answer or {}).get("create") or {}
        created = len(outcome.get("success") or [])
        errors = list(outcome.get("errors") or [])
        if on_conflict == "fail":
            if errors:
                return ImportResult(inserted=created, skipped=0, failed=len(rows) - created)
            return ImportResult(inserted=created, skipped=0, failed=0)
        if errors:
            raise PortError("BulkImportFailed", f"{table}: {errors}")
        return ImportResult(inserted=created, skipped=len(rows) - created, failed=0)

    def _create_each(
        self,
        region: str,
        environment: str,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        on_conflict: ConflictPolicy,
    ) -> ImportResult:
        """Airflow 2.10: list the existing keys, then one POST per new entity."""
        column = TABLE_KEYS[table][0]
        existing = {row[column] for row in self.export_table(region, environment, table)}
        if on_conflict == "fail" and any(row[column] in existing for row in rows):
            return ImportResult(inserted=0, skipped=0, failed=len(rows))
        inserted = skipped = 0
        for row in rows:
            if row[column] in existing:
                skipped += 1
                continue
            entity = self._entity(table, row)
            try:
                self._rest(region, environment, "POST", COLLECTIONS[table][0], body=entity)
            except PortError as err:
                if on_conflict == "skip" and "409" in err.message:  # created meanwhile
                    skipped += 1
                    continue
                raise
            inserted += 1
        return ImportResult(inserted=inserted, skipped=skipped, failed=0)

    def _import_runs(
        self,
        region: str,
        environment: str,
        rows: Sequence[Mapping[str, Any]],
        on_conflict: ConflictPolicy,
    ) -> ImportResult:
        existing = {
            (run.get("dag_id"), normalize_date(run.get("logical_date")))
            for run in self._runs(region, environment)
        }
        keys = [(row["dag_id"], normalize_date(row["logical_date"])) for row in rows]
        if on_conflict == "fail" and any(key in existing for key in keys):
            return ImportResult(inserted=0, skipped=0, failed=len(rows))
        inserted = skipped = 0
        for key, row in zip(keys, rows, strict=True):
            if key in existing:
                skipped += 1
                continue
            dag_id, date = str(key[0]), str(key[1])
            run_id = restored_run_id(dag_id, date)
            origin = {
                column: row.get(column)
                for column in ("run_id", "start_date", "end_date", "origin_region")
            }
            body = {"dag_run_id": run_id, "logical_date": date, "conf": {ORIGIN_KEY: origin}}
            try:
                self._rest(region, environment, "POST", f"/dags/{dag_id}/dagRuns", body=body)
            except PortError as err:
                if on_conflict == "skip" and "409" in err.message:
                    skipped += 1
                    continue
                raise
            state = row.get("state")
            if state in FINISHED_RUN_STATES:
                path = f"/dags/{dag_id}/dagRuns/{run_id}"
                self._rest(region, environment, "PATCH", path, body={"state": state})
            inserted += 1
        return ImportResult(inserted=inserted, skipped=skipped, failed=0)

    def _import_task_instances(
        self,
        region: str,
        environment: str,
        rows: Sequence[Mapping[str, Any]],
        on_conflict: ConflictPolicy,
    ) -> ImportResult:
        runs = {
            (run.get("dag_id"), normalize_date(run.get("logical_date"))): run
            for run in self._runs(region, environment)
        }
        dialect = self.dialect(region, environment)
        targets: list[tuple[str, Mapping[str, Any]]] = []
        restored_paths: dict[str, Any] = {}  # path of a run restored by this port -> its state
        orphans = 0
        for row in rows:
            run = runs.get((row["dag_id"], normalize_date(row["logical_date"])))
            if run is None:
                # A task row whose run is not there: a foreign-key violation. COPY ("fail")
                # fails the batch; "skip" leaves the row out, as it leaves existing ones.
                if on_conflict == "fail":
                    return ImportResult(inserted=0, skipped=0, failed=len(rows))
                orphans += 1
                continue
            path = f"/dags/{row['dag_id']}/dagRuns/{run['dag_run_id']}"
            conf = run.get("conf")
            if isinstance(conf, Mapping) and ORIGIN_KEY in conf:
                restored_paths[path] = run.get("state")
            targets.append((path, row))
        finished: list[bool] = []
        for path, row in targets:
            current = self._rest(
                region, environment, "GET", f"{path}/taskInstances/{row['task_id']}"
            )
            state = (current or {}).get("state")
            # A run restored by this port got its state set, and Airflow then marked its
            # unfinished task instances (dialect.placeholder_states): placeholders until their
            # rows come (in the simulator a restored run has no task rows until imported).
            placeholder = path in restored_paths and dialect.is_placeholder(
                restored_paths[path], state
            )
            finished.append(state in FINISHED_TI_STATES and not placeholder)
        if on_conflict == "fail" and any(finished):
            return ImportResult(inserted=0, skipped=0, failed=len(rows))
        inserted, skipped = 0, orphans
        for (path, row), done in zip(targets, finished, strict=True):
            if done:
                skipped += 1
                continue
            body = dialect.ti_state_body(row.get("state"))
            self._rest(
                region, environment, "PATCH", f"{path}/taskInstances/{row['task_id']}", body=body
            )
            inserted += 1
        return ImportResult(inserted=inserted, skipped=skipped, failed=0)

    # Clear ----------------------------------------------------------------------------------
    def clear_tables(self, region: str, environment: str, tables: Sequence[str]) -> None:
        for table in tables:  # every name checked before any delete
            _check_table(table)
        for table in dict.fromkeys(tables):
            if table in COLLECTIONS:
                self._delete_all(region, environment, table)
        if "dag_run" in tables or "task_instance" in tables:
            for run in self._runs(region, environment):
                path = f"/dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}"
                try:
                    self._rest(region, environment, "DELETE", path)
                except PortError as err:
                    if err.code != NOT_FOUND:
                        raise

    def _delete_all(self, region: str, environment: str, table: str) -> None:
        rows = self.export_table(region, environment, table)
        column = TABLE_KEYS[table][0]
        keys = [
            row[column]
            for row in rows
            if not (table == "slot_pool" and row[column] == DEFAULT_POOL)
        ]
        if not keys:
            return
        dialect = self.dialect(region, environment)
        if not dialect.bulk:  # Airflow 2.10: one DELETE each; gone already is fine
            for key in keys:
                try:
                    self._rest(region, environment, "DELETE", dialect.entity_path(table, key))
                except PortError as err:
                    if err.code != NOT_FOUND:
                        raise
            return
        body = dialect.bulk_body("delete", keys, "skip")
        answer = self._rest(region, environment, "PATCH", COLLECTIONS[table][0], body=body)
        errors = ((answer or {}).get("delete") or {}).get("errors") or []
        if errors:
            raise PortError("BulkDeleteFailed", f"{table}: {errors}")

    # DAGs -----------------------------------------------------------------------------------
    def set_workload_paused(self, region: str, environment: str, paused: bool) -> None:
        dialect = self.dialect(region, environment)
        for dag_id in self.workload_dags:
            path, query, body = dialect.pause_request(dag_id, paused)
            self._rest(region, environment, "PATCH", path, query=query, body=body)

    def tasks_in_flight(self, region: str, environment: str) -> int:
        if not self.workload_dags:
            return 0
        body = {"dag_ids": list(self.workload_dags), "state": list(IN_FLIGHT_TI_STATES)}
        items = self._post_pages(
            region, environment, "/dags/~/dagRuns/~/taskInstances/list", "task_instances", body
        )
        return len(items)

    def next_scheduled_runs(self, region: str, environment: str) -> dict[str, str | None]:
        field = self.dialect(region, environment).next_run_field
        upcoming: dict[str, str | None] = {}
        for dag_id in self.workload_dags:
            answer = self._rest(region, environment, "GET", f"/dags/{dag_id}")
            date = (answer or {}).get(field)
            upcoming[dag_id] = None if date is None else normalize_date(date)
        return upcoming

    def trigger_dag(
        self, region: str, environment: str, dag_id: str, conf: Mapping[str, Any]
    ) -> str:
        run_id = self.new_run_id()
        body = self.dialect(region, environment).trigger_body(run_id, conf)
        answer = self._rest(region, environment, "POST", f"/dags/{dag_id}/dagRuns", body=body)
        return str((answer or {}).get("dag_run_id") or run_id)

    def dag_run_state(self, region: str, environment: str, dag_id: str, run_id: str) -> RunState:
        answer = self._rest(region, environment, "GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        state = str((answer or {}).get("state"))
        if state == "queued":
            return "queued"
        if state == "running":
            return "running"
        if state == "success":
            return "success"
        if state == "failed":
            return "failed"
        raise PortError("UnknownRunState", f"run {run_id} of {dag_id} is {state!r}")
