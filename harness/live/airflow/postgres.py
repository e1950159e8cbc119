"""A throwaway PostgreSQL cluster for Airflow metadata databases: one database per environment.

`PostgresCluster` runs `initdb` into a fresh temp dir and the `postgres` server in the
foreground as a `ProcessRegistry` child (its own process group, killed with us even on
SIGKILL), listening on a free loopback port with its unix socket inside the temp dir. Each
environment gets its own role and database (`create_database`), reached over TCP on
127.0.0.1 with a password (scram-sha-256); local socket connections (for the admin `psql` we
run) are trusted, and only the owner of the 0700 temp dir can reach that socket.

The server refuses to run as root: as root, every PostgreSQL program runs as the `postgres`
user (made by the Debian package) through `setpriv`; otherwise as the current user.

Stopping (`stop`, also on `with` exit): a fast shutdown (SIGINT to the postmaster, bounded),
then the registry's stop of the whole group (SIGTERM, then SIGKILL, bounded), then the temp
dir is removed. Nothing survives: `leftovers()` lists any process still running on the data
dir (it must be empty after `stop`).

Settings are for tests, not durability: fsync, full_page_writes and synchronous_commit are
off, shared_buffers is small. A crash of the machine loses the data; a kill of the server
does not (WAL is still written).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from harness.live import clock
from harness.live.processes import (
    LOOPBACK,
    ManagedProcess,
    ProcessRegistry,
    ReadinessTimeout,
    free_port,
    port_is_free,
)

POSTGRES_USER = "postgres"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DEBIAN_BINDIRS = "/usr/lib/postgresql"


class PostgresError(RuntimeError):
    """PostgreSQL is missing, failed to start, or refused a command."""


# Binaries ------------------------------------------------------------------------------------


def find_bindir() -> Path | None:
    """The directory holding initdb/postgres/psql: $MWAA_DRILL_PG_BINDIR, else Debian's
    /usr/lib/postgresql/<newest>/bin, else wherever `initdb` is on PATH."""
    override = os.environ.get("MWAA_DRILL_PG_BINDIR")
    if override:
        path = Path(override)
        return path if (path / "initdb").is_file() else None
    root = Path(_DEBIAN_BINDIRS)
    if root.is_dir():
        versions = []
        for entry in root.iterdir():
            if entry.name.isdigit() and (entry / "bin" / "initdb").is_file():
                versions.append((int(entry.name), entry / "bin"))
        if versions:
            return max(versions)[1]
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def postgres_problem() -> str | None:
    """Why a cluster cannot run here (None when it can)."""
    bindir = find_bindir()
    if bindir is None:
        return "PostgreSQL is not installed (no initdb): run scripts/install-airflow.sh"
    for program in ("initdb", "postgres", "psql", "pg_isready"):
        if not (bindir / program).is_file():
            return f"{bindir / program} is missing: run scripts/install-airflow.sh"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            return "running as root needs a 'postgres' user: run scripts/install-airflow.sh"
        if shutil.which("setpriv") is None:
            return "running as root needs setpriv (util-linux) to drop to the postgres user"
    return None


def safe_identifier(*parts: str) -> str:
    """A PostgreSQL identifier (lowercase, [a-z0-9_], <= 63 chars) made from `parts`, e.g.
    ("us-east-1", "my-env") -> "us_east_1__my_env". Long names keep a hash suffix, so two
    different inputs never meet on the same database."""
    cleaned = "__".join(re.sub(r"[^a-z0-9_]+", "_", part.lower()).strip("_") for part in parts)
    if not cleaned or not re.match(r"[a-z_]", cleaned[0]):
        cleaned = "e_" + cleaned
    if len(cleaned) > 63:
        digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]
        cleaned = f"{cleaned[:52]}_{digest}"
    return cleaned


def _others_can_traverse(path: Path) -> bool:
    """True when every directory from / down to `path` is searchable by other users."""
    try:
        resolved = path.resolve()
        return all(part.stat().st_mode & 0o001 for part in (resolved, *resolved.parents))
    except OSError:
        return False


def reap_stale_clusters(parent: Path | None = None) -> list[Path]:
    """Remove cluster dirs (`mwaa-drill-pg-*` in `parent`, default the temp dir) left by a
    harness that was killed: their postmaster.pid names a process that no longer exists.
    A running cluster (live postmaster) or one still being made (no postmaster.pid yet) is
    left alone. Returns the dirs removed. Called by every `PostgresCluster.start()`."""
    removed: list[Path] = []
    for base in sorted(Path(parent or tempfile.gettempdir()).glob("mwaa-drill-pg-*")):
        try:
            first = (base / "data" / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first.strip())
        except (OSError, ValueError):
            continue
        if pid > 0 and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(base, ignore_errors=True)
            removed.append(base)
    return removed


# Databases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    """One environment's metadata database and the role that owns it."""

    name: str
    user: str
    password: str = field(repr=False)
    host: str
    port: int

    @property
    def sqlalchemy_url(self) -> str:
        """For Airflow's `[database] sql_alchemy_conn` (psycopg2 driver)."""
        return (
            f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{self.name}"
        )


# The cluster ---------------------------------------------------------------------------------

_LIVE: weakref.WeakSet[PostgresCluster] = weakref.WeakSet()


def _stop_live_clusters() -> None:
    """At interpreter exit: stop clusters nobody stopped and remove their temp dirs (the
    registry kills the server's group; the directory would stay behind)."""
    for cluster in list(_LIVE):
        with contextlib.suppress(Exception):
            cluster.stop()


atexit.register(_stop_live_clusters)


class PostgresCluster:
    """One PostgreSQL server in a temp dir on a free loopback port. Use with a registry:

    with ProcessRegistry() as registry, PostgresCluster(registry) as cluster:
        db = cluster.create_database("us_east_1__env")
    """

    def __init__(
        self,
        registry: ProcessRegistry,
        *,
        host: str = LOOPBACK,
        base_dir: Path | None = None,
        max_connections: int = 300,
        shared_buffers: str = "32MB",
        startup_timeout_s: float = 30.0,
        command_timeout_s: float = 30.0,
        attempts: int = 3,
    ) -> None:
        if host != LOOPBACK and host not in ("localhost", "::1"):
            raise PostgresError(f"the cluster listens on loopback only, not {host!r}")
        self.registry = registry
        self.host = host
        self.max_connections = max_connections
        self.shared_buffers = shared_buffers
        self.startup_timeout_s = startup_timeout_s
        self.command_timeout_s = command_timeout_s
        self.attempts = attempts
        self._base_parent = base_dir
        self.base_dir: Path | None = None
        self.port: int | None = None
        self.process: ManagedProcess | None = None
        self.databases: dict[str, Database] = {}
        self._bindir: Path | None = None
        self._frozen = False

    # Paths -----------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self._require_base() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._require_base()

    @property
    def log_path(self) -> Path:
        return self._require_base() / "postgres.log"

    def _require_base(self) -> Path:
        if self.base_dir is None:
            raise PostgresError("the cluster is not started")
        return self.base_dir

    def _bin(self, program: str) -> str:
        if self._bindir is None:
            raise PostgresError("the cluster is not started")
        return str(self._bindir / program)

    # Lifecycle -------------------------------------------------------------------------------
    def start(self) -> PostgresCluster:
        """initdb, then start the server and wait (bounded) until it accepts connections."""
        if self.process is not None:
            return self
        problem = postgres_problem()
        if problem:
            raise PostgresError(problem)
        self._bindir = find_bindir()
        _LIVE.add(self)
        parent = self._base_parent or Path(tempfile.gettempdir())
        if self._as_root() and not _others_can_traverse(parent):
            # The server runs as `postgres`: it must reach its dir (TMPDIR may be under /root).
            parent = Path("/tmp")
        reap_stale_clusters(parent)
        base = Path(tempfile.mkdtemp(prefix="mwaa-drill-pg-", dir=parent))
        self.base_dir = base
        try:
            self._chown_to_postgres(base)
            base.chmod(0o700)
            self._run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    POSTGRES_USER,
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                    "--no-instructions",
                ],
                what="initdb",
            )
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_server(self) -> None:
        last_error: Exception | None = None
        for _ in range(self.attempts):
            port = free_port(LOOPBACK)
            argv = self._as_postgres(
                [
                    self._bin("postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(port),
                    "-k",
                    str(self.socket_dir),
                    "-c",
                    f"listen_addresses={LOOPBACK}",
                    "-c",
                    "unix_socket_permissions=0700",
                    "-c",
                    f"max_connections={self.max_connections}",
                    "-c",
                    f"shared_buffers={self.shared_buffers}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "logging_collector=off",
                    "-c",
                    "log_min_messages=warning",
                ],
                pdeathsig=True,
            )
            process = self.registry.start(
                argv,
                name="postgres",
                env=self._env(),
                cwd=self.base_dir,
                log_path=self.log_path,
            )
            try:
                self._wait_ready(port, process)
            except ReadinessTimeout as err:
                last_error = err
                self._stop_process(process)
                continue
            self.port = port
            self.process = process
            return
        raise PostgresError(
            f"postgres did not start after {self.attempts} attempts: {last_error}; "
            f"log: {self._log_tail()}"
        )

    def _wait_ready(self, port: int, process: ManagedProcess) -> None:
        deadline = clock.Deadline.after(self.startup_timeout_s)
        while True:
            if not process.alive():
                raise ReadinessTimeout(f"postgres exited with code {process.returncode}")
            probe = subprocess.run(
                [self._bin("pg_isready"), "-q", "-h", LOOPBACK, "-p", str(port), "-t", "1"],
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=5.0,
                check=False,
            )
            if probe.returncode == 0:
                return
            if deadline.expired():
                raise ReadinessTimeout(
                    f"postgres on port {port} not ready within {self.startup_timeout_s:.0f} s"
                )
            clock.sleep(min(0.05, deadline.remaining()))

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self) -> None:
        """SIGSTOP the server and its backends: connections hang (a Regional outage)."""
        self._require_process().send_signal(signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        self._require_process().send_signal(signal.SIGCONT)
        self._frozen = False

    def stop(self, *, fast_timeout_s: float = 5.0) -> None:
        """Fast shutdown, then SIGTERM/SIGKILL of the group, then remove the temp dir.
        Idempotent; every wait is bounded. Raises PostgresError if a process survived."""
        if self.process is not None:
            self._stop_process(self.process, fast_timeout_s=fast_timeout_s)
        survivors = self.leftovers()
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        self.process = None
        self.databases.clear()
        if survivors:
            raise PostgresError(f"postgres processes survived the stop: {survivors}")

    def _stop_process(self, process: ManagedProcess, *, fast_timeout_s: float = 5.0) -> None:
        if process.alive():
            # SIGCONT first in case a fault froze it; SIGINT to the postmaster = fast shutdown.
            process.send_signal(signal.SIGCONT)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=fast_timeout_s)
        process.stop(term_timeout_s=3.0, kill_timeout_s=3.0)
        self._frozen = False

    def leftovers(self) -> list[int]:
        """PIDs of live processes of this cluster (empty once stopped): the server's process
        group, and every process whose working directory is the data dir. PostgreSQL's
        children (backends, checkpointer, ...) each call setsid(), so they leave the group,
        but they all run in the data dir, where the postmaster changed directory."""
        if self.base_dir is None:
            return []
        data_dir = str(self.data_dir)
        marker = data_dir.encode()
        pgid = self.process.pgid if self.process is not None else None
        found: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if stat[0] in ("Z", "X"):
                    continue
                if (
                    (pgid is not None and stat[2] == str(pgid))
                    or os.readlink(entry / "cwd") == data_dir
                    or marker in (entry / "cmdline").read_bytes()
                ):
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
        return sorted(found)

    def port_released(self) -> bool:
        return self.port is None or port_is_free(self.port, LOOPBACK)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # Databases -------------------------------------------------------------------------------
    def create_database(self, name: str, *, user: str | None = None) -> Database:
        """A role (LOGIN, random password) and a database it owns. `name` must already be a
        safe identifier (see `safe_identifier`); the role defaults to the same name."""
        user = user or name
        for ident in (name, user):
            if not _IDENTIFIER.match(ident) or ident == POSTGRES_USER:
                raise ValueError(f"not a safe PostgreSQL identifier: {ident!r}")
        if name in self.databases:
            raise PostgresError(f"database {name} exists already")
        port = self._require_port()
        password = secrets.token_hex(16)
        self.psql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}';")
        self.psql(f"CREATE DATABASE {name} OWNER {user};")
        database = Database(name=name, user=user, password=password, host=LOOPBACK, port=port)
        self.databases[name] = database
        return database

    def drop_database(self, name: str) -> None:
        """Drop the database (closing its connections) and its role. Unknown names are ignored."""
        database = self.databases.pop(name, None)
        if database is None:
            return
        self.psql(f"DROP DATABASE IF EXISTS {database.name} WITH (FORCE);")
        self.psql(f"DROP ROLE IF EXISTS {database.user};")

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run SQL as the superuser over the unix socket; return psql's unaligned output."""
        port = self._require_port()
        result = self._run(
            [
                self._bin("psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(port),
                "-U",
                POSTGRES_USER,
                "-d",
                database,
                "-f",
                "-",
            ],
            what="psql",
            input_text=sql,
        )
        return result

    # Helpers ---------------------------------------------------------------------------------
    def _require_port(self) -> int:
        if self.port is None or self.process is None:
            raise PostgresError("the cluster is not started")
        return self.port

    def _require_process(self) -> ManagedProcess:
        if self.process is None:
            raise PostgresError("the cluster is not started")
        return self.process

    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    def _as_postgres(self, argv: Sequence[str], *, pdeathsig: bool = False) -> list[str]:
        if not self._as_root():
            return list(argv)
        setpriv = shutil.which("setpriv") or "setpriv"
        prefix = [setpriv, f"--reuid={POSTGRES_USER}", f"--regid={POSTGRES_USER}", "--init-groups"]
        # Linux sends the parent-death signal when the *thread* that forked the child exits,
        # not the process: only the main thread may ask for it (as ProcessRegistry does), or a
        # cluster started from a worker thread dies with that thread.
        if pdeathsig and threading.current_thread() is threading.main_thread():
            # Changing uid clears a parent-death signal set before: set it again after.
            prefix += ["--pdeathsig", "KILL"]
        return [*prefix, "--", *argv]

    def _chown_to_postgres(self, path: Path) -> None:
        if self._as_root():
            entry = pwd.getpwnam(POSTGRES_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C",
            "LC_ALL": "C",
            "TZ": "UTC",
            "PGCONNECT_TIMEOUT": "5",
        }
        if self._as_root():
            env["HOME"] = str(self.base_dir or "/")
        elif "HOME" in os.environ:
            env["HOME"] = os.environ["HOME"]
        return env

    def _run(self, argv: Sequence[str], *, what: str, input_text: str | None = None) -> str:
        try:
            result = subprocess.run(
                self._as_postgres(argv),
                env=self._env(),
                cwd=self.base_dir,
                input=input_text if input_text is not None else "",
                capture_output=True,
                text=True,
                timeout=self.command_timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise PostgresError(f"{what} did not finish within {self.command_timeout_s} s") from err
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()[-2000:]
            raise PostgresError(f"{what} failed (exit {result.returncode}): {detail}")
        return result.stdout

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, PostgresError):
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
