"""Two worlds with MWAA environments and their Airflow, for the Mwaa and Airflow port contracts.

`mwaa_world("sim" | "live")` is a context manager giving one world for a whole test module
(module-scoped: the live side runs real Airflow, so its environments are created once):

- "sim": the simulator's World on virtual time (the contract conftest's `SimAdapter`: time
  runs on with `advance`, faults switched on with the World's own edge code) with two workload
  DAGs (`workload_0`, `workload_1`) and one DR DAG (`DR_DAG`, a task that succeeds, or fails
  when its conf says {"fail": true});
- "live": one LiveAws (two Regions, each behind its fault proxy) serving an MwaaService over
  one AirflowBackend (real Airflow 3 on one PostgreSQL cluster), the DAG bucket of each Region
  holding `DAG_FILE` (the same DAG ids and task id as the sim), and the live ports made as the
  drill's task binding makes them (`LiveMwaa(..., region_overrides=<the Region's
  CreateEnvironment parameters>)`, `LiveAirflow(..., WORKLOAD_DAGS)`). Everything is torn
  down on leaving (ExitStack), on every path. Needs Airflow: `require_airflow()` FAILS (never
  skips) when it is missing.

Both give `mwaa(caller)` / `airflow(caller)` (ports of DR code running in `caller`; `quick=True`
in live: clients with short timeouts, for calls that are expected to fail), `eventually(...)`
(a bounded poll: virtual time in the sim, real time in live), `fault_on` / `fault_off` of the
conftest adapters, and `wait_dags(region, environment)` (live: until Airflow has parsed the DAG
file; the sim knows its DAGs).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

import pytest

from harness.scenario import scenario_from_data
from harness.sim.calibration import default_calibration
from harness.sim.world import DrLogic, World
from reference_impl.context import DrContext
from reference_impl.ports import Airflow, Mwaa
from reference_impl.runtime import Process, Wait
from tests.contract.conftest import LiveAdapter, LiveStack, P, S, SimAdapter
from tests.integration.airflow_support import airflow_version

T = TypeVar("T")

WORKLOAD_DAGS = ("workload_0", "workload_1")
WORKLOAD_TASK = "work"  # harness.sim.airflow.WORKLOAD_TASK
DR_DAG = "contract_dr"
DAG_PREFIX = "dags"
DAG_KEY = f"{DAG_PREFIX}/contract_dags.py"

# The live world's DAG file: the sim's DAG ids and task id. Workload DAGs are hourly and
# catchup=False, so an unpause runs the latest due interval at once and nothing else during
# a test; the DR DAG is unpaused at creation, as the real DR DAGs are
# (reference_impl/airflow_dags/mwaa_dr.py).
DAG_FILE = '''"""mwaa-drill contract tests: two workload DAGs and one DR-like DAG."""

from datetime import datetime, timedelta

try:
    from airflow.sdk import DAG, get_current_context, task
except ImportError:  # Airflow 2.10
    from airflow.decorators import task
    from airflow.models.dag import DAG
    from airflow.operators.python import get_current_context

for _dag_id in ("workload_0", "workload_1"):
    with DAG(
        dag_id=_dag_id,
        schedule=timedelta(hours=1),
        start_date=datetime(2024, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["mwaa-drill", "workload"],
    ) as _dag:

        @task(task_id="work")
        def work() -> None:
            pass

        work()
    globals()[_dag_id] = _dag

with DAG(
    dag_id="contract_dr",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=16,
    is_paused_upon_creation=False,
    tags=["mwaa-drill", "dr"],
) as contract_dr:

    @task(task_id="run", retries=0)
    def run() -> None:
        conf = get_current_context()["dag_run"].conf or {}
        if conf.get("fail"):
            raise RuntimeError("asked to fail")

    run()
'''


def dag_bucket(region: str) -> str:
    return f"contract-dags-{region}"


def create_request(region: str) -> dict[str, Any]:
    """CreateEnvironment parameters, as harness/live/drill.py gives them (the sim needs none
    but takes them all)."""
    return {
        "AirflowVersion": airflow_version(),  # the line under test ($MWAA_DRILL_AIRFLOW_LINE)
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/mwaa-drill-execution",
        "SourceBucketArn": f"arn:aws:s3:::{dag_bucket(region)}",
        "DagS3Path": DAG_PREFIX,
        "NetworkConfiguration": {
            "SubnetIds": [f"subnet-{region}-a", f"subnet-{region}-b"],
            "SecurityGroupIds": [f"sg-{region}"],
        },
        "EnvironmentClass": "mw1.small",
        "AirflowConfigurationOptions": {"core.dags_are_paused_at_creation": "True"},
    }


class MwaaWorld(Protocol):
    name: str

    def mwaa(self, caller: str, *, quick: bool = False) -> Mwaa: ...

    def airflow(self, caller: str, *, quick: bool = False) -> Airflow: ...

    def now(self) -> float: ...

    def eventually(self, predicate: Callable[[], T | None], what: str, purpose: str) -> T: ...

    def wait_dags(self, region: str, environment: str) -> None: ...

    def fault_on(self, kind: str, region: str, **params: Any) -> Any: ...

    def fault_off(self, handle: Any) -> None: ...


def _eventually(
    world: Any,
    predicate: Callable[[], T | None],
    what: str,
    timeout_s: float,
    step_s: float,
) -> T:
    """Poll `predicate` (bounded) until it returns something truthy, which is returned."""
    found: list[T] = []

    def check() -> bool:
        value = predicate()
        if value:
            found.append(value)
            return True
        return False

    if world.wait_until(check, timeout_s=timeout_s, step_s=step_s) is None:
        pytest.fail(f"{world.name}: {what}: not within {timeout_s:.0f} s")
    return found[-1]


# The simulator ---------------------------------------------------------------------------------


def _idle(ctx: DrContext) -> Process[None]:
    return
    yield


def _no_dr_dags(ctx: DrContext, backup_interval: float) -> Mapping[str, float]:
    return {}


def _dr_task(ctx: DrContext, conf: Mapping[str, Any]) -> Process[str]:
    yield Wait(1.0)
    if conf.get("fail"):
        raise RuntimeError("asked to fail")
    return "ok"


SIM_LOGIC = DrLogic(
    tasks={DR_DAG: _dr_task},
    scheduled_dr_dags=_no_dr_dags,
    startup_hook=_idle,
    recovery_workflow=_idle,
)


def sim_world() -> World:
    scenario = scenario_from_data(
        {
            "name": "contract-mwaa",
            "strategy": "backup_restore",
            "profile": "hardened",
            "duration": "24h",
            "regions": {"primary": P, "secondary": S},
            "workload": {"dags": len(WORKLOAD_DAGS), "schedule": "5m"},
            "faults": [],
        }
    )
    calibration = dataclasses.replace(default_calibration(), source="<contract tests>")
    world = World(scenario, calibration, seed=1, logic=SIM_LOGIC)
    assert world.topology.workload_dags == WORKLOAD_DAGS
    return world


class SimMwaaWorld(SimAdapter):
    """Virtual time: creations take the calibration's ~27 minutes, polls are cheap."""

    name = "sim"
    step_s = 5.0
    timeouts: Mapping[str, float] = {"create": 3 * 3600.0, "delete": 3600.0, "run": 900.0}

    def __init__(self) -> None:
        super().__init__()
        self.world = sim_world()

    def mwaa(self, caller: str, *, quick: bool = False) -> Mwaa:
        return self.world.ports_for(caller).mwaa

    def airflow(self, caller: str, *, quick: bool = False) -> Airflow:
        return self.world.ports_for(caller).airflow

    def eventually(self, predicate: Callable[[], T | None], what: str, purpose: str) -> T:
        return _eventually(self, predicate, what, self.timeouts[purpose], self.step_s)

    def wait_dags(self, region: str, environment: str) -> None:
        return None


# The live world -------------------------------------------------------------------------------

# Clients of the ports: one retry (two tries). Ordinary calls may meet a busy Airflow (bulk
# writes, run lists) on a small machine; quick ones are for calls expected to fail.
LIVE_SETTINGS: Mapping[str, Any] = {
    "max_attempts": 1,
    "connect_timeout_s": 1.0,
    "read_timeout_s": 20.0,
}
LIVE_QUICK_SETTINGS: Mapping[str, Any] = {
    "max_attempts": 1,
    "connect_timeout_s": 0.5,
    "read_timeout_s": 1.0,
}


class LiveMwaaWorld(LiveAdapter):
    """Real time: an Airflow environment is AVAILABLE in ~15-30 s on this machine."""

    name = "live"
    step_s = 0.5
    timeouts: Mapping[str, float] = {"create": 180.0, "delete": 60.0, "run": 90.0}

    def __init__(self, stack: LiveStack, backend: Any) -> None:
        super().__init__(stack)
        self.backend = backend
        self._mwaa: dict[tuple[str, bool], Mwaa] = {}
        self._airflow: dict[tuple[str, bool], Airflow] = {}

    def _clients(self, caller: str, quick: bool) -> Any:
        from harness.live.ports import aws_clients

        return aws_clients(self.aws, caller, **(LIVE_QUICK_SETTINGS if quick else LIVE_SETTINGS))

    def mwaa(self, caller: str, *, quick: bool = False) -> Mwaa:
        from harness.live.mwaa_ports import LiveMwaa

        key = (caller, quick)
        if key not in self._mwaa:
            overrides = {region: create_request(region) for region in (P, S)}
            self._mwaa[key] = LiveMwaa(
                self._clients(caller, quick), caller, region_overrides=overrides
            )
        return self._mwaa[key]

    def airflow(self, caller: str, *, quick: bool = False) -> Airflow:
        from harness.live.mwaa_ports import LiveAirflow

        key = (caller, quick)
        if key not in self._airflow:
            self._airflow[key] = LiveAirflow(
                self._clients(caller, quick), caller, self.clock, WORKLOAD_DAGS
            )
        return self._airflow[key]

    def eventually(self, predicate: Callable[[], T | None], what: str, purpose: str) -> T:
        return _eventually(self, predicate, what, self.timeouts[purpose], self.step_s)

    def wait_dags(self, region: str, environment: str) -> None:
        wanted = {*WORKLOAD_DAGS, DR_DAG}

        def parsed() -> bool:
            instance = self.backend.instance(region, environment)
            if instance is None:
                return False
            try:
                _, answer = instance.rest("GET", "/dags", query={"limit": "100"})
            except Exception:
                return False
            return wanted <= {str(d.get("dag_id")) for d in (answer or {}).get("dags", [])}

        self.eventually(parsed, f"Airflow of {environment} in {region} parsed the DAGs", "run")


@contextlib.contextmanager
def live_world() -> Iterator[LiveMwaaWorld]:
    from harness.live.clock import LiveClock
    from harness.live.endpoints import LiveAws
    from harness.live.mwaa.airflow_backend import AirflowBackend
    from harness.live.mwaa.service import REAL_AIRFLOW_HEALTH, MwaaService
    from tests.integration.airflow_support import require_airflow

    require_airflow()
    clock = LiveClock()
    with contextlib.ExitStack() as stack:
        # As harness/live/drill.py, with shorter sync and heartbeat intervals.
        backend = AirflowBackend(
            dag_sync_interval_s=2.0,
            heartbeat_interval_s=2.0,
            instance_options={"dag_dir_refresh_s": 2, "parallelism": 8},
            start_timeout_s=150.0,
        )
        stack.callback(backend.close)
        service = MwaaService(backend, clock=clock, **REAL_AIRFLOW_HEALTH)
        stack.callback(service.stop)
        aws = stack.enter_context(LiveAws([P, S], now=clock.now, mwaa=service))
        backend.use_clients(lambda name, region: aws.client(name, region, direct=True))
        for region in (P, S):
            s3: Any = aws.client("s3", region, direct=True)
            kwargs: dict[str, Any] = {"Bucket": dag_bucket(region)}
            if region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            s3.create_bucket(**kwargs)
            s3.put_object(Bucket=dag_bucket(region), Key=DAG_KEY, Body=DAG_FILE.encode())
        world = LiveMwaaWorld(LiveStack(aws=aws, clock=clock), backend)
        stack.callback(world.close)
        yield world


@contextlib.contextmanager
def mwaa_world(kind: str) -> Iterator[MwaaWorld]:
    if kind == "sim":
        yield SimMwaaWorld()
        return
    with live_world() as world:
        yield world


WORLD_PARAMS = [
    pytest.param("sim"),
    pytest.param("live", marks=[pytest.mark.live, pytest.mark.airflow]),
]

__all__ = [
    "DAG_FILE",
    "DR_DAG",
    "WORKLOAD_DAGS",
    "WORKLOAD_TASK",
    "WORLD_PARAMS",
    "MwaaWorld",
    "create_request",
    "mwaa_world",
]
