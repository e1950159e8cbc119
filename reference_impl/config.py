"""Profile settings: `seed` reproduces the post and its reference code, `hardened` fixes it.

Everything a profile decides is here, in one frozen object, so a report can state every
setting used. Scenario files may override the detector settings (`detector:`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

ProfileName = Literal["seed", "hardened"]
StrategyName = Literal["backup_restore", "warm_standby"]


@dataclass(frozen=True)
class DetectorConfig:
    check_interval: float  # seconds between scheduled health checks
    metric_period: float  # CloudWatch aggregation period one check asks for
    confirmations: int  # consecutive failed checks before failing over
    unknown_is_unhealthy: bool  # seed: an API error, throttling or missing data is a failure
    second_signal: bool  # confirm with the primary's replicated canary before failing over
    canary_max_age: float  # a canary older than this says "primary not writing"
    canary_interval: float  # how often the primary's guard writes its canary
    # seed: a call that never answers outlives the check's own 10 s Lambda timeout, so the
    # check run FAILS and decides nothing (the reference misses hanging outages this way)
    check_dies_on_timeout: bool = False


@dataclass(frozen=True)
class ProfileConfig:
    name: ProfileName
    detector: DetectorConfig
    backup_manifest: bool  # unique keys per backup and a manifest written last
    restore_on_conflict: Literal["fail", "skip"]  # seed: COPY (not idempotent); hardened: skip
    fencing: bool  # active-Region record, guard that pauses a Region that is not active
    plaintext_secrets: bool  # seed exports connection passwords as they are
    create_exits_on_failure: bool  # seed polls on through CREATE_FAILED until its timeout
    create_attempts: int
    create_poll_interval: float
    restore_attempts: int
    restore_poll_interval: float
    workflow_timeout: float | None  # seed: the state machine's 60-minute timeout
    standby_cooloff: float  # warm standby: wait after the cleanup DAG before restoring
    # Added with the DR logic (defaults are the seed's behaviour):
    # tables the warm-standby cleanup DAG clears before the restore
    standby_cleanup_tables: tuple[str, ...] = (
        "variable",
        "connection",
        "slot_pool",
        "dag_run",
        "task_instance",
    )
    # backup and restore without a saved primary configuration: create from a minimal one
    create_without_saved_config: bool = False
    create_timeout: float | None = None  # give up on one creation stuck in CREATING
    dag_run_timeout: float | None = None  # give up waiting for one restore/cleanup DAG run
    # Fencing: after claiming the active-Region record, wait this long before unpausing, so
    # the old primary's guard (every canary_interval) has read the record and paused itself.
    fence_wait: float = 0.0
    # steps look before they act and ride out transient errors, so that a failed failover can
    # be resumed; seed: a straight-line state machine whose first error ends the execution
    resumable_failover: bool = False
    # a failover whose steps failed is resumed after this backoff (doubling, capped);
    # None: never (seed: the execution simply ends)
    failover_retry_base: float | None = None
    failover_retry_max: float = 1800.0
    # failback: how long the operator lets the paused secondary's runs in flight drain before
    # copying its newest runs back (a workload run's length, with room)
    failback_drain_timeout: float = 0.0
    # failback: how long the operator waits, before unpausing the primary, for the primary's
    # next scheduled run of each workload DAG to come no earlier than the secondary's (the
    # longest workload schedule period, with room for Airflow to parse the DAG again)
    failback_schedule_timeout: float = 0.0


SEED = ProfileConfig(
    name="seed",
    detector=DetectorConfig(
        check_interval=300.0,
        metric_period=300.0,
        confirmations=1,
        unknown_is_unhealthy=True,
        second_signal=False,
        canary_max_age=0.0,
        canary_interval=0.0,
        check_dies_on_timeout=True,
    ),
    backup_manifest=False,
    restore_on_conflict="fail",
    fencing=False,
    plaintext_secrets=True,
    create_exits_on_failure=False,
    create_attempts=1,
    create_poll_interval=60.0,
    restore_attempts=1,
    restore_poll_interval=30.0,
    workflow_timeout=3600.0,
    standby_cooloff=30.0,
)

HARDENED = ProfileConfig(
    name="hardened",
    detector=DetectorConfig(
        check_interval=60.0,
        # Longer than CloudWatch's delivery delay can plausibly be (a 2-minute period read
        # "no data" whenever delivery took over 2 minutes: a permanent false "unhealthy").
        metric_period=300.0,
        confirmations=3,
        unknown_is_unhealthy=False,
        second_signal=True,
        canary_max_age=300.0,
        canary_interval=60.0,
    ),
    backup_manifest=True,
    restore_on_conflict="skip",
    fencing=True,
    plaintext_secrets=False,
    create_exits_on_failure=True,
    create_attempts=3,
    create_poll_interval=60.0,
    restore_attempts=3,
    restore_poll_interval=30.0,
    workflow_timeout=None,
    standby_cooloff=0.0,
    # no cleanup: the restore skips existing keys, so the standby's own rows (pre-provisioned
    # per-Region secrets and settings, runs of an earlier active period) are kept and merged
    standby_cleanup_tables=(),
    create_without_saved_config=True,
    create_timeout=3600.0,
    dag_run_timeout=1800.0,
    fence_wait=120.0,  # two guard intervals
    resumable_failover=True,
    failover_retry_base=300.0,
    failover_retry_max=1800.0,
    failback_drain_timeout=600.0,  # two periods of the 5-minute workload
    failback_schedule_timeout=3600.0,  # an hourly workload's period
)

PROFILES: dict[str, ProfileConfig] = {"seed": SEED, "hardened": HARDENED}


def profile_config(name: str, **detector_overrides: Any) -> ProfileConfig:
    """The profile's settings with detector overrides applied (None values are ignored)."""
    base = PROFILES[name]
    known = {f.name for f in fields(DetectorConfig)}
    unknown = set(detector_overrides) - known
    if unknown:
        raise ValueError(f"unknown detector settings: {', '.join(sorted(unknown))}")
    given = {k: v for k, v in detector_overrides.items() if v is not None}
    return replace(base, detector=replace(base.detector, **given))
