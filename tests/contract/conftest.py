"""Two worlds behind one small interface, so the contract tests run unchanged in both.

`world` is parametrized: "sim" (the simulator's World, on virtual time) and "live" (boto3
against LiveAws: moto behind a fault proxy per Region, the harness's replicator; marked
`live`). Each adapter gives:

- ports_for(region) -> (Metrics, ObjectStore) for DR code running in `region`;
- now(), advance(seconds), wait_until(predicate, timeout_s): time (virtual / real, bounded);
- heartbeats_between(region, env, start_ago, end_ago): a scheduler that published heartbeats
  from `start_ago` to `end_ago` seconds before now (sim: an environment provisioned, virtual
  time run forward, then an environment_failure; live: PutMetricData with past timestamps,
  so no test waits minutes);
- start_scheduler(region, env) / stop_scheduler(region, env): a scheduler alive from now on
  (sim: a provisioned environment, then an environment_failure; live: a HeartbeatPublisher);
- fault_on(kind, region, **params) / fault_off(handle), each through the world's own fault
  mechanism (sim: a ScheduledFault switched on with the World's own edge code; live: the
  FaultController, i.e. the Region's fault proxy):
    cloudwatch_error (code=ServiceUnavailable|InternalFailure), cloudwatch_throttling,
    region_unreachable (mode=refuse|hang), partition (mode=refuse|hang), metric_delay
    (seconds=...);
- bucket(region), replication_lag, unique(name).

The sim's faults are fixed per trial (a FaultSchedule sampled from the scenario); switching
one on at "now" swaps in a schedule that holds it and calls `World._fault_on` / `_fault_off`,
which a drill calls at the fault's times. A public `World.fault_on/fault_off` would be cleaner
(suggested in the report); nothing in harness/sim is changed here.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Protocol

import pytest

from harness.scenario import scenario_from_data
from harness.scenario.model import FaultKind
from harness.sim.calibration import Fixed, default_calibration
from harness.sim.faults import FaultSchedule, ScheduledFault
from harness.sim.world import DrLogic, World
from reference_impl.context import DrContext, Topology
from reference_impl.ports import Metrics, ObjectStore
from reference_impl.runtime import Process

P = "us-east-1"
S = "us-west-2"
TOPOLOGY = Topology(primary=P, secondary=S)
REPLICATION_LAG_S = 1.5
DELIVERY_DELAY_S = 1.0  # sim: CloudWatch publish -> readable (live: <= 1 s, moto's whole seconds)
HEARTBEAT_INTERVAL_S = 5.0
# Live clients: one retry (two tries) and short timeouts, so every failing call ends quickly.
LIVE_CLIENT_SETTINGS: Mapping[str, Any] = MappingProxyType(
    {"max_attempts": 1, "connect_timeout_s": 0.5, "read_timeout_s": 1.0}
)
LIVE_MAX_HANG_S = 10.0

_names = itertools.count(1)


class WorldAdapter(Protocol):
    name: str
    replication_lag: float

    def ports_for(self, region: str) -> tuple[Metrics, ObjectStore]: ...

    def bucket(self, region: str) -> str: ...

    def unique(self, name: str) -> str: ...

    def now(self) -> float: ...

    def advance(self, seconds: float) -> None: ...

    def wait_until(
        self, predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.1
    ) -> float | None: ...

    def heartbeats_between(
        self, region: str, environment: str, start_ago: float, end_ago: float
    ) -> None: ...

    def start_scheduler(self, region: str, environment: str) -> None: ...

    def stop_scheduler(self, region: str, environment: str) -> None: ...

    def fault_on(self, kind: str, region: str, **params: Any) -> Any: ...

    def fault_off(self, handle: Any) -> None: ...


def unique_name(name: str) -> str:
    return f"{name}-{next(_names)}"


# The simulator ---------------------------------------------------------------------------------


def _idle(ctx: DrContext) -> Process[None]:
    return
    yield


def _no_dr_dags(ctx: DrContext, backup_interval: float) -> Mapping[str, float]:
    return {}


IDLE_LOGIC = DrLogic(
    tasks={}, scheduled_dr_dags=_no_dr_dags, startup_hook=_idle, recovery_workflow=_idle
)


def sim_world() -> World:
    scenario = scenario_from_data(
        {
            "name": "contract",
            "strategy": "warm_standby",
            "profile": "hardened",
            "duration": "6h",
            "regions": {"primary": P, "secondary": S},
            "workload": {"dags": 1, "schedule": "5m"},
            "faults": [],
        }
    )
    cal = default_calibration()
    assert cal.cloudwatch.heartbeat_interval == HEARTBEAT_INTERVAL_S
    cal = dataclasses.replace(
        cal,
        source="<contract tests>",
        cloudwatch=dataclasses.replace(cal.cloudwatch, delivery_delay=Fixed(DELIVERY_DELAY_S)),
        s3=dataclasses.replace(cal.s3, replication_lag=Fixed(REPLICATION_LAG_S)),
    )
    return World(scenario, cal, seed=1, logic=IDLE_LOGIC)


SIM_KINDS: Mapping[str, Callable[..., tuple[FaultKind, dict[str, Any]]]] = {
    "cloudwatch_error": lambda code: (
        FaultKind.CLOUDWATCH_OUTAGE,
        {"error": code, "error_rate": 1.0},
    ),
    "cloudwatch_throttling": lambda: (FaultKind.CLOUDWATCH_THROTTLING, {"error_rate": 1.0}),
    "region_unreachable": lambda mode: (
        FaultKind.REGION_OUTAGE,
        {"unreachable_as": {"refuse": "refused", "hang": "hang"}[mode]},
    ),
    "metric_delay": lambda seconds: (FaultKind.CLOUDWATCH_METRIC_DELAY, {"delay": seconds}),
    "environment_failure": lambda: (FaultKind.ENVIRONMENT_FAILURE, {}),
    "partition": lambda mode: (
        FaultKind.NETWORK_PARTITION,
        {"unreachable_as": {"refuse": "refused", "hang": "hang"}[mode]},
    ),
}


class SimAdapter:
    name = "sim"
    replication_lag = REPLICATION_LAG_S

    def __init__(self) -> None:
        self.world = sim_world()
        self._fault_ids = itertools.count(1000)
        self._failures: dict[str, ScheduledFault] = {}

    def ports_for(self, region: str) -> tuple[Metrics, ObjectStore]:
        ports = self.world.ports_for(region)
        return ports.metrics, ports.store

    def bucket(self, region: str) -> str:
        return self.world.topology.bucket(region)

    def unique(self, name: str) -> str:
        return unique_name(name)

    # Time -----------------------------------------------------------------------------------
    def now(self) -> float:
        return self.world.engine.t

    def advance(self, seconds: float) -> None:
        """Run the engine `seconds` of virtual time on (Engine.run stops at `end`; the drill's
        end is put back at once, so what is scheduled from outside run() keeps it)."""
        engine = self.world.engine
        target = engine.t + seconds
        end = engine.end
        assert target < end, "the contract world's drill is over"
        engine.end = target
        try:
            engine.run()
        finally:
            engine.end = end

    def wait_until(
        self, predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.1
    ) -> float | None:
        start = self.now()
        for _ in range(math.ceil(timeout_s / step_s) + 1):
            if predicate():
                return self.now()
            if self.now() - start >= timeout_s:
                break
            self.advance(step_s)
        return None

    # Schedulers -----------------------------------------------------------------------------
    def start_scheduler(self, region: str, environment: str) -> None:
        role = "primary" if region == P else "standby"
        self.world.environments.provision(region, environment, paused=False, role=role)

    def stop_scheduler(self, region: str, environment: str) -> None:
        self._failures[region] = self.fault_on("environment_failure", region)

    def heartbeats_between(
        self, region: str, environment: str, start_ago: float, end_ago: float
    ) -> None:
        assert start_ago > end_ago >= 0
        self.start_scheduler(region, environment)
        self.advance(start_ago - end_ago)
        if end_ago > 0:
            self.stop_scheduler(region, environment)
            self.advance(end_ago)

    # Faults ---------------------------------------------------------------------------------
    def fault_on(self, kind: str, region: str, **params: Any) -> ScheduledFault:
        fault_kind, fault_params = SIM_KINDS[kind](**params)
        fault = ScheduledFault(
            next(self._fault_ids),
            fault_kind,
            region,
            self.now(),
            math.inf,
            MappingProxyType(fault_params),
        )
        self._set_schedule((*self.world.faults.faults, fault))
        self.world._fault_on(fault)
        return fault

    def fault_off(self, handle: ScheduledFault) -> None:
        ended = dataclasses.replace(handle, end=self.now())
        self._set_schedule(tuple(ended if f is handle else f for f in self.world.faults.faults))
        self.world._fault_off(handle)

    def _set_schedule(self, faults: tuple[ScheduledFault, ...]) -> None:
        schedule = FaultSchedule(faults)
        self.world.faults = schedule
        self.world.cloudwatch.faults = schedule
        self.world.s3.faults = schedule


# The live world -------------------------------------------------------------------------------


@dataclasses.dataclass
class LiveStack:
    aws: Any  # harness.live.endpoints.LiveAws
    clock: Any  # harness.live.clock.LiveClock


@pytest.fixture(scope="session")
def live_stack() -> Iterator[LiveStack]:
    from harness.live.clock import LiveClock
    from harness.live.endpoints import LiveAws

    clock = LiveClock()
    with LiveAws(
        [P, S],
        now=clock.now,
        replication_lag_s=REPLICATION_LAG_S,
        replication_poll_s=0.05,
    ) as aws:
        primary, secondary = TOPOLOGY.bucket(P), TOPOLOGY.bucket(S)
        east: Any = aws.client("s3", P, direct=True)
        west: Any = aws.client("s3", S, direct=True)
        east.create_bucket(Bucket=primary)
        west.create_bucket(Bucket=secondary, CreateBucketConfiguration={"LocationConstraint": S})
        for client, bucket in ((east, primary), (west, secondary)):
            client.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        east.put_bucket_replication(
            Bucket=primary,
            ReplicationConfiguration={
                "Role": "arn:aws:iam::123456789012:role/replication",
                "Rules": [
                    {
                        "ID": "primary-to-secondary",
                        "Priority": 1,
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "DeleteMarkerReplication": {"Status": "Disabled"},
                        "Destination": {"Bucket": f"arn:aws:s3:::{secondary}"},
                    }
                ],
            },
        )
        aws.replicator.refresh_rules()
        yield LiveStack(aws=aws, clock=clock)


class LiveAdapter:
    name = "live"
    replication_lag = REPLICATION_LAG_S

    def __init__(self, stack: LiveStack) -> None:
        from harness.live.ports import live_ports

        self.aws = stack.aws
        self.clock = stack.clock
        self._ports = {
            region: live_ports(self.aws, region, self.clock, **LIVE_CLIENT_SETTINGS)
            for region in (P, S)
        }
        self._publishers: dict[tuple[str, str], Any] = {}
        self._alive: dict[tuple[str, str], bool] = {}
        self._delays: dict[str, float] = {}
        self.aws.replicator.set_lag(REPLICATION_LAG_S)

    def close(self) -> None:
        for publisher in self._publishers.values():
            publisher.stop(timeout_s=2.0)
        self.aws.faults.clear_all()
        self.aws.replicator.resume()

    def ports_for(self, region: str) -> tuple[Metrics, ObjectStore]:
        return self._ports[region]

    def bucket(self, region: str) -> str:
        return TOPOLOGY.bucket(region)

    def unique(self, name: str) -> str:
        return unique_name(name)

    # Time -----------------------------------------------------------------------------------
    def now(self) -> float:
        return float(self.clock.now())

    def advance(self, seconds: float) -> None:
        assert 0 <= seconds <= 10, "live waits stay short"
        self.clock.sleep(seconds)

    def wait_until(
        self, predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.1
    ) -> float | None:
        from harness.live.clock import Deadline

        deadline = Deadline.after(timeout_s)
        for _ in range(math.ceil(timeout_s / step_s) + 1):
            if predicate():
                return self.now()
            if deadline.expired():
                break
            self.clock.sleep(min(step_s, deadline.remaining()))
        return None

    # Schedulers -----------------------------------------------------------------------------
    def _cloudwatch(self, region: str) -> Any:
        # Ingestion is AWS-internal: behind no fault, as in the sim (see harness.live.heartbeat).
        return self.aws.client("cloudwatch", region, direct=True)

    def start_scheduler(self, region: str, environment: str) -> None:
        from harness.live.heartbeat import HeartbeatPublisher

        key = (region, environment)
        self._alive[key] = True
        publisher = HeartbeatPublisher(
            self._cloudwatch(region),
            environment,
            alive=lambda: self._alive.get(key, False),
            interval_s=HEARTBEAT_INTERVAL_S,
            delivery_delay_s=self._delays.get(region, 0.0),
            max_runtime_s=120.0,
        )
        self._publishers[key] = publisher.start()

    def stop_scheduler(self, region: str, environment: str) -> None:
        self._alive[(region, environment)] = False

    def heartbeats_between(
        self, region: str, environment: str, start_ago: float, end_ago: float
    ) -> None:
        from harness.live.heartbeat import heartbeat_times, put_heartbeats

        assert start_ago > end_ago >= 0
        now = self.clock.wall_of(self.clock.now())
        times = heartbeat_times(now - start_ago, now - end_ago, HEARTBEAT_INTERVAL_S)
        put_heartbeats(self._cloudwatch(region), environment, times)

    # Faults ---------------------------------------------------------------------------------
    def fault_on(self, kind: str, region: str, **params: Any) -> Any:
        faults = self.aws.faults
        if kind == "cloudwatch_error":
            return faults.error(region, "cloudwatch", params["code"])
        if kind == "cloudwatch_throttling":
            # What CloudWatch answers when it throttles GetMetricData.
            return faults.error(region, "cloudwatch", "Throttling")
        if kind == "region_unreachable":
            return faults.unreachable(region, params["mode"], max_hang_s=LIVE_MAX_HANG_S)
        if kind == "partition":  # as the live drill does: a hanging cut drops packets
            mode = "refuse" if params["mode"] == "refuse" else "blackhole"
            return faults.partition(region, mode, max_hang_s=LIVE_MAX_HANG_S)
        if kind == "metric_delay":
            self._set_delay(region, float(params["seconds"]))
            return ("metric_delay", region)
        raise KeyError(kind)

    def fault_off(self, handle: Any) -> None:
        if isinstance(handle, tuple) and handle[0] == "metric_delay":
            self._set_delay(handle[1], 0.0)
        else:
            self.aws.faults.clear(handle)

    def _set_delay(self, region: str, seconds: float) -> None:
        self._delays[region] = seconds
        for (publisher_region, _), publisher in self._publishers.items():
            if publisher_region == region:
                publisher.delivery_delay_s = seconds


# The fixture ----------------------------------------------------------------------------------


@pytest.fixture(params=[pytest.param("sim"), pytest.param("live", marks=pytest.mark.live)])
def world(request: pytest.FixtureRequest) -> Iterator[WorldAdapter]:
    if request.param == "sim":
        yield SimAdapter()
        return
    adapter = LiveAdapter(request.getfixturevalue("live_stack"))
    try:
        yield adapter
    finally:
        adapter.close()
