"""The binding that runs DR logic inside the live drill's Airflow processes.

`reference_impl/airflow_dags/mwaa_dr.py` (the DR DAGs) and `fixtures/dags/workload_dags.py`
(the workload) are real Airflow DAG files. They reach the drill only through this module
(named by MWAA_DR_BINDING), which reads the `DrillSpec` (path in MWAA_DRILL_SPEC) and the
Region (AWS_REGION, set by the environment's backend as MWAA sets it) and gives:

- `dr_context()`: the DrContext of this Region: boto3 ports onto every Region's endpoint as
  this Region reaches it (a fault proxy per path, so faults, partitions included, hit DR
  tasks as they hit any AWS caller in this Region), the Airflow port through
  MWAA InvokeRestApi, the journal file, the drill clock;
- `run_dr_task(dag_id, conf)`: the DR logic's task of a DR DAG, driven on real time;
- the workload's settings and `record_run(...)`, which appends a finished run to the ledger.

It imports boto3 and the harness's live ports only: the Airflow virtualenv has boto3 (as MWAA
does) and the drill puts the `harness` and `reference_impl` packages on PYTHONPATH.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from harness.live import safety
from harness.live.clock import LiveClock
from harness.live.drill_spec import REGION_ENV, SPEC_ENV, DrillSpec, slot_date
from harness.live.journal import FileJournal, append_line
from harness.live.mwaa_ports import LiveAirflow, LiveMwaa
from harness.live.ports import ClientFactory, LiveMetrics, LiveObjectStore
from harness.live.runner import drive
from reference_impl.context import DrContext
from reference_impl.dags import DR_TASKS, scheduled_dr_dags


@functools.cache
def spec() -> DrillSpec:
    return DrillSpec.load(Path(os.environ[SPEC_ENV]))


def region() -> str:
    return os.environ[REGION_ENV]


@functools.cache
def clock() -> LiveClock:
    return LiveClock.attached(spec().origin_wall)


def client_factory(drill: DrillSpec, caller: str) -> ClientFactory:
    """boto3 clients onto each Region's fault proxy as DR code in `caller` reaches it (every
    service, MWAA included), cached per (service, Region); credentials are the dummy ones of
    the drill's environment."""
    settings = drill.clients
    config = Config(
        inject_host_prefix=False,
        retries={"mode": "standard", "max_attempts": settings.max_attempts},
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        proxies={},
    )
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def make(service: str, target: str) -> Any:
        with lock:
            client = clients.get((service, target))
            if client is None:
                url = drill.endpoints[caller][target]
                safety.check_endpoint(url)
                session = boto3.session.Session(
                    aws_access_key_id=safety.DUMMY_ACCESS_KEY_ID,
                    aws_secret_access_key=safety.DUMMY_SECRET_ACCESS_KEY,
                    region_name=target,
                )
                make_client: Callable[..., Any] = session.client
                client = make_client(service, endpoint_url=url, config=config)
                clients[(service, target)] = client
            return client

    return make


def context_for(
    drill: DrillSpec, caller: str, drill_clock: LiveClock, clients: ClientFactory
) -> DrContext:
    """The DrContext of DR code running in `caller` (used by the harness for the recovery
    workflow and the startup hook, and by Airflow tasks through `dr_context`)."""
    journal = FileJournal(Path(drill.journal_path), drill_clock)
    return DrContext(
        region=caller,
        strategy=drill.strategy,  # type: ignore[arg-type]  # checked when the spec is made
        topology=drill.topology,
        config=drill.config,
        clock=drill_clock,
        metrics=LiveMetrics(clients, caller, drill_clock),
        store=LiveObjectStore(clients, caller, drill_clock),
        mwaa=LiveMwaa(clients, caller, region_overrides=drill.create_defaults),
        airflow=LiveAirflow(clients, caller, drill_clock, drill.topology.workload_dags),
        journal=journal,
    )


@functools.cache
def dr_context() -> DrContext:
    drill = spec()
    return context_for(drill, region(), clock(), client_factory(drill, region()))


def dr_dag_schedule() -> dict[str, float | None]:
    """Every DR DAG of this Region: its interval in seconds, None when it is only triggered."""
    drill = spec()
    plan: dict[str, float | None] = dict.fromkeys(DR_TASKS)
    plan.update(scheduled_dr_dags(dr_context(), drill.backup_interval_s))
    return plan


def run_dr_task(dag_id: str, conf: Mapping[str, Any]) -> Any:
    """Run the DR task of `dag_id` to its end; an exception fails the Airflow task."""
    return drive(DR_TASKS[dag_id](dr_context(), dict(conf)))


def start_date() -> datetime:
    """The workload DAGs' start_date: the same instant in both Regions."""
    return datetime.fromtimestamp(spec().workload_start_wall, tz=UTC)


def workload() -> tuple[tuple[str, ...], float]:
    """(workload DAG ids, schedule interval in seconds)."""
    drill = spec()
    return drill.topology.workload_dags, drill.workload_schedule_s


def run_key(logical_date: datetime) -> str:
    """The run's schedule slot (see `drill_spec.slot_date`): its name in the ledger."""
    drill = spec()
    return slot_date(
        logical_date.astimezone(UTC).isoformat(),
        drill.workload_start_wall,
        drill.workload_schedule_s,
    )


def drill_time(moment: datetime) -> float:
    return clock().drill_time_of(moment.timestamp())


def now() -> float:
    return clock().now()


def record_run(dag_id: str, logical_date: str, due_t: float, start_t: float, state: str) -> None:
    """Append a finished workload run to the ledger (end time: now)."""
    append_line(
        Path(spec().ledger_path),
        {
            "dag_id": dag_id,
            "logical_date": logical_date,
            "region": region(),
            "due_t": due_t,
            "start_t": start_t,
            "end_t": now(),
            "state": state,
        },
    )


def sleep(seconds: float) -> None:
    clock().sleep(seconds)
