"""Time compression of a live drill: a scenario written at AWS time runs in minutes.

Every duration of the scenario (drill length, fault times and windows, duration-valued fault
parameters, operation times, backup interval, workload schedule, detector overrides, the
rto/rpo, split-brain and failback-time targets) and every duration of the profile's DR
settings is divided by `time_scale`. Real Airflow cannot go below its own granularity (a DAG
run takes seconds to start, a scheduler heartbeats every few seconds), so the DR settings that
pace Airflow work have floors, and the settings that are defined relative to them keep their
ratios (a canary older than several guard intervals, a fence wait of two guard intervals). The
report states every value used: a live RTO is measured in real seconds at that compression, and
judged against the compressed target.
What does not compress (Airflow start-up, task start latency) weighs more in a compressed drill
than at AWS time: the report's settings say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from harness.scenario.faults import FAULT_SPECS
from harness.scenario.model import (
    Fault,
    Objective,
    Scenario,
    Uniform,
    Varying,
)
from reference_impl.config import ProfileConfig


@dataclass(frozen=True)
class Floors:
    """Lower bounds of compressed DR settings that pace real Airflow work (seconds)."""

    check_interval: float = 2.0
    metric_period: float = 10.0  # several heartbeats (published every 2 s live)
    canary_interval: float = 4.0  # one guard DAG run: a task start and an S3 write
    canary_max_age_intervals: float = 4.0  # a canary is stale after this many guard intervals
    poll_interval: float = 1.0
    dag_run_timeout: float = 120.0
    failback_drain_timeout: float = 10.0  # a workload task's start and run
    # Airflow parses a DAG file every few seconds live (dag_dir_refresh_s): a paused DAG's
    # next run moves on only then
    failback_schedule_timeout: float = 20.0


def _scale(value: float, scale: float) -> float:
    return value / scale


def _scale_varying(value: Varying, scale: float) -> Varying:
    if isinstance(value, Uniform):
        return Uniform(value.low / scale, value.high / scale)
    return value / scale


def _scale_fault(fault: Fault, scale: float) -> Fault:
    spec = FAULT_SPECS[fault.kind]
    durations = {p.name for p in spec.params if p.kind == "varying_duration"}
    params = {
        name: _scale_varying(value, scale) if name in durations else value
        for name, value in fault.params.items()
    }
    return replace(
        fault,
        at=_scale_varying(fault.at, scale),
        duration=None if fault.duration is None else _scale_varying(fault.duration, scale),
        params=params,
    )


def _scale_objective(objective: Objective | None, scale: float) -> Objective | None:
    if objective is None:
        return None
    return replace(objective, target=objective.target / scale)


def compress_scenario(scenario: Scenario, scale: float) -> Scenario:
    """The scenario with every duration divided by `scale` (1: unchanged)."""
    if scale <= 0:
        raise ValueError(f"time_scale must be > 0, got {scale}")
    if scale == 1:
        return scenario
    detector = scenario.detector
    objectives = scenario.objectives
    return replace(
        scenario,
        duration=scenario.duration / scale,
        backup=replace(scenario.backup, interval=scenario.backup.interval / scale),
        workload=replace(scenario.workload, schedule=scenario.workload.schedule / scale),
        detector=replace(
            detector,
            check_interval=None
            if detector.check_interval is None
            else detector.check_interval / scale,
            metric_period=None
            if detector.metric_period is None
            else detector.metric_period / scale,
        ),
        faults=tuple(_scale_fault(fault, scale) for fault in scenario.faults),
        operations=tuple(
            replace(operation, at=_scale_varying(operation.at, scale))
            for operation in scenario.operations
        ),
        objectives=replace(
            objectives,
            rto=_scale_objective(objectives.rto, scale),
            rpo=_scale_objective(objectives.rpo, scale),
            max_split_brain=_optional(objectives.max_split_brain, scale),
            max_failback_time=_optional(objectives.max_failback_time, scale),
        ),
    )


def _optional(value: float | None, scale: float) -> float | None:
    return None if value is None else value / scale


def compress_config(
    config: ProfileConfig, scale: float, floors: Floors = Floors()
) -> ProfileConfig:
    """The profile's DR settings at `scale`, floored where real Airflow needs it."""
    if scale == 1:
        return config
    d = config.detector
    canary_interval = d.canary_interval
    if canary_interval > 0:
        canary_interval = max(canary_interval / scale, floors.canary_interval)
    canary_max_age = d.canary_max_age
    if canary_max_age > 0:
        canary_max_age = max(
            canary_max_age / scale, canary_interval * floors.canary_max_age_intervals
        )
    detector = replace(
        d,
        check_interval=max(d.check_interval / scale, floors.check_interval),
        metric_period=max(d.metric_period / scale, floors.metric_period),
        canary_interval=canary_interval,
        canary_max_age=canary_max_age,
    )
    fence_wait = config.fence_wait
    if fence_wait > 0 and d.canary_interval > 0:
        # "two guard intervals" stays two guard intervals
        fence_wait = max(fence_wait / scale, fence_wait / d.canary_interval * canary_interval)
    elif fence_wait > 0:
        fence_wait /= scale
    dag_run_timeout = config.dag_run_timeout
    if dag_run_timeout is not None:
        dag_run_timeout = max(dag_run_timeout / scale, floors.dag_run_timeout)
    return replace(
        config,
        detector=detector,
        create_poll_interval=max(config.create_poll_interval / scale, floors.poll_interval),
        restore_poll_interval=max(config.restore_poll_interval / scale, floors.poll_interval),
        workflow_timeout=_optional(config.workflow_timeout, scale),
        standby_cooloff=config.standby_cooloff / scale,
        create_timeout=_optional(config.create_timeout, scale),
        dag_run_timeout=dag_run_timeout,
        fence_wait=fence_wait,
        failover_retry_base=_optional(config.failover_retry_base, scale),
        failover_retry_max=config.failover_retry_max / scale,
        failback_drain_timeout=max(
            config.failback_drain_timeout / scale, floors.failback_drain_timeout
        ),
        failback_schedule_timeout=max(
            config.failback_schedule_timeout / scale, floors.failback_schedule_timeout
        ),
    )


def settings_table(config: ProfileConfig) -> Mapping[str, Any]:
    """Every DR setting as plain JSON (for the report)."""
    data = asdict(config)
    data["standby_cleanup_tables"] = list(config.standby_cleanup_tables)
    return data
