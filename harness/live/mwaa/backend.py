"""The contract between the emulated MWAA control plane and what runs an environment.

`harness.live.mwaa.service.MwaaService` (served over HTTP by `harness.live.mwaa_api`) keeps
the MWAA view of every environment: its Region, name, ARN, configuration, status and
timestamps. It knows nothing of how Airflow runs. An `EnvironmentBackend` does the work behind
each environment. In a live drill that is a real Airflow 3 instance per environment (a
scheduler, a dag-processor and an api-server, with its own metadata database and ports); in
tests and in drills without Airflow it is `harness.live.mwaa.scripted.ScriptedBackend`.

Identity. An environment is identified by `(region, name)`. The same name in two Regions is
two unrelated environments (as in AWS): a backend must key everything it holds (processes,
databases, ports, directories) by both. At most one environment exists per `(region, name)`
at a time; after `deprovision` the same pair may be provisioned again.

Threads. The service calls the backend from several threads: HTTP request threads
(`invoke_rest_api`), its reconciler thread (`ProvisionHandle.poll`, `health`) and short-lived
worker threads (`provision`, `update`, `deprovision`). Calls for different environments may
run at the same time; for one environment the service never overlaps `provision`, `update`
and `deprovision`, but `invoke_rest_api` and `health` may run alongside any of them.
Every method must be thread-safe and bounded in time, as stated per method.

Lifecycle, as the service drives it:

    CreateEnvironment   status CREATING; on a worker thread: handle = provision(...)
    (reconciler)        handle.poll() until "ready" / "failed" (or the creation times out:
                        handle.cancel(), then deprovision)
                        + the service's own creation delay (compressed AWS time)
                        -> AVAILABLE, or CREATE_FAILED with LastUpdate.Error from the status
    UpdateEnvironment   status UPDATING; on a worker thread: handle = update(...)
                        -> AVAILABLE, or UPDATE_FAILED (still usable, old configuration)
    DeleteEnvironment   status DELETING; on a worker thread: deprovision(...)
                        -> DELETED; the environment is gone (GetEnvironment: 404)
    (reconciler)        AVAILABLE and health() == "unhealthy" (twice in a row by default)
                        -> UNAVAILABLE; "healthy" again -> AVAILABLE
    InvokeRestApi       on the HTTP thread: invoke_rest_api(...), only while AVAILABLE or
                        UPDATE_FAILED (otherwise the caller gets ValidationException)

Paths. MWAA's InvokeRestApi `Path` is relative to the Airflow REST API root (botocore's model:
"For example, /dags/123456/clearTaskInstances"). The service hands it over as the caller gave
it; the backend maps it onto its Airflow: `/api/v2` + path on Airflow 3, `/api/v1` + path on
Airflow 2. A path that already starts with `/api/` should be passed through unchanged.

Query parameters. MWAA takes `QueryParameters` as a JSON object; the service converts it
before calling the backend: scalars become strings (booleans `true`/`false`), lists become
lists of strings (to be sent as repeated parameters: `urlencode(query, doseq=True)`); null
values are dropped. Anything else is refused with ValidationException.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

ProvisionState = Literal["pending", "ready", "failed"]
BackendHealth = Literal["healthy", "unhealthy"]
QueryParameters = Mapping[str, str | Sequence[str]]
RestApiResult = tuple[int, Any]

# LastUpdate.Error.ErrorCode values the service itself uses (MWAA's codes are free text; the
# one seen most in the wild for a failed creation is INCORRECT_CONFIGURATION).
INCORRECT_CONFIGURATION = "INCORRECT_CONFIGURATION"
INTERNAL_FAILURE = "INTERNAL_FAILURE"
TIMED_OUT = "TIMED_OUT"


class BackendUnavailable(Exception):
    """Raised by `invoke_rest_api` when the environment's Airflow did not answer at all
    (api-server gone, connection refused or timed out). The service answers the InvokeRestApi
    caller with RestApiServerException, RestApiStatusCode 502, the message in
    RestApiResponse.detail (what a load balancer in front of a dead web server would give)."""


@dataclass(frozen=True)
class ProvisionStatus:
    """What a `ProvisionHandle` says about a creation or an update.

    - `state`: "pending" while the work goes on; "ready" when the environment serves (for a
      creation: its Airflow answers `GET /api/v2/monitor/health` with a healthy metadatabase,
      and the DAG files are parsed or being parsed); "failed" when it will not get there.
    - `error_code`, `error_message`: for "failed", become the environment's
      `LastUpdate.Error` (`ErrorCode`, `ErrorMessage`). Use `INCORRECT_CONFIGURATION` for a
      problem with the requested configuration, `INTERNAL_FAILURE` for the backend's own.
    - `webserver_url`: for "ready", where the environment's Airflow web server / REST API
      answers (a loopback URL such as `http://127.0.0.1:28080`). It becomes the environment's
      `WebserverUrl` and the host of CLI and web login tokens. None: the service makes up a
      host name under `.invalid` (which can never resolve).
    """

    state: ProvisionState
    error_code: str | None = None
    error_message: str | None = None
    webserver_url: str | None = None

    def __post_init__(self) -> None:
        if self.state not in ("pending", "ready", "failed"):
            raise ValueError(f"unknown provision state {self.state!r}")

    @classmethod
    def pending(cls) -> ProvisionStatus:
        return cls("pending")

    @classmethod
    def ready(cls, webserver_url: str | None = None) -> ProvisionStatus:
        return cls("ready", webserver_url=webserver_url)

    @classmethod
    def failed(cls, code: str, message: str) -> ProvisionStatus:
        return cls("failed", error_code=code, error_message=message)


@runtime_checkable
class ProvisionHandle(Protocol):
    """A creation or update in progress, as `provision` / `update` started it."""

    def poll(self) -> ProvisionStatus:
        """Where the work stands. Called repeatedly (every ~0.1 s) from the service's
        reconciler thread, possibly while holding the service's lock: it must be cheap,
        non-blocking (no network call, no wait: read state a worker of the backend keeps
        up to date) and never raise. Once it returned "ready" or "failed" it must keep
        returning that same status."""
        ...

    def cancel(self) -> None:
        """The service gave up on this work (the creation timed out, or the service stops):
        stop it and release what it holds. Idempotent, bounded (a few seconds), never raises.
        The service calls `deprovision` for the environment afterwards as well."""
        ...


class ThreadedProvision:
    """A `ProvisionHandle` whose work runs on a thread of the backend (the Airflow and Docker
    backends): the thread `settle`s the status once, `poll` reads it, `cancel` sets
    `cancelled` for the thread to see and settles it failed. Built settled, it is the answer
    of work refused at once."""

    def __init__(self, status: ProvisionStatus | None = None) -> None:
        self._status = status or ProvisionStatus.pending()
        self._lock = threading.Lock()
        self.cancelled = threading.Event()
        self.thread: threading.Thread | None = None

    def poll(self) -> ProvisionStatus:
        with self._lock:
            return self._status

    def settle(self, status: ProvisionStatus) -> None:
        """The first status other than pending wins; later ones are ignored."""
        with self._lock:
            if self._status.state == "pending":
                self._status = status

    def cancel(self) -> None:
        self.cancelled.set()
        self.settle(ProvisionStatus.failed(INTERNAL_FAILURE, "creation cancelled"))

    def join(self, timeout_s: float) -> None:
        """Wait for the thread (not from the thread itself), at most `timeout_s`."""
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(0.0, timeout_s))


@runtime_checkable
class EnvironmentBackend(Protocol):
    """What runs the environments of every Region. See the module docstring for the rules
    every method follows (identity, threads, bounds)."""

    def provision(self, region: str, name: str, config: Mapping[str, Any]) -> ProvisionHandle:
        """Start creating the environment; return at once (within ~1 s) with a handle.

        `config` is the CreateEnvironment request as MWAA reads it (PascalCase fields:
        AirflowVersion, DagS3Path, SourceBucketArn, ExecutionRoleArn, NetworkConfiguration,
        EnvironmentClass, MaxWorkers, MinWorkers, Schedulers, AirflowConfigurationOptions
        (`section.key` -> value, e.g. `core.dags_are_paused_at_creation`),
        RequirementsS3Path, PluginsS3Path, StartupScriptS3Path, Tags, ...) with the service's
        defaults filled in (AirflowVersion, EnvironmentClass, MaxWorkers, MinWorkers,
        Schedulers, WebserverAccessMode), plus `Name` and `Arn`.

        The real backend: allocate ports and a directory, create the metadata database,
        fetch the DAGs from `SourceBucketArn` + `DagS3Path` (through the Region's endpoint),
        start scheduler, dag-processor and api-server in their own process groups, and report
        "ready" once the api-server's health endpoint is healthy. It must not wait for that
        inside this call. A failure to even start may be raised: the service then marks the
        environment CREATE_FAILED (ErrorCode INTERNAL_FAILURE, the exception as message)."""
        ...

    def update(
        self,
        region: str,
        name: str,
        config: Mapping[str, Any],
        changes: Mapping[str, Any],
    ) -> ProvisionHandle:
        """Start applying an UpdateEnvironment; return at once with a handle.

        `config` is the complete new configuration (as for `provision`), `changes` the fields
        the request set. The real backend restarts what the changes need (new Airflow
        configuration options or DAG path: restart the three processes with the new
        settings, keeping the metadata database). "failed" means the environment is back on
        its previous configuration and still serves (MWAA's UPDATE_FAILED)."""
        ...

    def deprovision(self, region: str, name: str) -> None:
        """Stop everything of the environment and release it (processes, ports, database,
        files). Blocks until done, bounded (stop process groups with SIGTERM, then SIGKILL:
        well under a minute); called on a worker thread, never an HTTP thread. Idempotent: a
        second call, or a call for an environment the backend does not know (a creation that
        failed early), is a no-op. Should not raise; if it does, the service logs the error
        and forgets the environment all the same."""
        ...

    def invoke_rest_api(
        self,
        region: str,
        name: str,
        method: str,
        path: str,
        query: QueryParameters,
        body: Any,
    ) -> RestApiResult:
        """One call of the environment's Airflow REST API (MWAA InvokeRestApi).

        `method`: GET, PUT, POST, PATCH or DELETE. `path`: MWAA's relative path (see the
        module docstring). `query`: normalized query parameters. `body`: the JSON value to send
        (None: no body). Returns `(status, response)`: Airflow's HTTP status and its response
        body decoded from JSON (None when empty; the text when not JSON). The service answers
        a 2xx with InvokeRestApi's result, a 4xx with RestApiClientException and a 5xx with
        RestApiServerException, RestApiStatusCode and RestApiResponse carrying what the
        backend returned. Runs on an HTTP request thread: bounded by the backend's own
        timeout (a few seconds to tens of seconds, never unbounded). Raise
        `BackendUnavailable` when Airflow gives no HTTP answer."""
        ...

    def health(self, region: str, name: str) -> BackendHealth:
        """Whether the environment can still serve: "unhealthy" only when its Airflow cannot
        answer at all (api-server process gone or not answering within ~1 s). A dead or
        stuck scheduler is NOT unhealthy: MWAA keeps reporting AVAILABLE then, and the DR
        detector must find out from the missing SchedulerHeartbeat. Called about once a
        second per AVAILABLE/UNAVAILABLE environment from the reconciler thread: bounded by
        ~1 s, never raises (an exception counts as "unhealthy")."""
        ...
