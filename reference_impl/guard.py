"""The guard: the primary's canary and the fencing of a Region that is not the active one.

GUARD_DAG runs every `canary_interval` in each Region's environment; `startup_guard` runs at
every scheduler start, before the scheduler schedules anything (an MWAA startup script).

- Canary (primary only, when the detector uses a second signal): `layout.CANARY_KEY` in the
  primary's bucket, {region, environment, written_at}. S3 replication carries it to the
  secondary, whose health check reads its age locally. It stops when the primary's scheduler
  stops, which is what it is there to show.
- Fencing (when the profile fences): read the active-Region record. Another Region active =>
  pause this Region's workload. This Region active and ready (or no record and this is the
  primary) => make sure it runs. Active but not ready (a failover still restoring) => leave it.
  So a Region that another took over from stays paused until the record names it again, which
  only an explicit failback does.
- Record unreadable: at startup the workload stays paused (it was paused first) until a later
  guard run can read the record; in a periodic run nothing changes. Known limit: a primary cut
  off from the secondary's bucket keeps running, so a partition that also stops replication
  (canary stale), or comes with a replication lag near the canary's max age (found by
  Hypothesis: tests/unit/test_sim_properties.py), ends with two active Regions until it
  heals. Self-fencing on a lease would instead stop the primary whenever the secondary
  Region is down, which is worse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reference_impl.context import DrContext
from reference_impl.fencing import active_region, may_run, read_record
from reference_impl.layout import CANARY_KEY
from reference_impl.ports import PortError
from reference_impl.runtime import CHECKPOINT, Process


def write_canary(ctx: DrContext) -> None:
    region = ctx.region
    body = {
        "region": region,
        "environment": ctx.topology.environment,
        "written_at": ctx.clock.now(),
    }
    try:
        ctx.store.put(region, ctx.topology.bucket(region), CANARY_KEY, body)
    except PortError as err:
        ctx.journal.note(f"guard {region}: canary write failed: {err}")


def _set_paused(ctx: DrContext, paused: bool) -> bool:
    try:
        ctx.airflow.set_workload_paused(ctx.region, ctx.topology.environment, paused)
    except PortError as err:
        verb = "pause" if paused else "unpause"
        ctx.journal.note(f"guard {ctx.region}: cannot {verb} the workload: {err}")
        return False
    return True


def enforce(ctx: DrContext, *, at_startup: bool) -> None:
    """Apply the active-Region record to this Region's workload (see the module doc)."""
    region = ctx.region
    try:
        record = read_record(ctx)
    except PortError as err:
        if at_startup:
            ctx.journal.note(
                f"guard {region}: active-Region record unreadable ({err.code}); "
                "workload stays paused until it can be read"
            )
        return
    if may_run(record, region, ctx.topology):
        _set_paused(ctx, False)
        return
    active = active_region(record, ctx.topology)
    if active != region:
        _set_paused(ctx, True)
        if at_startup:
            epoch = 0 if record is None else record.epoch
            ctx.journal.note(
                f"guard {region}: {active} is the active Region (epoch {epoch}); "
                "workload stays paused until the record names this Region"
            )


def guard_task(ctx: DrContext, conf: Mapping[str, Any]) -> Process[None]:
    """GUARD_DAG's task. `conf` is not used."""
    if ctx.region == ctx.topology.primary and ctx.config.detector.second_signal:
        write_canary(ctx)
        yield CHECKPOINT
    if ctx.config.fencing:
        enforce(ctx, at_startup=False)
    yield CHECKPOINT


def startup_guard(ctx: DrContext) -> Process[None]:
    """At a scheduler start: pause first, then let the record decide (see the module doc).
    Without fencing (seed) it does nothing."""
    if not ctx.config.fencing:
        return
    _set_paused(ctx, True)
    yield CHECKPOINT
    enforce(ctx, at_startup=True)
    yield CHECKPOINT
