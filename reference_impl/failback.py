"""Explicit operator failback to the primary (hardened; the seed has none).

Steps, each after the previous one:
1. read the active-Region record; nothing to do unless the secondary is active;
2. journal the decision, then claim the record for the primary with a conditional write
   (ready False): from here the secondary's guard pauses it too, and losing the race means no
   failback at all;
3. pause the secondary's workload (if this fails its guard pauses it within `canary_interval`);
4. wait until no workload run is running in the secondary any more (paused, it creates no
   new run; at most `failback_drain_timeout`: real Airflow never ends the run of a paused DAG,
   whose task has finished, so the wait must not be for a DAG run's whole timeout; polled
   every `restore_poll_interval`), then copy the
   newest finished run of each workload DAG (dag_run, then its task_instance rows) into the
   primary unless it has it: the primary's Airflow (catchup=False) resumes at the latest due
   tick unless that run exists, so it would otherwise run again the tick the secondary ran
   last (a duplicated run). Older runs are not needed for that and not copied (live, every
   run is several REST calls); a wait or copy that fails is journaled and the failback goes
   on;
5. unpause the primary's workload;
6. mark the record ready, so the primary's guard and startup hook keep it running.
The secondary's recovery workflow sees the primary active again and resumes its checks.

Runs wherever the operator runs it (ctx.region is not used): the record is in the secondary's
bucket and both Regions' Airflow APIs must answer. The secondary's other history and metadata
(older runs, variables it changed) are not copied back.
"""

from __future__ import annotations

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
        # Without the dag_run rows the primary may run again the latest tick; without the
        # task_instance rows only the copied runs' task history is missing.
        risk = f"; {primary} may run again the latest tick" if table == "dag_run" else ""
        ctx.journal.note(f"failback: {table} rows not copied back ({error}){risk}")
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
    still_running = yield from _wait_for_runs_in_flight(ctx)
    if still_running is not None:
        ctx.journal.note(f"failback: {still_running}; copying what has finished")
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


def _wait_for_runs_in_flight(ctx: DrContext) -> Process[str | None]:
    """Wait until no workload run is running in the secondary; why it stopped waiting, or None."""
    secondary, environment = ctx.topology.secondary, ctx.topology.environment
    workload = set(ctx.topology.workload_dags)
    limit = ctx.config.failback_drain_timeout
    since = ctx.clock.now()
    while True:
        try:
            rows = ctx.airflow.export_table(secondary, environment, "dag_run")
        except PortError as err:
            return f"cannot list the runs of {secondary}: {err}"
        running = [r for r in rows if r.get("dag_id") in workload and r.get("state") == "running"]
        if not running:
            return None
        if ctx.clock.now() - since >= limit:
            return f"{len(running)} run(s) of {secondary} still running after {limit:g}s"
        yield Wait(ctx.config.restore_poll_interval)
