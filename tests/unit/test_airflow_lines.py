"""The pure parts of running two Airflow lines: which line serves an AirflowVersion, what the
instance of each line runs and writes (harness.live.airflow.lines), and the REST dialect the
live Airflow port speaks to each (harness.live.airflow_api). The live behaviour is tested on
real Airflow by tests/integration (MWAA_DRILL_AIRFLOW_LINE=2: tox -e integration-airflow2)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness.live.airflow.install import LINES, default_venv, installation_problem, line_of
from harness.live.airflow.instance import api_target
from harness.live.airflow.lines import AIRFLOW_2, AIRFLOW_3, Ports, Settings, profile_of
from harness.live.airflow_api import AIRFLOW_2_REST, AIRFLOW_3_REST, dialect_for
from harness.live.mwaa.restore_faults import is_metadata_write

PORTS = Ports(
    api=8080, worker_log_server=8793, trigger_log_server=8794, scheduler_health_check=8974
)


def settings(auth: str = "all_admins") -> Settings:
    return Settings(
        home=Path("/tmp/home"),
        ports=PORTS,
        auth=auth,  # type: ignore[arg-type]
        username="admin",
        dag_dir_refresh_s=5,
    )


@pytest.mark.parametrize(
    ("version", "line"), [("2.10.5", "2"), ("2.10.3", "2"), ("3.0.6", "3"), ("3.3.2", "3")]
)
def test_the_line_of_an_airflow_version(version: str, line: str) -> None:
    assert line_of(version) == line
    assert dialect_for(version).line == line


@pytest.mark.parametrize("version", ["1.10.15", "", "latest", "4.0.0"])
def test_an_airflow_version_of_no_line_is_refused(version: str) -> None:
    with pytest.raises(ValueError, match="no Airflow line"):
        line_of(version)


def test_each_line_has_its_own_venv_and_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LINES["2"].venv_variable, raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_venv("2").name == "venv-2.10"
    assert default_venv("3").name == "venv"
    problem = installation_problem(tmp_path / "none", line="2")
    assert problem is not None and "scripts/install-airflow.sh --line 2" in problem
    monkeypatch.setenv(LINES["2"].venv_variable, str(tmp_path / "mine"))
    assert default_venv("2") == tmp_path / "mine"


def test_airflow_2_runs_a_scheduler_and_a_webserver_on_the_api_port() -> None:
    assert profile_of("2") is AIRFLOW_2 and profile_of("3") is AIRFLOW_3
    assert AIRFLOW_2.processes == ("scheduler", "webserver")
    argv = AIRFLOW_2.argv("airflow", "webserver", PORTS, serve_logs=False)
    assert argv == ["airflow", "webserver", "--hostname", "127.0.0.1", "--port", "8080", "-w", "1"]
    assert AIRFLOW_2.argv("airflow", "scheduler", PORTS, serve_logs=False) == [
        "airflow",
        "scheduler",
        "--skip-serve-logs",
    ]
    with pytest.raises(ValueError, match="api-server"):
        AIRFLOW_2.argv("airflow", "api-server", PORTS, serve_logs=False)
    with pytest.raises(ValueError, match="webserver"):
        AIRFLOW_3.argv("airflow", "webserver", PORTS, serve_logs=False)


def test_airflow_2_config_auth_and_files() -> None:
    public = AIRFLOW_2.config(settings("all_admins"))
    assert public["api"]["auth_backends"] == "airflow.api.auth.backend.default"
    assert public["webserver"]["web_server_port"] == "8080"
    assert public["scheduler"]["standalone_dag_processor"] == "False"
    assert "auth_manager" not in public.get("core", {})  # 2.10's own FAB auth manager stays
    assert (
        'AUTH_ROLE_PUBLIC = "Admin"'
        in AIRFLOW_2.files(settings("all_admins"), "pw")["webserver_config.py"]
    )
    basic = AIRFLOW_2.config(settings("password"))
    assert basic["api"]["auth_backends"] == "airflow.api.auth.backend.basic_auth"
    assert (
        "AUTH_ROLE_PUBLIC" not in AIRFLOW_2.files(settings("password"), "pw")["webserver_config.py"]
    )
    assert AIRFLOW_2.executor(sqlite=True) == "SequentialExecutor"
    assert AIRFLOW_2.executor(sqlite=False) == "LocalExecutor"
    assert AIRFLOW_3.executor(sqlite=True) == "LocalExecutor"


def test_the_admin_password_never_appears_in_the_migration_command() -> None:
    script = AIRFLOW_2.migrate_script("/venv/bin/airflow", "password", "admin")
    first, second = script.split(" && ")
    assert shlex.split(first) == ["/venv/bin/airflow", "db", "migrate"]
    assert shlex.split(second)[:4] == ["/venv/bin/airflow", "users", "create", "--username"]
    assert second.endswith('--password "$MWAA_DRILL_ADMIN_PASSWORD"')
    assert AIRFLOW_2.migrate_script("airflow", "all_admins", "admin") == "airflow db migrate"
    assert AIRFLOW_3.migrate_script("airflow", "password", "admin") == "airflow db migrate"


def test_rest_targets_of_each_line() -> None:
    assert api_target("/dags", AIRFLOW_2.api_prefix) == "/api/v1/dags"
    assert api_target("dags", AIRFLOW_3.api_prefix) == "/api/v2/dags"
    assert api_target("/health", AIRFLOW_2.api_prefix) == "/health"
    assert api_target("/api/v2/monitor/health", AIRFLOW_2.api_prefix) == "/api/v2/monitor/health"


def test_dialect_payloads() -> None:
    conf = {"backup_id": "b1"}
    assert AIRFLOW_3_REST.trigger_body("dr__1", conf) == {
        "dag_run_id": "dr__1",
        "conf": conf,
        "logical_date": None,
    }
    assert AIRFLOW_2_REST.trigger_body("dr__1", conf) == {"dag_run_id": "dr__1", "conf": conf}
    assert AIRFLOW_2_REST.ti_state_body("success") == {"new_state": "success", "dry_run": False}
    assert AIRFLOW_3_REST.ti_state_body("failed") == {"new_state": "failed"}
    assert AIRFLOW_2_REST.pause_request("w", True) == (
        "/dags/w",
        {"update_mask": "is_paused"},
        {"is_paused": True},
    )
    assert AIRFLOW_3_REST.pause_request("w", False) == ("/dags/w", {}, {"is_paused": False})
    assert AIRFLOW_2_REST.runs_list_body(["w"], ["success"]) == {
        "dag_ids": ["w"],
        "order_by": "execution_date",
        "states": ["success"],
    }
    assert AIRFLOW_3_REST.runs_list_body(["w"], []) == {
        "dag_ids": ["w"],
        "order_by": "logical_date",
    }
    item = {"execution_date": "2026-01-01T00:00:00Z", "logical_date": "other"}
    assert AIRFLOW_2_REST.ti_logical_date(item) == "2026-01-01T00:00:00Z"
    assert AIRFLOW_3_REST.ti_logical_date(item) == "other"
    assert AIRFLOW_2_REST.entity_path("slot_pool", "p") == "/pools/p"
    assert AIRFLOW_3_REST.bulk_body("delete", ["a"], "skip") == {
        "actions": [{"action": "delete", "entities": ["a"], "action_on_non_existence": "skip"}]
    }


@pytest.mark.parametrize(
    ("dialect", "run_state", "ti_state", "placeholder"),
    [
        (AIRFLOW_3_REST, "success", "skipped", True),
        (AIRFLOW_3_REST, "success", "success", False),
        (AIRFLOW_2_REST, "success", "success", True),
        (AIRFLOW_2_REST, "failed", "skipped", True),
        (AIRFLOW_2_REST, "failed", "failed", False),
        (AIRFLOW_2_REST, "success", None, False),
    ],
)
def test_placeholders_of_a_restored_run(
    dialect: object, run_state: str, ti_state: str | None, placeholder: bool
) -> None:
    assert dialect.is_placeholder(run_state, ti_state) is placeholder  # type: ignore[attr-defined]


def test_a_post_of_one_variable_is_a_restore_write_on_airflow_2() -> None:
    assert is_metadata_write("POST", "/variables", {"key": "a", "value": "1"})
    assert is_metadata_write("POST", "/pools", {"name": "p", "slots": 1})
    assert not is_metadata_write("GET", "/variables", None)
    assert not is_metadata_write("POST", "/dags/dr/dagRuns", {"dag_run_id": "dr__1", "conf": {}})
