"""`ScriptedBackend`: MWAA environments without Airflow, for tests and dry drills.

An environment provisions in `provision_s` seconds on the given clock (per Region if a
mapping, or a function of Region and name), then is ready; updates take `update_s`. Scripted
failures (`fail_next_provision`, `fail_next_update`) make the next creation / update in a
Region fail with the given error; `kill` and `revive` take an environment's "Airflow" away
and bring it back (health "unhealthy", InvokeRestApi gives no answer). The scenario fault
`create_environment_failure` is not here: `harness.live.mwaa.faults.CreateFailureFaults`
injects it in the service, for every backend.

`FakeAirflowRest` is an in-memory stand-in of a few Airflow 3 REST API paths, so that
InvokeRestApi can be exercised end to end. It is FOR UNIT TESTS ONLY: it knows nothing of
DAG files, runs, pools or connections, it checks no authentication, and its answers follow
the shapes of Airflow 3's `/api/v2` only as far as the paths below go. Drills that need
Airflow's real behaviour use the real backend. Paths (with or without the `/api/v2` prefix):

    GET    /monitor/health              {"metadatabase": {...}, "scheduler": {...}, ...}
    GET    /version                     {"version": <AirflowVersion>, "git_version": null}
    GET    /dags?limit&offset&paused     {"dags": [...], "total_entries": n}
    GET    /dags/{dag_id}                the DAG, or 404
    PATCH  /dags/{dag_id}  {"is_paused"} the DAG after the change
    GET    /variables?limit&offset       {"variables": [...], "total_entries": n}
    POST   /variables {"key", "value", "description"?}   201, or 409 if the key exists
    GET    /variables/{key}              200 or 404
    PATCH  /variables/{key} {"value"...} 200 or 404
    DELETE /variables/{key}              204 or 404

List endpoints cap `limit` at 100 (default 50), as Airflow does. A method a path does not take
answers 405; an unknown path 404.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from harness.live import clock as live_clock
from harness.live.mwaa.backend import (
    INCORRECT_CONFIGURATION,
    BackendHealth,
    BackendUnavailable,
    ProvisionHandle,
    ProvisionStatus,
    QueryParameters,
    RestApiResult,
)

PAUSED_AT_CREATION = "core.dags_are_paused_at_creation"
MAX_LIMIT = 100
DEFAULT_LIMIT = 50

DelaySpec = float | Mapping[str, float] | Callable[[str, str], float]


def _iso(unix_time: float) -> str:
    return datetime.fromtimestamp(unix_time, tz=UTC).isoformat()


class FakeAirflowRest:
    """An in-memory Airflow REST API of one environment. FOR UNIT TESTS ONLY (see module)."""

    def __init__(self, airflow_version: str, dag_ids: Sequence[str], paused: bool) -> None:
        self.airflow_version = airflow_version
        self._lock = threading.Lock()
        self.dags: dict[str, dict[str, Any]] = {
            dag_id: {
                "dag_id": dag_id,
                "dag_display_name": dag_id,
                "is_paused": paused,
                "is_stale": False,
                "fileloc": f"/dags/{dag_id}.py",
                "tags": [],
            }
            for dag_id in dag_ids
        }
        self.variables: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) as received

    @staticmethod
    def _page(query: QueryParameters) -> tuple[int, int]:
        def number(name: str, default: int) -> int:
            value = query.get(name)
            if isinstance(value, list | tuple):
                value = value[-1] if value else None
            return int(value) if isinstance(value, str) and value.isdigit() else default

        return min(number("limit", DEFAULT_LIMIT), MAX_LIMIT), number("offset", 0)

    def handle(self, method: str, path: str, query: QueryParameters, body: Any) -> RestApiResult:
        route = path.split("?", 1)[0]
        for prefix in ("/api/v2", "/api/v1"):
            if route.startswith(prefix + "/"):
                route = route[len(prefix) :]
        segments = [s for s in route.split("/") if s]
        with self._lock:
            self.requests.append((method, path))
            if segments == ["monitor", "health"]:
                return self._only(method, "GET") or (200, self._health())
            if segments == ["version"]:
                return self._only(method, "GET") or (
                    200,
                    {"version": self.airflow_version, "git_version": None},
                )
            if segments[:1] == ["dags"] and len(segments) <= 2:
                return self._dags(method, segments[1:], query, body)
            if segments[:1] == ["variables"] and len(segments) <= 2:
                return self._variables(method, segments[1:], query, body)
        return 404, {"detail": "Not Found"}

    @staticmethod
    def _only(method: str, *allowed: str) -> RestApiResult | None:
        return None if method in allowed else (405, {"detail": "Method Not Allowed"})

    def _health(self) -> dict[str, Any]:
        beat = _iso(live_clock.wall_time())
        return {
            "metadatabase": {"status": "healthy"},
            "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": beat},
            "triggerer": {"status": None, "latest_triggerer_heartbeat": None},
            "dag_processor": {"status": "healthy", "latest_dag_processor_heartbeat": beat},
        }

    def _dags(
        self, method: str, rest: list[str], query: QueryParameters, body: Any
    ) -> RestApiResult:
        if not rest:
            refused = self._only(method, "GET")
            if refused:
                return refused
            dags = list(self.dags.values())
            paused = query.get("paused")
            if paused in ("true", "false"):
                dags = [d for d in dags if d["is_paused"] == (paused == "true")]
            limit, offset = self._page(query)
            return 200, {
                "dags": [dict(d) for d in dags[offset : offset + limit]],
                "total_entries": len(dags),
            }
        dag = self.dags.get(rest[0])
        refused = self._only(method, "GET", "PATCH")
        if refused:
            return refused
        if dag is None:
            return 404, {"detail": f"DAG with dag_id: '{rest[0]}' not found"}
        if method == "PATCH":
            if not isinstance(body, dict) or not isinstance(body.get("is_paused"), bool):
                return 422, {"detail": "is_paused (a boolean) is required"}
            dag["is_paused"] = body["is_paused"]
        return 200, dict(dag)

    def _variables(
        self, method: str, rest: list[str], query: QueryParameters, body: Any
    ) -> RestApiResult:
        if not rest:
            refused = self._only(method, "GET", "POST")
            if refused:
                return refused
            if method == "GET":
                limit, offset = self._page(query)
                rows = sorted(self.variables.values(), key=lambda v: str(v["key"]))
                return 200, {
                    "variables": [dict(v) for v in rows[offset : offset + limit]],
                    "total_entries": len(rows),
                }
            if not isinstance(body, dict) or not isinstance(body.get("key"), str):
                return 422, {"detail": "key (a string) and value are required"}
            key = body["key"]
            if key in self.variables:
                return 409, {"detail": f"The Variable with key: `{key}` already exists"}
            self.variables[key] = self._variable(key, body)
            return 201, dict(self.variables[key])
        key = rest[0]
        refused = self._only(method, "GET", "PATCH", "DELETE")
        if refused:
            return refused
        if key not in self.variables:
            return 404, {"detail": f"The Variable with key: `{key}` was not found"}
        if method == "DELETE":
            del self.variables[key]
            return 204, None
        if method == "PATCH":
            if not isinstance(body, dict):
                return 422, {"detail": "a JSON object is required"}
            self.variables[key] = self._variable(key, {**self.variables[key], **body})
        return 200, dict(self.variables[key])

    @staticmethod
    def _variable(key: str, body: Mapping[str, Any]) -> dict[str, Any]:
        value = body.get("value")
        return {
            "key": key,
            "value": value if isinstance(value, str) else str(value),
            "description": body.get("description"),
            "is_encrypted": False,
        }


class _ScriptedHandle:
    """Ready (or failed) once the clock reaches `due_t`."""

    def __init__(
        self,
        now: Callable[[], float],
        due_t: float,
        outcome: ProvisionStatus,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self._now = now
        self.due_t = due_t
        self._outcome = outcome
        self._on_ready = on_ready
        self._final: ProvisionStatus | None = None
        self.cancelled = False
        self._lock = threading.Lock()

    def poll(self) -> ProvisionStatus:
        with self._lock:
            if self._final is None and self._now() >= self.due_t:
                self._final = self._outcome
                if self._outcome.state == "ready" and self._on_ready is not None:
                    self._on_ready()
            return self._final or ProvisionStatus.pending()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            if self._final is None:
                self._final = ProvisionStatus.failed("CANCELLED", "the creation was cancelled")


class ScriptedBackend:
    """An EnvironmentBackend with scripted timing and failures, and a fake Airflow REST API."""

    def __init__(
        self,
        *,
        now: Callable[[], float] | None = None,
        provision_s: DelaySpec = 0.0,
        update_s: DelaySpec = 0.0,
        dag_ids: Sequence[str] = ("workload_hourly",),
        webserver_url: Callable[[str, str], str | None] | None = None,
    ) -> None:
        self._now = now or live_clock.LiveClock().now
        self._provision_s = provision_s
        self._update_s = update_s
        self._dag_ids = tuple(dag_ids)
        self._webserver_url = webserver_url
        self._lock = threading.Lock()
        self._airflow: dict[tuple[str, str], FakeAirflowRest] = {}
        self._killed: set[tuple[str, str]] = set()
        self._provision_failures: dict[str, deque[ProvisionStatus]] = {}
        self._update_failures: dict[str, deque[ProvisionStatus]] = {}
        self.calls: list[tuple[str, str, str]] = []  # (method, region, name)

    # Scripting ----------------------------------------------------------------------------
    def fail_next_provision(
        self,
        region: str,
        code: str = INCORRECT_CONFIGURATION,
        message: str = "scripted provisioning failure",
    ) -> None:
        """The next creation in `region` fails (after its provisioning time)."""
        with self._lock:
            queue = self._provision_failures.setdefault(region, deque())
            queue.append(ProvisionStatus.failed(code, message))

    def fail_next_update(
        self, region: str, code: str = "UPDATE_FAILED", message: str = "scripted update failure"
    ) -> None:
        with self._lock:
            queue = self._update_failures.setdefault(region, deque())
            queue.append(ProvisionStatus.failed(code, message))

    def kill(self, region: str, name: str) -> None:
        """The environment's Airflow is gone: health "unhealthy", REST calls unanswered."""
        with self._lock:
            self._killed.add((region, name))

    def revive(self, region: str, name: str) -> None:
        with self._lock:
            self._killed.discard((region, name))

    def airflow(self, region: str, name: str) -> FakeAirflowRest | None:
        """The fake Airflow of an environment that is ready (for assertions)."""
        with self._lock:
            return self._airflow.get((region, name))

    def environments(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._airflow)

    def _delay(self, spec: DelaySpec, region: str, name: str) -> float:
        if callable(spec):
            return float(spec(region, name))
        if isinstance(spec, Mapping):
            return float(spec.get(region, 0.0))
        return float(spec)

    # EnvironmentBackend -------------------------------------------------------------------
    def provision(self, region: str, name: str, config: Mapping[str, Any]) -> ProvisionHandle:
        key = (region, name)
        options = config.get("AirflowConfigurationOptions") or {}
        paused = str(options.get(PAUSED_AT_CREATION, "True")).lower() != "false"
        fake = FakeAirflowRest(str(config.get("AirflowVersion", "")), self._dag_ids, paused)
        url = self._webserver_url(region, name) if self._webserver_url else None
        with self._lock:
            self.calls.append(("provision", region, name))
            failures = self._provision_failures.get(region)
            outcome = failures.popleft() if failures else ProvisionStatus.ready(url)
            self._killed.discard(key)

        def ready() -> None:
            with self._lock:
                self._airflow[key] = fake

        due = self._now() + self._delay(self._provision_s, region, name)
        return _ScriptedHandle(self._now, due, outcome, on_ready=ready)

    def update(
        self,
        region: str,
        name: str,
        config: Mapping[str, Any],
        changes: Mapping[str, Any],
    ) -> ProvisionHandle:
        url = self._webserver_url(region, name) if self._webserver_url else None
        with self._lock:
            self.calls.append(("update", region, name))
            failures = self._update_failures.get(region)
            outcome = failures.popleft() if failures else ProvisionStatus.ready(url)
            fake = self._airflow.get((region, name))
        if fake is not None and "AirflowVersion" in changes:
            fake.airflow_version = str(changes["AirflowVersion"])
        due = self._now() + self._delay(self._update_s, region, name)
        return _ScriptedHandle(self._now, due, outcome)

    def deprovision(self, region: str, name: str) -> None:
        with self._lock:
            self.calls.append(("deprovision", region, name))
            self._airflow.pop((region, name), None)
            self._killed.discard((region, name))

    def invoke_rest_api(
        self,
        region: str,
        name: str,
        method: str,
        path: str,
        query: QueryParameters,
        body: Any,
    ) -> RestApiResult:
        with self._lock:
            self.calls.append(("invoke_rest_api", region, name))
            fake = self._airflow.get((region, name))
            killed = (region, name) in self._killed
        if fake is None or killed:
            raise BackendUnavailable(f"the Airflow of {name} in {region} does not answer")
        return fake.handle(method, path, query, body)

    def health(self, region: str, name: str) -> BackendHealth:
        with self._lock:
            alive = (region, name) in self._airflow and (region, name) not in self._killed
        return "healthy" if alive else "unhealthy"
