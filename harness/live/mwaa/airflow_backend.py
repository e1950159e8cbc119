"""`AirflowBackend`: the `EnvironmentBackend` that runs every MWAA environment as real Airflow.

The environment's AirflowVersion picks the installed line (`harness.live.airflow.install`):
2.x runs on the Airflow 2.10 venv (scheduler, webserver, REST /api/v1), 3.x on the Airflow 3
venv (scheduler, dag-processor, api-server, REST /api/v2); InvokeRestApi paths are relative
to that prefix, as in MWAA. A version of neither line fails the creation
(INCORRECT_CONFIGURATION).

    backend = AirflowBackend()
    service = MwaaService(backend)
    with LiveAws(regions, mwaa=service) as aws:
        backend.use_clients(lambda service, region: aws.client(service, region, direct=True))
        ...                                  # CreateEnvironment etc. through aws's proxies
    backend.close()                          # stops every environment and the database

Each `(region, name)` environment is one `AirflowInstance` whose metadata database is made
in one `PostgresCluster` shared by all the environments of the backend (started lazily by the
first creation, stopped by `close`).

DAGs. The environment's DAGs folder (`<work_dir>/<instance>/dags`) mirrors the objects under
`s3://<SourceBucketArn's bucket>/<DagS3Path>/` of the environment's Region, read through a
boto3 S3 client of that Region from the client factory (`use_clients`; a LiveAws gives
`direct=True` clients, straight to the emulator, behind no fault: the DAG fetch of a running
environment is AWS-internal). They are synced once at provision time (before Airflow starts),
then by one bounded background thread every `dag_sync_interval_s` (None: never) for every
environment, and on demand by `sync_dags(region, name)`. A sync writes changed files
atomically (temp file + rename) and removes files whose object is gone.

Heartbeat. Each environment has a `HeartbeatPublisher` (metric AmazonMWAA/SchedulerHeartbeat,
dimension Environment=<name>) on that Region's CloudWatch client from the factory, publishing
while `instance.scheduler_alive()` (the scheduler heartbeat age the Airflow health endpoint
reports). It starts once Airflow is started and stops with the environment.

Processes. Every Airflow process of an environment has AWS_REGION and AWS_DEFAULT_REGION set
to the environment's Region (as in MWAA), plus whatever `environment_env(region, name)` gives.

Provisioning. `provision` returns at once with a handle; a thread of the handle starts the
cluster if needed, syncs the DAGs, starts Airflow and polls its health (bounded by
`start_timeout_s`). `poll()` only reads what that thread wrote: "pending" until Airflow is
healthy (`is_healthy()`), then "ready" with the API server's URL, or "failed" with the
instance's `failure()` (or the exception / timeout).

Updates. `update` (UpdateEnvironment) syncs the DAGs from the new DAG path and restarts the
environment's Airflow processes on its new AirflowConfigurationOptions (same metadata
database, ports and home: `AirflowInstance.reconfigure`), then waits until it is healthy;
the other fields (workers, schedulers, class...) are recorded and have nothing to act on
here. A failure puts the previous configuration back and reports "failed" (MWAA's
UPDATE_FAILED: the environment keeps serving). A change of AirflowVersion is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.live import clock
from harness.live.airflow.install import (
    AirflowInstallation,
    AirflowNotInstalled,
    find_installation,
    line_of,
)
from harness.live.airflow.instance import AirflowInstance, AirflowUnreachable
from harness.live.airflow.postgres import PostgresCluster
from harness.live.heartbeat import INTERVAL_S, HeartbeatPublisher
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
from harness.live.processes import ProcessRegistry

ClientFactory = Callable[[str, str], Any]
"""`factory(service, region)` -> a boto3 client of that service in that Region."""

_INSTANCE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_MAX_INSTANCE_NAME = 63
_MAX_DAG_OBJECTS = 10_000


class DagSyncError(RuntimeError):
    """The DAG bucket could not be read, or the configuration names no usable bucket."""


def bucket_of(source_bucket_arn: str) -> str:
    """The bucket name of an S3 bucket ARN (`arn:aws:s3:::name`)."""
    prefix = "arn:aws:s3:::"
    if not isinstance(source_bucket_arn, str) or not source_bucket_arn.startswith(prefix):
        raise DagSyncError(f"SourceBucketArn is not an S3 bucket ARN: {source_bucket_arn!r}")
    bucket = source_bucket_arn[len(prefix) :]
    if not bucket or "/" in bucket:
        raise DagSyncError(f"SourceBucketArn is not an S3 bucket ARN: {source_bucket_arn!r}")
    return bucket


def instance_name(region: str, name: str) -> str:
    """An `AirflowInstance` name for the environment: `<region>.<name>`, shortened with a hash
    when longer than an instance name may be."""
    full = _INSTANCE_NAME.sub("_", f"{region}.{name}")
    if len(full) <= _MAX_INSTANCE_NAME:
        return full
    digest = hashlib.sha256(f"{region}\0{name}".encode()).hexdigest()[:10]
    return f"{full[: _MAX_INSTANCE_NAME - 11]}-{digest}"


def extra_config(options: Any) -> dict[str, dict[str, str]]:
    """MWAA AirflowConfigurationOptions (`section.key` -> value) as airflow.cfg sections."""
    sections: dict[str, dict[str, str]] = {}
    if not isinstance(options, Mapping):
        return sections
    for dotted, value in options.items():
        section, _, key = str(dotted).partition(".")
        if section and key:
            sections.setdefault(section, {})[key] = str(value)
    return sections


def sync_dag_folder(s3: Any, bucket: str, prefix: str, folder: Path) -> int:
    """Make `folder` mirror the objects under `s3://bucket/prefix/`; returns the number of
    files written. Bounded: at most _MAX_DAG_OBJECTS objects. Raises DagSyncError."""
    prefix = prefix.strip("/")
    listing_prefix = f"{prefix}/" if prefix else ""
    wanted: dict[Path, str] = {}
    try:
        token: str | None = None
        for _ in range(_MAX_DAG_OBJECTS // 1000 + 1):
            kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": listing_prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = s3.list_objects_v2(**kwargs)
            for item in page.get("Contents", []):
                key = str(item["Key"])
                relative = key[len(listing_prefix) :]
                if not relative or relative.endswith("/"):
                    continue
                parts = Path(relative).parts
                if any(part in ("..", ".") for part in parts) or Path(relative).is_absolute():
                    continue
                wanted[folder.joinpath(*parts)] = key
            if not page.get("IsTruncated"):
                break
            token = page.get("NextContinuationToken")
        written = 0
        folder.mkdir(parents=True, exist_ok=True)
        for path, key in wanted.items():
            data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            with contextlib.suppress(OSError):
                if path.read_bytes() == data:
                    continue
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sync-", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
            written += 1
    except (BotoCoreError, ClientError) as err:
        raise DagSyncError(f"cannot read s3://{bucket}/{listing_prefix}: {err}") from err
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted and "__pycache__" not in path.parts:
            path.unlink(missing_ok=True)
    return written


@dataclass
class _Env:
    region: str
    name: str
    config: Mapping[str, Any]
    dags: Path
    handle: ThreadedProvision
    instance: AirflowInstance | None = None
    publisher: HeartbeatPublisher | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class AirflowBackend:
    """Every MWAA environment as a real Airflow instance (see the module docstring)."""

    def __init__(
        self,
        *,
        clients: ClientFactory | None = None,
        registry: ProcessRegistry | None = None,
        installation: AirflowInstallation | None = None,
        work_dir: Path | None = None,
        start_timeout_s: float = 180.0,
        dag_sync_interval_s: float | None = 10.0,
        heartbeat_interval_s: float = INTERVAL_S,
        heartbeat_threshold_s: float = 10.0,
        # Slow answers of a busy Airflow are not an outage (see service.REAL_AIRFLOW_HEALTH).
        health_timeout_s: float = 5.0,
        rest_timeout_s: float = 10.0,
        instance_options: Mapping[str, Any] | None = None,
        max_runtime_s: float = 24 * 3600.0,
        environment_env: Callable[[str, str], Mapping[str, str]] | None = None,
    ) -> None:
        if dag_sync_interval_s is not None and dag_sync_interval_s <= 0:
            raise ValueError("dag_sync_interval_s must be > 0 (or None)")
        self._clients = clients
        self._owns_registry = registry is None
        self.registry = registry or ProcessRegistry()
        self._installation = installation
        self._given_work_dir = work_dir
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.start_timeout_s = start_timeout_s
        self.dag_sync_interval_s = dag_sync_interval_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.heartbeat_threshold_s = heartbeat_threshold_s
        self.health_timeout_s = health_timeout_s
        self.rest_timeout_s = rest_timeout_s
        self.instance_options = dict(instance_options or {})
        self.environment_env = environment_env
        self.cluster: PostgresCluster | None = None
        self._lock = threading.RLock()
        self._cluster_lock = threading.Lock()
        self._envs: dict[tuple[str, str], _Env] = {}
        self._closed = False
        self._registry_entered = False
        self._stop_sync = threading.Event()
        self._stop_cluster = threading.Event()
        self._keeper: threading.Thread | None = None
        self.max_runtime_s = max_runtime_s
        self._sync_thread: threading.Thread | None = None
        self.errors: list[str] = []

    # Set-up -------------------------------------------------------------------------------
    def use_clients(self, clients: ClientFactory) -> None:
        """Set the client factory (e.g. once the LiveAws it comes from has started)."""
        self._clients = clients

    def _client(self, service: str, region: str) -> Any:
        if self._clients is None:
            raise RuntimeError("AirflowBackend has no client factory (call use_clients)")
        return self._clients(service, region)

    def _work_dir(self) -> Path:
        with self._lock:
            if self._given_work_dir is not None:
                self._given_work_dir.mkdir(parents=True, exist_ok=True)
                return self._given_work_dir
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="mwaa-drill-backend-")
            return Path(self._tmp.name)

    def _ensure_cluster(self) -> PostgresCluster:
        """The shared cluster, started on first use by a keeper thread that lives until
        `close`: as root the postmaster gets a parent-death signal, which Linux ties to the
        *thread* that started it, so a short-lived thread must not start it."""
        with self._cluster_lock:
            if self._closed:
                raise RuntimeError("AirflowBackend is closed")
            if self.cluster is None:
                with self._lock:
                    if self._owns_registry and not self._registry_entered:
                        self.registry.__enter__()
                        self._registry_entered = True
                cluster = PostgresCluster(self.registry)
                started = threading.Event()
                failure: list[BaseException] = []
                self._keeper = threading.Thread(
                    target=self._keep_cluster,
                    args=(cluster, started, failure),
                    name="mwaa-postgres-keeper",
                    daemon=True,
                )
                self._keeper.start()
                if not started.wait(timeout=cluster.startup_timeout_s * cluster.attempts + 60):
                    raise RuntimeError("the PostgreSQL cluster did not start in time")
                if failure:
                    raise RuntimeError(f"the PostgreSQL cluster did not start: {failure[0]}")
                self.cluster = cluster
            return self.cluster

    def _keep_cluster(
        self, cluster: PostgresCluster, started: threading.Event, failure: list[BaseException]
    ) -> None:
        try:
            cluster.start()
        except BaseException as err:
            failure.append(err)
            started.set()
            return
        started.set()
        try:
            self._stop_cluster.wait(timeout=self.max_runtime_s)
        finally:
            try:
                cluster.stop()
            except Exception as err:
                self._record(f"stop PostgreSQL cluster: {err}")

    def _ensure_sync_thread(self) -> None:
        with self._lock:
            if self.dag_sync_interval_s is None or self._sync_thread is not None or self._closed:
                return
            self._sync_thread = threading.Thread(
                target=self._sync_loop, name="mwaa-dag-sync", daemon=True
            )
            self._sync_thread.start()

    # EnvironmentBackend -------------------------------------------------------------------
    def provision(self, region: str, name: str, config: Mapping[str, Any]) -> ProvisionHandle:
        key = (region, name)
        with self._lock:
            if self._closed:
                raise RuntimeError("AirflowBackend is closed")
            if key in self._envs:
                raise RuntimeError(f"environment {name} in {region} exists already")
            handle = ThreadedProvision()
            folder = self._work_dir() / instance_name(region, name)
            env = _Env(region, name, dict(config), folder / "dags", handle)
            self._envs[key] = env
            handle.thread = threading.Thread(
                target=self._create, args=(env,), name=f"mwaa-create-{region}-{name}", daemon=True
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
        with self._lock:
            env = self._envs.get((region, name))
        if env is None or env.instance is None:
            return ThreadedProvision(
                ProvisionStatus.failed(INTERNAL_FAILURE, f"environment {name} is not running")
            )
        version = changes.get("AirflowVersion")
        if version is not None and version != env.config.get("AirflowVersion"):
            # MWAA upgrades in place; here an environment runs on the venv of its line.
            return ThreadedProvision(
                ProvisionStatus.failed(
                    INTERNAL_FAILURE,
                    "an Airflow version change is not supported by the Airflow backend",
                )
            )
        handle = ThreadedProvision()
        handle.thread = threading.Thread(
            target=self._update,
            args=(env, env.instance, dict(config), handle),
            name=f"mwaa-update-{region}-{name}",
            daemon=True,
        )
        handle.thread.start()
        return handle

    def deprovision(self, region: str, name: str) -> None:
        with self._lock:
            env = self._envs.pop((region, name), None)
        if env is not None:
            self._stop_env(env)

    def invoke_rest_api(
        self,
        region: str,
        name: str,
        method: str,
        path: str,
        query: QueryParameters,
        body: Any,
    ) -> RestApiResult:
        instance = self._instance(region, name)
        if instance is None:
            raise BackendUnavailable(f"environment {name} in {region} has no running Airflow")
        try:
            return instance.rest(
                method, path, query=query, body=body, timeout_s=self.rest_timeout_s
            )
        except (AirflowUnreachable, OSError, RuntimeError) as err:
            raise BackendUnavailable(
                f"Airflow of {name} in {region} did not answer: {err}"
            ) from err

    def health(self, region: str, name: str) -> BackendHealth:
        try:
            instance = self._instance(region, name)
            if instance is None:
                return "unhealthy"
            if instance.health(timeout_s=self.health_timeout_s).reachable:
                return "healthy"
        except Exception:  # never raises: an error is "unhealthy"
            return "unhealthy"
        return "unhealthy"

    # More than the protocol ---------------------------------------------------------------
    def installation_for(self, airflow_version: str) -> AirflowInstallation:
        """The installation serving an AirflowVersion: the one given to the backend when it
        is of that line, else the line's own venv. ValueError (no such line) or
        AirflowNotInstalled."""
        line = line_of(airflow_version)
        if self._installation is not None and self._installation.line == line:
            return self._installation
        return find_installation(line=line)

    def instance(self, region: str, name: str) -> AirflowInstance | None:
        """The Airflow instance of the environment (None: unknown, or not started yet)."""
        return self._instance(region, name)

    def publisher(self, region: str, name: str) -> HeartbeatPublisher | None:
        with self._lock:
            env = self._envs.get((region, name))
        return env.publisher if env is not None else None

    def environments(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._envs)

    def sync_dags(self, region: str, name: str) -> int:
        """Sync the environment's DAGs folder from its DAG bucket now; returns the number of
        files written. Raises KeyError (unknown environment) or DagSyncError."""
        with self._lock:
            env = self._envs.get((region, name))
        if env is None:
            raise KeyError(f"no environment {name} in {region}")
        return self._sync(env)

    def close(self, timeout_s: float = 60.0) -> None:
        """Stop every environment, the sync thread and the PostgreSQL cluster; remove the work
        directory if it was a temporary one. Idempotent, bounded."""
        deadline = clock.Deadline.after(timeout_s)
        with self._lock:
            self._closed = True
            envs = list(self._envs.values())
            self._envs.clear()
            sync_thread, self._sync_thread = self._sync_thread, None
        self._stop_sync.set()
        for env in envs:
            env.handle.cancel()
        for env in envs:
            self._stop_env(env, join_timeout_s=min(30.0, deadline.remaining()))
        if sync_thread is not None:
            sync_thread.join(timeout=min(10.0, deadline.remaining()))
        with self._cluster_lock:
            self.cluster = None
            keeper, self._keeper = self._keeper, None
        self._stop_cluster.set()
        try:
            if keeper is not None:
                keeper.join(timeout=max(15.0, deadline.remaining()))
        finally:
            if self._owns_registry and self._registry_entered:
                self.registry.close()
                self._registry_entered = False
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    def __enter__(self) -> AirflowBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Internals ----------------------------------------------------------------------------
    def _instance(self, region: str, name: str) -> AirflowInstance | None:
        with self._lock:
            env = self._envs.get((region, name))
        return env.instance if env is not None else None

    def _record(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)
            del self.errors[:-50]

    def _sync(self, env: _Env) -> int:
        bucket = bucket_of(str(env.config.get("SourceBucketArn", "")))
        prefix = str(env.config.get("DagS3Path", ""))
        return sync_dag_folder(self._client("s3", env.region), bucket, prefix, env.dags)

    def _update(
        self,
        env: _Env,
        instance: AirflowInstance,
        config: dict[str, Any],
        handle: ThreadedProvision,
    ) -> None:
        """The update's thread: DAGs from the (new) DAG path, Airflow restarted on the new
        configuration options, then health (bounded). On failure the environment goes back to
        its previous configuration and serves again (MWAA's UPDATE_FAILED)."""
        previous = env.config
        try:
            with env.lock:
                env.config = config
                self._sync(env)
                instance.reconfigure(extra_config(config.get("AirflowConfigurationOptions")))
            self._wait_restarted(instance, clock.monotonic())
            handle.settle(ProvisionStatus.ready(instance.url))
        except Exception as err:
            self._record(f"update {env.name} in {env.region}: {err}")
            with env.lock:
                env.config = previous
                with contextlib.suppress(Exception):
                    self._sync(env)
                    instance.reconfigure(extra_config(previous.get("AirflowConfigurationOptions")))
            handle.settle(ProvisionStatus.failed(INTERNAL_FAILURE, f"{type(err).__name__}: {err}"))

    def _wait_restarted(self, instance: AirflowInstance, restarted: float) -> None:
        """Until the restarted Airflow is healthy with a scheduler heartbeat newer than the
        restart (the old scheduler's last one can still look recent). Bounded."""
        deadline = clock.Deadline.after(self.start_timeout_s)
        while True:
            problem = instance.failure()
            if problem:
                raise RuntimeError(problem)
            health = instance.health(timeout_s=self.health_timeout_s)
            age = health.scheduler_heartbeat_age_s
            fresh = age is not None and age <= clock.monotonic() - restarted
            if fresh and instance.is_healthy(health):
                return
            if deadline.expired():
                raise RuntimeError(
                    f"Airflow not healthy within {self.start_timeout_s:.0f} s of the restart"
                )
            clock.sleep(min(0.5, deadline.remaining()))

    def _create(self, env: _Env) -> None:
        """The handle's thread: cluster, DAGs, Airflow, then health until ready (bounded)."""
        handle = env.handle
        deadline = clock.Deadline.after(self.start_timeout_s)
        try:
            try:
                self._sync(env)
            except DagSyncError as err:
                handle.settle(ProvisionStatus.failed(INCORRECT_CONFIGURATION, str(err)))
                return
            try:
                installation = self.installation_for(str(env.config.get("AirflowVersion", "")))
            except (ValueError, AirflowNotInstalled) as err:
                handle.settle(ProvisionStatus.failed(INCORRECT_CONFIGURATION, str(err)))
                return
            cluster = self._ensure_cluster()
            options = dict(self.instance_options)
            options.setdefault("heartbeat_threshold_s", self.heartbeat_threshold_s)
            options.setdefault("installation", installation)
            with env.lock:
                if handle.cancelled.is_set():
                    return
                process_env = {"AWS_REGION": env.region, "AWS_DEFAULT_REGION": env.region}
                if self.environment_env is not None:
                    process_env.update(self.environment_env(env.region, env.name))
                instance = AirflowInstance(
                    self.registry,
                    extra_env=process_env,
                    name=instance_name(env.region, env.name),
                    dags_folder=env.dags,
                    postgres=cluster,
                    extra_config=extra_config(env.config.get("AirflowConfigurationOptions")),
                    **options,
                )
                env.instance = instance
                instance.start()
                env.publisher = HeartbeatPublisher(
                    self._client("cloudwatch", env.region),
                    env.name,
                    alive=lambda: instance.scheduler_alive(timeout_s=self.health_timeout_s),
                    interval_s=self.heartbeat_interval_s,
                    on_error=lambda err: self._record(f"heartbeat {env.name}: {err}"),
                ).start()
            self._ensure_sync_thread()
            while not handle.cancelled.is_set():
                problem = instance.failure()
                if problem:
                    handle.settle(ProvisionStatus.failed(INTERNAL_FAILURE, problem))
                    return
                if instance.migrated() and instance.is_healthy(
                    instance.health(timeout_s=self.health_timeout_s)
                ):
                    handle.settle(ProvisionStatus.ready(instance.url))
                    return
                if deadline.expired():
                    handle.settle(
                        ProvisionStatus.failed(
                            TIMED_OUT,
                            f"Airflow not healthy within {self.start_timeout_s:.0f} s; "
                            f"{instance.profile.api_process} log: "
                            f"{instance.log_tail(instance.profile.api_process, 5)}",
                        )
                    )
                    return
                handle.cancelled.wait(min(0.5, deadline.remaining()))
        except Exception as err:
            self._record(f"create {env.name} in {env.region}: {err}")
            handle.settle(ProvisionStatus.failed(INTERNAL_FAILURE, f"{type(err).__name__}: {err}"))

    def _stop_env(self, env: _Env, join_timeout_s: float = 30.0) -> None:
        env.handle.cancel()
        env.handle.join(join_timeout_s)
        with env.lock:
            publisher, env.publisher = env.publisher, None
            instance, env.instance = env.instance, None
        if publisher is not None:
            publisher.stop(timeout_s=3.0)
        if instance is not None:
            try:
                instance.stop()
            except Exception as err:
                self._record(f"stop {env.name} in {env.region}: {err}")
        shutil.rmtree(env.dags.parent, ignore_errors=True)

    def _sync_loop(self) -> None:
        interval = self.dag_sync_interval_s or 10.0
        while not self._stop_sync.wait(interval):
            with self._lock:
                envs = [env for env in self._envs.values() if env.instance is not None]
            for env in envs:
                if self._stop_sync.is_set():
                    return
                try:
                    self._sync(env)
                except Exception as err:  # a failed sync is retried next time
                    self._record(f"DAG sync {env.name} in {env.region}: {err}")
