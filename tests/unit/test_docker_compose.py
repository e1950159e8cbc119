"""docker-compose.yml cannot be brought up here (no Docker engine), so it is checked for
consistency with the process backend that is tested: same Airflow version, same PostgreSQL
major version, one Airflow and one database per Region of the default scenario, loopback-only
published ports, and the workload DAG folder that exists in the repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.live.airflow.install import AIRFLOW_VERSION
from harness.scenario.model import Regions

REPO = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_airflow_image_matches_the_process_backend_version() -> None:
    services = compose()["services"]
    images = {s["image"] for name, s in services.items() if name.startswith("airflow-")}
    assert images == {f"apache/airflow:{AIRFLOW_VERSION}-python3.11"}


def test_one_airflow_and_one_postgres_per_default_region() -> None:
    services = compose()["services"]
    regions = Regions()
    for role, region in (("primary", regions.primary), ("secondary", regions.secondary)):
        airflow = services[f"airflow-{role}"]
        assert airflow["environment"]["MWAA_DRILL_REGION"] == region
        assert f"postgres-{role}" in airflow["depends_on"]
        assert f"@postgres-{role}/" in airflow["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        # PostgreSQL 15, as apt installs on Debian 12 for the process backend.
        assert services[f"postgres-{role}"]["image"] == "postgres:15"


def test_published_ports_are_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_mounted_dag_folder_exists() -> None:
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).is_dir(), volume
