"""Every fault kind a scenario can schedule: what it does, where it strikes by default, and its
own parameters. The validator (`harness.scenario.load`) checks faults against these specs and
`mwaa-drill scenarios --faults` prints them, so the docs here are user documentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from harness.scenario.model import FaultKind

# How a parameter's value is written and checked:
#   varying_duration: a duration > 0, or {uniform: [low, high]} sampled once per trial;
#                     stored as seconds (float) or a Uniform.
#   rate:             a number in (0, 1]; stored as a float.
#   choice:           one of `choices`; stored as the string.
ParamKind = Literal["varying_duration", "rate", "choice"]

# Keys every fault has, next to its kind's own parameters.
COMMON_FAULT_KEYS: tuple[str, ...] = ("kind", "region", "at", "duration")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: ParamKind
    doc: str
    default: str | float | None = None  # None: the parameter is required
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is None

    def expected(self) -> str:
        """What a valid value looks like, for error messages and docs."""
        if self.kind == "varying_duration":
            return "a duration > 0 like 10m, or {uniform: [5m, 15m]}"
        if self.kind == "rate":
            return "a number in (0, 1]"
        return "one of: " + " | ".join(self.choices)


@dataclass(frozen=True)
class FaultSpec:
    kind: FaultKind
    summary: str  # one line
    doc: str  # a few lines
    default_region: Literal["primary", "secondary"]
    params: tuple[ParamSpec, ...] = ()

    def param(self, name: str) -> ParamSpec | None:
        for spec in self.params:
            if spec.name == name:
                return spec
        return None

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key a fault of this kind may have."""
        return COMMON_FAULT_KEYS + tuple(spec.name for spec in self.params)


def _rate(name: str, doc: str) -> ParamSpec:
    return ParamSpec(name=name, kind="rate", doc=doc, default=1.0)


def _unreachable_as(default: str, doc: str) -> ParamSpec:
    """How unreachable endpoints look: refused at once, or hanging until timeouts."""
    return ParamSpec(
        name="unreachable_as", kind="choice", default=default, choices=("refused", "hang"), doc=doc
    )


_SPECS = (
    FaultSpec(
        kind=FaultKind.REGION_OUTAGE,
        summary="The whole Region fails: its endpoints are unreachable and its Airflow stops.",
        doc="""\
Every endpoint of the Region (MWAA, S3, CloudWatch) stops answering and the environment's
scheduler and workers stop. When the fault window ends the Region comes back, environment
included, with whatever state it had: if nothing paused its DAGs, it schedules them again.
This is the fault RTO and RPO are measured against.""",
        default_region="primary",
        params=(
            _unreachable_as(
                "refused",
                "how its endpoints look from outside: `refused` fails every connection at "
                "once; `hang` accepts connections and never answers, so callers wait for "
                "their timeouts",
            ),
        ),
    ),
    FaultSpec(
        kind=FaultKind.ENVIRONMENT_FAILURE,
        summary="Only the Airflow environment dies; the Region's AWS services stay up.",
        doc="""\
The environment's scheduler stops: no DAG runs start and its scheduler heartbeat metric stops
being published, while S3, CloudWatch and the MWAA API of the Region keep answering. A
detector has to tell this from a CloudWatch problem by the metrics alone.""",
        default_region="primary",
    ),
    FaultSpec(
        kind=FaultKind.CLOUDWATCH_OUTAGE,
        summary="The Region's CloudWatch API fails while the environment runs normally.",
        doc="""\
Calls to the Region's CloudWatch API fail for the fault window; Airflow itself is healthy.
A detector that reads an API error or missing data as "unhealthy" fails over for nothing:
this is the spurious-failover drill.""",
        default_region="primary",
        params=(
            ParamSpec(
                name="error",
                kind="choice",
                default="ServiceUnavailable",
                choices=("ServiceUnavailable", "InternalFailure", "connection_refused", "hang"),
                doc="how calls fail: `ServiceUnavailable` (HTTP 503) or `InternalFailure` "
                "(HTTP 500) error responses, `connection_refused` (no HTTP answer at all), or "
                "`hang` (accepted and never answered, so the caller times out)",
            ),
            _rate(
                "error_rate",
                "fraction of CloudWatch calls that fail, in (0, 1]; 1.0 fails every call",
            ),
        ),
    ),
    FaultSpec(
        kind=FaultKind.CLOUDWATCH_THROTTLING,
        summary="CloudWatch answers ThrottlingException (Rate exceeded) instead of data.",
        doc="""\
Calls to the Region's CloudWatch API are throttled (HTTP 400 ThrottlingException) for the
fault window; Airflow itself is healthy. A detector should retry with backoff and not take
throttling for an outage.""",
        default_region="primary",
        params=(
            _rate(
                "error_rate",
                "fraction of CloudWatch calls that are throttled, in (0, 1]; 1.0 throttles "
                "every call",
            ),
        ),
    ),
    FaultSpec(
        kind=FaultKind.CLOUDWATCH_METRIC_DELAY,
        summary="CloudWatch datapoints become visible late; the newest periods look empty.",
        doc="""\
A datapoint for time t can only be read from t + delay on, for datapoints published during
the fault window. Airflow is healthy, but a detector that asks for the latest period sees no
data, as if the environment had stopped reporting.""",
        default_region="primary",
        params=(
            ParamSpec(
                name="delay",
                kind="varying_duration",
                doc="how late datapoints become visible: a duration > 0 (10m), or "
                "{uniform: [low, high]} sampled once per trial",
            ),
        ),
    ),
    FaultSpec(
        kind=FaultKind.REPLICATION_LAG,
        summary="Cross-Region replication of the source bucket's objects completes late.",
        doc="""\
Objects (DAG files, metadata backups) written to the bucket in this Region during the fault
window reach the other Region `lag` later than usual. The region is the source bucket's
Region. A recovery that restores the newest replicated backup loses more data: RPO grows.""",
        default_region="primary",
        params=(
            ParamSpec(
                name="lag",
                kind="varying_duration",
                doc="extra replication delay per object: a duration > 0 (20m), or "
                "{uniform: [low, high]} sampled once per trial",
            ),
        ),
    ),
    FaultSpec(
        kind=FaultKind.REPLICATION_STALL,
        summary="Replication out of the Region stops for the fault window, then resumes.",
        doc="""\
Objects written to the bucket in this Region during the fault window are not replicated
until the window ends (never, if the fault lasts until the end of the drill). The region is
the source bucket's Region.""",
        default_region="primary",
    ),
    FaultSpec(
        kind=FaultKind.CREATE_ENVIRONMENT_FAILURE,
        summary="CreateEnvironment in the Region ends in CREATE_FAILED.",
        doc="""\
An environment creation started in this Region during the fault window fails after its
usual creation time instead of becoming AVAILABLE. Backup and restore depends on creating
the environment at failover time; warm standby only when it rebuilds its standby.""",
        default_region="secondary",
        params=(
            _rate(
                "probability",
                "chance that each creation in the fault window fails, in (0, 1]; 1.0 fails "
                "every one",
            ),
        ),
    ),
    FaultSpec(
        kind=FaultKind.RESTORE_FAILURE,
        summary="Restoring the Airflow metadata into the Region's environment fails.",
        doc="""\
A metadata restore (variables, connections, DAG run history from the replicated backup)
attempted in this Region during the fault window fails. Whether the strategy retries,
alarms or carries on with an empty history shows in RPO, lost and duplicated runs.""",
        default_region="secondary",
        params=(
            _rate(
                "probability",
                "chance that each restore attempt in the fault window fails, in (0, 1]; 1.0 "
                "fails every one",
            ),
        ),
    ),
    FaultSpec(
        kind=FaultKind.NETWORK_PARTITION,
        summary="The Region is cut off from the other one; each still works on its own.",
        doc="""\
Calls between this Region and the other one fail for the fault window, in both directions,
while both Regions and their environments keep working and S3 replication (inside AWS) goes
on. The region is the one cut off. Seen from the other side it looks like an outage, but
failing over here gives two active Regions.""",
        default_region="primary",
        params=(
            _unreachable_as(
                "hang",
                "how the other Region's endpoints look across the cut: `hang` (packets "
                "dropped) makes callers wait for their timeouts; `refused` fails every "
                "connection at once (a firewall rule or a broken route that answers)",
            ),
        ),
    ),
)

FAULT_SPECS: Mapping[FaultKind, FaultSpec] = MappingProxyType({spec.kind: spec for spec in _SPECS})
