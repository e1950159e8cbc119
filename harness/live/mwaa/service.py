"""`MwaaService`: the MWAA control plane of every Region, without HTTP.

It keeps the environments of each Region apart (an environment is keyed by `(region, name)`;
the same name in two Regions is two environments), drives their status through MWAA's
lifecycle with an `EnvironmentBackend` doing the work, and answers the MWAA operations with
MWAA's error codes (`MwaaError`). `harness.live.mwaa_api` serves it over HTTP.

Statuses and what moves them:

    CreateEnvironment  -> CREATING -> AVAILABLE | CREATE_FAILED
    UpdateEnvironment  -> UPDATING -> AVAILABLE | UPDATE_FAILED     (from AVAILABLE, UPDATE_FAILED)
    DeleteEnvironment  -> DELETING -> DELETED, then gone (404)     (not while CREATING,
                                                                    UPDATING or DELETING)
    health checks      AVAILABLE | UPDATE_FAILED -> UNAVAILABLE -> AVAILABLE

A creation takes the backend's time plus `create_delay_s` on top of it (sampled per creation
with the service's seeded RNG: a number, or a function of a `random.Random`), so that AWS's
20-30 minutes can be mimicked in compressed form; CREATE_FAILED arrives after the same delay.
Updates and deletions likewise get `update_delay_s` and `delete_delay_s`. A creation that
`failures` (the scenario fault create_environment_failure) dooms is provisioned as usual (so it
takes its usual time; `provision_doomed=False` skips the backend and takes only the delay),
then deprovisioned and reported CREATE_FAILED with the fault's error in LastUpdate.Error.

Every status change is reported to `on_state(region, name, status, t)` (t: drill seconds on the
service's clock), in order, while the service's lock is held: the callback must be quick and
must not call the service.

Error codes (botocore's mwaa model lists, per operation, which ones exist):
- ResourceNotFoundException (404): no such environment in the Region (Get, Update, Delete,
  InvokeRestApi, tokens, tags).
- ValidationException (400): a bad request, a name that already exists in the Region (even
  CREATE_FAILED: CreateEnvironment models no conflict error, and the simulator uses
  ValidationException the same way), an operation the current status does not allow
  (deleting while CREATING, InvokeRestApi while not AVAILABLE), a bad NextToken.
- RestApiClientException / RestApiServerException (HTTP 400, as the model says, so botocore
  does not retry them): Airflow answered 4xx / 5xx, or (502) did not answer.
- InternalServerException (500): a bug of the backend or of the service.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from harness.live import clock as live_clock
from harness.live.mwaa.backend import (
    INTERNAL_FAILURE,
    TIMED_OUT,
    BackendHealth,
    BackendUnavailable,
    EnvironmentBackend,
    ProvisionHandle,
    ProvisionStatus,
    QueryParameters,
)
from harness.live.mwaa.faults import CreateFailureFaults, InjectedFailure
from harness.live.mwaa.restore_faults import RestoreFailureFaults

log = logging.getLogger(__name__)

# MWAA's EnvironmentStatus values.
CREATING = "CREATING"
CREATE_FAILED = "CREATE_FAILED"
AVAILABLE = "AVAILABLE"
UPDATING = "UPDATING"
DELETING = "DELETING"
DELETED = "DELETED"
UNAVAILABLE = "UNAVAILABLE"
UPDATE_FAILED = "UPDATE_FAILED"
ROLLING_BACK = "ROLLING_BACK"
CREATING_SNAPSHOT = "CREATING_SNAPSHOT"
PENDING = "PENDING"
MAINTENANCE = "MAINTENANCE"
ENVIRONMENT_STATUSES = (
    CREATING,
    CREATE_FAILED,
    AVAILABLE,
    UPDATING,
    DELETING,
    DELETED,
    UNAVAILABLE,
    UPDATE_FAILED,
    ROLLING_BACK,
    CREATING_SNAPSHOT,
    PENDING,
    MAINTENANCE,
)
SERVING = frozenset({AVAILABLE, UPDATE_FAILED})  # InvokeRestApi works
DELETABLE = frozenset({AVAILABLE, CREATE_FAILED, UPDATE_FAILED, UNAVAILABLE})
UPDATABLE = frozenset({AVAILABLE, UPDATE_FAILED})

# HTTP status per error code (botocore's mwaa model; the authentication ones are AWS's usual).
ERROR_STATUS: Mapping[str, int] = {
    "ResourceNotFoundException": 404,
    "ValidationException": 400,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
    "AccessDeniedException": 403,
    "RestApiClientException": 400,
    "RestApiServerException": 400,
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 403,
    "InvalidSignatureException": 403,
    "UnknownOperationException": 404,
}

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account


class HealthPolicy(TypedDict):
    """How often the service checks an environment's health, and how many failed checks in a
    row make it UNAVAILABLE (keyword arguments of MwaaService)."""

    health_interval_s: float
    unhealthy_after: int


# For real Airflow (AirflowBackend): a busy Airflow on a small machine answers slowly for a few
# seconds at times (CI saw two 1 s checks fail in a row while a task started); MWAA does not
# call an environment UNAVAILABLE for that either. MwaaService(backend, **REAL_AIRFLOW_HEALTH).
REAL_AIRFLOW_HEALTH: HealthPolicy = {"health_interval_s": 2.0, "unhealthy_after": 5}


DEFAULT_CONFIG: Mapping[str, Any] = {
    "AirflowVersion": "3.0.6",
    "EnvironmentClass": "mw1.small",
    "MaxWorkers": 10,
    "MinWorkers": 1,
    "Schedulers": 2,
    "WebserverAccessMode": "PRIVATE_ONLY",
    "EndpointManagement": "SERVICE",
}
# Request fields an environment keeps and GetEnvironment shows.
CONFIG_FIELDS = (
    "ExecutionRoleArn",
    "SourceBucketArn",
    "DagS3Path",
    "NetworkConfiguration",
    "PluginsS3Path",
    "PluginsS3ObjectVersion",
    "RequirementsS3Path",
    "RequirementsS3ObjectVersion",
    "StartupScriptS3Path",
    "StartupScriptS3ObjectVersion",
    "AirflowConfigurationOptions",
    "EnvironmentClass",
    "MaxWorkers",
    "MinWorkers",
    "KmsKey",
    "AirflowVersion",
    "LoggingConfiguration",
    "WeeklyMaintenanceWindowStart",
    "WebserverAccessMode",
    "Schedulers",
    "EndpointManagement",
    "MinWebservers",
    "MaxWebservers",
    "IdentityCenterConfiguration",
    "Teams",
)
UPDATE_ONLY_FIELDS = ("WorkerReplacementStrategy",)
REST_METHODS = frozenset({"GET", "PUT", "POST", "PATCH", "DELETE"})
MAX_LIST_RESULTS = 25
MAX_TAGS = 50

_NAME = re.compile(r"^[a-zA-Z][0-9a-zA-Z_-]{0,79}$")
_BUCKET_ARN = re.compile(r"^arn:aws(-[a-z]+)?:s3:::[a-z0-9.\-]+$")
_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-/]+$")
_ENV_ARN = re.compile(r"^arn:aws(-[a-z]+)?:airflow:([a-z0-9\-]+):(\d{12}):environment/(.+)$")
_CONFIG_KEY = re.compile(r"^[a-z]+([a-z0-9._]*[a-z0-9_]+)?$")

DelayPolicy = float | Callable[[random.Random], float]
StateListener = Callable[[str, str, str, float], None]


class MwaaError(Exception):
    """An MWAA error answer: `code` (x-amzn-ErrorType), HTTP `status`, message and any
    modeled fields of the error shape (RestApiStatusCode, RestApiResponse)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = ERROR_STATUS.get(code, 500) if status is None else status
        self.fields = dict(fields or {})


def _not_found(region: str, name: str) -> MwaaError:
    return MwaaError("ResourceNotFoundException", f"Environment {name} not found in {region}.")


def _invalid(message: str) -> MwaaError:
    return MwaaError("ValidationException", message)


class DrillClock(Protocol):
    """What the service needs of a clock (`harness.live.clock.LiveClock` is one)."""

    def now(self) -> float: ...

    def wall_of(self, t: float) -> float: ...


@dataclass
class _Operation:
    """The creation, update or deletion in progress on an environment."""

    kind: str  # create | update | delete
    started_t: float
    extra_delay_s: float
    timeout_s: float
    handle: ProvisionHandle | None = None
    result: ProvisionStatus | None = None  # the backend's final word
    backend_done_t: float | None = None
    injected: InjectedFailure | None = None
    new_config: dict[str, Any] | None = None  # update
    changes: dict[str, Any] | None = None  # update


@dataclass
class _Environment:
    region: str
    name: str
    arn: str
    config: dict[str, Any]
    tags: dict[str, str]
    created_at: float  # Unix time
    status: str = ""
    generation: int = 0
    webserver_url: str | None = None
    last_update: dict[str, Any] | None = None
    op: _Operation | None = None
    unhealthy_count: int = 0
    health_checked_t: float = float("-inf")
    host_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


class MwaaService:
    """MWAA environments of every Region, driven through an EnvironmentBackend."""

    def __init__(
        self,
        backend: EnvironmentBackend,
        *,
        clock: DrillClock | None = None,
        on_state: StateListener | None = None,
        failures: CreateFailureFaults | None = None,
        restore_failures: RestoreFailureFaults | None = None,
        create_delay_s: DelayPolicy = 0.0,
        update_delay_s: DelayPolicy = 0.0,
        delete_delay_s: DelayPolicy = 0.0,
        create_timeout_s: float = 1800.0,
        update_timeout_s: float = 1800.0,
        provision_doomed: bool = True,
        poll_interval_s: float = 0.05,
        health_interval_s: float = 1.0,
        unhealthy_after: int = 2,
        account_id: str = DEFAULT_ACCOUNT_ID,
        defaults: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        if unhealthy_after < 1:
            raise ValueError("unhealthy_after must be >= 1")
        if poll_interval_s <= 0 or health_interval_s <= 0:
            raise ValueError("poll and health intervals must be > 0")
        self.backend = backend
        self.clock: DrillClock = clock or live_clock.LiveClock()
        self.failures = failures
        self.restore_failures = restore_failures
        self.create_delay_s = create_delay_s
        self.update_delay_s = update_delay_s
        self.delete_delay_s = delete_delay_s
        self.create_timeout_s = create_timeout_s
        self.update_timeout_s = update_timeout_s
        self.provision_doomed = provision_doomed
        self.poll_interval_s = poll_interval_s
        self.health_interval_s = health_interval_s
        self.unhealthy_after = unhealthy_after
        self.account_id = account_id
        self.defaults = dict(DEFAULT_CONFIG if defaults is None else defaults)
        self._rng = random.Random(seed)
        self._listeners: list[StateListener] = [on_state] if on_state else []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._envs: dict[tuple[str, str], _Environment] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._workers: set[threading.Thread] = set()
        # Backend work (provision, update, deprovision) of one (region, name) never overlaps.
        self._backend_locks: dict[tuple[str, str], threading.Lock] = {}
        self.errors: list[str] = []  # backend failures the service swallowed (for reports)

    # Lifecycle ----------------------------------------------------------------------------
    def start(self) -> MwaaService:
        with self._lock:
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="mwaa-reconciler", daemon=True
                )
                self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the reconciler and wait (bounded) for workers in flight. Environments are left
        as they are: the backend's owner stops what runs them."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        deadline = live_clock.Deadline.after(timeout_s)
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=deadline.remaining())
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout=deadline.remaining())

    def __enter__(self) -> MwaaService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_listener(self, listener: StateListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def now(self) -> float:
        return self.clock.now()

    # The operations -----------------------------------------------------------------------
    def create_environment(
        self,
        region: str,
        name: str,
        request: Mapping[str, Any],
        *,
        extra_delay_s: float | None = None,
    ) -> str:
        """CreateEnvironment; returns the ARN. The environment is CREATING on return.
        `extra_delay_s` overrides `create_delay_s` for this creation (e.g. 0 for the
        environments a drill sets up before it starts)."""
        _check_name(name)
        config = self._validated_create(request)
        tags = _check_tags(request.get("Tags") or {})
        with self._lock:
            existing = self._envs.get((region, name))
            if existing is not None:
                raise _invalid(
                    f"Environment {name} already exists in {region} (status {existing.status})."
                )
            injected = self.failures.draw(region) if self.failures is not None else None
            t = self.now()
            env = _Environment(
                region=region,
                name=name,
                arn=self.arn(region, name),
                config=config,
                tags=tags,
                created_at=self.clock.wall_of(t),
            )
            env.op = _Operation(
                "create",
                started_t=t,
                extra_delay_s=(
                    self._sample(self.create_delay_s)
                    if extra_delay_s is None
                    else max(0.0, extra_delay_s)
                ),
                timeout_s=self.create_timeout_s,
                injected=injected,
            )
            self._envs[(region, name)] = env
            self._set_status(env, CREATING, t)
            if injected is not None and not self.provision_doomed:
                env.op.result = ProvisionStatus.failed(injected.error_code, injected.error_message)
                env.op.backend_done_t = t
            else:
                full = {**config, "Name": name, "Arn": env.arn, "Tags": dict(tags)}
                self._spawn(self._provision_worker, env, env.op, full)
        return env.arn

    def get_environment(self, region: str, name: str) -> dict[str, Any]:
        """GetEnvironment's `Environment`."""
        with self._lock:
            env = self._require(region, name)
            self._advance(env)
            env = self._require(region, name)
            return self._describe(env)

    def list_environments(
        self, region: str, max_results: int | None = None, next_token: str | None = None
    ) -> tuple[list[str], str | None]:
        """ListEnvironments: names in the Region, sorted, in pages of `max_results` (1-25)."""
        limit = MAX_LIST_RESULTS if max_results is None else max_results
        if not 1 <= limit <= MAX_LIST_RESULTS:
            raise _invalid(f"MaxResults must be between 1 and {MAX_LIST_RESULTS}.")
        after = _decode_token(next_token, region) if next_token else None
        with self._lock:
            names = sorted(n for (r, n) in self._envs if r == region)
        if after is not None:
            names = [n for n in names if n > after]
        page = names[:limit]
        token = _encode_token(region, page[-1]) if len(names) > limit else None
        return page, token

    def update_environment(self, region: str, name: str, request: Mapping[str, Any]) -> str:
        """UpdateEnvironment; returns the ARN. The environment is UPDATING on return."""
        _check_name(name)
        changes = {
            k: v
            for k, v in request.items()
            if k in (*CONFIG_FIELDS, *UPDATE_ONLY_FIELDS) and v is not None
        }
        unknown = sorted(k for k in request if k not in changes and k != "Name")
        if unknown:
            raise _invalid(f"Unknown or read-only fields: {', '.join(unknown)}.")
        _check_config(changes, creating=False)
        with self._lock:
            env = self._require(region, name)
            self._advance(env)
            env = self._require(region, name)
            if env.status not in UPDATABLE:
                raise _invalid(f"Environment {name} is {env.status}; it cannot be updated now.")
            t = self.now()
            new_config = _merge_config(env.config, changes)
            env.op = _Operation(
                "update",
                started_t=t,
                extra_delay_s=self._sample(self.update_delay_s),
                timeout_s=self.update_timeout_s,
                new_config=new_config,
                changes=changes,
            )
            env.last_update = {"Status": "PENDING", "CreatedAt": self.clock.wall_of(t)}
            if "WorkerReplacementStrategy" in changes:
                env.last_update["WorkerReplacementStrategy"] = changes["WorkerReplacementStrategy"]
            self._set_status(env, UPDATING, t)
            full = {**new_config, "Name": name, "Arn": env.arn, "Tags": dict(env.tags)}
            self._spawn(self._update_worker, env, env.op, full, dict(changes))
            return env.arn

    def delete_environment(self, region: str, name: str) -> None:
        """DeleteEnvironment. The environment is DELETING on return, gone later."""
        with self._lock:
            env = self._require(region, name)
            self._advance(env)
            env = self._require(region, name)
            if env.status not in DELETABLE:
                raise _invalid(f"Environment {name} is {env.status}; it cannot be deleted now.")
            t = self.now()
            env.op = _Operation(
                "delete",
                started_t=t,
                extra_delay_s=self._sample(self.delete_delay_s),
                timeout_s=float("inf"),
            )
            self._set_status(env, DELETING, t)
            self._spawn(self._delete_worker, env, env.op)

    def invoke_rest_api(
        self,
        region: str,
        name: str,
        *,
        path: str,
        method: str,
        query: Any = None,
        body: Any = None,
    ) -> tuple[int, Any]:
        """InvokeRestApi: (RestApiStatusCode, RestApiResponse) for a 2xx/3xx answer; raises
        RestApiClientException / RestApiServerException for 4xx / 5xx (and 502 when the
        environment's Airflow gives no answer)."""
        if method not in REST_METHODS:
            raise _invalid(f"Method must be one of {', '.join(sorted(REST_METHODS))}.")
        if not isinstance(path, str) or not 1 <= len(path) <= 64 or not path.startswith("/"):
            raise _invalid("Path must be 1 to 64 characters and start with '/'.")
        normalized = _normalize_query(query)
        with self._lock:
            env = self._require(region, name)
            self._advance(env)
            env = self._require(region, name)
            if env.status not in SERVING:
                raise _invalid(
                    f"Environment {name} is {env.status}; the Airflow REST API is not available."
                )
        if self.restore_failures is not None and self.restore_failures.fails(
            region, method, path, body
        ):
            raise MwaaError(
                "RestApiServerException",
                "The Apache Airflow REST API answered 500.",
                fields={
                    "RestApiStatusCode": 500,
                    "RestApiResponse": {"detail": "injected: restore_failure"},
                },
            )
        try:
            status, response = self.backend.invoke_rest_api(
                region, name, method, path, normalized, body
            )
        except BackendUnavailable as err:
            raise MwaaError(
                "RestApiServerException",
                "The Apache Airflow web server did not answer.",
                fields={"RestApiStatusCode": 502, "RestApiResponse": {"detail": str(err)}},
            ) from err
        except Exception as err:
            log.exception("backend invoke_rest_api failed")
            raise MwaaError("InternalServerException", f"Internal server error: {err}") from err
        status = int(status)
        if status >= 500:
            code = "RestApiServerException"
        elif status >= 400:
            code = "RestApiClientException"
        else:
            return status, response
        raise MwaaError(
            code,
            f"The Apache Airflow REST API answered {status}.",
            fields={"RestApiStatusCode": status, "RestApiResponse": response},
        )

    def create_cli_token(self, region: str, name: str) -> dict[str, Any]:
        with self._lock:
            env = self._require(region, name)
            return {
                "CliToken": "mwaa-drill-cli-" + uuid.uuid4().hex,
                "WebServerHostname": self._hostname(env),
            }

    def create_web_login_token(self, region: str, name: str, identity: str) -> dict[str, Any]:
        with self._lock:
            env = self._require(region, name)
            return {
                "WebToken": "mwaa-drill-web-" + uuid.uuid4().hex,
                "WebServerHostname": self._hostname(env),
                "IamIdentity": identity,
                "AirflowIdentity": "admin",
            }

    def tag_resource(self, region: str, arn: str, tags: Mapping[str, Any]) -> None:
        checked = _check_tags(tags)
        with self._lock:
            env = self._by_arn(region, arn)
            merged = {**env.tags, **checked}
            if len(merged) > MAX_TAGS:
                raise _invalid(f"An environment has at most {MAX_TAGS} tags.")
            env.tags = merged

    def untag_resource(self, region: str, arn: str, keys: Iterable[str]) -> None:
        with self._lock:
            env = self._by_arn(region, arn)
            for key in keys:
                env.tags.pop(key, None)

    def list_tags_for_resource(self, region: str, arn: str) -> dict[str, str]:
        with self._lock:
            return dict(self._by_arn(region, arn).tags)

    # Helpers for drills and tests ----------------------------------------------------------
    def arn(self, region: str, name: str) -> str:
        return f"arn:aws:airflow:{region}:{self.account_id}:environment/{name}"

    def status(self, region: str, name: str) -> str | None:
        """The environment's status, or None when there is none."""
        with self._lock:
            env = self._envs.get((region, name))
            if env is None:
                return None
            self._advance(env)
            current = self._envs.get((region, name))
            return current.status if current is not None else None

    def environments(self, region: str | None = None) -> list[tuple[str, str, str]]:
        """(region, name, status) of every environment, sorted."""
        with self._lock:
            return sorted(
                (r, n, e.status)
                for (r, n), e in self._envs.items()
                if region is None or r == region
            )

    def wait_for_status(
        self, region: str, name: str, statuses: Iterable[str | None], timeout_s: float
    ) -> str | None:
        """Wait until the status is one of `statuses` (None: gone); returns it. Raises
        TimeoutError after `timeout_s`."""
        wanted = set(statuses)
        deadline = live_clock.Deadline.after(timeout_s)
        with self._changed:
            while True:
                current = self.status(region, name)
                if current in wanted:
                    return current
                if deadline.expired() or self._stop.is_set():
                    raise TimeoutError(
                        f"{name} in {region}: status {current}, not {sorted(map(str, wanted))} "
                        f"within {timeout_s:.1f} s"
                    )
                self._changed.wait(min(self.poll_interval_s, deadline.remaining()))

    def tick(self) -> None:
        """One reconcile pass: advance operations, then health checks where due."""
        with self._lock:
            envs = list(self._envs.values())
            for env in envs:
                self._advance(env)
            now = self.now()
            due = [
                (env, env.generation)
                for env in envs
                if self._current(env)
                and env.status in (*SERVING, UNAVAILABLE)
                and env.op is None
                and now - env.health_checked_t >= self.health_interval_s
            ]
            for env, _ in due:
                env.health_checked_t = now
        for env, generation in due:
            health = self._health(env)
            with self._lock:
                if self._current(env) and env.generation == generation:
                    self._apply_health(env, health)

    # Internals ----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            try:
                self.tick()
            except Exception as err:  # keep reconciling whatever one pass did
                log.exception("mwaa reconciler pass failed")
                self.errors.append(f"reconciler: {err!r}")

    def _sample(self, policy: DelayPolicy) -> float:
        value = policy(self._rng) if callable(policy) else policy
        return max(0.0, float(value))

    def _require(self, region: str, name: str) -> _Environment:
        env = self._envs.get((region, name))
        if env is None:
            raise _not_found(region, name)
        return env

    def _current(self, env: _Environment) -> bool:
        return self._envs.get((env.region, env.name)) is env

    def _by_arn(self, region: str, arn: str) -> _Environment:
        match = _ENV_ARN.match(arn)
        if match is None:
            raise _invalid(f"Invalid environment ARN {arn!r}.")
        arn_region, name = match.group(2), match.group(4)
        env = self._envs.get((region, name)) if arn_region == region else None
        if env is None or env.arn != arn:
            raise MwaaError("ResourceNotFoundException", f"Resource {arn} not found.")
        return env

    def _hostname(self, env: _Environment) -> str:
        if env.webserver_url:
            return re.sub(r"^[a-z]+://", "", env.webserver_url).rstrip("/")
        return f"{env.host_id}.{env.region}.airflow.mwaa-drill.invalid"

    def _describe(self, env: _Environment) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Name": env.name,
            "Status": env.status,
            "Arn": env.arn,
            "CreatedAt": env.created_at,
            "WebserverUrl": env.webserver_url or f"https://{self._hostname(env)}",
            "ServiceRoleArn": (
                f"arn:aws:iam::{self.account_id}:role/aws-service-role/"
                "airflow.amazonaws.com/AWSServiceRoleForAmazonMWAA"
            ),
            **{k: _copy(v) for k, v in env.config.items()},
            "Tags": dict(env.tags),
        }
        if env.last_update is not None:
            out["LastUpdate"] = _copy(env.last_update)
        return out

    def _set_status(self, env: _Environment, status: str, t: float) -> None:
        env.status = status
        env.generation += 1
        env.unhealthy_count = 0
        for listener in list(self._listeners):
            try:
                listener(env.region, env.name, status, t)
            except Exception as err:
                log.exception("on_state listener failed")
                self.errors.append(f"on_state: {err!r}")
        self._changed.notify_all()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._workers.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"mwaa-{target.__name__}", daemon=True)
        with self._lock:
            self._workers.add(thread)
        thread.start()

    def _backend_lock(self, region: str, name: str) -> threading.Lock:
        with self._lock:
            return self._backend_locks.setdefault((region, name), threading.Lock())

    def _provision_worker(self, env: _Environment, op: _Operation, config: dict[str, Any]) -> None:
        self._backend_op(
            env, op, "provision", lambda: self.backend.provision(env.region, env.name, config)
        )

    def _update_worker(
        self,
        env: _Environment,
        op: _Operation,
        config: dict[str, Any],
        changes: dict[str, Any],
    ) -> None:
        self._backend_op(
            env, op, "update", lambda: self.backend.update(env.region, env.name, config, changes)
        )

    def _backend_op(
        self,
        env: _Environment,
        op: _Operation,
        what: str,
        start: Callable[[], ProvisionHandle],
    ) -> None:
        """Start a provision or update in the backend and attach its handle to `op`."""
        try:
            with self._backend_lock(env.region, env.name):
                handle = start()
        except Exception as err:
            log.exception("backend %s failed", what)
            with self._lock:
                if env.op is op and op.result is None:
                    op.result = ProvisionStatus.failed(INTERNAL_FAILURE, f"{what}: {err}")
                    op.backend_done_t = self.now()
            return
        with self._lock:
            if env.op is op and self._current(env):
                op.handle = handle
                return
        _cancel(handle)  # the service gave up on this operation meanwhile

    def _delete_worker(self, env: _Environment, op: _Operation) -> None:
        self._deprovision(env.region, env.name)
        with self._lock:
            if env.op is op:
                op.result = ProvisionStatus.ready()
                op.backend_done_t = self.now()
                self._advance(env)

    def _deprovision(self, region: str, name: str) -> None:
        try:
            with self._backend_lock(region, name):
                self.backend.deprovision(region, name)
        except Exception as err:
            log.exception("backend deprovision failed")
            self.errors.append(f"deprovision {region}/{name}: {err!r}")

    def _advance(self, env: _Environment) -> None:
        """Move `env` along its operation as far as the backend and the delays allow. Called
        with the lock held; calls only the handle's non-blocking poll."""
        op = env.op
        if op is None or not self._current(env):
            return
        now = self.now()
        if op.result is None and op.handle is not None:
            status = _poll(op.handle)
            if status.state != "pending":
                op.result, op.backend_done_t = status, now
        if op.result is None and now - op.started_t > op.timeout_s:
            op.result = ProvisionStatus.failed(
                TIMED_OUT, f"the {op.kind} did not finish within {op.timeout_s:.0f} s"
            )
            op.backend_done_t = now
            if op.handle is not None:
                _cancel(op.handle)  # a creation is deprovisioned when it ends CREATE_FAILED
        if op.result is None or op.backend_done_t is None:
            return
        if now < op.backend_done_t + op.extra_delay_s:
            return
        env.op = None
        if op.kind == "create":
            self._finish_create(env, op, now)
        elif op.kind == "update":
            self._finish_update(env, op, now)
        else:
            self._set_status(env, DELETED, now)
            del self._envs[(env.region, env.name)]

    def _finish_create(self, env: _Environment, op: _Operation, now: float) -> None:
        result = op.result
        assert result is not None
        if result.state == "ready" and op.injected is None:
            env.webserver_url = result.webserver_url
            self._set_status(env, AVAILABLE, now)
            return
        if op.injected is not None:
            # Doomed by a create_environment_failure fault: whatever the backend built goes.
            code, message = op.injected.error_code, op.injected.error_message
            if self.provision_doomed:
                self._spawn(self._deprovision, env.region, env.name)
        else:
            code = result.error_code or INTERNAL_FAILURE
            message = result.error_message or "the environment could not be created"
            self._spawn(self._deprovision, env.region, env.name)
        env.last_update = {
            "Status": "FAILED",
            "CreatedAt": self.clock.wall_of(op.started_t),
            "Error": {"ErrorCode": code, "ErrorMessage": message},
        }
        self._set_status(env, CREATE_FAILED, now)

    def _finish_update(self, env: _Environment, op: _Operation, now: float) -> None:
        result = op.result
        assert result is not None
        last = dict(env.last_update or {})
        if result.state == "ready":
            env.config = dict(op.new_config or env.config)
            if result.webserver_url:
                env.webserver_url = result.webserver_url
            last.update(Status="SUCCESS", Source="API")
            env.last_update = last
            self._set_status(env, AVAILABLE, now)
            return
        last.update(
            Status="FAILED",
            Source="API",
            Error={
                "ErrorCode": result.error_code or INTERNAL_FAILURE,
                "ErrorMessage": result.error_message or "the update failed",
            },
        )
        env.last_update = last
        self._set_status(env, UPDATE_FAILED, now)

    def _health(self, env: _Environment) -> BackendHealth:
        try:
            return self.backend.health(env.region, env.name)
        except Exception as err:
            log.warning("backend health of %s/%s failed: %r", env.region, env.name, err)
            return "unhealthy"

    def _apply_health(self, env: _Environment, health: BackendHealth) -> None:
        now = self.now()
        if health == "healthy":
            env.unhealthy_count = 0
            if env.status == UNAVAILABLE:
                self._set_status(env, AVAILABLE, now)
            return
        env.unhealthy_count += 1
        if env.status in SERVING and env.unhealthy_count >= self.unhealthy_after:
            self._set_status(env, UNAVAILABLE, now)

    def _validated_create(self, request: Mapping[str, Any]) -> dict[str, Any]:
        missing = [
            k
            for k in ("ExecutionRoleArn", "SourceBucketArn", "DagS3Path", "NetworkConfiguration")
            if request.get(k) in (None, "")
        ]
        if missing:
            raise _invalid(f"Missing required fields: {', '.join(missing)}.")
        unknown = sorted(k for k in request if k not in CONFIG_FIELDS and k not in ("Tags", "Name"))
        if unknown:
            raise _invalid(f"Unknown fields: {', '.join(unknown)}.")
        config = {k: _copy(v) for k, v in request.items() if k in CONFIG_FIELDS and v is not None}
        _check_config(config, creating=True)
        return {**{k: _copy(v) for k, v in self.defaults.items()}, **config}


# Module helpers -------------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _poll(handle: ProvisionHandle) -> ProvisionStatus:
    try:
        return handle.poll()
    except Exception as err:
        log.exception("provision handle poll failed")
        return ProvisionStatus.failed(INTERNAL_FAILURE, f"poll: {err}")


def _cancel(handle: ProvisionHandle) -> None:
    with contextlib.suppress(Exception):
        handle.cancel()


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise _invalid(
            f"Invalid environment name {name!r}: 1 to 80 characters, a letter first, then "
            "letters, digits, '-' or '_'."
        )


def _check_tags(tags: Any) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise _invalid("Tags must be a map of strings.")
    if len(tags) > MAX_TAGS:
        raise _invalid(f"At most {MAX_TAGS} tags.")
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str) or not 1 <= len(key) <= 128:
            raise _invalid("Tag keys (1-128 characters) and values must be strings.")
        out[key] = value
    return out


def _check_config(config: Mapping[str, Any], *, creating: bool) -> None:
    bucket = config.get("SourceBucketArn")
    if bucket is not None and not (isinstance(bucket, str) and _BUCKET_ARN.match(bucket)):
        raise _invalid(f"Invalid SourceBucketArn {bucket!r}.")
    role = config.get("ExecutionRoleArn")
    if role is not None and not (isinstance(role, str) and _ROLE_ARN.match(role)):
        raise _invalid(f"Invalid ExecutionRoleArn {role!r}.")
    network = config.get("NetworkConfiguration")
    if network is not None:
        if not isinstance(network, Mapping):
            raise _invalid("NetworkConfiguration must be an object.")
        subnets = network.get("SubnetIds")
        if creating and (not isinstance(subnets, list) or len(subnets) != 2):
            raise _invalid("NetworkConfiguration.SubnetIds must name exactly 2 subnets.")
    options = config.get("AirflowConfigurationOptions")
    if options is not None:
        if not isinstance(options, Mapping):
            raise _invalid("AirflowConfigurationOptions must be a map of strings.")
        for key, value in options.items():
            if not isinstance(key, str) or not _CONFIG_KEY.match(key) or len(key) > 64:
                raise _invalid(f"Invalid Airflow configuration option name {key!r}.")
            if not isinstance(value, str) or not value:
                raise _invalid(f"Airflow configuration option {key} needs a string value.")
    for key in ("MaxWorkers", "MinWorkers", "MinWebservers", "MaxWebservers"):
        value = config.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise _invalid(f"{key} must be an integer >= 1.")
    schedulers = config.get("Schedulers")
    if schedulers is not None and (not isinstance(schedulers, int) or not 0 <= schedulers <= 5):
        raise _invalid("Schedulers must be an integer from 0 to 5.")
    low, high = config.get("MinWorkers"), config.get("MaxWorkers")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        raise _invalid("MinWorkers must not exceed MaxWorkers.")


def _merge_config(config: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = {k: _copy(v) for k, v in config.items()}
    for key, value in changes.items():
        if key in UPDATE_ONLY_FIELDS:
            continue
        if key == "NetworkConfiguration" and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **_copy(value)}
        else:
            merged[key] = _copy(value)
    return merged


def _normalize_query(query: Any) -> QueryParameters:
    if query is None:
        return {}
    if not isinstance(query, Mapping):
        raise _invalid("QueryParameters must be a JSON object.")
    out: dict[str, str | list[str]] = {}
    for key, value in query.items():
        if value is None:
            continue
        if isinstance(value, list):
            out[str(key)] = [_scalar(v) for v in value if v is not None]
        else:
            out[str(key)] = _scalar(value)
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise _invalid("QueryParameters values must be strings, numbers, booleans or lists of them.")


def _encode_token(region: str, after: str) -> str:
    raw = json.dumps({"r": region, "a": after}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str, region: str) -> str:
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error) as err:
        raise _invalid("Invalid NextToken.") from err
    if (
        not isinstance(document, dict)
        or document.get("r") != region
        or not isinstance(document.get("a"), str)
    ):
        raise _invalid("Invalid NextToken.")
    after: str = document["a"]
    return after
