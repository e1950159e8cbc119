"""The active-Region record: which Region may run the workload, changed only by conditional writes.

The record lives in the secondary's bucket (`layout.ACTIVE_REGION_KEY`), the one bucket the
deciding side can always reach when it fails over. Body: {active, epoch, ready, updated_at, by}.

- `active`: the Region allowed to schedule the workload. No record means the primary.
- `epoch`: incremented at every change of `active`, so a write based on an old read loses.
- `ready`: False while a failover (or failback) is still restoring; a Region's guard and its
  startup hook unpause its workload only when the record names it active AND ready, so a
  scheduler restarting mid-failover cannot start the workload on half-restored metadata.

Every write is conditional (If-Match on the ETag read, If-None-Match when there was none):
two writers that read the same version cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reference_impl.context import DrContext, Topology
from reference_impl.layout import ACTIVE_REGION_KEY
from reference_impl.ports import PRECONDITION_FAILED, PortError


@dataclass(frozen=True)
class ActiveRecord:
    active: str
    epoch: int
    ready: bool
    etag: str


def record_home(topology: Topology) -> tuple[str, str]:
    """(Region, bucket) where the record lives: the secondary's bucket."""
    return topology.secondary, topology.bucket(topology.secondary)


def read_record(ctx: DrContext) -> ActiveRecord | None:
    """The record, or None when there is none yet. Raises PortError when it cannot be read
    (from the primary this is a cross-Region call)."""
    region, bucket = record_home(ctx.topology)
    stored = ctx.store.get(region, bucket, ACTIVE_REGION_KEY)
    if stored is None:
        return None
    body = stored.body
    return ActiveRecord(
        active=str(body["active"]),
        epoch=int(body["epoch"]),
        ready=bool(body.get("ready", True)),
        etag=stored.etag,
    )


def active_region(record: ActiveRecord | None, topology: Topology) -> str:
    return topology.primary if record is None else record.active


def may_run(record: ActiveRecord | None, region: str, topology: Topology) -> bool:
    """Whether `region` may schedule its workload now: it is active and not mid-restore."""
    if record is None:
        return region == topology.primary
    return record.active == region and record.ready


def write_record(
    ctx: DrContext, previous: ActiveRecord | None, active: str, *, ready: bool, by: str
) -> ActiveRecord:
    """Conditional write over `previous` (the version read). Raises PortError, with code
    PRECONDITION_FAILED when someone else wrote the record since."""
    region, bucket = record_home(ctx.topology)
    epoch = 0 if previous is None else previous.epoch
    if previous is None or previous.active != active:
        epoch += 1
    body = {
        "active": active,
        "epoch": epoch,
        "ready": ready,
        "updated_at": ctx.clock.now(),
        "by": by,
    }
    if previous is None:
        etag = ctx.store.put(region, bucket, ACTIVE_REGION_KEY, body, if_none_match=True)
    else:
        etag = ctx.store.put(region, bucket, ACTIVE_REGION_KEY, body, if_match=previous.etag)
    return ActiveRecord(active, epoch, ready, etag)


ClaimOutcome = Literal["claimed", "lost", "error"]


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    record: ActiveRecord | None  # the record written when claimed
    detail: str


def claim(ctx: DrContext, region: str, *, by: str) -> Claim:
    """Make `region` the active Region (not yet ready): read the record, then write it
    conditionally. "lost" when `region` already is active or another writer got in between."""
    try:
        current = read_record(ctx)
    except PortError as err:
        return Claim("error", None, f"cannot read the active-Region record: {err}")
    if active_region(current, ctx.topology) == region:
        epoch = 0 if current is None else current.epoch
        return Claim("lost", None, f"{region} is already the active Region (epoch {epoch})")
    try:
        written = write_record(ctx, current, region, ready=False, by=by)
    except PortError as err:
        if err.code == PRECONDITION_FAILED:
            return Claim("lost", None, "another writer changed the active-Region record first")
        return Claim("error", None, f"cannot write the active-Region record: {err}")
    return Claim("claimed", written, f"{region} active, epoch {written.epoch}")
