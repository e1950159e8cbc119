"""RESTORE_DAG's and CLEANUP_DAG's tasks: hydrate the environment of the Region they run in from
the replica of the backups in that Region's own bucket.

seed (`backup_manifest` False): read the fixed keys (`backup/<table>.json`), whatever objects are
there, possibly from different backups, and import each with on_conflict="fail" (COPY: one
existing key fails the table's whole batch, so running it twice fails). One pass; a table whose
object is missing or whose batch failed makes the restore fail, after the other tables were
still imported (the reference restores each table in its own task).

hardened (`backup_manifest` True): pick the newest manifest whose listed objects are ALL in the
bucket (a backup still replicating, or torn by a failure, is never restored; older complete
ones are), import with on_conflict="skip" (rows whose key exists are left alone, so a second run
changes nothing and a pre-provisioned connection keeps its secret). Retrying a failed attempt is
the caller's business (`failover.restore_with_retries` triggers the DAG again).

conf: hardened accepts {"backup_id": id} to restore that backup (if complete) instead of the
newest; seed takes nothing. Returns the backup id restored (seed: the ids found in the objects,
joined with "+" when they differ). Raises RestoreError (the DAG run fails) after journaling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reference_impl.context import DrContext
from reference_impl.layout import BACKUPS_PREFIX, MANIFEST_NAME, seed_table_key
from reference_impl.ports import BACKUP_TABLES, PortError, StoredObject
from reference_impl.runtime import CHECKPOINT, Process


class RestoreError(Exception):
    """The restore did not complete; the DAG run fails."""


def restore_task(ctx: DrContext, conf: Mapping[str, Any]) -> Process[str]:
    if ctx.config.backup_manifest:
        return (yield from _manifest_restore(ctx, conf.get("backup_id")))
    return (yield from _fixed_key_restore(ctx))


def cleanup_task(ctx: DrContext, conf: Mapping[str, Any]) -> Process[None]:
    """CLEANUP_DAG's task: delete every row of conf["tables"] (default: every backup table)."""
    tables = [str(t) for t in conf.get("tables") or BACKUP_TABLES]
    unknown = sorted(set(tables) - set(BACKUP_TABLES))
    if unknown:
        raise ValueError(f"cleanup: not backup tables: {', '.join(unknown)}")
    ctx.airflow.clear_tables(ctx.region, ctx.topology.environment, tables)
    ctx.journal.note(f"cleanup {ctx.region}: cleared {', '.join(tables)}")
    yield CHECKPOINT


def _import(ctx: DrContext, table: str, rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Import one table; the reason it failed, or None."""
    try:
        result = ctx.airflow.import_rows(
            ctx.region,
            ctx.topology.environment,
            table,
            rows,
            on_conflict=ctx.config.restore_on_conflict,
        )
    except PortError as err:
        return f"{table}: {err}"
    if result.failed:
        return f"{table}: batch of {result.failed} row(s) failed on an existing key"
    return None


def _import_object(ctx: DrContext, table: str, key: str) -> str | None:
    """Read one table object of a manifest and import it; the reason it failed, or None."""
    try:
        obj = ctx.store.get(ctx.region, ctx.topology.bucket(ctx.region), key)
    except PortError as err:
        return f"{table}: {err}"
    if obj is None:
        return f"{table}: {key} vanished"
    return _import(ctx, table, _rows(obj))


def _rows(obj: StoredObject) -> list[Mapping[str, Any]]:
    return list(obj.body.get("rows", []))


def _fixed_key_restore(ctx: DrContext) -> Process[str]:
    region, bucket = ctx.region, ctx.topology.bucket(ctx.region)
    objects: dict[str, StoredObject] = {}
    failures: list[str] = []
    for table in BACKUP_TABLES:
        key = seed_table_key(table)
        try:
            obj = ctx.store.get(region, bucket, key)
        except PortError as err:
            failures.append(f"{table}: {err}")
            continue
        if obj is None:
            failures.append(f"{table}: no object at {key}")
            continue
        objects[table] = obj
    ids = sorted({str(obj.body.get("backup_id")) for obj in objects.values()})
    backup_id = "+".join(ids) if ids else "none"
    ctx.journal.restore(
        region, backup_id, "started", "mixed backups" if len(ids) > 1 else "", sources=ids
    )
    for table, obj in objects.items():
        failure = _import(ctx, table, _rows(obj))
        if failure:
            failures.append(failure)
        yield CHECKPOINT
    if failures:
        reason = "; ".join(failures)
        ctx.journal.restore(region, backup_id, "failed", reason)
        raise RestoreError(reason)
    ctx.journal.restore(region, backup_id, "completed", sources=ids)
    return backup_id


def newest_complete_manifest(
    ctx: DrContext, wanted: str | None = None
) -> tuple[StoredObject | None, list[str]]:
    """The newest manifest (or the `wanted` backup's) whose objects are all in this Region's
    bucket, and notes on the newer ones skipped. Raises PortError when the bucket cannot be
    listed."""
    region, bucket = ctx.region, ctx.topology.bucket(ctx.region)
    keys = set(ctx.store.list_keys(region, bucket, BACKUPS_PREFIX))
    manifests = sorted((k for k in keys if k.endswith("/" + MANIFEST_NAME)), reverse=True)
    skipped: list[str] = []
    for key in manifests:
        manifest = ctx.store.get(region, bucket, key)
        if manifest is None:
            continue
        backup_id = str(manifest.body.get("backup_id"))
        if wanted is not None and backup_id != wanted:
            continue
        listed = [str(o["key"]) for o in manifest.body.get("objects", [])]
        missing = [k for k in listed if k not in keys]
        if missing:
            skipped.append(f"{backup_id} incomplete ({len(missing)} of {len(listed)} missing)")
            continue
        return manifest, skipped
    return None, skipped


def _manifest_restore(ctx: DrContext, wanted: Any) -> Process[str]:
    region, bucket = ctx.region, ctx.topology.bucket(ctx.region)
    try:
        manifest, skipped = newest_complete_manifest(ctx, None if wanted is None else str(wanted))
    except PortError as err:
        ctx.journal.restore(region, "none", "failed", f"cannot list backups: {err}")
        raise RestoreError(str(err)) from err
    if skipped:
        ctx.journal.note(f"restore {region}: skipped {'; '.join(skipped)}")
    if manifest is None:
        reason = f"no complete backup in {bucket}"
        ctx.journal.restore(region, "none", "failed", reason)
        raise RestoreError(reason)
    backup_id = str(manifest.body["backup_id"])
    ctx.journal.restore(region, backup_id, "started", sources=[backup_id])
    by_table = {str(o["table"]): str(o["key"]) for o in manifest.body["objects"]}
    # Parents before children: dag_run before task_instance (BACKUP_TABLES' order).
    for table in (t for t in BACKUP_TABLES if t in by_table):
        failure = _import_object(ctx, table, by_table[table])
        if failure:
            ctx.journal.restore(region, backup_id, "failed", failure)
            raise RestoreError(failure)
        yield CHECKPOINT
    ctx.journal.restore(region, backup_id, "completed", sources=[backup_id])
    return backup_id
