"""The DR DAGs: which task each DR DAG runs, which run on a schedule, and the scheduler's startup
hook. The world's Airflow runs these in the environment of ctx.region.

- BACKUP_DAG (`backup.backup_task`): scheduled every backup interval in the primary only.
  conf: optional {"backup_id"}.
- RESTORE_DAG (`restore.restore_task`): triggered by the failover. conf: {} (hardened also
  accepts {"backup_id"}).
- CLEANUP_DAG (`restore.cleanup_task`): triggered by a warm-standby failover before the restore.
  conf: {"tables": [...]} (default: every backup table).
- GUARD_DAG (`guard.guard_task`): every `canary_interval` in both Regions when the profile
  fences or the detector uses the canary. conf: {}.
A task that raises makes its DAG run fail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from reference_impl.backup import backup_task
from reference_impl.context import BACKUP_DAG, CLEANUP_DAG, GUARD_DAG, RESTORE_DAG, DrContext
from reference_impl.guard import guard_task, startup_guard
from reference_impl.restore import cleanup_task, restore_task
from reference_impl.runtime import Process

DrTask = Callable[[DrContext, Mapping[str, Any]], Process[Any]]

DR_TASKS: Mapping[str, DrTask] = MappingProxyType(
    {
        BACKUP_DAG: backup_task,
        RESTORE_DAG: restore_task,
        CLEANUP_DAG: cleanup_task,
        GUARD_DAG: guard_task,
    }
)


def scheduled_dr_dags(ctx: DrContext, backup_interval: float) -> dict[str, float]:
    """dag_id -> interval (seconds) of the DR DAGs scheduled in ctx.region's environment."""
    dags: dict[str, float] = {}
    if ctx.region == ctx.topology.primary:
        dags[BACKUP_DAG] = backup_interval
    detector = ctx.config.detector
    if (ctx.config.fencing or detector.second_signal) and detector.canary_interval > 0:
        dags[GUARD_DAG] = detector.canary_interval
    return dags


def startup_hook(ctx: DrContext) -> Process[None]:
    """Runs at each start of ctx.region's scheduler, before it schedules anything. seed: nothing;
    with fencing, the workload starts paused and runs only once the active-Region record
    confirms this Region (see `guard`)."""
    return startup_guard(ctx)
