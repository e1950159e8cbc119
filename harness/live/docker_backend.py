"""`DockerBackend`: the `EnvironmentBackend` that runs each MWAA environment as containers,
for users who have a Docker engine (the `docker` extra: `pip install 'mwaa-drill[docker]'`).

    backend = DockerBackend()                 # docker.from_env(); refuses a remote engine
    service = MwaaService(backend)
    with LiveAws(regions, mwaa=service) as aws:
        backend.use_clients(lambda service, region: aws.client(service, region, direct=True))
        ...                                   # CreateEnvironment etc. through aws's proxies
    backend.close()                           # removes every container and network it made

UNVERIFIED against a Docker engine: none runs where mwaa-drill is developed and tested. Unit
tests check, with a fake client, that the containers it would create are those of
docker-compose.yml (same images, environment, command, ports, DAG mount);
tests/integration/test_docker_backend.py runs it for real and skips, saying why, when no engine
answers. The tested path is `harness.live.mwaa.airflow_backend.AirflowBackend` (processes).

One environment `(region, name)` = one container set, as one Region of docker-compose.yml:
- a user-defined bridge network `mwaa-drill-<region>.<name>` (so Airflow finds its database by
  container name, and environments cannot see each other's),
- `postgres:15` (POSTGRES_USER/PASSWORD/DB = airflow; not published),
- `apache/airflow:<AIRFLOW_VERSION>-python3.11` running `standalone` (scheduler, DAG processor,
  triggerer and API server in one container) with the compose file's settings, its own
  database, the environment's AirflowConfigurationOptions as `AIRFLOW__SECTION__KEY`, the DAG
  folder read-only at /opt/airflow/dags, and port 8080 published on 127.0.0.1 only (a free
  port; the compose file's 8081/8082 would collide between environments).
The DAG folder mirrors `s3://<SourceBucketArn>/<DagS3Path>/` of the Region as with the process
backend (synced at provision and on `sync_dags`). The SchedulerHeartbeat metric is published by
the harness (`HeartbeatPublisher`) while the scheduler heartbeat the health endpoint reports is
recent, as with the process backend. Airflow in the container gets no AWS endpoint: loopback
inside a container is the container, not the drill's fault proxies.

Every container and network carries labels (`mwaa-drill.backend`, `.region`, `.environment`,
`.owner`); `deprovision`/`close` remove what they name, and a new backend first removes the
containers of owners (pid + start time) that no longer run, e.g. a drill killed with SIGKILL,
which no process registry can clean up after when the children are containers.

`LocalStackContainer` is LiveAws's `emulator="localstack-docker"`: the compose file's `aws`
service (localstack/localstack:4) on a free loopback port.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit

from harness.live import clock, safety
from harness.live.airflow.install import AIRFLOW_VERSION
from harness.live.airflow.instance import Health, api_target, parse_health
from harness.live.heartbeat import INTERVAL_S, HeartbeatPublisher
from harness.live.localstack import health as localstack_health
from harness.live.localstack import services_ready
from harness.live.mwaa.airflow_backend import (
    DagSyncError,
    bucket_of,
    extra_config,
    instance_name,
    sync_dag_folder,
)
from harness.live.mwaa.backend import (
    INCORRECT_CONFIGURATION,
    INTERNAL_FAILURE,
    TIMED_OUT,
    BackendHealth,
    BackendUnavailable,
    ProvisionHandle,
    ProvisionStatus,
    QueryParameters,
    RestApiResult,
    ThreadedProvision,
)
from harness.live.processes import LOOPBACK, ReadinessTimeout, free_port, wait_until

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

# What docker-compose.yml says (tests/unit/test_docker_backend.py keeps the two equal).
AIRFLOW_IMAGE = f"apache/airflow:{AIRFLOW_VERSION}-python3.11"
AIRFLOW_COMMAND = "standalone"
AIRFLOW_ENVIRONMENT: Mapping[str, str] = {
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    "AIRFLOW__API_AUTH__JWT_SECRET": "mwaa-drill-local-only",
}
AIRFLOW_PORT = "8080/tcp"
DAGS_MOUNT = "/opt/airflow/dags"
POSTGRES_IMAGE = "postgres:15"
POSTGRES_ENVIRONMENT: Mapping[str, str] = {
    "POSTGRES_USER": "airflow",
    "POSTGRES_PASSWORD": "airflow",
    "POSTGRES_DB": "airflow",
}
LOCALSTACK_IMAGE = "localstack/localstack:4"
LOCALSTACK_PORT = "4566/tcp"
LOCALSTACK_ENVIRONMENT: Mapping[str, str] = {"SERVICES": "s3,cloudwatch,sts,iam,secretsmanager"}

LABEL = "mwaa-drill"
HEALTH_PATH = "/api/v2/monitor/health"

ClientFactory = Callable[[str, str], Any]
Role = Literal["postgres", "airflow", "localstack"]


class DockerUnavailable(RuntimeError):
    """No usable Docker engine (not installed, not answering, or not on this machine)."""


def sql_alchemy_conn(postgres_host: str) -> str:
    """The metadata database URL, as docker-compose.yml writes it."""
    user, password, db = (
        POSTGRES_ENVIRONMENT[k] for k in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
    )
    return f"postgresql+psycopg2://{user}:{password}@{postgres_host}/{db}"


def airflow_options_environment(options: Any) -> dict[str, str]:
    """MWAA AirflowConfigurationOptions (`section.key` -> value) as AIRFLOW__SECTION__KEY."""
    return {
        f"AIRFLOW__{section.upper()}__{key.upper()}": value
        for section, keys in extra_config(options).items()
        for key, value in keys.items()
    }


@dataclass(frozen=True)
class ContainerSpec:
    """One container as `containers.run` will create it (detached)."""

    role: Role
    name: str
    image: str
    environment: Mapping[str, str]
    command: str | None = None
    ports: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    volumes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    network: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def published(self) -> dict[str, str]:
        """Container port -> `host:port`, as a compose `ports` entry reads (host:port:cport)."""
        return {cport: f"{host}:{port}" for cport, (host, port) in self.ports.items()}

    def run(self, client: DockerClient) -> Container:
        for host, _ in self.ports.values():
            safety.check_endpoint(f"http://{host}")  # published on loopback only
        return client.containers.run(
            self.image,
            command=self.command,
            detach=True,
            name=self.name,
            hostname=self.name,
            environment=dict(self.environment),
            ports=dict(self.ports),
            volumes={source: dict(bind) for source, bind in self.volumes.items()},
            network=self.network,
            labels=dict(self.labels),
            use_config_proxy=False,
        )


def labels_for(backend_id: str, owner: str, region: str = "", name: str = "") -> dict[str, str]:
    labels = {LABEL: "true", f"{LABEL}.backend": backend_id, f"{LABEL}.owner": owner}
    if region:
        labels[f"{LABEL}.region"] = region
        labels[f"{LABEL}.environment"] = name
    return labels


def environment_specs(
    region: str,
    name: str,
    config: Mapping[str, Any],
    *,
    dags_dir: Path,
    host_port: int,
    labels: Mapping[str, str],
    host: str = LOOPBACK,
) -> tuple[ContainerSpec, ContainerSpec]:
    """The (postgres, airflow) containers of one environment, as docker-compose.yml has
    them for one Region."""
    prefix = f"{LABEL}-{instance_name(region, name)}"
    postgres = ContainerSpec(
        role="postgres",
        name=f"{prefix}-postgres",
        image=POSTGRES_IMAGE,
        environment=dict(POSTGRES_ENVIRONMENT),
        network=network_name(region, name),
        labels={**labels, f"{LABEL}.role": "postgres"},
    )
    environment = {
        **AIRFLOW_ENVIRONMENT,
        **airflow_options_environment(config.get("AirflowConfigurationOptions")),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn(postgres.name),
        "MWAA_DRILL_REGION": region,
        "MWAA_DRILL_ENVIRONMENT": name,
    }
    airflow = ContainerSpec(
        role="airflow",
        name=f"{prefix}-airflow",
        image=AIRFLOW_IMAGE,
        command=AIRFLOW_COMMAND,
        environment=environment,
        ports={AIRFLOW_PORT: (host, host_port)},
        volumes={str(dags_dir.resolve()): {"bind": DAGS_MOUNT, "mode": "ro"}},
        network=network_name(region, name),
        labels={**labels, f"{LABEL}.role": "airflow"},
    )
    return postgres, airflow


def network_name(region: str, name: str) -> str:
    return f"{LABEL}-{instance_name(region, name)}"


def localstack_spec(
    host_port: int, *, labels: Mapping[str, str], name: str | None = None, host: str = LOOPBACK
) -> ContainerSpec:
    """The compose file's `aws` service on a chosen loopback port."""
    return ContainerSpec(
        role="localstack",
        name=name or f"{LABEL}-localstack-{uuid.uuid4().hex[:8]}",
        image=LOCALSTACK_IMAGE,
        environment=dict(LOCALSTACK_ENVIRONMENT),
        ports={LOCALSTACK_PORT: (host, host_port)},
        labels={**labels, f"{LABEL}.role": "localstack"},
    )


# The engine -----------------------------------------------------------------------------------


def process_token(pid: int | None = None) -> str:
    """`<pid>-<start time>` of a process (this one by default): tells a live owner from a
    dead one whose pid was reused."""
    pid = os.getpid() if pid is None else pid
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return f"{pid}-{fields[19]}"  # field 22 of stat: starttime
    except (OSError, IndexError):
        return f"{pid}-?"


def owner_alive(token: str) -> bool:
    pid, _, _ = token.partition("-")
    if not pid.isdigit():
        return True  # not ours to judge
    return process_token(int(pid)) == token


def connect(timeout_s: int = 30) -> DockerClient:
    """`docker.from_env()`, pinged; DockerUnavailable (with why) when there is no local
    engine. A remote engine (DOCKER_HOST=tcp://elsewhere) is refused: ports published on
    its loopback would not be this machine's."""
    try:
        import docker
    except ImportError as err:
        raise DockerUnavailable(
            "the docker Python SDK is not installed: pip install 'mwaa-drill[docker]'"
        ) from err
    try:
        client = docker.from_env(timeout=timeout_s)
        client.ping()
    except Exception as err:  # DockerException, requests' errors, OSError: all "no engine"
        raise DockerUnavailable(f"no Docker engine answers: {type(err).__name__}: {err}") from err
    check_local(client)
    return client


def check_local(client: DockerClient) -> None:
    base_url = str(getattr(client.api, "base_url", ""))
    host = urlsplit(base_url).hostname or ""
    if not safety.is_loopback_host(host):
        client.close()
        raise DockerUnavailable(
            f"the Docker engine at {base_url} is not on this machine; drills only use a local one"
        )


def docker_problem() -> str | None:
    """Why no Docker engine can be used here (None: one answers)."""
    try:
        connect(timeout_s=5).close()
    except DockerUnavailable as err:
        return str(err)
    return None


def ensure_image(client: DockerClient, image: str) -> None:
    """Pull `image` unless the engine has it (bounded by the client's timeout per call)."""
    from docker.errors import ImageNotFound

    try:
        client.images.get(image)
    except ImageNotFound:
        repository, _, tag = image.rpartition(":")
        client.images.pull(repository, tag=tag)


def remove_container(container: Container, stop_timeout_s: float) -> None:
    """Stop (SIGTERM, then SIGKILL after stop_timeout_s, by the engine) and remove."""
    from docker.errors import APIError, NotFound

    with contextlib.suppress(NotFound, APIError):
        container.stop(timeout=max(1, math.ceil(stop_timeout_s)))
    with contextlib.suppress(NotFound, APIError):
        container.remove(force=True, v=True)


def sweep_orphans(client: DockerClient, stop_timeout_s: float = 5.0) -> list[str]:
    """Remove mwaa-drill containers and networks whose owner process is gone; their names."""
    from docker.errors import APIError, NotFound

    removed: list[str] = []
    for container in client.containers.list(all=True, filters={"label": f"{LABEL}.owner"}):
        owner = container.labels.get(f"{LABEL}.owner", "")
        if owner and not owner_alive(owner):
            remove_container(container, stop_timeout_s)
            removed.append(str(container.name))
    for network in client.networks.list(filters={"label": f"{LABEL}.owner"}):
        owner = (network.attrs.get("Labels") or {}).get(f"{LABEL}.owner", "")
        if owner and not owner_alive(owner):
            with contextlib.suppress(NotFound, APIError):
                network.remove()
                removed.append(str(network.name))
    return removed


# HTTP to a container's published port ---------------------------------------------------------


def http_json(
    port: int,
    method: str,
    target: str,
    *,
    body: Any = None,
    timeout_s: float,
    host: str = LOOPBACK,
) -> tuple[int, Any]:
    """One request; (status, decoded JSON / text / None). OSError when no HTTP answer."""
    headers = {"Accept": "application/json"}
    payload: bytes | None = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        conn.request(method.upper(), target, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        status = response.status
    except http.client.HTTPException as err:
        raise OSError(f"{method} {target}: {type(err).__name__}: {err}") from err
    finally:
        conn.close()
    if not data:
        return status, None
    try:
        return status, json.loads(data)
    except ValueError:
        return status, data.decode(errors="replace")


# The backend ----------------------------------------------------------------------------------


@dataclass
class _Env:
    region: str
    name: str
    config: Mapping[str, Any]
    dags: Path
    port: int
    handle: ThreadedProvision
    containers: dict[str, Container] = field(default_factory=dict)
    network: Any = None
    publisher: HeartbeatPublisher | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


class DockerBackend:
    """Every MWAA environment as a Postgres + Airflow container pair (module docstring)."""

    def __init__(
        self,
        *,
        client: DockerClient | None = None,
        clients: ClientFactory | None = None,
        work_dir: Path | None = None,
        start_timeout_s: float = 300.0,
        database_timeout_s: float = 60.0,
        stop_timeout_s: float = 10.0,
        health_timeout_s: float = 1.0,
        rest_timeout_s: float = 10.0,
        heartbeat_interval_s: float = INTERVAL_S,
        heartbeat_threshold_s: float = 30.0,
        pull: bool = True,
        sweep: bool = True,
    ) -> None:
        self._client = client
        self._clients = clients
        self._given_work_dir = work_dir
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.start_timeout_s = start_timeout_s
        self.database_timeout_s = database_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.health_timeout_s = health_timeout_s
        self.rest_timeout_s = rest_timeout_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.heartbeat_threshold_s = heartbeat_threshold_s
        self.pull = pull
        self.sweep = sweep
        self.backend_id = uuid.uuid4().hex[:12]
        self.owner = process_token()
        self._lock = threading.RLock()
        self._envs: dict[tuple[str, str], _Env] = {}
        self._closed = False
        self._swept = False
        self.errors: list[str] = []

    # Set-up -------------------------------------------------------------------------------
    def use_clients(self, clients: ClientFactory) -> None:
        """Set the boto3 client factory (`factory(service, region)`)."""
        self._clients = clients

    @property
    def client(self) -> DockerClient:
        """The Docker client (connected on first use; DockerUnavailable without an engine)."""
        with self._lock:
            if self._client is None:
                self._client = connect()
            else:
                check_local(self._client)
            if self.sweep and not self._swept:
                self._swept = True
                for removed in sweep_orphans(self._client, self.stop_timeout_s):
                    self._record(f"removed orphan {removed}")
            return self._client

    def _aws(self, service: str, region: str) -> Any:
        if self._clients is None:
            raise RuntimeError("DockerBackend has no client factory (call use_clients)")
        return self._clients(service, region)

    def _work_dir(self) -> Path:
        with self._lock:
            if self._given_work_dir is not None:
                self._given_work_dir.mkdir(parents=True, exist_ok=True)
                return self._given_work_dir
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="mwaa-drill-docker-")
            return Path(self._tmp.name)

    def specs(self, region: str, name: str) -> tuple[ContainerSpec, ContainerSpec]:
        """The containers of a provisioned environment (KeyError: unknown)."""
        with self._lock:
            env = self._envs[(region, name)]
        return self._specs(env)

    def _specs(self, env: _Env) -> tuple[ContainerSpec, ContainerSpec]:
        return environment_specs(
            env.region,
            env.name,
            env.config,
            dags_dir=env.dags,
            host_port=env.port,
            labels=labels_for(self.backend_id, self.owner, env.region, env.name),
        )

    # EnvironmentBackend -------------------------------------------------------------------
    def provision(self, region: str, name: str, config: Mapping[str, Any]) -> ProvisionHandle:
        key = (region, name)
        with self._lock:
            if self._closed:
                raise RuntimeError("DockerBackend is closed")
            if key in self._envs:
                raise RuntimeError(f"environment {name} in {region} exists already")
            handle = ThreadedProvision()
            folder = self._work_dir() / instance_name(region, name)
            env = _Env(region, name, dict(config), folder / "dags", free_port(LOOPBACK), handle)
            self._envs[key] = env
            handle.thread = threading.Thread(
                target=self._create, args=(env,), name=f"docker-create-{region}-{name}", daemon=True
            )
        handle.thread.start()
        return handle

    def update(
        self,
        region: str,
        name: str,
        config: Mapping[str, Any],
        changes: Mapping[str, Any],
    ) -> ProvisionHandle:
        return ThreadedProvision(
            ProvisionStatus.failed(
                INTERNAL_FAILURE, "UpdateEnvironment is not supported by the Docker backend"
            )
        )

    def deprovision(self, region: str, name: str) -> None:
        with self._lock:
            env = self._envs.pop((region, name), None)
        if env is not None:
            self._remove(env)

    def invoke_rest_api(
        self,
        region: str,
        name: str,
        method: str,
        path: str,
        query: QueryParameters,
        body: Any,
    ) -> RestApiResult:
        env = self._env(region, name)
        if env is None or not env.containers:
            raise BackendUnavailable(f"environment {name} in {region} has no running Airflow")
        target = api_target(path)
        if query:
            target += "?" + urlencode(dict(query), doseq=True)
        try:
            return http_json(env.port, method, target, body=body, timeout_s=self.rest_timeout_s)
        except OSError as err:
            raise BackendUnavailable(
                f"Airflow of {name} in {region} did not answer: {err}"
            ) from err

    def health(self, region: str, name: str) -> BackendHealth:
        try:
            env = self._env(region, name)
            if env is not None and env.containers and self._health(env).reachable:
                return "healthy"
        except Exception:  # never raises: an error is "unhealthy"
            return "unhealthy"
        return "unhealthy"

    # More than the protocol ---------------------------------------------------------------
    def environments(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._envs)

    def webserver_url(self, region: str, name: str) -> str | None:
        env = self._env(region, name)
        return env.url if env is not None else None

    def sync_dags(self, region: str, name: str) -> int:
        env = self._env(region, name)
        if env is None:
            raise KeyError(f"no environment {name} in {region}")
        return self._sync(env)

    def close(self, timeout_s: float = 120.0) -> None:
        """Remove every container and network of this backend; idempotent, bounded."""
        deadline = clock.Deadline.after(timeout_s)
        with self._lock:
            self._closed = True
            envs = list(self._envs.values())
            self._envs.clear()
        for env in envs:
            env.handle.cancel()
        for env in envs:
            if deadline.expired():
                self._record("close: out of time; containers may be left (labelled)")
                break
            self._remove(env, join_timeout_s=min(30.0, deadline.remaining()))
        if self._client is not None:
            self._remove_labelled({f"{LABEL}.backend={self.backend_id}"})
            with contextlib.suppress(Exception):
                self._client.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> DockerBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Internals ----------------------------------------------------------------------------
    def _env(self, region: str, name: str) -> _Env | None:
        with self._lock:
            return self._envs.get((region, name))

    def _record(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)
            del self.errors[:-50]

    def _sync(self, env: _Env) -> int:
        bucket = bucket_of(str(env.config.get("SourceBucketArn", "")))
        prefix = str(env.config.get("DagS3Path", ""))
        return sync_dag_folder(self._aws("s3", env.region), bucket, prefix, env.dags)

    def _health(self, env: _Env, timeout_s: float | None = None) -> Health:
        try:
            status, document = http_json(
                env.port, "GET", HEALTH_PATH, timeout_s=timeout_s or self.health_timeout_s
            )
        except OSError as err:
            return Health(reachable=False, error=str(err))
        return parse_health(status, document, clock.wall_time())

    def _scheduler_alive(self, env: _Env) -> bool:
        age = self._health(env).scheduler_heartbeat_age_s
        return age is not None and age <= self.heartbeat_threshold_s

    def _create(self, env: _Env) -> None:
        """The handle's thread: DAGs, images, network, database, Airflow, then health."""
        handle = env.handle
        deadline = clock.Deadline.after(self.start_timeout_s)
        try:
            try:
                self._sync(env)
            except DagSyncError as err:
                handle.settle(ProvisionStatus.failed(INCORRECT_CONFIGURATION, str(err)))
                return
            client = self.client
            postgres, airflow = self._specs(env)
            if self.pull:
                for image in (postgres.image, airflow.image):
                    ensure_image(client, image)
            with env.lock:
                if handle.cancelled.is_set():
                    return
                env.network = client.networks.create(
                    network_name(env.region, env.name),
                    driver="bridge",
                    labels=labels_for(self.backend_id, self.owner, env.region, env.name),
                )
                env.containers["postgres"] = postgres.run(client)
            self._wait_for_database(env, deadline)
            with env.lock:
                if handle.cancelled.is_set():
                    return
                env.containers["airflow"] = airflow.run(client)
                if self._clients is not None:
                    env.publisher = HeartbeatPublisher(
                        self._aws("cloudwatch", env.region),
                        env.name,
                        alive=lambda: self._scheduler_alive(env),
                        interval_s=self.heartbeat_interval_s,
                        on_error=lambda err: self._record(f"heartbeat {env.name}: {err}"),
                    ).start()
            while not handle.cancelled.is_set():
                health = self._health(env)
                age = health.scheduler_heartbeat_age_s
                if (
                    health.metadatabase_healthy
                    and age is not None
                    and age <= self.heartbeat_threshold_s
                ):
                    handle.settle(ProvisionStatus.ready(env.url))
                    return
                state = self._container_state(env.containers["airflow"])
                if state in ("exited", "dead"):
                    handle.settle(
                        ProvisionStatus.failed(
                            INTERNAL_FAILURE,
                            f"the Airflow container {state}: {self._logs(env, 'airflow')}",
                        )
                    )
                    return
                if deadline.expired():
                    handle.settle(
                        ProvisionStatus.failed(
                            TIMED_OUT,
                            f"Airflow not healthy within {self.start_timeout_s:.0f} s: "
                            f"{self._logs(env, 'airflow')}",
                        )
                    )
                    return
                handle.cancelled.wait(min(1.0, deadline.remaining()))
        except Exception as err:
            self._record(f"create {env.name} in {env.region}: {err}")
            handle.settle(ProvisionStatus.failed(INTERNAL_FAILURE, f"{type(err).__name__}: {err}"))

    def _wait_for_database(self, env: _Env, deadline: clock.Deadline) -> None:
        container = env.containers["postgres"]
        user = POSTGRES_ENVIRONMENT["POSTGRES_USER"]

        def ready() -> bool:
            if env.handle.cancelled.is_set():
                raise ReadinessTimeout("creation cancelled")
            result = container.exec_run(["pg_isready", "-U", user, "-h", "127.0.0.1"])
            return result.exit_code == 0

        wait_until(
            ready,
            min(self.database_timeout_s, deadline.remaining()),
            interval_s=0.5,
            what=f"PostgreSQL of {env.name} in {env.region}",
        )

    def _container_state(self, container: Container) -> str:
        try:
            container.reload()
            return str(container.status)
        except Exception:
            return "unknown"

    def _logs(self, env: _Env, role: str, lines: int = 8) -> str:
        container = env.containers.get(role)
        if container is None:
            return "(no container)"
        try:
            text = container.logs(tail=lines).decode(errors="replace")
        except Exception as err:
            return f"(no logs: {err})"
        return " | ".join(text.strip().splitlines()[-lines:])

    def _remove(self, env: _Env, join_timeout_s: float = 30.0) -> None:
        env.handle.cancel()
        env.handle.join(join_timeout_s)
        with env.lock:
            publisher, env.publisher = env.publisher, None
            containers = list(env.containers.values())
            env.containers.clear()
            network, env.network = env.network, None
        if publisher is not None:
            publisher.stop(timeout_s=3.0)
        for container in reversed(containers):  # Airflow before its database
            remove_container(container, self.stop_timeout_s)
        if self._client is not None:
            self._remove_labelled(
                {
                    f"{LABEL}.backend={self.backend_id}",
                    f"{LABEL}.region={env.region}",
                    f"{LABEL}.environment={env.name}",
                }
            )
        if network is not None:
            from docker.errors import APIError, NotFound

            with contextlib.suppress(NotFound, APIError):
                network.remove()
        shutil.rmtree(env.dags.parent, ignore_errors=True)

    def _remove_labelled(self, labels: set[str]) -> None:
        """Whatever containers still carry all `labels` (e.g. made by a creation thread that
        outlived its join), removed."""
        assert self._client is not None
        try:
            found = self._client.containers.list(all=True, filters={"label": sorted(labels)})
        except Exception as err:
            self._record(f"list containers {sorted(labels)}: {err}")
            return
        for container in found:
            remove_container(container, self.stop_timeout_s)


# LocalStack in a container (LiveAws emulator="localstack-docker") ------------------------------


class LocalStackContainer:
    """The compose file's `aws` service as LiveAws's emulator; same shape as LocalStackServer
    (`start`, `url`, `stop`). Removed on `stop`; a later DockerBackend/LocalStackContainer
    removes it if its owner died without stopping it."""

    def __init__(
        self,
        *,
        client: DockerClient | None = None,
        host: str = LOOPBACK,
        services: Sequence[str] = ("s3", "cloudwatch", "sts", "iam"),
        startup_timeout_s: float = 120.0,
        stop_timeout_s: float = 5.0,
        pull: bool = True,
    ) -> None:
        safety.check_endpoint(f"http://{host}")
        self._client = client
        self.host = host
        self.services = tuple(services)
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.pull = pull
        self.port: int | None = None
        self.container: Container | None = None
        self.spec: ContainerSpec | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the LocalStack container is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalStackContainer:
        client = self._client or connect()
        self._client = client
        check_local(client)
        sweep_orphans(client, self.stop_timeout_s)
        if self.pull:
            ensure_image(client, LOCALSTACK_IMAGE)
        port = free_port(self.host)
        self.spec = localstack_spec(
            port,
            labels=labels_for(f"localstack-{uuid.uuid4().hex[:8]}", process_token()),
            host=self.host,
        )
        self.container = self.spec.run(client)
        self.port = port
        try:
            wait_until(
                lambda: services_ready(localstack_health(self.url), self.services, loaded=False),
                self.startup_timeout_s,
                interval_s=0.2,
                what=f"LocalStack container at {self.url}",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        container, self.container = self.container, None
        if container is not None:
            remove_container(container, self.stop_timeout_s)
