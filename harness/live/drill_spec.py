"""What every process of a live drill must agree on, in one JSON file.

The harness writes a `DrillSpec` before it creates any environment; the Airflow processes of
every environment read it (its path is in `MWAA_DRILL_SPEC`), so the DR DAG tasks and the
workload DAGs of both Regions share the drill's clock origin, its topology, the DR settings
(already time-compressed), the endpoints of each Region and where to write the journal and the
run ledger. Both files live on this machine's disk, outside any Region, so they survive the
loss of one: the ledger is how runs of a Region that went dark are still counted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reference_impl.config import DetectorConfig, ProfileConfig
from reference_impl.context import Topology

SPEC_ENV = "MWAA_DRILL_SPEC"  # the path of the spec file, for Airflow processes
REGION_ENV = "AWS_REGION"  # the Region an Airflow process runs in (MWAA sets it too)


@dataclass(frozen=True)
class ClientTimeouts:
    """boto3 settings of DR code: short timeouts, a few retries (a live drill is short)."""

    connect_timeout_s: float = 2.0
    read_timeout_s: float = 10.0
    max_attempts: int = 2


@dataclass(frozen=True)
class DrillSpec:
    origin_wall: float  # Unix time of drill time 0
    strategy: str
    topology: Topology
    config: ProfileConfig
    # caller Region -> target Region -> the fault proxy URL that caller uses for that target
    # (every service; `LiveAws.routes()`): one path per pair, so a partition can cut them.
    endpoints: Mapping[str, Mapping[str, str]]
    journal_path: str
    ledger_path: str
    backup_interval_s: float
    workload_schedule_s: float
    workload_start_wall: float  # the workload DAGs' start_date (Unix time), same in both Regions
    # Region -> CreateEnvironment parameters of that Region (its DAG bucket, role, network):
    # what a DR stack in AWS takes from its own Region when it creates an environment.
    create_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    clients: ClientTimeouts = ClientTimeouts()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["topology"]["workload_dags"] = list(self.topology.workload_dags)
        data["config"]["standby_cleanup_tables"] = list(self.config.standby_cleanup_tables)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DrillSpec:
        topology = dict(data["topology"])
        topology["workload_dags"] = tuple(topology["workload_dags"])
        config = dict(data["config"])
        config["detector"] = DetectorConfig(**config["detector"])
        config["standby_cleanup_tables"] = tuple(config["standby_cleanup_tables"])
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"drill spec: unknown fields {sorted(unknown)}")
        return cls(
            origin_wall=float(data["origin_wall"]),
            strategy=str(data["strategy"]),
            topology=Topology(**topology),
            config=ProfileConfig(**config),
            endpoints={caller: dict(urls) for caller, urls in data["endpoints"].items()},
            journal_path=str(data["journal_path"]),
            ledger_path=str(data["ledger_path"]),
            backup_interval_s=float(data["backup_interval_s"]),
            workload_schedule_s=float(data["workload_schedule_s"]),
            workload_start_wall=float(data["workload_start_wall"]),
            create_defaults={k: dict(v) for k, v in data.get("create_defaults", {}).items()},
            clients=ClientTimeouts(**data.get("clients", {})),
        )

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> DrillSpec:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def slot_date(logical_date: str, start_wall: float, schedule_s: float) -> str:
    """The schedule slot of a workload run: its logical date rounded to the nearest instant of
    the grid start + k * schedule (ISO 8601, UTC, milliseconds).

    A run's identity across Regions is the slot of work it does ("the 10:05 load"), which the
    simulator writes as the tick's date. Airflow does not keep a timedelta schedule on a fixed
    grid: after a scheduler (re)start, and in each Region, it picks its own phase (seen live:
    runs of one DAG at xx:32.62 before an outage, xx:06.01 after, on a 3.33 s schedule). Both
    the ledger and the inventory name runs by their slot, so the same work done in two Regions
    has the same key, and a restored run keeps the key of the primary run it came from.
    """
    moment = datetime.fromisoformat(logical_date.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    tick = math.floor((moment.timestamp() - start_wall) / schedule_s + 0.5)
    millis = round((start_wall + tick * schedule_s) * 1000)
    return datetime.fromtimestamp(millis / 1000, tz=UTC).isoformat(timespec="milliseconds")
