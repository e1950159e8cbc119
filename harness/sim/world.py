"""Two Regions on virtual time, running the real DR logic: one trial's world.

The world wires the models (network, CloudWatch, S3, MWAA environments with their Airflow) to
one engine and one history, switches the trial's faults on and off, and hands the DR logic its
contexts. The DR logic is reached only through its entry points (`DrLogic`) and the ports;
tests can pass tiny DR processes of their own instead of `reference_impl`'s.

Randomness comes from one `random.Random` stream per model, each seeded from the trial's seed
and the stream's name, so one model's draws never shift another's.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from harness.history import History
from harness.scenario.model import FaultKind, Scenario, Strategy
from harness.sim.airflow import AirflowPort, logical_date
from harness.sim.calibration import Calibration
from harness.sim.engine import Engine, OnDone, Proc
from harness.sim.environments import Environments, MwaaPort
from harness.sim.faults import FaultSchedule, ScheduledFault
from harness.sim.journal import JournalPort
from harness.sim.metrics import CloudWatch, MetricsPort
from harness.sim.network import Network
from harness.sim.operations import ScheduledOperation, sample_operations
from harness.sim.storage import S3, StorePort
from reference_impl.config import ProfileConfig, profile_config
from reference_impl.context import DrContext, Topology
from reference_impl.runtime import Process

DrTask = Callable[[DrContext, Mapping[str, Any]], Process[Any]]


@dataclass(frozen=True)
class DrLogic:
    """The DR logic's entry points: all the simulator knows of it."""

    tasks: Mapping[str, DrTask]  # DR DAG id -> its task
    scheduled_dr_dags: Callable[[DrContext, float], Mapping[str, float]]  # -> {dag_id: interval}
    startup_hook: Callable[[DrContext], Process[None]]  # at every scheduler (re)start
    recovery_workflow: Callable[[DrContext], Process[None]]  # in the secondary, all drill long
    failback: Callable[[DrContext], Process[None]] | None = None  # the operator's failback


def reference_logic() -> DrLogic:
    """reference_impl's entry points (imported late: the simulator does not need them to load)."""
    from reference_impl import dags, failback, recovery

    return DrLogic(
        tasks=dags.DR_TASKS,
        scheduled_dr_dags=dags.scheduled_dr_dags,
        startup_hook=dags.startup_hook,
        recovery_workflow=recovery.recovery_workflow,
        failback=failback.failback,
    )


def scenario_config(scenario: Scenario) -> ProfileConfig:
    """The profile's settings with the scenario's detector overrides: what the DR logic gets."""
    return profile_config(scenario.profile.value, **asdict(scenario.detector))


def scenario_topology(scenario: Scenario) -> Topology:
    return Topology(
        primary=scenario.regions.primary,
        secondary=scenario.regions.secondary,
        workload_dags=tuple(f"workload_{i}" for i in range(scenario.workload.dags)),
    )


@dataclass(frozen=True)
class Ports:
    """Every port, bound to the Region the calling DR code runs in."""

    metrics: MetricsPort
    store: StorePort
    mwaa: MwaaPort
    airflow: AirflowPort
    journal: JournalPort


class World:
    def __init__(
        self,
        scenario: Scenario,
        calibration: Calibration,
        seed: int,
        logic: DrLogic | None = None,
        *,
        config: ProfileConfig | None = None,
    ) -> None:
        self.scenario = scenario
        self.calibration = calibration
        self.seed = seed
        self.logic = logic if logic is not None else reference_logic()
        self.topology = scenario_topology(scenario)
        # `config`: exact DR settings (a live drill's compressed ones); default the scenario's
        self.config = config if config is not None else scenario_config(scenario)
        self.regions = (self.topology.primary, self.topology.secondary)
        self._rngs: dict[str, random.Random] = {}
        self.engine = Engine(scenario.duration)
        self.history = History()
        self.faults = FaultSchedule.sample(scenario, self.rng("faults"))
        self.operations = sample_operations(scenario, self.rng("operations"))
        self.network = Network(self.engine, calibration.network)
        self.cloudwatch = CloudWatch(
            self.engine,
            calibration.cloudwatch,
            self.faults,
            self.network,
            self.rng("cloudwatch"),
            self.regions,
        )
        self.s3 = S3(
            self.engine,
            calibration.s3,
            self.faults,
            self.network,
            self.history,
            self.topology,
            self.rng("s3"),
        )
        self.journal = JournalPort(self.engine, self.history)
        self.environments = Environments(self)
        self._env_failures: dict[str, int] = {}
        self._ports: dict[str, Ports] = {}
        self._contexts: dict[str, DrContext] = {}
        self._dates: dict[int, str] = {}
        self.recovery: Proc | None = None

    # Services for the models --------------------------------------------------------------------
    def rng(self, stream: str) -> random.Random:
        """The named stream of this trial (a str seed is hashed with SHA-512: stable)."""
        found = self._rngs.get(stream)
        if found is None:
            found = self._rngs[stream] = random.Random(f"{self.seed}:{stream}")
        return found

    def environment_failed(self, region: str) -> bool:
        return self._env_failures.get(region, 0) > 0

    def note(self, message: str) -> None:
        self.history.record(self.engine.t, "note", message=message)

    def logical_date(self, tick: int) -> str:
        found = self._dates.get(tick)
        if found is None:
            found = self._dates[tick] = logical_date(tick * self.scenario.workload.schedule)
        return found

    def ports_for(self, region: str) -> Ports:
        found = self._ports.get(region)
        if found is None:
            found = self._ports[region] = Ports(
                metrics=MetricsPort(self.cloudwatch, region),
                store=StorePort(self.s3, region),
                mwaa=MwaaPort(self.environments, region),
                airflow=AirflowPort(self, region),
                journal=self.journal,
            )
        return found

    def context(self, region: str) -> DrContext:
        found = self._contexts.get(region)
        if found is None:
            ports = self.ports_for(region)
            found = self._contexts[region] = DrContext(
                region=region,
                strategy=self.scenario.strategy.value,
                topology=self.topology,
                config=self.config,
                clock=self.engine,
                metrics=ports.metrics,
                store=ports.store,
                mwaa=ports.mwaa,
                airflow=ports.airflow,
                journal=ports.journal,
            )
        return found

    def spawn(
        self,
        make: Callable[[], Process[Any]],
        name: str,
        *,
        delay: float = 0.0,
        on_done: OnDone | None = None,
        tag: Any = None,
    ) -> Proc:
        """Run DR code as a process. Building it happens inside the process, so an entry point
        that raises at once fails that process like any other error."""
        return self.engine.spawn(_started(make), name, delay=delay, on_done=on_done, tag=tag)

    # The drill ----------------------------------------------------------------------------------
    def run(self) -> History:
        scenario = self.scenario
        self.history.record(
            0.0,
            "drill_start",
            primary=self.topology.primary,
            secondary=self.topology.secondary,
            duration_s=scenario.duration,
            scenario=scenario.name,
            strategy=scenario.strategy.value,
            profile=scenario.profile.value,
            seed=self.seed,
        )
        # Fault edges first: what strikes at t, strikes before anything else due at t.
        for fault in self.faults.faults:
            self.engine.at(fault.start, partial(self._fault_on, fault))
            if fault.end < scenario.duration:
                self.engine.at(fault.end, partial(self._fault_off, fault))
        self.engine.at(0.0, self._boot)
        for operation in self.operations:
            self.engine.at(operation.at, partial(self._operate, operation))
        self.engine.run()
        self._finish()
        return self.history

    def _boot(self) -> None:
        name = self.topology.environment
        self.environments.provision(self.topology.primary, name, paused=False, role="primary")
        if self.scenario.strategy == Strategy.WARM_STANDBY:
            self.environments.provision(self.topology.secondary, name, paused=True, role="standby")
        secondary = self.topology.secondary

        def ended(_: Any, error: BaseException | None) -> None:
            if error is not None:
                self.note(f"recovery workflow failed: {type(error).__name__}: {error}")

        self.recovery = self.spawn(
            lambda: self.logic.recovery_workflow(self.context(secondary)),
            f"recovery_workflow@{secondary}",
            delay=self.calibration.workflow.start_offset.sample(self.rng("workflow")),
            on_done=ended,
        )

    def _finish(self) -> None:
        end = self.scenario.duration
        secondary = self.topology.secondary
        env = self.environments.get(secondary)
        runs = env.airflow.successful_runs() if env is not None else []
        self.history.record(end, "inventory", region=secondary, runs=runs, changes=[])
        self.history.record(end, "drill_end", aborted=False)

    # Operations -----------------------------------------------------------------------------------
    def _operate(self, operation: ScheduledOperation) -> None:
        """Run an operator action as a DR process, like the operator's runbook would.

        It runs with the secondary's ports, as the recovery workflow does: the active-Region
        record is in the secondary's bucket, and the network model judges every call by the
        caller's Region, so the failback reaches the primary exactly as a runbook in the
        secondary would (an outage or partition still open makes its calls fail).
        """
        secondary = self.topology.secondary
        fields = {
            "operation_id": operation.operation_id,
            "action": operation.action.value,
            "region": secondary,
        }
        self.history.record(self.engine.t, "operation", state="started", **fields)
        failback = self.logic.failback
        if failback is None:
            reason = "this DR logic has no failback entry point"
            self.history.record(self.engine.t, "operation", state="failed", reason=reason, **fields)
            return

        def ended(_: Any, error: BaseException | None) -> None:
            if error is None:
                self.history.record(self.engine.t, "operation", state="done", **fields)
            else:
                reason = f"{type(error).__name__}: {error}"
                self.history.record(
                    self.engine.t, "operation", state="failed", reason=reason, **fields
                )

        self.spawn(
            lambda: failback(self.context(secondary)),
            f"{operation.action.value}@{secondary}",
            on_done=ended,
        )

    # Faults ---------------------------------------------------------------------------------------
    def _fault_on(self, fault: ScheduledFault) -> None:
        self.history.record(
            self.engine.t,
            "fault_on",
            fault_id=fault.fault_id,
            fault=fault.kind.value,
            region=fault.region,
            params=dict(fault.params),
        )
        if fault.kind == FaultKind.REGION_OUTAGE:
            self.network.outage_on(fault.region, str(fault.params["unreachable_as"]))
        elif fault.kind == FaultKind.ENVIRONMENT_FAILURE:
            self._env_failures[fault.region] = self._env_failures.get(fault.region, 0) + 1
        elif fault.kind == FaultKind.NETWORK_PARTITION:
            self.network.partition_on(fault.region, str(fault.params["unreachable_as"]))
        self._reconcile(fault.region)

    def _fault_off(self, fault: ScheduledFault) -> None:
        self.history.record(
            self.engine.t,
            "fault_off",
            fault_id=fault.fault_id,
            fault=fault.kind.value,
            region=fault.region,
        )
        if fault.kind == FaultKind.REGION_OUTAGE:
            self.network.outage_off(fault.region, str(fault.params["unreachable_as"]))
        elif fault.kind == FaultKind.ENVIRONMENT_FAILURE:
            self._env_failures[fault.region] -= 1
        elif fault.kind == FaultKind.NETWORK_PARTITION:
            self.network.partition_off(fault.region, str(fault.params["unreachable_as"]))
        self._reconcile(fault.region)

    def _reconcile(self, region: str) -> None:
        env = self.environments.get(region)
        if env is not None:
            env.airflow.reconcile(restart_delay=True)


def _started(make: Callable[[], Process[Any]]) -> Process[Any]:
    return (yield from make())
