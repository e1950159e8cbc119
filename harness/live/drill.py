"""One live drill: two Regions on this machine, real Airflow, the real DR logic, real faults.

    outcome = LiveDrill(scenario, LiveSettings(time_scale=30)).run()
    outcome.history, outcome.report       # measured from what happened, nothing assumed

Phases (each recorded as a `phase` event and printed as progress):

1. provision: the emulated AWS endpoint and the fault proxy of each Region, the MWAA API over
   real Airflow (PostgreSQL metadata), per Region a DAG bucket holding the DR DAGs
   (`reference_impl/airflow_dags/mwaa_dr.py`) and the workload (`fixtures/dags/
   workload_dags.py`) and a backup bucket, the primary's replicating to the secondary's. The
   primary environment (and for warm standby the standby, its workload paused) is created
   through the MWAA API and seeded with the metadata a restore must carry (the simulator's
   rows: variables, a connection with its secret, the default pool). The workload is unpaused
   in the primary. Drill time 0 is the start of this phase; the scenario's times count from
   its end (`t_ready`).
2. steady state: before the first fault, the workload must have run in the primary, a backup
   must have reached the secondary and the primary's heartbeat must be in its CloudWatch;
   otherwise the drill stops, verdict unknown. Only then is the recovery workflow started (a
   DR workflow is deployed on a system that runs; started with the primary, it would judge
   a primary that has not published anything yet). Faults at time 0 are initial conditions:
   switched on before this check.
3. faults: each one switched on at its time and verified (`fault_verified`: the proof it
   landed), switched off at its end. The recovery workflow runs in a thread of the harness on
   the secondary's ports (as the post's Step Functions workflow runs outside Airflow); the DR
   DAG tasks run inside Airflow; both journal to a file, the workload writes a run ledger.
   The scenario's operator actions (`operations:`, a failback) start at their times, after
   the fault edges due at the same instant, each in a thread with the secondary's DR context
   (`harness.live.operations`).
4. end: the secondary's metadata is read (inventory), the history is assembled and measured,
   the report written; everything is torn down on every path (also Ctrl-C and errors), and
   what was measured until then is still written.

Stop conditions (the scenario's `stop:`): while waiting between faults the drill looks every
2 s at the history so far; with `on_objective_lost` it aborts as soon as an objective is
already broken (`harness.live.stop.objective_lost`), with `max_duration` once that much
scenario time (compressed) has passed since t_ready. `aborted` says which ("stop condition:
..."); faults are healed, everything torn down and the report written as on any abort.

Region faults, live:
- region_outage: the Region's proxy becomes unreachable (refused or hanging, as the scenario
  says), replication out of it stalls (in-flight objects too, as in the simulator) and its
  environments' schedulers are KILLED with their running tasks; API server and
  DAG processor keep running but cannot be reached from outside (everything goes through the
  proxy). Killed rather than frozen because a Regional outage loses compute, not the managed
  metadata database: the environment comes back from its database, as the simulator models
  it. On heal the proxy opens, the DR logic's startup hook runs (MWAA's startup script), then
  the scheduler starts again.
- environment_failure: the scheduler is killed; on heal, startup hook then a new scheduler.
- cloudwatch_outage / cloudwatch_throttling: error answers (or refused / hanging calls) of the
  Region's CloudWatch API at its proxy. Heartbeats are published behind the proxy (ingestion
  is not the API), as in the simulator.
- cloudwatch_metric_delay: heartbeats produced in the window are delivered `delay` late.
- replication_lag / replication_stall: the harness's replicator.
- create_environment_failure: the MWAA API's injected CreateEnvironment failure.
- restore_failure: restore attempts into the Region's environments fail part-way with the
  fault's probability (the MWAA API answers 500 to their metadata writes:
  `harness.live.mwaa.restore_faults`).
- network_partition: every path between the two Regions is cut (`harness.live.faults`
  `partition`: the per-caller proxies of `LiveAws`), both ways, while each Region reaches its
  own endpoints: `hang` drops packets (blackhole: connections time out), `refused` refuses
  them. DR code takes its own Region's paths (the recovery workflow and startup hooks in the
  harness, the DR tasks inside Airflow), so the secondary's checks cannot reach the primary
  and the primary's guard cannot read the record in the secondary's bucket. Replication goes
  on (it runs inside AWS, as in the simulator).
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import reference_impl
from harness.checkers import measure_trial
from harness.durations import format_duration
from harness.history import Event, History
from harness.live import clock as live_clock
from harness.live.airflow.install import AIRFLOW_VERSION, find_installation, line_of
from harness.live.clock import LiveClock
from harness.live.drill_spec import SPEC_ENV, DrillSpec, slot_date
from harness.live.endpoints import LiveAws
from harness.live.faults import Fault as ProxyFault
from harness.live.journal import ledger_run_events, read_journal
from harness.live.mwaa.airflow_backend import AirflowBackend
from harness.live.mwaa.faults import CreateFailureFaults
from harness.live.mwaa.restore_faults import RestoreFailureFaults
from harness.live.mwaa.service import REAL_AIRFLOW_HEALTH, MwaaService
from harness.live.mwaa_ports import LiveAirflow
from harness.live.operations import OperationRunner, live_operations
from harness.live.ports import ClientFactory, LiveMetrics
from harness.live.processes import ProcessRegistry
from harness.live.replication import ReplicationArrival
from harness.live.runner import ProcessThread, drive
from harness.live.stop import EventTail, event_line, objective_lost
from harness.live.task_binding import client_factory, context_for
from harness.live.time_scale import compress_config, compress_scenario, settings_table
from harness.report import TrialResult, build_report
from harness.scenario.model import FaultKind, OperationAction, Scenario, Strategy
from harness.sim.airflow import seeded_tables
from harness.sim.faults import FaultSchedule, ScheduledFault
from harness.sim.world import DrLogic, reference_logic, scenario_config, scenario_topology
from reference_impl.context import DrContext
from reference_impl.ports import PortError

DR_DAG_FILE = Path(str(reference_impl.__file__)).parent / "airflow_dags" / "mwaa_dr.py"


def workload_dag_file() -> Path:
    """fixtures/dags/workload_dags.py of the checkout, else the copy inside the installed
    package (the wheel force-includes fixtures/dags as harness/_workload)."""
    package = Path(__file__).resolve().parents[1]  # harness/
    checkout = package.parent / "fixtures" / "dags" / "workload_dags.py"
    if checkout.is_file():
        return checkout
    return package / "_workload" / "workload_dags.py"


WORKLOAD_DAG_FILE = workload_dag_file()
BINDING = "harness.live.task_binding"
DAG_PREFIX = "dags"

STATUS_EVERY_S = 30.0  # a status line while waiting
STOP_CHECK_S = 2.0  # how often the stop conditions are looked at, when the scenario has some
SETTLE_S = 2.0  # a run may reach the ledger this long after it ended
STREAM_MAX_LINES = 500  # most event lines of one look at the history (`run -v`)


class LiveDrillError(RuntimeError):
    """The drill cannot run at all (before anything started): the CLI's exit 3."""


@dataclass(frozen=True)
class LiveSettings:
    time_scale: float = 30.0  # every scenario duration is divided by this
    creation_delay_s: float = 0.0  # extra CREATING time of every environment (AWS: ~25 min)
    replication_lag_s: float = 1.0  # the replicator's usual lag
    heartbeat_interval_s: float = 2.0  # SchedulerHeartbeat publishing (MWAA: 5 s)
    provision_timeout_s: float = 300.0
    work_dir: Path | None = None  # default: a temp dir, removed at the end
    keep_work_dir: bool = False
    emulator: str = "moto"  # or "localstack" (scripts/install-localstack.sh)
    # MWAA AirflowVersion of every environment; its line's venv runs them (2.10.5 or 3.3.2)
    airflow_version: str = AIRFLOW_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "airflow_version": self.airflow_version,
            "time_scale": self.time_scale,
            "creation_delay_s": self.creation_delay_s,
            "replication_lag_s": self.replication_lag_s,
            "heartbeat_interval_s": self.heartbeat_interval_s,
            "provision_timeout_s": self.provision_timeout_s,
            "emulator": self.emulator,
        }


@dataclass
class LiveOutcome:
    history: History
    report: dict[str, Any]
    aborted: str | None
    files: dict[str, Path] = field(default_factory=dict)


class _Recorder:
    """The harness's own events, stamped with the drill clock, from any thread."""

    def __init__(self, drill_clock: LiveClock) -> None:
        self.clock = drill_clock
        self._lock = threading.Lock()
        self.events: list[Event] = []

    def record(self, kind: str, t: float | None = None, **data: Any) -> Event:
        event = Event(self.clock.now() if t is None else t, kind, data)
        with self._lock:
            self.events.append(event)
        return event

    def snapshot(self) -> list[Event]:
        with self._lock:
            return list(self.events)


class LiveDrill:
    def __init__(
        self,
        scenario: Scenario,
        settings: LiveSettings = LiveSettings(),
        *,
        progress: Callable[[str], None] | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        """`progress` gets the drill's progress lines; `on_event`, when given, one compact
        line per history event as it happens (`mwaa-drill run -v`)."""
        if settings.emulator not in ("moto", "localstack"):
            raise LiveDrillError(f"unknown backend {settings.emulator!r} (moto or localstack)")
        try:
            line_of(settings.airflow_version)
        except ValueError as err:
            raise LiveDrillError(str(err)) from None
        if settings.emulator == "localstack":
            from harness.live.localstack import installation_problem

            problem = installation_problem()
            if problem:
                raise LiveDrillError(problem)
        self.original = scenario
        self.settings = settings
        self.scenario = compress_scenario(scenario, settings.time_scale)
        self.config = compress_config(scenario_config(scenario), settings.time_scale)
        self.topology = scenario_topology(scenario)
        self.primary, self.secondary = self.topology.primary, self.topology.secondary
        self.regions = (self.primary, self.secondary)
        self.env_name = self.topology.environment
        self.progress = progress or (lambda _line: None)
        self.on_event = on_event
        self._tail = EventTail()
        self._tail_lock = threading.Lock()
        self.clock = LiveClock()
        self.recorder = _Recorder(self.clock)
        self.stop = threading.Event()
        self.faults = FaultSchedule.sample(
            self.scenario, random.Random(f"{self.scenario.seed}:faults")
        )
        self.operations = live_operations(self.scenario)
        self.t_ready: float | None = None
        self.end_t: float | None = None
        self.aborted: str | None = None
        self._applied: dict[int, Callable[[], None]] = {}  # fault_id -> heal
        self._steady = False
        self._arrivals = 0  # backup objects that reached the secondary
        self._stalls: dict[str, int] = {}  # Region -> faults stalling replication out of it
        self._factories: dict[str, ClientFactory] = {}  # caller Region -> its clients
        # set during run()
        self.aws: LiveAws | None = None
        self.backend: AirflowBackend | None = None
        self.service: MwaaService | None = None
        self.spec: DrillSpec | None = None
        self.work: Path | None = None

    # Public ---------------------------------------------------------------------------------
    def run(self) -> LiveOutcome:
        self._say(
            f"live drill {self.scenario.name}: {self.scenario.strategy.value}, "
            f"{self.scenario.profile.value}, time compressed {self.settings.time_scale:g}x "
            f"({self.original.duration:.0f} s of scenario -> {self.scenario.duration:.0f} s)"
        )
        tmp: tempfile.TemporaryDirectory[str] | None = None
        if self.settings.work_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="mwaa-drill-live-")
            self.work = Path(tmp.name)
        else:
            self.work = self.settings.work_dir
            self.work.mkdir(parents=True, exist_ok=True)
        try:
            with contextlib.ExitStack() as stack:
                try:
                    self._provision(stack)
                    self._drill()
                except KeyboardInterrupt:
                    self.aborted = "interrupted (Ctrl-C or SIGTERM)"
                    self._say(f"aborted: {self.aborted}; tearing down")
                except Exception as err:
                    self.aborted = f"internal error: {type(err).__name__}: {err}"
                    self._say(f"aborted: {self.aborted}; tearing down")
                finally:
                    self.stop.set()
                    self._finish()
                self._say("teardown: stopping every process of the drill")
            with contextlib.suppress(Exception):
                self._stream_events()  # what happened since the monitor's last look
            return self._outcome()
        finally:
            if tmp is not None and not self.settings.keep_work_dir:
                with contextlib.suppress(OSError):
                    tmp.cleanup()

    # Phases ---------------------------------------------------------------------------------
    def _say(self, line: str) -> None:
        self.progress(f"[{self.clock.now():7.1f}s] {line}")

    def _phase(self, name: str, state: str, detail: str = "") -> None:
        data: dict[str, Any] = {"name": name, "state": state}
        if detail:
            data["detail"] = detail
        self.recorder.record("phase", **data)
        self._say(f"{name}: {state}{' - ' + detail if detail else ''}")

    def _provision(self, stack: contextlib.ExitStack) -> None:
        assert self.work is not None
        self._phase("provision", "started")
        registry = stack.enter_context(ProcessRegistry())
        pythonpath = self.work / "pythonpath"
        pythonpath.mkdir(exist_ok=True)
        for package in (harness, reference_impl):
            link = pythonpath / package.__name__
            if not link.exists():
                link.symlink_to(Path(str(package.__file__)).parent, target_is_directory=True)
        spec_path = self.work / "drill-spec.json"
        journal_path = self.work / "journal.jsonl"
        ledger_path = self.work / "ledger.jsonl"
        for path in (journal_path, ledger_path):
            path.touch()
        env_vars = {
            SPEC_ENV: str(spec_path),
            "MWAA_DR_BINDING": BINDING,
            "PYTHONPATH": str(pythonpath),
        }
        # Fails here, with the install hint, when the line's Airflow is missing.
        find_installation(line=line_of(self.settings.airflow_version))
        backend = AirflowBackend(
            registry=registry,
            work_dir=self.work / "environments",
            dag_sync_interval_s=5.0,
            heartbeat_interval_s=self.settings.heartbeat_interval_s,
            environment_env=lambda _region, _name: env_vars,
            instance_options={"dag_dir_refresh_s": 2, "parallelism": 8},
            start_timeout_s=self.settings.provision_timeout_s,
        )
        stack.callback(backend.close)
        self.backend = backend
        service = MwaaService(
            backend,
            clock=self.clock,
            on_state=self._on_env_state,
            failures=CreateFailureFaults(seed=self.scenario.seed),
            restore_failures=RestoreFailureFaults(seed=self.scenario.seed),
            create_delay_s=self.settings.creation_delay_s,
            seed=self.scenario.seed,
            **REAL_AIRFLOW_HEALTH,
        )
        self.service = service
        stack.callback(service.stop)
        aws = LiveAws(
            list(self.regions),
            now=self.clock.now,
            on_replication=self._on_replication,
            replication_lag_s=self.settings.replication_lag_s,
            registry=registry,
            work_dir=self.work / "aws",
            mwaa=service,
            fault_seed=self.scenario.seed,
            emulator="localstack" if self.settings.emulator == "localstack" else "moto",
        )
        stack.enter_context(aws)
        stack.callback(self._heal_everything)
        self.aws = aws
        backend.use_clients(lambda name, region: aws.client(name, region, direct=True))

        create_defaults = {region: self._create_params(region) for region in self.regions}
        self._buckets(aws)
        ready_wall = self.clock.wall_of(self.clock.now())
        self.spec = DrillSpec(
            origin_wall=self.clock.origin_wall,
            strategy=self.scenario.strategy.value,
            topology=self.topology,
            config=self.config,
            endpoints=aws.routes(),
            journal_path=str(journal_path),
            ledger_path=str(ledger_path),
            backup_interval_s=self.scenario.backup.interval,
            workload_schedule_s=self.scenario.workload.schedule,
            workload_start_wall=ready_wall - ready_wall % self.scenario.workload.schedule,
            create_defaults=create_defaults,
        )
        self.spec.save(spec_path)

        mwaa: dict[str, Any] = {r: aws.client("mwaa", r, direct=True) for r in self.regions}
        wanted = [self.primary]
        if self.scenario.strategy == Strategy.WARM_STANDBY:
            wanted.append(self.secondary)
        for region in wanted:
            mwaa[region].create_environment(Name=self.env_name, **create_defaults[region])
        deadline = live_clock.Deadline.after(self.settings.provision_timeout_s)
        for region in wanted:
            status = self._wait_status(mwaa[region], ("AVAILABLE", "CREATE_FAILED"), deadline)
            if status != "AVAILABLE":
                raise RuntimeError(f"the {region} environment did not become AVAILABLE: {status}")
        airflow = self._harness_airflow()
        for region in wanted:
            self._wait_dags(region, deadline)
            role = "primary" if region == self.primary else "standby"
            for table, rows in seeded_tables(region, role).items():
                if rows and table in ("variable", "connection"):
                    self._retry(
                        f"seed {table} in {region}",
                        functools.partial(
                            airflow.import_rows,
                            region,
                            self.env_name,
                            table,
                            list(rows.values()),
                            on_conflict="skip",
                        ),
                    )
        self._retry(
            f"unpause the workload in {self.primary}",
            lambda: airflow.set_workload_paused(self.primary, self.env_name, False),
        )
        self.t_ready = self.clock.now()
        self.end_t = self.t_ready + self.scenario.duration
        self._phase("provision", "done", f"both Regions ready at t={self.t_ready:.1f}s")

    def _retry(self, what: str, call: Callable[[], Any], attempts: int = 5) -> Any:
        """A set-up call of the harness, retried on PortError (an environment that a slow
        health check made UNAVAILABLE for a moment); bounded."""
        for attempt in range(1, attempts + 1):
            try:
                return call()
            except PortError as err:
                if attempt == attempts:
                    raise RuntimeError(f"{what}: {err}") from err
                self._say(f"{what}: {err.code}; retrying ({attempt}/{attempts})")
                if self.stop.wait(3.0):
                    raise
        raise AssertionError("unreachable")

    def _create_params(self, region: str) -> dict[str, Any]:
        return {
            "AirflowVersion": self.settings.airflow_version,
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

    def _buckets(self, aws: LiveAws) -> None:
        for region in self.regions:
            s3: Any = aws.client("s3", region, direct=True)
            for bucket in (dag_bucket(region), self.topology.bucket(region)):
                kwargs: dict[str, Any] = {"Bucket": bucket}
                if region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
                s3.create_bucket(**kwargs)
                s3.put_bucket_versioning(
                    Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
                )
            for source in (DR_DAG_FILE, WORKLOAD_DAG_FILE):
                s3.put_object(
                    Bucket=dag_bucket(region),
                    Key=f"{DAG_PREFIX}/{source.name}",
                    Body=source.read_bytes(),
                )
        primary_s3: Any = aws.client("s3", self.primary, direct=True)
        primary_s3.put_bucket_replication(
            Bucket=self.topology.bucket(self.primary),
            ReplicationConfiguration={
                "Role": "arn:aws:iam::123456789012:role/mwaa-drill-replication",
                "Rules": [
                    {
                        "ID": "backups-to-secondary",
                        "Priority": 1,
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "DeleteMarkerReplication": {"Status": "Disabled"},
                        "Destination": {
                            "Bucket": f"arn:aws:s3:::{self.topology.bucket(self.secondary)}"
                        },
                    }
                ],
            },
        )
        aws.replicator.refresh_rules()

    def _harness_airflow(self) -> LiveAirflow:
        """The Airflow port of the harness's own reads and set-up: straight to the MWAA API,
        behind no fault (the harness observes; it is not a caller in a Region)."""
        aws = self.aws
        assert aws is not None
        return LiveAirflow(
            lambda name, region: aws.client(name, region, direct=True),
            self.primary,
            self.clock,
            self.topology.workload_dags,
        )

    def _wait_status(self, client: Any, states: Sequence[str], deadline: Any) -> str:
        status = ""
        while not deadline.expired():
            status = str(client.get_environment(Name=self.env_name)["Environment"]["Status"])
            if status in states:
                return status
            if self.stop.wait(1.0):
                break
        return status or "unknown"

    def _wait_dags(self, region: str, deadline: Any) -> None:
        """Until Airflow has parsed the workload and the DR DAGs (bounded)."""
        assert self.backend is not None
        wanted = set(self.topology.workload_dags) | set(reference_logic().tasks)
        seen: set[str] = set()
        while not deadline.expired():
            instance = self.backend.instance(region, self.env_name)
            if instance is not None:
                with contextlib.suppress(Exception):
                    _, answer = instance.rest("GET", "/dags", query={"limit": "100"})
                    seen = {str(d.get("dag_id")) for d in (answer or {}).get("dags", [])}
            if wanted <= seen:
                return
            if self.stop.wait(1.0):
                break
        raise RuntimeError(f"{region}: DAGs not parsed in time; missing {sorted(wanted - seen)}")

    def _drill(self) -> None:
        assert self.t_ready is not None and self.end_t is not None and self.spec is not None
        self.recorder.record(
            "note",
            message=f"scenario times count from t_ready={self.t_ready:.1f}s "
            "(the end of provisioning)",
        )
        secondary_ctx = self._context(self.secondary)
        logic = reference_logic()
        workflow = ProcessThread(
            "recovery-workflow",
            lambda: logic.recovery_workflow(secondary_ctx),
            self.stop,
            on_error=self._workflow_failed,
        )
        monitor = threading.Thread(target=self._monitor, name="drill-monitor", daemon=True)
        monitor.start()
        edges = self._edges()
        # Faults that start with the drill (at 0) are its initial conditions: on before the
        # steady-state check, which must then hold before the first fault that comes later.
        initial = [edge for edge in edges if edge[0] <= self.t_ready]
        edges = edges[len(initial) :]
        for _, _, fault in initial:
            self._fault_on(fault)
        self._phase("steady_state", "started")
        first = edges[0][0] if edges else self.end_t
        if not self._wait_steady(first):
            self.aborted = (
                "steady state not reached before the first fault: " + self._steady_detail()
            )
            self._phase("steady_state", "failed", self._steady_detail())
            return
        self._phase("steady_state", "done", self._steady_detail())
        # The recovery workflow is deployed on a system that runs: started once the primary
        # is seen healthy, as in production, where it starts long after the primary did.
        workflow.start()
        self.recorder.record("note", message=f"recovery workflow started in {self.secondary}")
        self._phase("faults", "started", f"{len(self.faults.faults)} fault(s)")
        operations = self._operation_runner(logic)
        # One timeline: fault edges, then operator actions due at the same instant.
        steps: list[tuple[float, int, Callable[[], Any]]] = [
            (t, 0, functools.partial(self._fault_on if on else self._fault_off, fault))
            for t, on, fault in edges
        ]
        steps += [
            (self.t_ready + op.at, 1, functools.partial(operations.start, op))
            for op in self.operations
        ]
        for t, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
            if not self._sleep_until(t):
                return
            step()
        if not self._sleep_until(self.end_t):
            return
        self._phase("faults", "done")
        self.stop.set()
        if workflow.thread.ident is not None:
            workflow.join(15.0)
        operations.join(15.0)
        monitor.join(5.0)

    def _context(self, caller: str) -> DrContext:
        """The DrContext of DR code the harness runs in `caller` (the recovery workflow, a
        startup hook, an operator's action): its calls take that Region's paths, as Airflow
        tasks there do."""
        assert self.spec is not None
        factory = self._factories.get(caller)
        if factory is None:
            factory = self._factories[caller] = client_factory(self.spec, caller)
        return context_for(self.spec, caller, self.clock, factory)

    def _operation_runner(self, logic: DrLogic) -> OperationRunner:
        """Operator actions run with the secondary's DR context (harness.live.operations)."""
        actions = {OperationAction.FAILBACK: logic.failback} if logic.failback else {}
        return OperationRunner(
            self.secondary,
            lambda: self._context(self.secondary),
            actions,
            self.stop,
            self.recorder.record,
            self._say,
        )

    def _workflow_failed(self, err: BaseException) -> None:
        self.recorder.record(
            "note", message=f"recovery workflow failed: {type(err).__name__}: {err}"
        )

    def _edges(self) -> list[tuple[float, bool, ScheduledFault]]:
        assert self.t_ready is not None
        edges: list[tuple[float, bool, ScheduledFault]] = []
        for fault in self.faults.faults:
            edges.append((self.t_ready + fault.start, True, fault))
            if fault.end < self.scenario.duration:
                edges.append((self.t_ready + fault.end, False, fault))
        # at one instant, heals before new faults, in scenario order
        edges.sort(key=lambda e: (e[0], e[1], e[2].fault_id))
        return edges

    def _sleep_until(self, t: float) -> bool:
        """Wait for drill time t, printing a heartbeat line every 30 s; False if stopped,
        also by a stop condition of the scenario (then `aborted` says which)."""
        watching = self.original.stop.on_objective_lost or self._cap() is not None
        step = STOP_CHECK_S if watching else STATUS_EVERY_S
        next_status = self.clock.now() + STATUS_EVERY_S
        while True:
            now = self.clock.now()
            left = t - now
            if left <= 0:
                return True
            if self.stop.wait(min(left, step)):
                return False
            if self.clock.now() >= t:
                return True  # on time: what is due at t happens first, the check comes next
            reason = self._stop_condition() if watching else None
            if reason is not None:
                self.aborted = f"stop condition: {reason}"
                self._say(f"aborted: {self.aborted}; healing every fault, tearing down")
                return False
            now = self.clock.now()
            if now >= next_status and t - now > 1.0:
                self._say(self._status_line())
                next_status = now + STATUS_EVERY_S

    def _cap(self) -> float | None:
        """The drill time at which `stop.max_duration` cuts the drill short, or None (also when
        the cap is the drill's own end: then the drill just ends)."""
        cap = self.original.stop.max_duration
        if cap is None or cap >= self.original.duration or self.t_ready is None:
            return None
        return self.t_ready + cap / self.settings.time_scale

    def _stop_condition(self) -> str | None:
        """Why the scenario's stop conditions end the drill now, or None."""
        now = self.clock.now()
        cap = self._cap()
        if cap is not None and now >= cap:
            max_duration = self.original.stop.max_duration
            assert max_duration is not None
            return (
                f"max_duration reached ({format_duration(max_duration)} of scenario time, "
                f"{cap - (self.t_ready or 0.0):.0f} s at time scale "
                f"{self.settings.time_scale:g}x)"
            )
        if not self.original.stop.on_objective_lost:
            return None
        return objective_lost(self.scenario, self._events_so_far(), now, settle_s=SETTLE_S)

    def _events_so_far(self) -> list[Event]:
        """The history as it stands: the harness's events, the journal and the ledger."""
        events = self.recorder.snapshot()
        if self.spec is not None:
            events += read_journal(Path(self.spec.journal_path))
            events += ledger_run_events(Path(self.spec.ledger_path))
        return events

    def _stream_events(self) -> None:
        """`run -v`: one line per event not streamed yet (bounded per call; never raises)."""
        if self.on_event is None:
            return
        with self._tail_lock:
            sources: dict[str, Sequence[Event]] = {"harness": self.recorder.snapshot()}
            if self.spec is not None:
                with contextlib.suppress(OSError):
                    sources["journal"] = read_journal(Path(self.spec.journal_path))
                    sources["ledger"] = ledger_run_events(Path(self.spec.ledger_path))
            fresh = self._tail.new(sources)
            for event in fresh[:STREAM_MAX_LINES]:
                self.on_event(event_line(event))
            if len(fresh) > STREAM_MAX_LINES:
                self.on_event(f"... {len(fresh) - STREAM_MAX_LINES} more event(s) not shown")

    def _status_line(self) -> str:
        if self.spec is None:
            return "provisioning"
        runs = ledger_run_events(Path(self.spec.ledger_path))
        per_region = {r: sum(1 for e in runs if e["region"] == r) for r in self.regions}
        journal = read_journal(Path(self.spec.journal_path))
        decisions = [e for e in journal if e.kind == "decision"]
        return f"runs {per_region}, decisions {len(decisions)}, backups arrived {self._arrivals}"

    # Steady state -----------------------------------------------------------------------------
    def _steady_facts(self) -> tuple[bool, bool, bool]:
        """(workload ran in the primary, a backup reached the secondary, the primary's
        scheduler heartbeat is in its CloudWatch)."""
        assert self.spec is not None
        ran = any(
            e["region"] == self.primary and e["state"] == "success"
            for e in ledger_run_events(Path(self.spec.ledger_path))
        )
        return ran, self._arrivals > 0, self._heartbeat_seen()

    def _heartbeat_seen(self) -> bool:
        aws = self.aws
        if aws is None:
            return False
        metrics = LiveMetrics(
            lambda name, region: aws.client(name, region, direct=True), self.primary, self.clock
        )
        try:
            period = max(10.0, 3 * self.settings.heartbeat_interval_s)
            return bool(metrics.scheduler_heartbeat(self.primary, self.env_name, period))
        except PortError:
            return False

    def _steady_detail(self) -> str:
        ran, arrived, beating = self._steady_facts()
        return (
            f"workload ran in {self.primary}: {'yes' if ran else 'no'}; "
            f"a backup reached {self.secondary}: {'yes' if arrived else 'no'}; "
            f"heartbeats in {self.primary}'s CloudWatch: {'yes' if beating else 'no'}"
        )

    def _wait_steady(self, until: float) -> bool:
        while True:
            if all(self._steady_facts()):
                self._steady = True
                return True
            left = until - self.clock.now()
            if left <= 0 or self.stop.wait(min(1.0, left)):
                return False

    # Observers --------------------------------------------------------------------------------
    def _on_env_state(self, region: str, name: str, status: str, t: float) -> None:
        self.recorder.record("env_state", t=t, region=region, environment=name, state=status)

    def _on_replication(self, arrival: ReplicationArrival) -> None:
        self._arrivals += 1
        self.recorder.record(
            "replication",
            t=arrival.arrived_at,
            source=arrival.source_region,
            dest=arrival.dest_region,
            backup_id=arrival.key,
            state="arrived",
            written_t=arrival.written_at,
        )

    def _scheduling(self, region: str) -> bool:
        """Scheduler process up and heartbeating, environment AVAILABLE, workload unpaused."""
        assert self.backend is not None and self.service is not None
        if self.service.status(region, self.env_name) != "AVAILABLE":
            return False
        instance = self.backend.instance(region, self.env_name)
        if instance is None:
            return False
        scheduler = instance.processes.get("scheduler")
        if scheduler is None or not scheduler.alive():
            return False
        try:
            if not instance.scheduler_alive(timeout_s=1.0):
                return False
            _, answer = instance.rest("GET", "/dags", query={"limit": "100", "tags": "workload"})
            dags = (answer or {}).get("dags", [])
        except Exception:
            return False
        return any(not d.get("is_paused", True) for d in dags)

    def _monitor(self) -> None:
        """Every second: which Region schedules the workload (a `scheduling` event on every
        change), and with `run -v` the events not streamed yet. Bounded by the drill's stop
        event."""
        state = dict.fromkeys(self.regions, False)
        while not self.stop.wait(1.0):
            for region in self.regions:
                active = self._scheduling(region)
                if active != state[region]:
                    state[region] = active
                    self.recorder.record("scheduling", region=region, active=active)
            with contextlib.suppress(Exception):  # a print must not stop the monitor
                self._stream_events()

    # Faults -----------------------------------------------------------------------------------
    def _fault_on(self, fault: ScheduledFault) -> None:
        assert self.aws is not None and self.backend is not None and self.service is not None
        self.recorder.record(
            "fault_on",
            fault_id=fault.fault_id,
            fault=fault.kind.value,
            region=fault.region,
            params=dict(fault.params),
        )
        self._say(f"fault on: {fault.kind.value} in {fault.region}")
        aws, region = self.aws, fault.region
        kind = fault.kind
        heal: Callable[[], None]
        if kind == FaultKind.REGION_OUTAGE:
            hang = fault.params.get("unreachable_as") == "hang"
            proxy_fault = aws.faults.unreachable(
                region, "hang" if hang else "refuse", max_hang_s=60.0
            )
            self._kill_schedulers(region)
            # Nothing replicates out of a dark Region, not even what was in flight (as in the
            # simulator); the backlog arrives when it comes back.
            self._stall_replication(region)
            restart = self._restart_after(region, proxy_fault)

            def heal() -> None:
                self._resume_replication(region)
                restart()

        elif kind == FaultKind.ENVIRONMENT_FAILURE:
            self._kill_schedulers(region)
            heal = self._restart_after(region, None)
        elif kind in (FaultKind.CLOUDWATCH_OUTAGE, FaultKind.CLOUDWATCH_THROTTLING):
            cloudwatch_fault = self._cloudwatch_fault(fault)

            def heal() -> None:
                aws.faults.clear(cloudwatch_fault)

        elif kind == FaultKind.CLOUDWATCH_METRIC_DELAY:
            delay = float(fault.params["delay"])
            publisher = self.backend.publisher(region, self.env_name)
            if publisher is not None:
                publisher.delivery_delay_s = delay

            def heal() -> None:
                found = self.backend.publisher(region, self.env_name) if self.backend else None
                if found is not None:
                    found.delivery_delay_s = 0.0

        elif kind == FaultKind.REPLICATION_LAG:
            extra = float(fault.params["lag"])
            base = self.settings.replication_lag_s
            aws.replicator.set_lag(
                lambda rule, _key: base + extra if rule.source_region == region else base
            )
            heal = lambda: aws.replicator.set_lag(base)  # noqa: E731
        elif kind == FaultKind.REPLICATION_STALL:
            self._stall_replication(region)

            def heal() -> None:
                self._resume_replication(region)

        elif kind == FaultKind.CREATE_ENVIRONMENT_FAILURE:
            failures = self.service.failures
            assert failures is not None
            failure_id = failures.switch_on(region, float(fault.params.get("probability", 1.0)))

            def heal() -> None:
                failures.clear(failure_id)

        elif kind == FaultKind.RESTORE_FAILURE:
            restores = self.service.restore_failures
            assert restores is not None
            restore_id = restores.switch_on(region, float(fault.params.get("probability", 1.0)))

            def heal() -> None:
                restores.clear(restore_id)

        elif kind == FaultKind.NETWORK_PARTITION:
            refused = fault.params.get("unreachable_as") == "refused"
            partition = aws.faults.partition(
                region, "refuse" if refused else "blackhole", max_hang_s=60.0
            )

            def heal() -> None:
                aws.faults.clear(partition)

        else:
            raise LiveDrillError(f"fault kind {kind.value} is not supported live")
        self._applied[fault.fault_id] = heal
        landed, detail = self._verify(fault)
        self.recorder.record(
            "fault_verified", fault_id=fault.fault_id, landed=landed, detail=detail
        )
        self._say(f"fault {'verified' if landed else 'NOT VERIFIED'}: {detail}")

    def _fault_off(self, fault: ScheduledFault) -> None:
        self.recorder.record(
            "fault_off", fault_id=fault.fault_id, fault=fault.kind.value, region=fault.region
        )
        self._say(f"fault off: {fault.kind.value} in {fault.region}")
        heal = self._applied.pop(fault.fault_id, None)
        if heal is not None:
            heal()

    def _cloudwatch_fault(self, fault: ScheduledFault) -> ProxyFault:
        assert self.aws is not None
        faults, region = self.aws.faults, fault.region
        rate = float(fault.params.get("error_rate", 1.0))
        if fault.kind == FaultKind.CLOUDWATCH_THROTTLING:
            return faults.error(region, "cloudwatch", "Throttling", rate=rate)
        error = str(fault.params.get("error", "ServiceUnavailable"))
        if error == "hang":
            return faults.hang(region, "cloudwatch", max_hang_s=60.0)
        if error == "connection_refused":
            return faults.drop(region, "cloudwatch", rate=rate)
        return faults.error(region, "cloudwatch", error, rate=rate)

    def _stall_replication(self, region: str) -> None:
        """Stall replication out of `region`; counted, so two faults that stall it (an outage
        and a replication_stall) both have to heal before it resumes."""
        assert self.aws is not None
        self._stalls[region] = self._stalls.get(region, 0) + 1
        self.aws.replicator.stall(region)

    def _resume_replication(self, region: str) -> None:
        assert self.aws is not None
        self._stalls[region] = max(0, self._stalls.get(region, 0) - 1)
        if self._stalls[region] == 0:
            self.aws.replicator.resume(region)

    def _kill_schedulers(self, region: str) -> None:
        assert self.backend is not None
        instance = self.backend.instance(region, self.env_name)
        if instance is not None:
            with contextlib.suppress(Exception):
                instance.kill_scheduler()

    def _restart_after(self, region: str, proxy_fault: ProxyFault | None) -> Callable[[], None]:
        """How the Region comes back: its endpoint first, then the DR logic's startup hook
        (MWAA's startup script), then a new scheduler."""

        def heal() -> None:
            assert self.aws is not None and self.backend is not None and self.spec is not None
            if proxy_fault is not None:
                self.aws.faults.clear(proxy_fault)
            instance = self.backend.instance(region, self.env_name)
            if instance is None:
                return
            ctx = self._context(region)
            try:
                drive(reference_logic().startup_hook(ctx), self.stop)
            except Exception as err:
                self.recorder.record(
                    "note", message=f"startup hook in {region} failed: {type(err).__name__}: {err}"
                )
            instance.restart_scheduler()
            self.recorder.record("note", message=f"scheduler of {region} restarted")

        return heal

    def _verify(self, fault: ScheduledFault) -> tuple[bool, str]:
        """Proof that the fault landed, from the outside."""
        assert self.aws is not None and self.backend is not None
        region, kind = fault.region, fault.kind
        if kind in (FaultKind.REGION_OUTAGE, FaultKind.ENVIRONMENT_FAILURE):
            instance = self.backend.instance(region, self.env_name)
            scheduler = instance.processes.get("scheduler") if instance else None
            dead = scheduler is None or not scheduler.alive()
            detail = f"scheduler process of {region} {'dead' if dead else 'STILL ALIVE'}"
            if kind == FaultKind.ENVIRONMENT_FAILURE:
                return dead, detail
            code = self._probe_call(region, "s3")
            return dead and code is not None, f"{detail}; S3 of {region} through its proxy: {code}"
        if kind in (FaultKind.CLOUDWATCH_OUTAGE, FaultKind.CLOUDWATCH_THROTTLING):
            rate = float(fault.params.get("error_rate", 1.0))
            code = self._probe_call(region, "cloudwatch")
            if rate < 1.0:
                return True, f"error rate {rate}: one call gave {code or 'an answer'}"
            return (
                code is not None,
                f"CloudWatch of {region} through its proxy: {code or 'ANSWERED'}",
            )
        if kind == FaultKind.CLOUDWATCH_METRIC_DELAY:
            publisher = self.backend.publisher(region, self.env_name)
            delay = publisher.delivery_delay_s if publisher else None
            return publisher is not None, f"heartbeat delivery delay of {region}: {delay}"
        if kind == FaultKind.REPLICATION_STALL:
            return self.aws.replicator.stalled(region), f"replication from {region} stalled"
        if kind == FaultKind.NETWORK_PARTITION:
            other = self.secondary if region == self.primary else self.primary
            across = self._probe_call(region, "s3", caller=other)
            inside = self._probe_call(region, "s3")
            return across is not None and inside is None, (
                f"S3 of {region} from {other}: {across or 'ANSWERED'}; "
                f"from inside {region}: {inside or 'answered'}"
            )
        return True, f"{kind.value} switched on in the harness"

    def _probe_call(self, region: str, service: str, caller: str | None = None) -> str | None:
        """The error code of one call through the Region's proxy (as `caller` reaches it),
        None if it answered."""
        assert self.aws is not None
        client: Any = self.aws.new_client(
            service,
            region,
            caller=caller,
            max_attempts=1,
            connect_timeout_s=1.0,
            read_timeout_s=2.0,
        )
        try:
            if service == "s3":
                client.list_buckets()
            else:
                client.list_metrics(Namespace="AmazonMWAA")
        except PortError as err:
            return err.code
        except Exception as err:
            code = getattr(err, "response", {}).get("Error", {}).get("Code")
            return str(code or type(err).__name__)
        return None

    def _heal_everything(self) -> None:
        for heal in list(self._applied.values()):
            with contextlib.suppress(Exception):
                heal()
        self._applied.clear()
        if self.aws is not None:
            with contextlib.suppress(Exception):
                self.aws.faults.clear_all()

    # The end ----------------------------------------------------------------------------------
    def _finish(self) -> None:
        """Inventory of the secondary, then drill_end. Runs on every path, before teardown."""
        end = self.clock.now()
        if self.end_t is not None and self.aborted is None:
            end = max(end, self.end_t)
        if self.aws is not None and self.aborted is None:
            try:
                airflow = self._harness_airflow()
                assert self.service is not None
                if self.service.status(self.secondary, self.env_name) == "AVAILABLE":
                    rows = airflow.export_table(self.secondary, self.env_name, "dag_run")
                    assert self.spec is not None
                    start, schedule = self.spec.workload_start_wall, self.spec.workload_schedule_s
                    runs = sorted(
                        [r["dag_id"], slot_date(str(r["logical_date"]), start, schedule)]
                        for r in rows
                        if r.get("state") == "success"
                    )
                    self.recorder.record(
                        "inventory", t=end, region=self.secondary, runs=runs, changes=[]
                    )
                else:
                    self.recorder.record(
                        "note",
                        t=end,
                        message=f"no AVAILABLE environment in {self.secondary} "
                        "to take the inventory of",
                    )
            except Exception as err:
                self.recorder.record(
                    "note", t=end, message=f"inventory of {self.secondary} failed: {err}"
                )
        self.end_t = end
        self._phase("drill", "done" if self.aborted is None else "failed", self.aborted or "")

    def _history(self) -> History:
        assert self.spec is not None or self.aborted is not None
        end = self.end_t if self.end_t is not None else self.clock.now()
        start = Event(
            0.0,
            "drill_start",
            {
                "primary": self.primary,
                "secondary": self.secondary,
                "duration_s": end,
                "scenario": self.scenario.name,
                "strategy": self.scenario.strategy.value,
                "profile": self.scenario.profile.value,
                "seed": self.scenario.seed,
                "mode": "live",
                "t_ready": self.t_ready,
            },
        )
        events = self.recorder.snapshot()
        if self.spec is not None:
            events += read_journal(Path(self.spec.journal_path))
            events += ledger_run_events(Path(self.spec.ledger_path))
        body = sorted((e for e in events if 0.0 <= e.t <= end), key=lambda e: e.t)
        stop = Event(end, "drill_end", {"aborted": self.aborted is not None})
        if self.aborted:
            stop = Event(end, "drill_end", {"aborted": True, "reason": self.aborted})
        return History([start, *body, stop])

    def _outcome(self) -> LiveOutcome:
        history = self._history()
        measures = measure_trial(history)
        extra = {
            "faults": [
                {**fault.to_json(), "start": fault.start, "end": fault.end}
                for fault in self.faults.faults
            ],
            "t_ready": self.t_ready,
        }
        settings = {
            "live": self.settings.to_json(),
            "scenario_file": self.original.source,
            "scenario_duration_s": self.original.duration,
            "dr_settings": settings_table(self.config),
            "backup_interval_s": self.scenario.backup.interval,
            "workload_schedule_s": self.scenario.workload.schedule,
            "note": "times are real seconds of a drill compressed time_scale times; "
            "Airflow start-up and task latency do not compress",
        }
        report = build_report(
            mode="live",
            scenario=self.scenario,
            seed=self.scenario.seed,
            trials=[TrialResult(0, self.scenario.seed, measures, extra)],
            settings=settings,
            aborted=self.aborted,
            timelines={0: history.events},
        )
        return LiveOutcome(history=history, report=report, aborted=self.aborted)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, `kill`) stops a live drill like Ctrl-C: it heals, tears
    down and still writes what it measured. Only the main thread can take signals."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def dag_bucket(region: str) -> str:
    return f"mwaa-drill-dags-{region}"


def write_outputs(outcome: LiveOutcome, report_dir: Path, stem: str) -> dict[str, Path]:
    """history.jsonl, report.json, report.md and report.html of the drill in `report_dir`."""
    from harness.render.html import render_html
    from harness.render.markdown import render_markdown

    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "history": report_dir / f"{stem}.history.jsonl",
        "json": report_dir / f"{stem}.report.json",
        "markdown": report_dir / f"{stem}.report.md",
        "html": report_dir / f"{stem}.report.html",
    }
    outcome.history.save(paths["history"])
    paths["json"].write_text(json.dumps(outcome.report, indent=2) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(outcome.report), encoding="utf-8")
    paths["html"].write_text(render_html(outcome.report), encoding="utf-8")
    outcome.files = paths
    return paths


__all__ = [
    "LiveDrill",
    "LiveDrillError",
    "LiveOutcome",
    "LiveSettings",
    "write_outputs",
]
