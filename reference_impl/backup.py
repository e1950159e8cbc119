"""BACKUP_DAG's task: export the metadata tables to the bucket of the Region it runs in.

Each table is read in its own transaction (`Airflow.export_table`), one after the other, with
time passing between reads, so a backup is a set of reads at different times.

seed (the reference, `backup_manifest` False):
- one object per table at a FIXED key (`backup/<table>.json`), overwritten by every backup and
  written right after its table is read: a backup that fails half-way, or replication that
  delivers some tables late, leaves objects of different backups side by side;
- running/queued dag runs and task instances left out (and `default_pool`, as in the reference),
  nothing else filtered: a run that ends between the dag_run read and the task_instance read
  has its task instances without its run (a torn backup);
- connection passwords exported as they are, in plain text (`plaintext_secrets`);
- no manifest.
Torn is judged, best effort, from the two run tables: torn when a task instance's
(dag_id, logical_date) has no dag_run row in the backup, or (when any task instance was
exported) a dag_run row has no task instance. A DAG with several tasks whose run is still
running at both reads also shows up as torn, which it is for a restore: the reference restores
those task instances without their run.

hardened (`backup_manifest` True):
- unique keys per backup (`backups/<backup_id>/<table>.json`) and a manifest
  (`backups/<backup_id>/manifest.json`) written LAST, after every table object: a manifest is
  the backup's commit record, and a restore uses only manifests whose objects all arrived;
- consistent run data: dag_run is read before task_instance; only finished runs (success or
  failed) are kept, and only the task instances of those runs. A run finished at the dag_run
  read has final task instances that are all there at the later task_instance read, so the
  backup is the run history as of the dag_run read (`consistency.runs_read_at`); task
  instances of runs that ended later are dropped (counted) and come with the next backup.
  Runs without any task instance are kept (the world may not model task instances);
- connection passwords never written (password None): secrets come from a per-Region secrets
  store or the standby's own pre-provisioned connections, which the restore does not overwrite;
- the same export filters as the seed (no running/queued rows, no `default_pool`).

`conf` may give "backup_id"; otherwise it is made from the clock (`layout.new_backup_id`).
Returns the backup id. Raises PortError (the DAG run fails) after journaling "failed".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reference_impl.context import DrContext
from reference_impl.layout import backup_table_key, manifest_key, new_backup_id, seed_table_key
from reference_impl.ports import BACKUP_TABLES, PortError
from reference_impl.runtime import CHECKPOINT, Process

RUN_TABLES = ("dag_run", "task_instance")
UNFINISHED = frozenset({"running", "queued"})
FINISHED_RUN = frozenset({"success", "failed"})
DEFAULT_POOL = "default_pool"

Row = dict[str, Any]
RunKey = tuple[str, str]


def run_key(row: Mapping[str, Any]) -> RunKey:
    return (str(row["dag_id"]), str(row["logical_date"]))


def exportable(table: str, rows: Sequence[Row]) -> list[Row]:
    """The reference's export filters: running/queued runs and task instances are left out, and
    so is Airflow's `default_pool`, which every environment has of its own (restoring it with
    COPY would fail on the target's own row)."""
    if table == "slot_pool":
        return [row for row in rows if row.get("pool") != DEFAULT_POOL]
    if table in RUN_TABLES:
        return [row for row in rows if row.get("state") not in UNFINISHED]
    return list(rows)


def without_passwords(table: str, rows: Sequence[Row]) -> list[Row]:
    if table != "connection":
        return list(rows)
    return [{**row, "password": None} for row in rows]


def looks_torn(dag_runs: Sequence[Row], task_instances: Sequence[Row]) -> bool:
    """Seed's best-effort torn judgement (see the module doc)."""
    runs = {run_key(row) for row in dag_runs}
    ti_runs = {run_key(row) for row in task_instances}
    if ti_runs - runs:
        return True
    return bool(task_instances) and bool(runs - ti_runs)


def table_body(backup_id: str, table: str, exported_at: float, rows: Sequence[Row]) -> Row:
    return {"backup_id": backup_id, "table": table, "exported_at": exported_at, "rows": rows}


def backup_task(ctx: DrContext, conf: Mapping[str, Any]) -> Process[str]:
    backup_id = str(conf.get("backup_id") or new_backup_id(ctx.clock.now()))
    ctx.journal.backup(ctx.region, backup_id, "started")
    try:
        if ctx.config.backup_manifest:
            details = yield from _manifest_backup(ctx, backup_id)
        else:
            details = yield from _fixed_key_backup(ctx, backup_id)
    except PortError as err:
        ctx.journal.backup(ctx.region, backup_id, "failed", reason=str(err))
        raise
    ctx.journal.backup(ctx.region, backup_id, "completed", **details)
    return backup_id


def _export(ctx: DrContext, table: str) -> list[Row]:
    rows = ctx.airflow.export_table(ctx.region, ctx.topology.environment, table)
    if not ctx.config.plaintext_secrets:
        rows = without_passwords(table, rows)
    return exportable(table, rows)


def _fixed_key_backup(ctx: DrContext, backup_id: str) -> Process[dict[str, Any]]:
    bucket = ctx.topology.bucket(ctx.region)
    exported: dict[str, list[Row]] = {}
    for table in BACKUP_TABLES:
        rows = _export(ctx, table)
        body = table_body(backup_id, table, ctx.clock.now(), rows)
        ctx.store.put(ctx.region, bucket, seed_table_key(table), body)
        exported[table] = rows
        # Each table in its own transaction: time passes before the next one is read.
        yield CHECKPOINT
    torn = looks_torn(exported["dag_run"], exported["task_instance"])
    return {"torn": torn, "tables": {table: len(rows) for table, rows in exported.items()}}


def _manifest_backup(ctx: DrContext, backup_id: str) -> Process[dict[str, Any]]:
    bucket = ctx.topology.bucket(ctx.region)
    exported: dict[str, list[Row]] = {}
    read_at: dict[str, float] = {}
    # BACKUP_TABLES lists dag_run before task_instance: the order the consistency rule needs.
    for table in BACKUP_TABLES:
        exported[table] = _export(ctx, table)
        read_at[table] = ctx.clock.now()
        yield CHECKPOINT
    runs = [row for row in exported["dag_run"] if row.get("state") in FINISHED_RUN]
    kept = {run_key(row) for row in runs}
    task_instances = [row for row in exported["task_instance"] if run_key(row) in kept]
    dropped_tis = len(exported["task_instance"]) - len(task_instances)
    exported["dag_run"], exported["task_instance"] = runs, task_instances

    objects = []
    for table in BACKUP_TABLES:
        key = backup_table_key(backup_id, table)
        body = table_body(backup_id, table, read_at[table], exported[table])
        ctx.store.put(ctx.region, bucket, key, body)
        objects.append({"table": table, "key": key, "rows": len(exported[table])})
        yield CHECKPOINT
    consistency = {
        "method": "finished runs at the dag_run read, and only their task instances",
        "runs_read_at": read_at["dag_run"],
        "task_instances_dropped": dropped_tis,
    }
    manifest = {
        "backup_id": backup_id,
        "created_at": ctx.clock.now(),
        "objects": objects,
        "consistency": consistency,
    }
    # Last: the manifest commits the backup.
    ctx.store.put(ctx.region, bucket, manifest_key(backup_id), manifest)
    return {
        "torn": False,
        "tables": {table: len(rows) for table, rows in exported.items()},
        "manifest": manifest_key(backup_id),
    }
