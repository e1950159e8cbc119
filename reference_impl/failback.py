"""Explicit operator failback to the primary (hardened; the seed has none).

Steps, each after the previous one:
1. read the active-Region record; nothing to do unless the secondary is active;
2. journal the decision, then claim the record for the primary with a conditional write
   (ready False): from here the secondary's guard pauses it too, and losing the race means no
   failback at all;
3. pause the secondary's workload (if this fails its guard pauses it within `canary_interval`);
4. unpause the primary's workload;
5. mark the record ready, so the primary's guard and startup hook keep it running.
The secondary's recovery workflow sees the primary active again and resumes its checks.

Runs wherever the operator runs it (ctx.region is not used): the record is in the secondary's
bucket and both Regions' Airflow APIs must answer. Metadata the secondary wrote while it was
active is not copied back to the primary.
"""

from __future__ import annotations

from reference_impl.context import DrContext
from reference_impl.fencing import active_region, claim, read_record, write_record
from reference_impl.ports import PortError
from reference_impl.runtime import CHECKPOINT, Process


def failback(ctx: DrContext) -> Process[None]:
    primary, secondary = ctx.topology.primary, ctx.topology.secondary
    environment = ctx.topology.environment
    if not ctx.config.fencing:
        ctx.journal.note("failback: not supported without an active-Region record (seed)")
        return
    try:
        record = read_record(ctx)
    except PortError as err:
        ctx.journal.note(f"failback not done: cannot read the active-Region record: {err}")
        return
    if active_region(record, ctx.topology) != secondary:
        ctx.journal.note(f"failback: nothing to do, {secondary} is not the active Region")
        return
    ctx.journal.decision("failback", secondary, primary, "operator failback")
    claimed = claim(ctx, primary, by="failback")
    if claimed.outcome != "claimed" or claimed.record is None:
        ctx.journal.note(f"failback not done: {claimed.detail}")
        return
    yield CHECKPOINT
    try:
        ctx.airflow.set_workload_paused(secondary, environment, True)
    except PortError as err:
        ctx.journal.note(f"failback: cannot pause {secondary} ({err}); its guard will")
    yield CHECKPOINT
    try:
        ctx.airflow.set_workload_paused(primary, environment, False)
    except PortError as err:
        ctx.journal.note(f"failback: cannot unpause {primary} ({err}); its guard will")
    yield CHECKPOINT
    try:
        write_record(ctx, claimed.record, primary, ready=True, by="failback")
    except PortError as err:
        ctx.journal.note(f"failback: cannot mark the record ready: {err}")
        return
    ctx.journal.note(f"failback completed: {primary} active (epoch {claimed.record.epoch})")
