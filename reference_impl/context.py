"""What a DR process is given: where it runs, the names of things, its settings and its ports."""

from __future__ import annotations

from dataclasses import dataclass

from reference_impl.config import ProfileConfig, StrategyName
from reference_impl.ports import Airflow, Journal, Metrics, Mwaa, ObjectStore
from reference_impl.runtime import Clock

# DR DAG ids: the world's Airflow runs the task of a DR DAG when it is triggered or scheduled.
BACKUP_DAG = "mwaa_dr_backup"
RESTORE_DAG = "mwaa_dr_restore"
CLEANUP_DAG = "mwaa_dr_cleanup"
GUARD_DAG = "mwaa_dr_guard"


@dataclass(frozen=True)
class Topology:
    """Names shared by both Regions. Each Region has its own backup bucket; the primary's
    replicates to the secondary's (S3 cross-Region replication)."""

    primary: str
    secondary: str
    environment: str = "mwaa-drill-env"
    bucket_prefix: str = "mwaa-dr-backup"
    workload_dags: tuple[str, ...] = ("workload_0", "workload_1", "workload_2")

    def bucket(self, region: str) -> str:
        return f"{self.bucket_prefix}-{region}"

    def other(self, region: str) -> str:
        return self.secondary if region == self.primary else self.primary


@dataclass(frozen=True)
class DrContext:
    region: str  # the Region this process runs in
    strategy: StrategyName
    topology: Topology
    config: ProfileConfig
    clock: Clock
    metrics: Metrics
    store: ObjectStore
    mwaa: Mwaa
    airflow: Airflow
    journal: Journal
