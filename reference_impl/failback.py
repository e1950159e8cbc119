"""Explicit operator failback to the primary (hardened; the seed has none).

Steps, each after the previous one:
1. read the active-Region record; nothing to do unless the secondary is active;
2. journal the decision, then claim the record for the primary with a conditional write
   (ready False): from here the secondary's guard pauses it too, and losing the race means no
   failback at all;
3. pause the secondary's workload (if this fails its guard pauses it within `canary_interval`);
4. wait until no workload task is in flight in the secondary any more (paused, it starts no
   new run, but a task already queued runs; at most `failback_drain_timeout`, polled every
   `restore_poll_interval`; the wait is for tasks, not DAG runs: real Airflow never ends the
   run of a paused DAG, even when its tasks have), then copy the newest finished run of each
   workload DAG
   (dag_run, then its task_instance rows) into the primary unless it has it, so the primary's
   history has the work the secondary did last. Older runs are not copied (live, every run is
   several REST calls); a wait or copy that fails is journaled and the failback goes on;
5. hand the schedule over: read the secondary's next scheduled run of each workload DAG
   (where its schedule stopped), then wait until the primary's next run of each is no
   earlier (at most `failback_schedule_timeout`, polled every `restore_poll_interval`).
   With catchup=False the primary's Airflow runs first the latest due tick as it computed it
   at its last parse, paused; a restored run does not move it on (Airflow counts only runs it
   scheduled itself), and each Region keeps its own schedule phase, so unpausing at once
   would run again a tick the secondary ran (seen live: the tick it had in flight when
   paused, or the one before). A paused DAG's next run moves on as time passes, so the wait
   ends within about one schedule period; meanwhile nothing is due that the secondary did
   not run. A tick the secondary had created but not started when paused is run by neither;
6. unpause the primary's workload;
7. mark the record ready, so the primary's guard and startup hook keep it running.
The secondary's recovery workflow sees the primary active again and resumes its checks.

Runs wherever the operator runs it (ctx.region is not used): the record is in the secondary's
bucket and both Regions' Airflow APIs must answer. The secondary's other history and metadata
(older runs, variables it changed) are not copied back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reference_impl.backup import exportable, run_key
from reference_impl.context import DrContext
from reference_impl.fencing import active_region, claim, read_record, write_record
from reference_impl.ports import PortError
from reference_impl.runtime import CHECKPOINT, Process, Wait


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
    copy_error = yield from _copy_runs_back(ctx)
    if copy_error is not None:
        table, error = copy_error
        # Without the dag_run rows the primary's history lacks the secondary's latest runs;
        # without the task_instance rows only their task history is missing.
        risk = f"; {primary}'s history lacks its latest run" if table == "dag_run" else ""
        ctx.journal.note(f"failback: {table} rows not copied back ({error}){risk}")
    behind = yield from _wait_for_the_schedule(ctx)
    if behind is not None:
        ctx.journal.note(f"failback: {behind}; {primary} may run again a tick {secondary} ran")
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


def _copy_runs_back(ctx: DrContext) -> Process[tuple[str, str] | None]:
    """Copy the secondary's newest finished run of each workload DAG into the primary, unless
    it has it; (table, error) of the first table that failed, or None."""
    primary, secondary = ctx.topology.primary, ctx.topology.secondary
    environment = ctx.topology.environment
    in_flight = yield from _wait_for_tasks_in_flight(ctx)
    if in_flight is not None:
        ctx.journal.note(f"failback: {in_flight}; copying what has finished")
    try:
        have = {run_key(row) for row in ctx.airflow.export_table(primary, environment, "dag_run")}
        runs = exportable("dag_run", ctx.airflow.export_table(secondary, environment, "dag_run"))
    except PortError as err:
        return "dag_run", str(err)
    newest: dict[str, dict[str, Any]] = {}
    for row in runs:
        dag_id = str(row["dag_id"])
        if dag_id in ctx.topology.workload_dags and (
            dag_id not in newest or str(row["logical_date"]) > str(newest[dag_id]["logical_date"])
        ):
            newest[dag_id] = row
    missing = [row for row in newest.values() if run_key(row) not in have]
    if not missing:
        return None
    wanted = {run_key(row) for row in missing}
    yield CHECKPOINT
    try:
        ctx.airflow.import_rows(primary, environment, "dag_run", missing, on_conflict="skip")
    except PortError as err:
        return "dag_run", str(err)
    yield CHECKPOINT
    try:
        tasks = ctx.airflow.export_table(secondary, environment, "task_instance")
        rows = [row for row in exportable("task_instance", tasks) if run_key(row) in wanted]
        ctx.airflow.import_rows(primary, environment, "task_instance", rows, on_conflict="skip")
    except PortError as err:
        return "task_instance", str(err)
    return None


def _wait_for_tasks_in_flight(ctx: DrContext) -> Process[str | None]:
    """Wait until no workload task is in flight in the secondary; why it stopped waiting, or
    None."""
    secondary, environment = ctx.topology.secondary, ctx.topology.environment
    limit = ctx.config.failback_drain_timeout
    since = ctx.clock.now()
    while True:
        try:
            in_flight = ctx.airflow.tasks_in_flight(secondary, environment)
        except PortError as err:
            return f"cannot list the tasks of {secondary}: {err}"
        if in_flight == 0:
            return None
        if ctx.clock.now() - since >= limit:
            return f"{in_flight} workload task(s) of {secondary} still in flight after {limit:g}s"
        yield Wait(ctx.config.restore_poll_interval)


def _wait_for_the_schedule(ctx: DrContext) -> Process[str | None]:
    """Wait until the primary's next scheduled run of every workload DAG is no earlier than
    the secondary's; what is still behind when it stopped waiting, or None."""
    primary, secondary = ctx.topology.primary, ctx.topology.secondary
    environment = ctx.topology.environment
    try:
        stopped_at = ctx.airflow.next_scheduled_runs(secondary, environment)
    except PortError as err:
        return f"cannot read where the schedule of {secondary} stopped: {err}"
    limit = ctx.config.failback_schedule_timeout
    since = ctx.clock.now()
    while True:
        try:
            upcoming = ctx.airflow.next_scheduled_runs(primary, environment)
        except PortError as err:
            return f"cannot read the next runs of {primary}: {err}"
        behind = sorted(
            f"{dag_id} next at {upcoming[dag_id]}, {secondary} stopped at {date}"
            for dag_id, date in stopped_at.items()
            if _earlier(upcoming.get(dag_id), date)
        )
        if not behind:
            waited = ctx.clock.now() - since
            if waited > 0:
                ctx.journal.note(
                    f"failback: waited {waited:.1f}s for {primary}'s schedule to reach "
                    f"where {secondary}'s stopped"
                )
            return None
        if ctx.clock.now() - since >= limit:
            return f"after {limit:g}s {primary}'s schedule is still behind: " + "; ".join(behind)
        yield Wait(ctx.config.restore_poll_interval)


def _earlier(date: str | None, than: str | None) -> bool:
    """Whether logical date `date` is before `than` (a DAG with no next run is never behind:
    it runs nothing)."""
    if date is None or than is None:
        return False
    return _instant(date) < _instant(than)


def _instant(date: str) -> datetime:
    moment = datetime.fromisoformat(date.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
