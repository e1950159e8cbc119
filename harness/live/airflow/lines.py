"""What differs between the Airflow lines an `AirflowInstance` runs: one `LineProfile` each.

MWAA runs two lines; the instance's lifecycle (process groups, ports, PostgreSQL, stop) is the
same for both, only these differ:

    line  processes                             REST     health              auth
    3     scheduler, dag-processor, api-server  /api/v2  /api/v2/monitor/health  simple auth
                                                                             manager (JWT)
    2     scheduler, webserver                  /api/v1  /health             FAB: public
                                                                             Admin, or basic
                                                                             auth of a user

On 2.x the scheduler parses the DAGs itself (no standalone DAG processor), so health does not
wait for a DAG processor heartbeat. `AIRFLOW_HOME=<home> airflow ...` works by hand on both.
"""

from __future__ import annotations

import base64
import json
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.live.airflow.install import AirflowLine
from harness.live.processes import LOOPBACK

AuthMode = Literal["all_admins", "password"]

# 2.x webserver_config.py: users in the metadata DB; with all_admins, anonymous requests get
# the Admin role (what all_admins means on 3.x). Local use only.
_WEBSERVER_CONFIG = """\
# Written by mwaa-drill (harness/live/airflow/lines.py).
from flask_appbuilder.security.manager import AUTH_DB

AUTH_TYPE = AUTH_DB
WTF_CSRF_ENABLED = False
"""
_PUBLIC_ADMIN = 'AUTH_ROLE_PUBLIC = "Admin"\n'
PASSWORD_VARIABLE = "MWAA_DRILL_ADMIN_PASSWORD"


@dataclass(frozen=True)
class Ports:
    api: int
    worker_log_server: int
    trigger_log_server: int
    scheduler_health_check: int

    def all(self) -> tuple[int, ...]:
        return (
            self.api,
            self.worker_log_server,
            self.trigger_log_server,
            self.scheduler_health_check,
        )


@dataclass(frozen=True)
class Settings:
    """The instance's choices a line profile turns into airflow.cfg sections."""

    home: Path
    ports: Ports
    auth: AuthMode
    username: str
    dag_dir_refresh_s: int


@dataclass(frozen=True)
class LineProfile:
    line: AirflowLine
    processes: tuple[str, ...]  # started by start(), in this order
    api_process: str  # the one serving REST and health
    api_prefix: str
    health_path: str
    has_dag_processor: bool  # a DAG processor heartbeat to wait for

    def argv(self, airflow: str, process_name: str, ports: Ports, serve_logs: bool) -> list[str]:
        skip_logs = [] if serve_logs else ["--skip-serve-logs"]
        if process_name in ("scheduler", "triggerer"):
            return [airflow, process_name, *skip_logs]
        if process_name == "dag-processor" and self.line == "3":
            return [airflow, "dag-processor"]
        if process_name == "api-server" and self.line == "3":
            return [airflow, "api-server", "--host", LOOPBACK, "--port", str(ports.api)]
        if process_name == "webserver" and self.line == "2":
            # One gunicorn worker: 2 cores, a handful of REST calls per second at most.
            port = str(ports.api)
            return [airflow, "webserver", "--hostname", LOOPBACK, "--port", port, "-w", "1"]
        raise ValueError(f"unknown Airflow {self.line} process {process_name!r}")

    def executor(self, sqlite: bool) -> str:
        # Airflow 2 refuses LocalExecutor on SQLite (no concurrent writers).
        return "SequentialExecutor" if sqlite and self.line == "2" else "LocalExecutor"

    def migrate_script(self, airflow: str, auth: AuthMode, username: str) -> str:
        """The shell command run before the processes start: the migration, and on 2.x with
        auth="password" the admin user (FAB keeps users in the metadata DB). The password is
        read from $MWAA_DRILL_ADMIN_PASSWORD, so it never shows in a process list."""
        script = shlex.join([airflow, "db", "migrate"])
        if self.line == "2" and auth == "password":
            user = [airflow, "users", "create", "--username", username, "--role", "Admin"]
            user += ["--email", f"{username}@mwaa-drill.invalid"]
            user += ["--firstname", "mwaa", "--lastname", "drill"]
            script += f' && {shlex.join(user)} --password "${PASSWORD_VARIABLE}"'
        return script

    def config(self, settings: Settings) -> dict[str, dict[str, str]]:
        """The line's own airflow.cfg settings, merged into the instance's common ones."""
        home, ports = settings.home, settings.ports
        if self.line == "3":
            return {
                "core": {
                    "execution_api_server_url": f"http://{LOOPBACK}:{ports.api}/execution/",
                    "auth_manager": (
                        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager."
                        "SimpleAuthManager"
                    ),
                    "simple_auth_manager_all_admins": str(settings.auth == "all_admins"),
                    "simple_auth_manager_users": f"{settings.username}:admin",
                    "simple_auth_manager_passwords_file": str(home / "simple_auth_passwords.json"),
                },
                "api": {
                    "host": LOOPBACK,
                    "port": str(ports.api),
                    "workers": "1",
                    "base_url": f"http://{LOOPBACK}:{ports.api}",
                    "secret_key": secrets.token_hex(16),
                    "expose_config": "False",
                },
                "api_auth": {"jwt_secret": secrets.token_hex(32)},
                "dag_processor": {
                    "refresh_interval": str(settings.dag_dir_refresh_s),
                    # parse every file this often too (default 30 s): a paused DAG's next
                    # run moves on only at a parse, and a failback waits for it
                    "min_file_process_interval": str(settings.dag_dir_refresh_s),
                    "parsing_processes": "1",
                },
            }
        backend = (
            "airflow.api.auth.backend.default"
            if settings.auth == "all_admins"
            else "airflow.api.auth.backend.basic_auth"
        )
        return {
            "api": {"auth_backends": backend},
            "webserver": {
                "web_server_host": LOOPBACK,
                "web_server_port": str(ports.api),
                "base_url": f"http://{LOOPBACK}:{ports.api}",
                "secret_key": secrets.token_hex(16),
                "workers": "1",
                "expose_config": "False",
                "config_file": str(home / "webserver_config.py"),
                # No rolling gunicorn restarts during a drill.
                "worker_refresh_interval": "0",
                "worker_refresh_batch_size": "0",
            },
            "scheduler": {
                "standalone_dag_processor": "False",
                "parsing_processes": "1",
                "dag_dir_list_interval": str(settings.dag_dir_refresh_s),
                "min_file_process_interval": str(settings.dag_dir_refresh_s),
            },
        }

    def files(self, settings: Settings, password: str) -> dict[str, str]:
        """Files the line needs in the home (name -> text), written with mode 0600."""
        if self.line == "3":
            passwords = json.dumps({settings.username: password}) + "\n"
            return {"simple_auth_passwords.json": passwords}
        public = _PUBLIC_ADMIN if settings.auth == "all_admins" else ""
        return {"webserver_config.py": _WEBSERVER_CONFIG + public}


def basic_auth(username: str, password: str) -> Mapping[str, str]:
    """The header of HTTP basic auth (2.x REST API with the basic_auth backend)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


AIRFLOW_3 = LineProfile(
    line="3",
    processes=("scheduler", "dag-processor", "api-server"),
    api_process="api-server",
    api_prefix="/api/v2",
    health_path="/api/v2/monitor/health",
    has_dag_processor=True,
)
AIRFLOW_2 = LineProfile(
    line="2",
    processes=("scheduler", "webserver"),
    api_process="webserver",
    api_prefix="/api/v1",
    health_path="/health",
    has_dag_processor=False,
)
PROFILES: dict[AirflowLine, LineProfile] = {"3": AIRFLOW_3, "2": AIRFLOW_2}


def profile_of(line: AirflowLine) -> LineProfile:
    return PROFILES[line]
