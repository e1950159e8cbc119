"""Backup and restore DAG tasks on fake ports: keys, secrets, torn backups, idempotency."""

from __future__ import annotations

import pytest

from reference_impl.backup import backup_task
from reference_impl.config import HARDENED, SEED, ProfileConfig
from reference_impl.layout import backup_table_key, manifest_key, seed_table_key
from reference_impl.ports import BACKUP_TABLES
from reference_impl.restore import RestoreError, cleanup_task, restore_task
from tests.unit.dr_fakes import PRIMARY, SECONDARY, FakeWorld


def run_row(date: str, state: str = "success") -> dict[str, str]:
    return {"dag_id": "w0", "logical_date": date, "state": state}


def ti_row(date: str, state: str = "success") -> dict[str, str]:
    return {"dag_id": "w0", "logical_date": date, "task_id": "work", "state": state}


def world_with_history(config: ProfileConfig) -> FakeWorld:
    world = FakeWorld(config)
    af = world.airflow
    af.add_rows(PRIMARY, "variable", {"key": "batch_size", "val": "500"})
    af.add_rows(
        PRIMARY,
        "connection",
        {"conn_id": "warehouse", "conn_type": "postgres", "login": "etl", "password": "s3cr3t"},
    )
    af.add_rows(PRIMARY, "slot_pool", {"pool": "default_pool", "slots": 128})
    af.add_rows(PRIMARY, "slot_pool", {"pool": "etl", "slots": 4})
    af.add_rows(PRIMARY, "dag_run", run_row("d1"), run_row("d2"), run_row("d3", "running"))
    af.add_rows(PRIMARY, "task_instance", ti_row("d1"), ti_row("d2"), ti_row("d3", "running"))
    return world


def commit_run_between_run_tables(world: FakeWorld, date: str) -> None:
    """A run that ends after dag_run was read and before task_instance is."""

    def on_export(region: str, table: str) -> None:
        if table == "task_instance":
            world.airflow.add_rows(PRIMARY, "dag_run", run_row(date))
            world.airflow.add_rows(PRIMARY, "task_instance", ti_row(date))

    world.airflow.on_export = on_export


def backup(world: FakeWorld) -> str:
    result: str = world.driver.run_process(backup_task(world.ctx(PRIMARY), {}))
    return result


def restore(world: FakeWorld) -> str:
    result: str = world.driver.run_process(restore_task(world.ctx(SECONDARY), {}))
    return result


def secondary_tables(world: FakeWorld) -> dict[str, dict[tuple[object, ...], dict[str, object]]]:
    return {t: dict(rows) for t, rows in world.airflow.region_tables(SECONDARY).items()}


# Seed backup ------------------------------------------------------------------------------------
def test_seed_backup_fixed_keys_plaintext_passwords_no_manifest() -> None:
    world = world_with_history(SEED)
    backup_id = backup(world)
    keys = world.store.list_keys(PRIMARY, world.topology.bucket(PRIMARY), "")
    assert keys == sorted(seed_table_key(t) for t in BACKUP_TABLES)
    connections = world.store.body(PRIMARY, seed_table_key("connection"))
    assert connections is not None
    assert connections["rows"][0]["password"] == "s3cr3t"
    assert connections["backup_id"] == backup_id
    runs = world.store.body(PRIMARY, seed_table_key("dag_run"))
    assert runs is not None and {r["logical_date"] for r in runs["rows"]} == {"d1", "d2"}
    pools = world.store.body(PRIMARY, seed_table_key("slot_pool"))
    assert pools is not None and [p["pool"] for p in pools["rows"]] == ["etl"]
    [_, completed] = world.journal.of("backup")
    assert completed["state"] == "completed" and completed["torn"] is False


def test_seed_backup_overwrites_the_same_keys() -> None:
    world = world_with_history(SEED)
    backup(world)
    world.clock.t = 900.0
    second = backup(world)
    assert len(world.store.list_keys(PRIMARY, world.topology.bucket(PRIMARY), "")) == 5
    body = world.store.body(PRIMARY, seed_table_key("variable"))
    assert body is not None and body["backup_id"] == second


def test_seed_backup_can_be_torn_and_says_so() -> None:
    world = world_with_history(SEED)
    commit_run_between_run_tables(world, "d4")
    backup(world)
    runs = world.store.body(PRIMARY, seed_table_key("dag_run"))
    tis = world.store.body(PRIMARY, seed_table_key("task_instance"))
    assert runs is not None and tis is not None
    assert "d4" not in {r["logical_date"] for r in runs["rows"]}
    assert "d4" in {r["logical_date"] for r in tis["rows"]}
    assert world.journal.of("backup")[-1]["torn"] is True


# Hardened backup --------------------------------------------------------------------------------
def test_hardened_backup_unique_keys_manifest_last_no_passwords() -> None:
    world = world_with_history(HARDENED)
    written: list[str] = []
    world.store.before_put = lambda region, bucket, key: written.append(key)
    backup_id = backup(world)
    assert written == [backup_table_key(backup_id, t) for t in BACKUP_TABLES] + [
        manifest_key(backup_id)
    ]
    connections = world.store.body(PRIMARY, backup_table_key(backup_id, "connection"))
    assert connections is not None
    assert connections["rows"][0]["password"] is None
    assert connections["rows"][0]["login"] == "etl"
    manifest = world.store.body(PRIMARY, manifest_key(backup_id))
    assert manifest is not None
    assert [o["table"] for o in manifest["objects"]] == list(BACKUP_TABLES)

    world.clock.t = 900.0
    second = backup(world)
    assert second != backup_id
    assert world.store.body(PRIMARY, manifest_key(backup_id)) is not None  # kept


def test_hardened_backup_is_consistent_across_run_tables() -> None:
    world = world_with_history(HARDENED)
    commit_run_between_run_tables(world, "d4")
    backup_id = backup(world)
    runs = world.store.body(PRIMARY, backup_table_key(backup_id, "dag_run"))
    tis = world.store.body(PRIMARY, backup_table_key(backup_id, "task_instance"))
    assert runs is not None and tis is not None
    run_dates = {r["logical_date"] for r in runs["rows"]}
    assert run_dates == {"d1", "d2"}
    assert {r["logical_date"] for r in tis["rows"]} == run_dates
    manifest = world.store.body(PRIMARY, manifest_key(backup_id))
    assert manifest is not None
    assert manifest["consistency"]["task_instances_dropped"] == 1  # d4's
    assert world.journal.of("backup")[-1]["torn"] is False


# Restore ----------------------------------------------------------------------------------------
def test_hardened_restore_twice_changes_nothing() -> None:
    world = world_with_history(HARDENED)
    backup(world)
    world.store.replicate()
    restore(world)
    after_first = secondary_tables(world)
    assert len(after_first["dag_run"]) == 2
    restore(world)
    assert secondary_tables(world) == after_first
    assert [r["state"] for r in world.journal.of("restore")] == ["started", "completed"] * 2


def test_hardened_restore_keeps_a_pre_provisioned_secret() -> None:
    world = world_with_history(HARDENED)
    world.airflow.add_rows(
        SECONDARY, "connection", {"conn_id": "warehouse", "conn_type": "postgres", "password": "p2"}
    )
    backup(world)
    world.store.replicate()
    restore(world)
    [conn] = world.airflow.region_tables(SECONDARY)["connection"].values()
    assert conn["password"] == "p2"


def test_seed_restore_twice_fails_the_second_time() -> None:
    world = world_with_history(SEED)
    backup(world)
    world.store.replicate()
    restore(world)
    with pytest.raises(RestoreError, match="existing key"):
        restore(world)
    assert world.journal.of("restore")[-1]["state"] == "failed"


def test_hardened_restore_skips_an_incomplete_backup() -> None:
    world = world_with_history(HARDENED)
    old = backup(world)
    world.store.replicate()
    world.clock.t = 900.0
    world.airflow.add_rows(PRIMARY, "dag_run", run_row("d5"))
    world.airflow.add_rows(PRIMARY, "task_instance", ti_row("d5"))
    new = backup(world)
    # The new manifest arrived, its task_instance object not yet.
    world.store.replicate(
        *[backup_table_key(new, t) for t in BACKUP_TABLES if t != "task_instance"],
        manifest_key(new),
    )
    assert restore(world) == old
    assert any(f"skipped {new} incomplete" in n for n in world.journal.notes())
    dates = {
        row["logical_date"] for row in world.airflow.region_tables(SECONDARY)["dag_run"].values()
    }
    assert dates == {"d1", "d2"}

    world.store.replicate()
    assert restore(world) == new


def test_hardened_restore_fails_without_a_complete_backup() -> None:
    world = world_with_history(HARDENED)
    with pytest.raises(RestoreError, match="no complete backup"):
        restore(world)
    assert world.journal.of("restore") == [
        {
            "region": SECONDARY,
            "backup_id": "none",
            "state": "failed",
            "reason": "no complete backup in mwaa-dr-backup-us-west-2",
            "sources": [],
        }
    ]


def test_seed_restore_mixes_backups() -> None:
    world = world_with_history(SEED)
    first = backup(world)
    world.store.replicate()
    world.clock.t = 900.0
    second = backup(world)
    world.store.replicate(seed_table_key("variable"))  # only one table of the new backup arrived
    restore(world)
    started = world.journal.of("restore")[0]
    assert started["backup_id"] == f"{first}+{second}"
    assert started["reason"] == "mixed backups"


def test_cleanup_clears_the_tables_asked() -> None:
    world = world_with_history(SEED)
    world.airflow.add_rows(SECONDARY, "variable", {"key": "stale", "val": "x"})
    world.airflow.add_rows(SECONDARY, "dag_run", run_row("d9"))
    world.driver.run_process(cleanup_task(world.ctx(SECONDARY), {"tables": ["variable"]}))
    tables = world.airflow.region_tables(SECONDARY)
    assert tables["variable"] == {} and len(tables["dag_run"]) == 1
    with pytest.raises(ValueError, match="not backup tables"):
        world.driver.run_process(cleanup_task(world.ctx(SECONDARY), {"tables": ["log"]}))
