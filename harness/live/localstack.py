"""LocalStack as the AWS emulator: an alternative to moto behind the same `LiveAws`.

    with LiveAws(regions, emulator="localstack") as aws:          # starts LocalStack
    with LiveAws(regions, emulator="localstack",
                 emulator_url="http://127.0.0.1:4566") as aws:    # one the user runs

Either way the rest is unchanged: the per-Region fault proxies forward to it, the harness
replicates S3 (LocalStack community stores a replication configuration but never copies),
the MWAA API is the harness's own (LocalStack community has no MWAA).

Started by us (`LocalStackServer`), LocalStack community (`localstack-core`, pinned in
scripts/install-localstack.sh) runs in host mode, without Docker, as
`<.localstack/venv>/bin/python -m localstack.runtime.main`: a child process in its own process
group through the `ProcessRegistry` (so every exit path stops it), listening on one free port
on loopback only (`GATEWAY_LISTEN=127.0.0.1:<port>`, `GATEWAY_SERVER=hypercorn`, its DNS server
off), with its whole file system (`FILESYSTEM_ROOT`, `TMPDIR`) in the drill's work dir, only
the services a drill uses (`SERVICES=s3,cloudwatch,sts,iam`), loaded before it reports ready
(`EAGER_SERVICE_LOADING=1`: the first call of a drill must not wait seconds for a provider to
load), no persistence and no analytics events. Ready means: `GET /_localstack/health` answers
and lists every requested service as "running"; bounded by `startup_timeout_s`.

LocalStack needs Python 3.13, so it lives in its own venv (`.localstack/venv`, made by
scripts/install-localstack.sh with pyenv's 3.13; `$MWAA_DRILL_LOCALSTACK_VENV` overrides).
`find_python()` raises `LocalStackNotInstalled` saying how to install it.

Clients are plain boto3 with `endpoint_url` (LiveAws makes them); `localstack-client` is not
used: every client must go through a Region's fault proxy, whose URL only LiveAws knows.

Known contact beyond loopback: LocalStack resolves the name `s3.<LOCALSTACK_HOST>` once
(`s3.127.0.0.1`) through the system resolver to decide how its internal S3 clients address
buckets. It is a DNS lookup only (no connection follows, the name does not resolve).
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from harness.live import safety
from harness.live.emulator_process import EmulatorProcess
from harness.live.processes import (
    LOOPBACK,
    ManagedProcess,
    ProcessRegistry,
    ReadinessTimeout,
    wait_for_http,
    wait_until,
)

LOCALSTACK_VERSION = "2026.3.0"
INSTALL_SCRIPT = "scripts/install-localstack.sh"
VENV_VARIABLE = "MWAA_DRILL_LOCALSTACK_VENV"
HEALTH_PATH = "/_localstack/health"
MOTO_PROBE_PATH = "/moto-api/data.json"
DEFAULT_SERVICES: tuple[str, ...] = ("s3", "cloudwatch", "sts", "iam")

# "localstack-docker": the compose file's LocalStack container (harness.live.docker_backend).
EmulatorKind = Literal["moto", "localstack", "localstack-docker"]


class LocalStackNotInstalled(RuntimeError):
    """The LocalStack venv is missing or broken."""


class Emulator(Protocol):
    """What LiveAws needs of an emulator: where it answers, and how to let it go."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


# Installation ---------------------------------------------------------------------------------


def source_root() -> Path:
    """The checkout this module sits in (meaningless when installed as a wheel)."""
    return Path(__file__).resolve().parents[2]


def default_venv() -> Path:
    """$MWAA_DRILL_LOCALSTACK_VENV, else the first `.localstack/venv` with a python in the
    current directory or its parents (tox runs from the project root with the package
    installed elsewhere), else in the source checkout; if none exists yet, where
    scripts/install-localstack.sh would make it."""
    override = os.environ.get(VENV_VARIABLE)
    if override:
        return Path(override)
    cwd = Path.cwd()
    roots = [cwd, *cwd.parents, source_root()]
    for root in roots:
        venv = root / ".localstack" / "venv"
        if (venv / "bin" / "python").exists():
            return venv
    for root in roots:
        if (root / INSTALL_SCRIPT).is_file():
            return root / ".localstack" / "venv"
    return cwd / ".localstack" / "venv"


def installation_problem(venv: Path | None = None) -> str | None:
    """Why LocalStack cannot run from `venv` (None when it looks usable). No subprocess."""
    venv = default_venv() if venv is None else venv
    fix = (
        f"run {INSTALL_SCRIPT} (it needs pyenv with Python 3.13, or LOCALSTACK_PYTHON set to "
        "a Python 3.13), or pass emulator_url= of a LocalStack you run"
    )
    if not (venv / "bin" / "python").exists():
        return f"LocalStack is not installed: {venv} has no bin/python; {fix}"
    sites = sorted((venv / "lib").glob("python3*/site-packages"))
    dists = [d for site in sites for d in site.glob("localstack_core-*.dist-info")]
    if not dists:
        return f"{venv} holds no localstack-core; {fix}"
    wanted = f"localstack_core-{LOCALSTACK_VERSION}.dist-info"
    if all(d.name != wanted for d in dists):
        found = ", ".join(d.name for d in dists)
        return f"{venv} holds {found}, the harness wants {LOCALSTACK_VERSION}; {fix}"
    return None


def find_python(venv: Path | None = None) -> Path:
    """The interpreter of the LocalStack venv, or LocalStackNotInstalled saying how to fix."""
    venv = default_venv() if venv is None else venv
    problem = installation_problem(venv)
    if problem:
        raise LocalStackNotInstalled(problem)
    return venv / "bin" / "python"


# Health ---------------------------------------------------------------------------------------


def health(url: str, timeout_s: float = 1.0) -> dict[str, Any] | None:
    """LocalStack's `GET /_localstack/health` document, or None when there is no JSON answer.
    Plain http.client on purpose: never through an HTTP proxy from the environment."""
    parts = urlsplit(safety.check_endpoint(url))
    conn = http.client.HTTPConnection(
        parts.hostname or LOOPBACK, parts.port or 80, timeout=timeout_s
    )
    try:
        conn.request("GET", HEALTH_PATH)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return None
        document = json.loads(body)
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()
    return document if isinstance(document, dict) else None


def services_ready(
    document: dict[str, Any] | None, services: Sequence[str], *, loaded: bool = True
) -> bool:
    """True when the health document lists every service as "running" (`loaded`), or at
    least as "available" (started on first use)."""
    if document is None:
        return False
    states = document.get("services")
    if not isinstance(states, dict):
        return False
    accepted = {"running"} if loaded else {"running", "available"}
    return all(states.get(service) in accepted for service in services)


# An emulator the user runs --------------------------------------------------------------------


class ExistingEmulator:
    """An emulator someone else runs (moto or LocalStack), at a loopback URL. `start` checks
    that it is loopback and answers (bounded); `stop` leaves it running."""

    def __init__(
        self,
        url: str,
        *,
        kind: EmulatorKind,
        services: Sequence[str] = DEFAULT_SERVICES,
        timeout_s: float = 10.0,
    ) -> None:
        parts = urlsplit(safety.check_endpoint(url))
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"emulator_url must be http://<loopback host>:<port>, got {url!r}")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError(f"emulator_url must have no path or query, got {url!r}")
        self.kind = kind
        self.host = parts.hostname
        self.port: int | None = parts.port
        self.services = tuple(services)
        self.timeout_s = timeout_s
        self._url = f"http://{parts.netloc}"

    @property
    def url(self) -> str:
        return self._url

    def start(self) -> ExistingEmulator:
        if self.kind != "moto":
            last: list[dict[str, Any] | None] = [None]

            def ready() -> bool:
                last[0] = health(self._url, timeout_s=min(1.0, self.timeout_s))
                return services_ready(last[0], self.services, loaded=False)

            try:
                wait_until(ready, self.timeout_s, interval_s=0.1, what=f"LocalStack at {self.url}")
            except ReadinessTimeout:
                states = (last[0] or {}).get("services", "no health answer")
                raise ReadinessTimeout(
                    f"LocalStack at {self.url} is not usable within {self.timeout_s:.0f} s: "
                    f"{self.url}{HEALTH_PATH} must list {', '.join(self.services)} as running "
                    f"or available (got: {states})"
                ) from None
        else:
            wait_for_http(f"{self._url}{MOTO_PROBE_PATH}", self.timeout_s)
        return self

    def stop(self) -> None:
        """Not ours to stop."""


# LocalStack as our child process --------------------------------------------------------------


class LocalStackServer(EmulatorProcess):
    """A LocalStack child process (host mode). Use inside a ProcessRegistry (which stops it
    for sure). Same shape as `MotoServer` (`EmulatorProcess`)."""

    label = "LocalStack"

    def __init__(
        self,
        registry: ProcessRegistry,
        *,
        data_dir: Path,
        host: str = LOOPBACK,
        log_path: Path | None = None,
        services: Sequence[str] = DEFAULT_SERVICES,
        startup_timeout_s: float = 90.0,
        attempts: int = 3,
        python: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        if not services or any(not s or "," in s for s in services):
            raise ValueError(f"services must be non-empty names, got {list(services)}")
        super().__init__(
            registry,
            host=host,
            log_path=log_path,
            startup_timeout_s=startup_timeout_s,
            attempts=attempts,
        )
        self.data_dir = data_dir
        self.services = tuple(services)
        self.python = python
        self.extra_env = dict(extra_env or {})

    def environment(self, port: int) -> dict[str, str]:
        """The child's environment: dummy credentials (safety), loopback only, files in
        `data_dir`, no persistence, no telemetry."""
        tmp = self.data_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        listen = f"{self.host}:{port}" if ":" not in self.host else f"[{self.host}]:{port}"
        env = safety.emulator_environment()
        for name in ("LOCALSTACK_AUTH_TOKEN", "LOCALSTACK_API_KEY", "DOCKER_HOST"):
            env.pop(name, None)
        env.update(
            {
                "GATEWAY_LISTEN": listen,
                "GATEWAY_SERVER": "hypercorn",
                "LOCALSTACK_HOST": listen,
                "SERVICES": ",".join(self.services),
                "EAGER_SERVICE_LOADING": "1",
                "OVERRIDE_IN_DOCKER": "0",  # host mode, even inside a container
                "DNS_ADDRESS": "0",  # no DNS server (it would bind port 53 and ask upstream)
                "FILESYSTEM_ROOT": str(self.data_dir / "filesystem"),
                "TMPDIR": str(tmp),
                "PERSISTENCE": "0",
                "DISABLE_EVENTS": "1",  # no analytics
                "SKIP_SSL_CERT_DOWNLOAD": "1",  # a local self-signed certificate
                "SKIP_INFRA_DOWNLOADS": "1",
                "LOCALSTACK_CLI": "0",
                "DEBUG": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> LocalStackServer:
        self.python = self.python or find_python()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return super().start()

    def _launch(self, port: int) -> ManagedProcess:
        return self.registry.start(
            [str(self.python), "-m", "localstack.runtime.main"],
            name="localstack",
            env=self.environment(port),
            cwd=self.data_dir,
            log_path=self.log_path,
        )

    def _wait_ready(self, process: ManagedProcess, url: str) -> None:
        def ready() -> bool:
            if not process.alive():
                raise ReadinessTimeout(f"LocalStack exited before it was ready ({url})")
            return services_ready(health(url), self.services)

        wait_until(ready, self.startup_timeout_s, interval_s=0.1, what=f"LocalStack {url}")

    def _start_failed(self, last_error: Exception | None) -> str:
        return super()._start_failed(last_error) + self._log_hint()

    def _log_hint(self) -> str:
        if self.log_path is None:
            return ""
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-10:]
        except OSError:
            return f" (log: {self.log_path})"
        return f" (log {self.log_path}, last lines: {' | '.join(tail)})"

    def health(self, timeout_s: float = 1.0) -> dict[str, Any] | None:
        return health(self.url, timeout_s=timeout_s)
