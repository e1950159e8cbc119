"""A real Airflow environment with a PostgreSQL metadata database, driven over its REST API.

Airflow 3 by default; $MWAA_DRILL_AIRFLOW_LINE=2 runs the same tests on Airflow 2.10 (tox -e
integration-airflow2): scheduler and webserver, REST /api/v1, health /health.

One PostgreSQL cluster and one Airflow instance (the line's processes) are
shared by the tests of this module, which run in order: healthy, canary DAG parsed, unpause
and a run succeeds, scheduler killed (the API still answers), restarted, frozen and thawed,
then everything stopped with nothing left behind. A last test runs a second, SQLite-backed
instance with password auth (3: JWT from /auth/token; 2: HTTP basic auth).

Needs scripts/install-airflow.sh to have run: without it these tests FAIL (not skip).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.live import clock
from harness.live.airflow.install import (
    AirflowInstallation,
    AirflowNotInstalled,
    find_installation,
)
from harness.live.airflow.instance import AirflowInstance, AirflowUnreachable
from harness.live.airflow.postgres import PostgresCluster, safe_identifier
from harness.live.processes import ProcessRegistry, _group_exists, port_is_free
from tests.integration.airflow_support import require_airflow, wait_for

pytestmark = [pytest.mark.live, pytest.mark.airflow]

FIXTURE_DAGS = Path(__file__).resolve().parents[2] / "fixtures" / "dags"
DAG_ID = "canary"


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.fixture(scope="module")
def installation() -> AirflowInstallation:
    return require_airflow()


@dataclass
class Stack:
    registry: ProcessRegistry
    cluster: PostgresCluster
    instance: AirflowInstance


@pytest.fixture(scope="module")
def stack(
    installation: AirflowInstallation, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    dags = tmp_path_factory.mktemp("dags")
    shutil.copy(FIXTURE_DAGS / "canary_dag.py", dags / "canary_dag.py")
    registry = ProcessRegistry()
    with registry:
        cluster = PostgresCluster(registry).start()
        instance = AirflowInstance(
            registry,
            name="us-east-1.canary",
            dags_folder=dags,
            postgres=cluster,
            home=tmp_path_factory.mktemp("airflow-home"),
            installation=installation,
        )
        try:
            instance.start()
            yield Stack(registry, cluster, instance)
        finally:
            instance.stop()
            cluster.stop()


def test_instance_becomes_healthy_with_postgres(stack: Stack) -> None:
    started = clock.monotonic()
    health = stack.instance.wait_healthy(120.0)
    assert health.metadatabase_healthy
    assert health.scheduler_heartbeat_age_s is not None
    assert health.scheduler_heartbeat_age_s <= stack.instance.heartbeat_threshold_s
    assert stack.instance.scheduler_alive()
    assert stack.instance.sqlalchemy_url.startswith("postgresql+psycopg2://")
    # The metadata tables are in this environment's own database.
    assert stack.instance.database is not None
    tables = stack.cluster.psql(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'dag_run';",
        database=stack.instance.database.name,
    )
    assert tables.strip() == "1"
    print(f"healthy {clock.monotonic() - started:.1f} s after the test began")


def test_canary_dag_is_parsed_and_paused(stack: Stack) -> None:
    def parsed() -> Any:
        status, dag = stack.instance.rest("GET", f"/dags/{DAG_ID}")
        return dag if status == 200 else None

    dag = wait_for(parsed, 60.0, "canary DAG parsed")
    assert dag["is_paused"] is True  # dags_are_paused_at_creation defaults to True
    status, errors = stack.instance.rest("GET", "/importErrors")
    assert status == 200 and errors["total_entries"] == 0, errors


def test_unpause_through_rest_and_a_run_succeeds(stack: Stack) -> None:
    status, dag = stack.instance.rest("PATCH", f"/dags/{DAG_ID}", body={"is_paused": False})
    assert status == 200, dag
    assert dag["is_paused"] is False

    def succeeded() -> Any:
        status, runs = stack.instance.rest(
            "GET", f"/dags/{DAG_ID}/dagRuns", query={"order_by": "-start_date", "limit": 5}
        )
        assert status == 200, runs
        failed = [run for run in runs["dag_runs"] if run["state"] == "failed"]
        assert not failed, failed
        return [run for run in runs["dag_runs"] if run["state"] == "success"]

    runs = wait_for(succeeded, 90.0, "a canary run succeeded")
    run_id = runs[0]["dag_run_id"]
    status, tis = stack.instance.rest("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
    assert status == 200
    assert [ti["state"] for ti in tis["task_instances"]] == ["success"]


def test_killed_scheduler_is_seen_dead_while_the_api_answers(stack: Stack) -> None:
    instance = stack.instance
    assert instance.scheduler_alive()
    instance.kill_scheduler()
    assert not instance.processes["scheduler"].alive()
    wait_for(
        lambda: not instance.scheduler_alive(),
        instance.heartbeat_threshold_s + 20.0,
        "scheduler heartbeat stale after the kill",
    )
    health = instance.health()
    assert health.reachable and health.metadatabase_healthy
    assert health.scheduler_heartbeat_age_s is not None
    assert health.scheduler_heartbeat_age_s > instance.heartbeat_threshold_s
    status, _ = instance.rest("GET", "/dags")
    assert status == 200
    others = [name for name in instance.profile.processes if name != "scheduler"]
    assert others and all(instance.processes[name].alive() for name in others)
    # Nothing of the scheduler is left: no worker, no headless task runner.
    survivors = {pgid for _, pgid in instance._processes_by_pgid()}
    assert survivors <= {instance.processes[name].pgid for name in others}


def test_restarted_scheduler_heartbeats_again(stack: Stack) -> None:
    instance = stack.instance
    instance.restart_scheduler()
    wait_for(instance.scheduler_alive, 60.0, "scheduler heartbeat after restart")
    assert instance.failure() is None


def test_frozen_instance_does_not_answer_and_thaws(stack: Stack) -> None:
    instance = stack.instance
    instance.freeze()
    try:
        assert instance.frozen
        states = {process_state(pid) for pid in instance.pids()}
        assert states == {"T"}, states  # stopped, every one of them
        with pytest.raises(AirflowUnreachable):
            instance.rest("GET", "/dags", timeout_s=1.0)
        assert not instance.health(timeout_s=1.0).reachable
    finally:
        instance.thaw()
    wait_for(lambda: instance.health(timeout_s=2.0).reachable, 30.0, "API answers after thaw")
    wait_for(instance.scheduler_alive, 30.0, "scheduler heartbeat after thaw")


def test_stop_leaves_no_process_and_no_port(stack: Stack) -> None:
    instance, cluster = stack.instance, stack.cluster
    assert instance.ports is not None and cluster.port is not None
    ports = [*instance.ports.all(), cluster.port]
    groups = [process.pgid for process in stack.registry.processes]
    started = clock.monotonic()
    instance.stop()
    cluster.stop()
    took = clock.monotonic() - started
    assert instance.leftovers() == []
    assert cluster.leftovers() == []
    assert [pgid for pgid in groups if _group_exists(pgid)] == []
    assert not any(process.alive() for process in stack.registry.processes)
    assert [port for port in ports if not port_is_free(port)] == []
    assert cluster.base_dir is not None and not cluster.base_dir.exists()
    assert took < 15.0, f"teardown took {took:.1f} s"


def test_frozen_postgres_cluster_stops_without_leftovers(installation: AirflowInstallation) -> None:
    with ProcessRegistry() as registry:
        cluster = PostgresCluster(registry).start()
        database = cluster.create_database(safe_identifier("us-west-2", "frozen-env"))
        assert database.name == "us_west_2__frozen_env"
        assert cluster.psql("SELECT 1;").strip() == "1"
        assert len(cluster.leftovers()) >= 5  # postmaster + its setsid()ed children
        port, base_dir = cluster.port, cluster.base_dir
        assert port is not None and base_dir is not None
        cluster.freeze()
        started = clock.monotonic()
        cluster.stop()
        assert clock.monotonic() - started < 10.0
        assert cluster.leftovers() == []
        assert port_is_free(port)
        assert not base_dir.exists()
        cluster.stop()  # idempotent


def test_missing_installation_fails_with_the_install_hint(tmp_path: Path) -> None:
    with pytest.raises(AirflowNotInstalled, match=r"scripts/install-airflow\.sh"):
        find_installation(tmp_path / "no-venv")


def test_sqlite_instance_with_password_auth(
    installation: AirflowInstallation, tmp_path: Path
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(FIXTURE_DAGS / "canary_dag.py", dags / "canary_dag.py")
    with ProcessRegistry() as registry:
        instance = AirflowInstance(
            registry,
            name="us-west-2.sqlite",
            dags_folder=dags,
            auth="password",
            dags_are_paused_at_creation=False,
            installation=installation,
        )
        with instance:
            instance.wait_healthy(120.0)
            assert instance.sqlalchemy_url.startswith("sqlite:///")
            # Without credentials the API refuses; rest() sends them (3: a JWT from
            # /auth/token; 2: basic auth of the user the migration created).
            dags_path = f"{instance.profile.api_prefix}/dags"
            status, _ = instance._request("GET", dags_path, timeout_s=5.0, auth=False)
            assert status == 401
            status, dag = wait_for(
                lambda: (lambda r: r if r[0] == 200 else None)(
                    instance.rest("GET", f"/dags/{DAG_ID}")
                ),
                60.0,
                "canary DAG parsed on the SQLite instance",
            )
            assert dag["is_paused"] is False  # dags_are_paused_at_creation=False
        assert instance.leftovers() == []
        assert instance.home is not None and not instance.home.exists()  # temp home removed
