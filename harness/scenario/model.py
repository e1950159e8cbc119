"""A scenario, as frozen typed objects. `harness.scenario.load` builds these from YAML.

Every time value is in seconds (float). A value that may vary per trial is a `Varying`:
either a fixed float or a `Uniform` range that each trial samples with its own seeded RNG.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Strategy(StrEnum):
    BACKUP_RESTORE = "backup_restore"
    WARM_STANDBY = "warm_standby"


class Profile(StrEnum):
    SEED = "seed"
    HARDENED = "hardened"


class FaultKind(StrEnum):
    REGION_OUTAGE = "region_outage"
    ENVIRONMENT_FAILURE = "environment_failure"
    CLOUDWATCH_OUTAGE = "cloudwatch_outage"
    CLOUDWATCH_THROTTLING = "cloudwatch_throttling"
    CLOUDWATCH_METRIC_DELAY = "cloudwatch_metric_delay"
    REPLICATION_LAG = "replication_lag"
    REPLICATION_STALL = "replication_stall"
    CREATE_ENVIRONMENT_FAILURE = "create_environment_failure"
    RESTORE_FAILURE = "restore_failure"
    NETWORK_PARTITION = "network_partition"


class OperationAction(StrEnum):
    """An operator action a scenario can schedule (`operations:`)."""

    FAILBACK = "failback"


# One line per action, for `mwaa-drill scenarios` and --dry-run.
OPERATION_SUMMARIES: Mapping[OperationAction, str] = MappingProxyType(
    {
        OperationAction.FAILBACK: (
            "the operator fails back to the primary (reference_impl.failback, run with the"
            " secondary's endpoints): claim the active-Region record, pause the secondary,"
            " copy its finished runs back, unpause the primary; seed has no failback"
        ),
    }
)


# Faults after whose start the primary cannot run workflows: they define t_fault (design.md).
PRIMARY_DISABLING_KINDS: frozenset[FaultKind] = frozenset(
    {FaultKind.REGION_OUTAGE, FaultKind.ENVIRONMENT_FAILURE}
)


@dataclass(frozen=True)
class Uniform:
    """A value drawn uniformly from [low, high] once per trial."""

    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    @property
    def max(self) -> float:
        return self.high

    @property
    def min(self) -> float:
        return self.low


Varying = float | Uniform


def sample(value: Varying, rng: random.Random) -> float:
    """The value of `value` for one trial."""
    return value.sample(rng) if isinstance(value, Uniform) else value


def upper(value: Varying) -> float:
    return value.max if isinstance(value, Uniform) else value


def lower(value: Varying) -> float:
    return value.min if isinstance(value, Uniform) else value


@dataclass(frozen=True)
class Regions:
    primary: str = "us-east-1"
    secondary: str = "us-west-2"

    def resolve(self, role_or_name: str) -> str:
        """`primary`/`secondary` or a Region name -> the Region name."""
        if role_or_name == "primary":
            return self.primary
        if role_or_name == "secondary":
            return self.secondary
        return role_or_name


@dataclass(frozen=True)
class BackupSettings:
    interval: float = 900.0


@dataclass(frozen=True)
class DetectorOverrides:
    """Overrides of the profile's detector defaults; None means "profile default".

    check_interval: time between health checks.
    metric_period: the CloudWatch aggregation period a check asks for.
    confirmations: consecutive unhealthy checks needed before failing over.
    unknown_is_unhealthy: take an API error, throttling or missing data as "unhealthy".
    second_signal: confirm an outage with a second, independent signal before failing over.
    """

    check_interval: float | None = None
    metric_period: float | None = None
    confirmations: int | None = None
    unknown_is_unhealthy: bool | None = None
    second_signal: bool | None = None


@dataclass(frozen=True)
class Workload:
    dags: int = 3
    schedule: float = 300.0


@dataclass(frozen=True)
class Fault:
    """One fault of the schedule. `region` is already resolved to a Region name.

    `duration` None means: until the drill ends. `params` holds the kind's own parameters,
    validated and with defaults filled in (see harness.scenario.faults for each kind).
    """

    kind: FaultKind
    region: str
    at: Varying
    duration: Varying | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Operation:
    """One operator action of the schedule, at a time of the drill like a fault's start."""

    action: OperationAction
    at: Varying


@dataclass(frozen=True)
class Objective:
    """A target on a measured number.

    For rto/rpo (seconds): `percentile` says which percentile of the trials' values must be at
    or under `target`; 100 means every trial. max_spurious_failover_rate is a rate in [0, 1].
    """

    name: str
    target: float
    percentile: float = 100.0


@dataclass(frozen=True)
class Objectives:
    rto: Objective | None = None
    rpo: Objective | None = None
    max_spurious_failover_rate: float | None = None
    max_split_brain: float | None = None
    max_lost_runs: int | None = None
    max_duplicate_runs: int | None = None
    max_torn_restores: int | None = None
    max_failback_time: float | None = None  # seconds; only with a failback operation


@dataclass(frozen=True)
class StopConditions:
    """When a live drill stops early (a safe game day). Both off by default.

    on_objective_lost: abort as soon as an objective can no longer be met by what already
    happened (split brain or duplicate runs over their maximum, an rto of percentile 100 that
    the open outage has already exceeded, a spurious failover when the target rate is 0).
    max_duration: seconds of scenario time after which the live drill is cut short (at most
    the scenario's duration; None: no cap). Counted from the end of provisioning, like every
    scenario time, and compressed by the live drill's time scale.

    Only `mwaa-drill run` acts on them: the simulator ignores stop conditions (its trials are
    virtual time and cost nothing to run to their end).
    """

    on_objective_lost: bool = False
    max_duration: float | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    strategy: Strategy
    profile: Profile
    duration: float
    description: str = ""
    regions: Regions = Regions()
    seed: int = 0
    trials: int = 100
    backup: BackupSettings = BackupSettings()
    detector: DetectorOverrides = DetectorOverrides()
    workload: Workload = Workload()
    faults: tuple[Fault, ...] = ()
    operations: tuple[Operation, ...] = ()
    objectives: Objectives = Objectives()
    stop: StopConditions = StopConditions()  # live drills only; the simulator ignores it
    source: str = "<memory>"  # the file it came from, for messages


def to_json(value: object) -> Any:
    """A scenario (or any part of it) as plain JSON data, for reports. Times stay in seconds."""
    if isinstance(value, Uniform):
        return {"uniform": [value.low, value.high]}
    if isinstance(value, StrEnum):
        return value.value
    if hasattr(value, "__dataclass_fields__"):
        return {name: to_json(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value
