"""One real Apache Airflow environment on this machine: `AirflowInstance`, on either line.

The installation given (or found) decides the line, and `harness.live.airflow.lines` what
differs: Airflow 3 runs scheduler, dag-processor and api-server with REST at /api/v2; Airflow
2.10 runs scheduler and webserver with REST at /api/v1 and health at /health. The rest of this
docstring says "API server" for the api-server (3) or the webserver (2).

Each instance has its own AIRFLOW_HOME (a temp dir unless given), its own loopback ports
(API server, worker log server, trigger log server, scheduler health check), its own JWT and
Fernet secrets, LocalExecutor, and a metadata database: a PostgreSQL database (given, or made
in a given `PostgresCluster` and dropped on stop), else SQLite in the home (quick tests).
Its settings are written to `<home>/airflow.cfg`, so `AIRFLOW_HOME=<home> airflow ...` works by
hand against a running instance.

`start()` does not block: it launches `airflow db migrate` (on 2.x with auth="password" also
`airflow users create`) and the line's processes at once, each in its own process group through the
`ProcessRegistry`; they wait (bounded, in a small `sh` loop) for the migration's marker
file before they exec Airflow. `wait_healthy(deadline)` then polls the health endpoint
until the metadatabase is healthy and the scheduler (and, on 3, DAG processor) heartbeats are
recent;
it fails early, with the log tail, when the migration or a process dies.

Faults: `kill_scheduler()` SIGKILLs only the scheduler's process group (its LocalExecutor task
runners with it; the API keeps answering), `restart_scheduler()` starts a new one,
`freeze()`/`thaw()` SIGSTOP/SIGCONT every process group of the instance (a Regional outage;
freeze the Region's `PostgresCluster` too for a full one). `stop()` stops everything (SIGTERM,
bounded, then SIGKILL), drops the database it made, and removes the temp home.

Liveness comes from the scheduler heartbeat age that the health endpoint reports (written by
the scheduler into the metadata DB), never from a PID.

REST: `rest(method, path, query, body)` -> (status, decoded JSON). Auth on Airflow 3.3.2 with
the simple auth manager: with `[core] simple_auth_manager_all_admins = True` (auth="all_admins",
the default) the API server's middleware adds an admin JWT to every request, so no header is
needed; with auth="password" the instance writes a user and password, and `rest` gets a JWT
from `POST /auth/token` ({"username", "password"} -> 201 {"access_token"}) and sends it as
`Authorization: Bearer`, renewing it once on a 401. On 2.10 (FAB): "all_admins" makes every
anonymous request an Admin (webserver_config.py AUTH_ROLE_PUBLIC, [api] auth_backends =
...backend.default); "password" creates the admin user with the CLI and sends HTTP basic auth
([api] auth_backends = ...backend.basic_auth).

Process logs: `<home>/process-logs/{migrate,<process name>}.log`; task logs
under `<home>/logs`.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime as dt
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import tempfile
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from harness.live import clock, safety
from harness.live.airflow.install import AirflowInstallation, find_installation
from harness.live.airflow.lines import (
    AIRFLOW_3,
    PASSWORD_VARIABLE,
    AuthMode,
    LineProfile,
    Ports,
    Settings,
    basic_auth,
    profile_of,
)
from harness.live.airflow.postgres import Database, PostgresCluster, safe_identifier
from harness.live.processes import (
    LOOPBACK,
    ManagedProcess,
    ProcessRegistry,
    _group_exists,
    free_port,
    port_is_free,
)

API_PREFIX = AIRFLOW_3.api_prefix
_MIGRATED = ".mwaa-drill-migrated"
_MIGRATION_FAILED = ".mwaa-drill-migration-failed"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

# Runs in `sh`: wait (bounded) for the migration marker, then become the Airflow process.
_WAIT_THEN_EXEC = """\
i=0
while [ ! -e "$MWAA_DRILL_MIGRATED" ]; do
    if [ -e "$MWAA_DRILL_MIGRATION_FAILED" ]; then
        echo "mwaa-drill: airflow db migrate failed; not starting $*" >&2
        exit 3
    fi
    if [ "$i" -ge "$MWAA_DRILL_WAIT_TICKS" ]; then
        echo "mwaa-drill: migration not done in time; not starting $*" >&2
        exit 3
    fi
    sleep 0.1
    i=$((i + 1))
done
exec "$@"
"""

_MIGRATE = """\
rm -f "$MWAA_DRILL_MIGRATION_FAILED"
if "$@"; then
    : > "$MWAA_DRILL_MIGRATED"
else
    rc=$?
    : > "$MWAA_DRILL_MIGRATION_FAILED"
    exit "$rc"
fi
"""


class AirflowStartError(RuntimeError):
    """The instance could not become healthy (migration failed, a process died, timeout)."""


class AirflowUnreachable(OSError):
    """No HTTP answer from the instance's API server (refused, reset, timed out)."""


def distinct_free_ports(count: int, *, avoid: Iterable[int] = ()) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago (bounded attempts)."""
    taken = set(avoid)
    ports: list[int] = []
    for _ in range(count * 20):
        port = free_port(LOOPBACK)
        if port not in taken:
            taken.add(port)
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError(f"could not find {count} distinct free ports")


@dataclass(frozen=True)
class Health:
    """What `/api/v2/monitor/health` said, with heartbeat ages in seconds (None: no beat)."""

    reachable: bool
    status: int | None = None
    metadatabase_healthy: bool = False
    scheduler_status: str | None = None
    scheduler_heartbeat_age_s: float | None = None
    dag_processor_status: str | None = None
    dag_processor_heartbeat_age_s: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


def heartbeat_age_s(stamp: Any, now_unix: float) -> float | None:
    """Seconds since an ISO-8601 heartbeat stamp (naive stamps are UTC); None if unparsable."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return max(0.0, now_unix - parsed.timestamp())


def parse_health(status: int, document: Any, now_unix: float) -> Health:
    if not isinstance(document, Mapping):
        return Health(reachable=True, status=status, raw={}, error="not a JSON object")
    database = document.get("metadatabase") or {}
    scheduler = document.get("scheduler") or {}
    processor = document.get("dag_processor") or {}
    return Health(
        reachable=True,
        status=status,
        metadatabase_healthy=isinstance(database, Mapping) and database.get("status") == "healthy",
        scheduler_status=scheduler.get("status") if isinstance(scheduler, Mapping) else None,
        scheduler_heartbeat_age_s=heartbeat_age_s(
            scheduler.get("latest_scheduler_heartbeat") if isinstance(scheduler, Mapping) else None,
            now_unix,
        ),
        dag_processor_status=processor.get("status") if isinstance(processor, Mapping) else None,
        dag_processor_heartbeat_age_s=heartbeat_age_s(
            processor.get("latest_dag_processor_heartbeat")
            if isinstance(processor, Mapping)
            else None,
            now_unix,
        ),
        raw=document,
    )


def api_target(path: str, prefix: str = API_PREFIX) -> str:
    """The request target for `path`: relative to `prefix` (/api/v2 on 3, /api/v1 on 2, as
    MWAA InvokeRestApi takes it) unless it starts with /api/, /auth/, /execution/ or is
    /health."""
    if path.startswith(("/api/", "/auth/", "/execution/")) or path == "/health":
        return path
    return prefix + (path if path.startswith("/") else "/" + path)


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _ini_value(value: str) -> str:
    # configparser interpolation is on in Airflow: a literal % must be doubled.
    return value.replace("%", "%%").replace("\n", " ")


_LIVE: weakref.WeakSet[AirflowInstance] = weakref.WeakSet()


def _stop_live_instances() -> None:
    """At interpreter exit: stop instances nobody stopped (the registry stops the process
    groups it knows; this also reaps task runners, which run in groups of their own)."""
    stop_instances(list(_LIVE))


atexit.register(_stop_live_instances)


class AirflowInstance:
    """One Airflow environment (the line's processes, see `profile`) on loopback ports.

    `name`: unique per instance, e.g. "<region>.<environment>" ([A-Za-z0-9_.-], <= 63).
    `dags_folder`: read by the DAG processor, rescanned every `dag_dir_refresh_s`.
    Metadata DB: `database` (given), else a new one in `postgres` (dropped on stop), else SQLite.
    `home`: a dedicated directory (kept after stop), else a temp dir (removed on stop).
    `heartbeat_threshold_s`: the heartbeat age beyond which the scheduler counts as dead.
    `extra_config`: more airflow.cfg settings, {section: {key: value}}, applied last.
    `extra_env`: more environment variables of every Airflow process (and so of its tasks),
    applied last (e.g. the Region, PYTHONPATH of the DAGs' own modules).
    """

    def __init__(
        self,
        registry: ProcessRegistry,
        *,
        name: str,
        dags_folder: Path,
        database: Database | None = None,
        postgres: PostgresCluster | None = None,
        home: Path | None = None,
        dags_are_paused_at_creation: bool = True,
        auth: AuthMode = "all_admins",
        heartbeat_sec: float = 2.0,
        heartbeat_threshold_s: float = 10.0,
        parallelism: int = 4,
        dag_dir_refresh_s: int = 5,
        serve_logs: bool = False,
        with_triggerer: bool = False,
        extra_config: Mapping[str, Mapping[str, str]] | None = None,
        installation: AirflowInstallation | None = None,
        migration_timeout_s: float = 240.0,
        stop_timeout_s: float = 2.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        if not _NAME.match(name):
            raise ValueError(f"instance name must match {_NAME.pattern}, got {name!r}")
        if database is not None and postgres is not None:
            raise ValueError("give a database or a cluster to make one in, not both")
        self.registry = registry
        self.name = name
        self.dags_folder = Path(dags_folder).resolve()
        self.installation = installation or find_installation()
        self.profile: LineProfile = profile_of(self.installation.line)
        self.database = database
        self.postgres = postgres
        self._owns_database = False
        self._given_home = home
        self.home: Path | None = None
        self.dags_are_paused_at_creation = dags_are_paused_at_creation
        self.auth: AuthMode = auth
        self.heartbeat_sec = heartbeat_sec
        self.heartbeat_threshold_s = heartbeat_threshold_s
        self.parallelism = parallelism
        self.dag_dir_refresh_s = dag_dir_refresh_s
        self.serve_logs = serve_logs
        self.with_triggerer = with_triggerer
        self.extra_config = {k: dict(v) for k, v in (extra_config or {}).items()}
        self.migration_timeout_s = migration_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.extra_env = dict(extra_env or {})
        self.ports: Ports | None = None
        self.processes: dict[str, ManagedProcess] = {}
        self.migration: ManagedProcess | None = None
        self.username = "admin"
        self._password = secrets.token_urlsafe(16)
        self._token: str | None = None
        self._frozen = False
        self._started = False
        self._stopped = False
        self._scheduler_killed = False

    # Properties ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._require_ports().api}"

    @property
    def process_log_dir(self) -> Path:
        return self._require_home() / "process-logs"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database is not None:
            return self.database.sqlalchemy_url
        return f"sqlite:///{self._require_home() / 'airflow.db'}"

    @property
    def frozen(self) -> bool:
        return self._frozen

    def _require_home(self) -> Path:
        if self.home is None:
            raise RuntimeError(f"instance {self.name} is not started")
        return self.home

    def _require_ports(self) -> Ports:
        if self.ports is None:
            raise RuntimeError(f"instance {self.name} is not started")
        return self.ports

    # Configuration ---------------------------------------------------------------------------
    def config(self) -> dict[str, dict[str, str]]:
        """Every setting this instance writes into its airflow.cfg."""
        home = self._require_home()
        ports = self._require_ports()
        cfg: dict[str, dict[str, str]] = {
            "core": {
                "dags_folder": str(self.dags_folder),
                "executor": self.profile.executor(self.database is None),
                "load_examples": "False",
                "dags_are_paused_at_creation": str(self.dags_are_paused_at_creation),
                "parallelism": str(self.parallelism),
                "fernet_key": _fernet_key(),
                "hostname_callable": "socket.gethostname",
            },
            "database": {
                "sql_alchemy_conn": self.sqlalchemy_url,
                "sql_alchemy_pool_size": "4",
                "sql_alchemy_max_overflow": "8",
            },
            "logging": {
                "base_log_folder": str(home / "logs"),
                "worker_log_server_port": str(ports.worker_log_server),
                "trigger_log_server_port": str(ports.trigger_log_server),
            },
            "scheduler": {
                "scheduler_heartbeat_sec": f"{self.heartbeat_sec:g}",
                "job_heartbeat_sec": f"{self.heartbeat_sec:g}",
                "scheduler_health_check_threshold": f"{self.heartbeat_threshold_s:g}",
                "scheduler_health_check_server_port": str(ports.scheduler_health_check),
                "enable_health_check": "False",
            },
        }
        for section, values in self.profile.config(self._settings()).items():
            cfg.setdefault(section, {}).update(values)
        for section, values in self.extra_config.items():
            cfg.setdefault(section, {}).update(values)
        return cfg

    def _settings(self) -> Settings:
        return Settings(
            home=self._require_home(),
            ports=self._require_ports(),
            auth=self.auth,
            username=self.username,
            dag_dir_refresh_s=self.dag_dir_refresh_s,
        )

    def _write_config(self) -> None:
        home = self._require_home()
        lines = ["# Written by mwaa-drill (harness/live/airflow/instance.py)."]
        for section, values in self.config().items():
            lines.append(f"\n[{section}]")
            lines.extend(f"{key} = {_ini_value(value)}" for key, value in values.items())
        path = home / "airflow.cfg"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        for name, text in self.profile.files(self._settings(), self._password).items():
            (home / name).write_text(text)
            (home / name).chmod(0o600)

    def environment(self) -> dict[str, str]:
        """The environment of every Airflow process of this instance."""
        home = self._require_home()
        env = safety.emulator_environment()
        for key in list(env):
            if key.startswith("AIRFLOW") or key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
                del env[key]
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
                "PATH": f"{self.installation.bin_dir}:{env.get('PATH', '/usr/bin:/bin')}",
                "PYTHONUNBUFFERED": "1",
                "MWAA_DRILL_INSTANCE": self.name,
                "MWAA_DRILL_MIGRATED": str(home / _MIGRATED),
                "MWAA_DRILL_MIGRATION_FAILED": str(home / _MIGRATION_FAILED),
                "MWAA_DRILL_WAIT_TICKS": str(int(self.migration_timeout_s * 10)),
            }
        )
        env.setdefault("LANG", "C.UTF-8")
        env.update(self.extra_env)
        return env

    # Lifecycle -------------------------------------------------------------------------------
    def start(self) -> AirflowInstance:
        """Launch the migration and the three processes; return at once (see wait_healthy)."""
        if self._started:
            raise RuntimeError(f"instance {self.name} was started already")
        self._started = True
        _LIVE.add(self)
        reap_orphans()
        if self._given_home is not None:
            self._given_home.mkdir(parents=True, exist_ok=True)
            self.home = self._given_home.resolve()
        else:
            prefix = f"mwaa-drill-af-{re.sub(r'[^A-Za-z0-9_-]', '_', self.name)[:30]}-"
            self.home = Path(tempfile.mkdtemp(prefix=prefix))
        try:
            self.ports = Ports(*distinct_free_ports(4))
            if self.postgres is not None and self.database is None:
                self.database = self.postgres.create_database(
                    safe_identifier("af", self.name, secrets.token_hex(3))
                )
                self._owns_database = True
            (self.home / "logs").mkdir(exist_ok=True)
            self.process_log_dir.mkdir(exist_ok=True)
            self._write_config()
            env = {**self.environment(), PASSWORD_VARIABLE: self._password}
            script = self.profile.migrate_script(
                str(self.installation.airflow), self.auth, self.username
            )
            self.migration = self.registry.start(
                ["sh", "-c", _MIGRATE, "sh", "sh", "-c", script],
                name=f"{self.name}/migrate",
                env=env,
                cwd=self.home,
                log_path=self.process_log_dir / "migrate.log",
            )
            names = self.profile.processes + (("triggerer",) if self.with_triggerer else ())
            for process_name in names:
                self._launch(process_name)
        except BaseException:
            self.stop()
            raise
        return self

    def _argv(self, process_name: str) -> list[str]:
        airflow = str(self.installation.airflow)
        return self.profile.argv(airflow, process_name, self._require_ports(), self.serve_logs)

    def _launch(self, process_name: str) -> ManagedProcess:
        process = self.registry.start(
            ["sh", "-c", _WAIT_THEN_EXEC, "sh", *self._argv(process_name)],
            name=f"{self.name}/{process_name}",
            env=self.environment(),
            cwd=self._require_home(),
            log_path=self.process_log_dir / f"{process_name}.log",
        )
        self.processes[process_name] = process
        return process

    def migrated(self) -> bool:
        return self.home is not None and (self.home / _MIGRATED).exists()

    def failure(self) -> str | None:
        """Why the instance cannot become healthy without help (None: no sign of trouble)."""
        if self.migration is not None and self.migration.returncode not in (None, 0):
            return (
                f"airflow db migrate exited {self.migration.returncode}: {self.log_tail('migrate')}"
            )
        for process_name, process in self.processes.items():
            if process_name == "scheduler" and self._scheduler_killed:
                continue
            if not process.alive():
                return (
                    f"{process_name} exited with code {process.returncode}: "
                    f"{self.log_tail(process_name)}"
                )
        return None

    def wait_healthy(
        self,
        deadline: clock.Deadline | float,
        *,
        require_dag_processor: bool = True,
        interval_s: float = 0.25,
    ) -> Health:
        """Poll the health endpoint until the metadatabase is healthy and the scheduler (and
        DAG processor) heartbeats are recent. Raises AirflowStartError on failure or timeout."""
        if isinstance(deadline, int | float):
            deadline = clock.Deadline.after(float(deadline))
        last: Health | None = None
        while True:
            problem = self.failure()
            if problem:
                raise AirflowStartError(f"instance {self.name}: {problem}")
            if self.migrated():
                last = self.health(timeout_s=min(2.0, max(0.2, deadline.remaining())))
                if self.is_healthy(last, require_dag_processor=require_dag_processor):
                    return last
            if deadline.expired():
                raise AirflowStartError(
                    f"instance {self.name} not healthy in time "
                    f"(migrated={self.migrated()}, last health={last}); "
                    f"{self.profile.api_process} log: "
                    f"{self.log_tail(self.profile.api_process, 8)}"
                )
            clock.sleep(min(interval_s, deadline.remaining()))

    def is_healthy(
        self, health: Health | None = None, *, require_dag_processor: bool = True
    ) -> bool:
        """Healthy = metadatabase healthy and scheduler (and DAG processor) heartbeats at most
        heartbeat_threshold_s old. Fetches the health endpoint when `health` is not given."""
        if health is None:
            if not self.migrated():
                return False
            health = self.health()
        if not (health.reachable and health.metadatabase_healthy):
            return False
        if not self._beat_is_recent(health.scheduler_heartbeat_age_s):
            return False
        if not (require_dag_processor and self.profile.has_dag_processor):
            return True
        return self._beat_is_recent(health.dag_processor_heartbeat_age_s)

    def _beat_is_recent(self, age_s: float | None, max_age_s: float | None = None) -> bool:
        limit = self.heartbeat_threshold_s if max_age_s is None else max_age_s
        return age_s is not None and age_s <= limit

    def health(self, timeout_s: float = 2.0) -> Health:
        """One GET of the health endpoint (never raises for transport errors)."""
        try:
            status, document = self._request(
                "GET", self.profile.health_path, timeout_s=timeout_s, auth=False
            )
        except AirflowUnreachable as err:
            return Health(reachable=False, error=str(err))
        return parse_health(status, document, clock.wall_time())

    def scheduler_alive(self, max_age_s: float | None = None, *, timeout_s: float = 2.0) -> bool:
        """True when the scheduler heartbeat the API reports is at most `max_age_s` old
        (default: the instance's heartbeat_threshold_s). False when the API cannot tell."""
        health = self.health(timeout_s=timeout_s)
        return self._beat_is_recent(health.scheduler_heartbeat_age_s, max_age_s)

    # Faults ----------------------------------------------------------------------------------
    def kill_scheduler(self, *, kill_orphaned_tasks: bool = True) -> None:
        """SIGKILL the scheduler's whole process group (environment failure): its LocalExecutor
        workers (the task supervisors) die with it; the API server and DAG processor keep
        running. The task processes those supervisors started run in process groups of their
        own and would go on headless (no supervisor to report their state): with
        `kill_orphaned_tasks` (default) they are killed too; either way the restarted
        scheduler finds their task instances by the heartbeat timeout
        ([scheduler] task_instance_heartbeat_timeout)."""
        process = self.processes.get("scheduler")
        if process is None:
            raise RuntimeError(f"instance {self.name} has no scheduler")
        self._scheduler_killed = True
        process.kill()
        # Reap anything of the group still on its way out (bounded).
        process.stop(term_timeout_s=0.0, kill_timeout_s=2.0)
        if kill_orphaned_tasks:
            self._kill_outside_groups()

    def _kill_outside_groups(self, timeout_s: float = 3.0) -> None:
        """SIGKILL this instance's processes that are in none of its live process groups."""
        live_groups = {p.pgid for p in self._group() if _group_exists(p.pgid)}

        def strays() -> list[int]:
            return [pid for pid, pgid in self._processes_by_pgid() if pgid not in live_groups]

        for pid in strays():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        deadline = clock.Deadline.after(timeout_s)
        while strays() and not deadline.expired():
            clock.sleep(0.05)

    def restart_scheduler(self) -> ManagedProcess:
        """Start a new scheduler (stopping the old one first if it still runs)."""
        old = self.processes.get("scheduler")
        if old is not None:
            old.stop(term_timeout_s=self.stop_timeout_s, kill_timeout_s=3.0)
        process = self._launch("scheduler")
        self._scheduler_killed = False
        return process

    def reconfigure(self, extra_config: Mapping[str, Mapping[str, str]]) -> None:
        """Apply new airflow.cfg settings, as MWAA's UpdateEnvironment does: stop every Airflow
        process (SIGTERM, bounded, then SIGKILL; task runners too), rewrite airflow.cfg with
        `extra_config`, and start the same processes again on the same home, ports and
        metadata database (already migrated: they start at once). Returns without waiting:
        `wait_healthy` or `is_healthy` tell when it serves again."""
        if not self._started or self._stopped:
            raise RuntimeError(f"instance {self.name} is not running")
        names = list(self.processes)
        for process in self.processes.values():
            process.stop(term_timeout_s=self.stop_timeout_s, kill_timeout_s=3.0)
        self._kill_outside_groups()  # task runners have process groups of their own
        self.extra_config = {k: dict(v) for k, v in extra_config.items()}
        self._write_config()
        for process_name in names:
            self._launch(process_name)
        self._scheduler_killed = False
        self._frozen = False

    def freeze(self, timeout_s: float = 3.0) -> None:
        """SIGSTOP every process of the instance (its groups and its task runners' groups):
        ports stay open, nothing answers (a Regional outage). Returns once every process is
        seen stopped (bounded by timeout_s): a process forked while the signals went out (a
        task runner, a gunicorn worker on 2.10) gets its own SIGSTOP on the next round."""
        deadline = clock.Deadline.after(timeout_s)
        while True:
            self._signal_every_group(signal.SIGSTOP)
            running = [pid for pid in self.pids() if _state(pid) not in ("T", "t", "Z", "X")]
            if not running or deadline.expired():
                break
            clock.sleep(0.02)
        self._frozen = True

    def thaw(self) -> None:
        self._signal_every_group(signal.SIGCONT)
        self._frozen = False

    def _signal_every_group(self, sig: int) -> None:
        for process in self._group():
            if process.alive():
                process.send_signal(sig)
        for pgid in {pgid for _, pgid in self._processes_by_pgid()}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)

    def stop(self) -> None:
        """Stop every process (SIGTERM, up to stop_timeout_s, then SIGKILL), drop the database
        made for it, remove the temp home. Idempotent. `stop_instances` stops several at once."""
        stop_instances([self])

    def _group(self) -> list[ManagedProcess]:
        group = list(self.processes.values())
        if self.migration is not None:
            group.append(self.migration)
        return group

    def _begin_stop(self) -> bool:
        """SIGCONT + SIGTERM to every group; False if stopped already."""
        if self._stopped:
            return False
        self._stopped = True
        for process in self._group():
            if process.alive():
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
        return True

    def _stopping(self) -> bool:
        return any(_group_exists(process.pgid) for process in self._group())

    def _finish_stop(self) -> None:
        for process in self._group():
            process.stop(term_timeout_s=0.0, kill_timeout_s=3.0)
        self._frozen = False
        # Task runners start their own process group: find them by their AIRFLOW_HOME.
        stragglers = self.leftovers()
        for pid in stragglers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if stragglers:
            gone = clock.Deadline.after(3.0)
            while self.leftovers() and not gone.expired():
                clock.sleep(0.05)
        # A frozen or dead cluster cannot drop anything; its own stop removes it all.
        cluster, database = self.postgres, self.database
        droppable = cluster is not None and cluster.alive() and not cluster.frozen
        if self._owns_database and droppable and cluster is not None and database is not None:
            with contextlib.suppress(Exception):
                cluster.drop_database(database.name)
        if self._given_home is None and self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)

    def pids(self) -> list[int]:
        """Live PIDs of this instance: members of its process groups, plus any process that
        left them, found by its working directory (the home, where every Airflow process of
        the instance starts) or its environment. Task runners start their own process group,
        and setproctitle (api-server, workers) blanks /proc/<pid>/environ: the cwd finds them."""
        return sorted(pid for pid, _ in self._processes_by_pgid())

    def _processes_by_pgid(self) -> list[tuple[int, int]]:
        groups = {str(p.pgid) for p in self._group()}
        home = str(self.home) if self.home is not None else None
        marker = f"AIRFLOW_HOME={home}\0".encode() if home is not None else None
        me = os.getpid()
        found: list[tuple[int, int]] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] in ("Z", "X"):
                    continue
                ours = fields[2] in groups
                if (
                    not ours
                    and int(entry.name) != me
                    and b"airflow" in (entry / "cmdline").read_bytes()
                ):
                    # Outside our groups only Airflow processes count (a home given by the
                    # caller should be dedicated, but the harness itself is never ours).
                    if home is not None:
                        cwd = os.readlink(entry / "cwd")
                        ours = cwd == home or cwd.startswith(home + os.sep)
                    if not ours and marker is not None:
                        ours = marker in (entry / "environ").read_bytes()
                if ours:
                    found.append((int(entry.name), int(fields[2])))
            except (OSError, IndexError, ValueError):
                continue
        return found

    def leftovers(self) -> list[int]:
        """Processes of this instance still alive (must be empty after stop)."""
        return self.pids()

    def bound_ports(self) -> list[int]:
        """This instance's ports that something still holds (must be empty after stop)."""
        if self.ports is None:
            return []
        return [port for port in self.ports.all() if not port_is_free(port, LOOPBACK)]

    def log_tail(self, process_name: str, lines: int = 15) -> str:
        if self.home is None:
            return "(not started)"
        try:
            text = (self.process_log_dir / f"{process_name}.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def __enter__(self) -> AirflowInstance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # REST ------------------------------------------------------------------------------------
    def rest(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        *,
        timeout_s: float = 10.0,
    ) -> tuple[int, Any]:
        """Call the instance's REST API; `path` is relative to /api/v2 (as MWAA InvokeRestApi
        takes it) unless it starts with /api/, /auth/ or /execution/. Returns (HTTP status,
        decoded JSON, or the text when the body is not JSON, or None when empty). Raises
        AirflowUnreachable when no HTTP answer came."""
        target = api_target(path, self.profile.api_prefix)
        if query:
            target += "?" + urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        status, document = self._request(method, target, body=body, timeout_s=timeout_s)
        if status == 401 and self.auth == "password" and self.profile.line == "3":
            self._token = None
            status, document = self._request(method, target, body=body, timeout_s=timeout_s)
        return status, document

    def token(self, *, timeout_s: float = 10.0) -> str:
        """A JWT for the API (auth="password": POST /auth/token; all_admins: GET /auth/token)."""
        if self.auth == "password":
            status, document = self._request(
                "POST",
                "/auth/token",
                body={"username": self.username, "password": self._password},
                timeout_s=timeout_s,
                auth=False,
            )
        else:
            status, document = self._request("GET", "/auth/token", timeout_s=timeout_s, auth=False)
        if status not in (200, 201) or not isinstance(document, Mapping):
            raise AirflowStartError(f"instance {self.name}: no token (HTTP {status}: {document})")
        token = document.get("access_token")
        if not isinstance(token, str):
            raise AirflowStartError(f"instance {self.name}: token answer without access_token")
        return token

    def _request(
        self,
        method: str,
        target: str,
        *,
        body: Any = None,
        timeout_s: float,
        auth: bool = True,
    ) -> tuple[int, Any]:
        ports = self._require_ports()
        headers = {"Accept": "application/json"}
        payload: bytes | None = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self.auth == "password" and self.profile.line == "2":
            headers.update(basic_auth(self.username, self._password))
        elif auth and self.auth == "password":
            if self._token is None:
                self._token = self.token(timeout_s=timeout_s)
            headers["Authorization"] = f"Bearer {self._token}"
        conn = http.client.HTTPConnection(LOOPBACK, ports.api, timeout=timeout_s)
        try:
            conn.request(method.upper(), target, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as err:
            raise AirflowUnreachable(
                f"{self.name}: {method} {target}: {type(err).__name__}: {err}"
            ) from err
        finally:
            conn.close()
        if not data:
            return status, None
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data.decode(errors="replace")


def _state(pid: int) -> str:
    """The /proc state letter of a process ("" when it is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def stop_instances(instances: Iterable[AirflowInstance]) -> None:
    """Stop several instances in parallel: SIGTERM to all, one shared grace period (the
    longest stop_timeout_s; the scheduler's LocalExecutor waits for running tasks, the API
    server takes ~1.5-2.5 s, a task supervisor can hang forwarding the signal), then SIGKILL
    whatever is left, drop the databases made for them and remove temp homes."""
    stopping = [instance for instance in instances if instance._begin_stop()]
    if not stopping:
        return
    grace = clock.Deadline.after(max(instance.stop_timeout_s for instance in stopping))
    while any(instance._stopping() for instance in stopping) and not grace.expired():
        clock.sleep(0.05)
    for instance in stopping:
        instance._finish_stop()


def reap_orphans() -> list[int]:
    """SIGKILL Airflow processes left by a harness that died without cleaning up (SIGKILL:
    the registry's parent-death signal takes the scheduler, but not the LocalExecutor workers
    it forked). Orphan = an `airflow` process re-parented to PID 1 whose working directory
    is an instance home (it holds the migration marker) or a deleted directory. A live
    harness's processes always have a live parent, so they are never touched. Returns the
    PIDs signalled. Called by every `AirflowInstance.start()`."""
    me = os.getpid()
    killed: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] in ("Z", "X") or fields[1] != "1":
                continue
            if b"airflow" not in (entry / "cmdline").read_bytes():
                continue
            cwd = os.readlink(entry / "cwd")
            if cwd.endswith(" (deleted)") or (Path(cwd) / _MIGRATED).exists():
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
        except (OSError, IndexError):
            continue
    return killed


def process_memory(pids: Iterable[int]) -> tuple[int, int]:
    """(RSS, PSS) in bytes summed over `pids`, from /proc/<pid>/smaps_rollup (status for RSS
    when smaps_rollup is unreadable). Processes that vanished count as 0."""
    rss = pss = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            try:
                text = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] in ("Rss:", "VmRSS:"):
                rss += int(parts[1]) * 1024
            elif len(parts) >= 2 and parts[0] == "Pss:":
                pss += int(parts[1]) * 1024
    return rss, pss
