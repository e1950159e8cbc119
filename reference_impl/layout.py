"""Where the DR logic keeps its objects, and what they look like. The world needs only this to
replicate, inspect or seed the buckets; every body is a JSON object.

In the primary's bucket (replicated to the secondary's bucket under the same keys):
- `backup/<table>.json` (seed): one object per table at a fixed key, overwritten by every
  backup. Body: {backup_id, table, exported_at, rows}.
- `backups/<backup_id>/<table>.json` (hardened): same body, a unique key per backup.
- `backups/<backup_id>/manifest.json` (hardened), written after every table object:
  {backup_id, created_at, objects: [{table, key, rows}], consistency: {...}}.
- `dr/canary.json`: {region, environment, written_at}, rewritten by the primary's guard DAG
  every `canary_interval`; `written_at` is the primary's clock.

In the secondary's bucket only (written there, never replicated back):
- `dr/active-region.json`: the fencing record {active, epoch, ready, updated_at, by}.
- `dr/environment-config.json`: the primary's GetEnvironment answer, saved by each healthy
  check of a backup-and-restore recovery workflow: {saved_at, environment}.
"""

from __future__ import annotations

CANARY_KEY = "dr/canary.json"
ACTIVE_REGION_KEY = "dr/active-region.json"
ENVIRONMENT_CONFIG_KEY = "dr/environment-config.json"

SEED_BACKUP_PREFIX = "backup/"
BACKUPS_PREFIX = "backups/"
MANIFEST_NAME = "manifest.json"


def seed_table_key(table: str) -> str:
    return f"{SEED_BACKUP_PREFIX}{table}.json"


def backup_table_key(backup_id: str, table: str) -> str:
    return f"{BACKUPS_PREFIX}{backup_id}/{table}.json"


def manifest_key(backup_id: str) -> str:
    return f"{BACKUPS_PREFIX}{backup_id}/{MANIFEST_NAME}"


def new_backup_id(now: float) -> str:
    """Milliseconds on the drill's clock, zero-padded so that ids sort by time."""
    return f"bk-{round(now * 1000):013d}"
