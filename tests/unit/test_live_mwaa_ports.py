"""LiveMwaa against MwaaService + ScriptedBackend behind LiveAws (through the fault proxy), and
LiveAirflow's request building and body checks against an in-memory InvokeRestApi double."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.live.clock import LiveClock
from harness.live.endpoints import LiveAws
from harness.live.mwaa.scripted import ScriptedBackend
from harness.live.mwaa.service import MwaaService
from harness.live.mwaa_ports import LiveAirflow, live_mwaa_ports, normalize_date
from reference_impl.ports import ImportResult, PortError

EAST, WEST = "us-east-1", "us-west-2"
REQUEST: dict[str, Any] = {
    "ExecutionRoleArn": "arn:aws:iam::123456789012:role/mwaa-exec",
    "SourceBucketArn": "arn:aws:s3:::dags-east",
    "DagS3Path": "dags",
    "NetworkConfiguration": {"SubnetIds": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg"]},
}


@pytest.fixture(scope="module")
def aws() -> Iterator[LiveAws]:
    clock = LiveClock()
    backend = ScriptedBackend(now=clock.now, provision_s=0.2, dag_ids=("workload_a", "dr_x"))
    service = MwaaService(backend, clock=clock, poll_interval_s=0.01, health_interval_s=0.05)
    with LiveAws([EAST, WEST], now=clock.now, mwaa=service, start_replicator=False) as live:
        yield live
    service.stop()


def wait_status(mwaa: Any, region: str, name: str, wanted: str) -> Mapping[str, Any]:
    clock = LiveClock()
    deadline = clock.now() + 10.0
    while clock.now() < deadline:
        env = mwaa.get_environment(region, name)
        if env is not None and env["Status"] == wanted:
            return dict(env)
        clock.sleep(0.05)
    pytest.fail(f"{name} in {region} not {wanted} within 10 s")


def test_lifecycle_through_the_proxy(aws: LiveAws) -> None:
    mwaa, airflow = live_mwaa_ports(
        aws, WEST, LiveClock(), ["workload_a"], defaults=REQUEST, max_attempts=0
    )
    assert mwaa.get_environment(EAST, "env-a") is None
    mwaa.create_environment(EAST, "env-a", {"Name": "ignored"})
    env = mwaa.get_environment(EAST, "env-a")
    assert env is not None and env["Name"] == "env-a" and env["Status"] == "CREATING"
    # Plain JSON, as the simulator answers: DR code stores it in S3 (saved configuration).
    json.dumps(env)
    assert isinstance(env["CreatedAt"], str)
    assert mwaa.get_environment(WEST, "env-a") is None  # Regions apart
    wait_status(mwaa, EAST, "env-a", "AVAILABLE")
    with pytest.raises(PortError) as exists:
        mwaa.create_environment(EAST, "env-a", {})
    assert exists.value.code == "ValidationException"

    # The Airflow port's DAG calls, through InvokeRestApi and the fake Airflow.
    airflow.set_workload_paused(EAST, "env-a", False)
    fake = aws.mwaa_api.service.backend.airflow(EAST, "env-a")  # type: ignore[union-attr]
    assert fake.dags["workload_a"]["is_paused"] is False
    assert fake.dags["dr_x"]["is_paused"] is True  # not a workload DAG: untouched
    airflow.set_workload_paused(EAST, "env-a", True)
    assert fake.dags["workload_a"]["is_paused"] is True
    with pytest.raises(PortError) as missing:
        airflow.dag_run_state(EAST, "env-a", "workload_a", "r1")
    assert missing.value.code == "NotFound"  # the fake has no dagRuns path: Airflow's 404
    with pytest.raises(PortError) as no_env:
        airflow.set_workload_paused(WEST, "env-a", True)
    assert no_env.value.code == "ResourceNotFoundException"

    mwaa.delete_environment(EAST, "env-a")
    clock = LiveClock()
    deadline = clock.now() + 10.0
    while mwaa.get_environment(EAST, "env-a") is not None and clock.now() < deadline:
        clock.sleep(0.05)
    assert mwaa.get_environment(EAST, "env-a") is None
    with pytest.raises(PortError) as gone:
        mwaa.delete_environment(EAST, "env-a")
    assert gone.value.code == "ResourceNotFoundException"


def test_faults_of_the_target_region(aws: LiveAws) -> None:
    mwaa, _ = live_mwaa_ports(aws, WEST, LiveClock(), [], defaults=REQUEST, max_attempts=0)
    fault = aws.faults.error(EAST, "mwaa", "ServiceUnavailableException", status=503)
    try:
        with pytest.raises(PortError) as failed:
            mwaa.get_environment(EAST, "env-b")
        assert failed.value.code == "ServiceUnavailableException"
        assert mwaa.get_environment(WEST, "env-b") is None  # the other Region answers
    finally:
        aws.faults.clear(fault)
    fault = aws.faults.error(EAST, "mwaa", "ThrottlingException", status=400)
    try:
        with pytest.raises(PortError) as throttled:
            mwaa.create_environment(EAST, "env-b", {})
        assert throttled.value.code == "ThrottlingException"
    finally:
        aws.faults.clear(fault)
    unreachable = aws.faults.unreachable(EAST, mode="refuse")
    try:
        with pytest.raises(PortError) as down:
            mwaa.get_environment(EAST, "env-b")
        assert down.value.code == "ConnectionRefused"
    finally:
        aws.faults.clear(unreachable)
    assert mwaa.get_environment(EAST, "env-b") is None


# LiveAirflow against an InvokeRestApi double -------------------------------------------------


def environment_answer(airflow_version: str) -> dict[str, Any]:
    """GetEnvironment's answer, as far as LiveAirflow reads it (the line of its Airflow)."""
    return {"Environment": {"Name": "e", "Status": "AVAILABLE", "AirflowVersion": airflow_version}}


class FakeRest:
    """invoke_rest_api of one environment with Airflow 3's bulk semantics for variables and
    pools (the fail action refused as a whole when a key exists; HTTP 200 with errors), or
    with Airflow 2.10's one-by-one endpoints when `airflow_version` is 2.x (POST /variables is
    an upsert, POST /pools and /connections answer 409 for an existing key, DELETE per key)."""

    def __init__(self, airflow_version: str = "3.0.6") -> None:
        self.airflow_version = airflow_version
        self.environment_calls = 0
        self.tables: dict[str, dict[str, dict[str, Any]]] = {
            "/variables": {},
            "/pools": {"default_pool": {"name": "default_pool", "slots": 128}},
            "/connections": {},
        }
        self.calls: list[tuple[str, str]] = []

    def get_environment(self, Name: str) -> dict[str, Any]:
        self.environment_calls += 1
        return environment_answer(self.airflow_version)

    def invoke_rest_api(self, **kwargs: Any) -> dict[str, Any]:
        method, path = kwargs["Method"], kwargs["Path"]
        self.calls.append((method, path))
        body = kwargs.get("Body")
        field = {"/variables": "key", "/pools": "name", "/connections": "connection_id"}
        names = {"/variables": "variables", "/pools": "pools", "/connections": "connections"}
        collection, _, key = path.rpartition("/")
        if method == "DELETE" and self.airflow_version.startswith("2.") and collection in field:
            if key == "default_pool":
                raise rest_error(400, "default_pool cannot be deleted")
            if self.tables[collection].pop(key, None) is None:
                raise rest_error(404, "Not Found")
            return {"RestApiStatusCode": 204, "RestApiResponse": None}
        table = self.tables.get(path)
        if table is None:
            raise ClientError(
                {
                    "Error": {"Code": "RestApiClientException", "Message": "404"},
                    "RestApiStatusCode": 404,
                    "RestApiResponse": {"detail": "Not Found"},
                },
                "InvokeRestApi",
            )
        if method == "GET":
            query = kwargs.get("QueryParameters") or {}
            limit, offset = int(query.get("limit", 50)), int(query.get("offset", 0))
            rows = sorted(table.values(), key=lambda r: str(r[field[path]]))
            page = rows[offset : offset + min(limit, 100)]
            return {"RestApiStatusCode": 200, "RestApiResponse": {names[path]: page}}
        if self.airflow_version.startswith("2."):
            assert method == "POST", (method, path)  # Airflow 2.10 has no bulk PATCH
            name = body[field[path]]
            if name in table and path != "/variables":
                raise rest_error(409, f"{name} already exists")
            table[name] = dict(body)
            return {"RestApiStatusCode": 200, "RestApiResponse": dict(body)}
        result: dict[str, Any] = {}
        for action in body["actions"]:
            success: list[str] = []
            errors: list[dict[str, Any]] = []
            if action["action"] == "create":
                keys = [e[field[path]] for e in action["entities"]]
                matched = [k for k in keys if k in table]
                if action["action_on_existence"] == "fail" and matched:
                    errors.append({"error": f"{matched} already exist", "status_code": 409})
                else:
                    for entity in action["entities"]:
                        if entity[field[path]] not in table:
                            table[entity[field[path]]] = dict(entity)
                            success.append(entity[field[path]])
            else:
                for key in action["entities"]:
                    if key == "default_pool":
                        errors.append({"error": "default_pool", "status_code": 400})
                    else:
                        table.pop(key, None)
                        success.append(key)
            result[action["action"]] = {"success": success, "errors": errors}
        return {"RestApiStatusCode": 200, "RestApiResponse": result}


def rest_error(status: int, detail: str) -> ClientError:
    code = "RestApiClientException" if status < 500 else "RestApiServerException"
    return ClientError(
        {
            "Error": {"Code": code, "Message": str(status)},
            "RestApiStatusCode": status,
            "RestApiResponse": {"detail": detail},
        },
        "InvokeRestApi",
    )


def fake_airflow(rest: Any, **kwargs: Any) -> LiveAirflow:
    return LiveAirflow(lambda service, region: rest, WEST, LiveClock(), ["w"], **kwargs)


def test_import_export_variables_with_both_policies() -> None:
    rest = FakeRest()
    airflow = fake_airflow(rest)
    rows = [{"key": "a", "val": "1"}, {"key": "b", "val": "2"}]
    assert airflow.import_rows(EAST, "e", "variable", rows, on_conflict="skip") == ImportResult(
        2, 0, 0
    )
    assert airflow.export_table(EAST, "e", "variable") == rows
    again = airflow.import_rows(EAST, "e", "variable", rows, on_conflict="skip")
    assert again == ImportResult(0, 2, 0)
    more = [{"key": "c", "val": "3"}, {"key": "a", "val": "changed"}]
    assert airflow.import_rows(EAST, "e", "variable", more, on_conflict="fail") == ImportResult(
        0, 0, 2
    )
    assert airflow.export_table(EAST, "e", "variable") == rows  # nothing written
    dup = [{"key": "d", "val": "1"}, {"key": "d", "val": "2"}]
    assert airflow.import_rows(EAST, "e", "variable", dup, on_conflict="fail") == ImportResult(
        0, 0, 2
    )
    assert airflow.import_rows(EAST, "e", "variable", dup, on_conflict="skip") == ImportResult(
        1, 1, 0
    )
    assert airflow.import_rows(EAST, "e", "variable", [], on_conflict="fail") == ImportResult(
        0, 0, 0
    )


def test_export_pages_and_clear_keeps_default_pool() -> None:
    rest = FakeRest()
    airflow = fake_airflow(rest, page_size=10)
    pools = [{"pool": f"p{i:03d}", "slots": i} for i in range(25)]
    assert airflow.import_rows(EAST, "e", "slot_pool", pools, on_conflict="fail").inserted == 25
    exported = airflow.export_table(EAST, "e", "slot_pool")
    assert len(exported) == 26 and {"pool": "default_pool", "slots": 128} in exported
    assert sum(1 for method, _ in rest.calls if method == "GET") == 3
    with pytest.raises(PortError) as bad:
        airflow.clear_tables(EAST, "e", ["slot_pool", "no_such_table"])
    assert bad.value.code == "BadRequest"
    assert len(airflow.export_table(EAST, "e", "slot_pool")) == 26  # nothing deleted
    airflow.clear_tables(EAST, "e", ["slot_pool"])
    assert airflow.export_table(EAST, "e", "slot_pool") == [{"pool": "default_pool", "slots": 128}]


def test_connections_mask_and_not_found() -> None:
    rest = FakeRest()
    airflow = fake_airflow(rest)
    row = {"conn_id": "wh", "conn_type": "postgres", "host": "h", "login": "l", "password": "s"}
    airflow.import_rows(EAST, "e", "connection", [row], on_conflict="skip")
    rest.tables["/connections"]["wh"]["password"] = "***"  # as Airflow shows it
    assert airflow.export_table(EAST, "e", "connection") == [{**row, "password": None}]
    with pytest.raises(PortError) as missing:
        airflow.dag_run_state(EAST, "e", "w", "r")
    assert missing.value.code == "NotFound"


def test_normalize_date() -> None:
    assert normalize_date("2024-01-01T00:05:00Z") == "2024-01-01T00:05:00+00:00"
    assert normalize_date("2024-01-01T00:05:00+00:00") == "2024-01-01T00:05:00+00:00"
    assert normalize_date(None) is None


class RunsRest:
    """invoke_rest_api with runs and task instances of workload DAG `w` (Airflow 3 shapes)."""

    def __init__(self) -> None:
        date = "2026-01-01T00:00:00Z"
        self.runs = [
            {"dag_id": "w", "dag_run_id": "done", "logical_date": date, "state": "success"},
            {
                "dag_id": "w",
                "dag_run_id": "busy",
                "logical_date": "2026-01-01T00:05:00Z",
                "state": "running",
            },
        ]
        # the busy run's task already succeeded: Airflow marks the run seconds later
        self.tis = [
            {
                "dag_id": "w",
                "dag_run_id": r["dag_run_id"],
                "logical_date": r["logical_date"],
                "task_id": "work",
                "state": "success",
            }
            for r in self.runs
        ]
        self.patched: list[str] = []

    def get_environment(self, Name: str) -> dict[str, Any]:
        return environment_answer("3.0.6")

    def invoke_rest_api(self, **kwargs: Any) -> dict[str, Any]:
        method, path, body = kwargs["Method"], kwargs["Path"], kwargs.get("Body") or {}
        if path == "/dags/~/dagRuns/list":
            states = body.get("states")
            runs = [r for r in self.runs if not states or r["state"] in states]
            return {"RestApiStatusCode": 200, "RestApiResponse": {"dag_runs": runs}}
        if path == "/dags/~/dagRuns/~/taskInstances/list":
            return {"RestApiStatusCode": 200, "RestApiResponse": {"task_instances": self.tis}}
        if method == "GET" and "/taskInstances/" in path:
            return {"RestApiStatusCode": 200, "RestApiResponse": {"state": None}}
        if method == "PATCH":
            self.patched.append(path)
            return {"RestApiStatusCode": 200, "RestApiResponse": {}}
        raise AssertionError(f"unexpected {method} {path}")


def test_task_instances_are_exported_with_their_finished_run_only() -> None:
    rest = RunsRest()
    airflow = LiveAirflow(lambda service, region: rest, WEST, LiveClock(), ["w"])
    rows = airflow.export_table(EAST, "e", "task_instance")
    assert rows == [
        {
            "dag_id": "w",
            "logical_date": "2026-01-01T00:00:00+00:00",
            "task_id": "work",
            "state": "success",
        }
    ]


def test_a_task_row_without_its_run_fails_a_copy_and_is_skipped_otherwise() -> None:
    rest = RunsRest()
    airflow = LiveAirflow(lambda service, region: rest, WEST, LiveClock(), ["w"])
    orphan = {
        "dag_id": "w",
        "logical_date": "2030-01-01T00:00:00+00:00",
        "task_id": "work",
        "state": "success",
    }
    known = {
        "dag_id": "w",
        "logical_date": "2026-01-01T00:00:00+00:00",
        "task_id": "work",
        "state": "success",
    }
    failed = airflow.import_rows(EAST, "e", "task_instance", [known, orphan], on_conflict="fail")
    assert failed == ImportResult(inserted=0, skipped=0, failed=2) and rest.patched == []
    skipped = airflow.import_rows(EAST, "e", "task_instance", [known, orphan], on_conflict="skip")
    assert skipped == ImportResult(inserted=1, skipped=1, failed=0) and len(rest.patched) == 1


# Airflow 2.10 (/api/v1): the same port, one call per entity ---------------------------------


def test_airflow_2_entities_are_created_one_by_one_and_fail_writes_nothing() -> None:
    rest = FakeRest("2.10.5")
    airflow = fake_airflow(rest)
    rows = [{"key": "a", "val": "1"}, {"key": "b", "val": "2"}]
    assert airflow.import_rows(EAST, "e", "variable", rows, on_conflict="skip") == ImportResult(
        2, 0, 0
    )
    assert [c for c in rest.calls if c[0] != "GET"] == [("POST", "/variables")] * 2
    # "skip": the existing key is listed first and left alone (POST would overwrite it).
    rest.calls.clear()
    changed = [{"key": "a", "val": "changed"}, {"key": "c", "val": "3"}]
    assert airflow.import_rows(EAST, "e", "variable", changed, on_conflict="skip") == (
        ImportResult(1, 1, 0)
    )
    assert [c for c in rest.calls if c[0] != "GET"] == [("POST", "/variables")]
    assert rest.tables["/variables"]["a"]["value"] == "1"
    # "fail": an existing key fails the batch before any write.
    rest.calls.clear()
    batch = [{"key": "d", "val": "4"}, {"key": "a", "val": "x"}]
    assert airflow.import_rows(EAST, "e", "variable", batch, on_conflict="fail") == (
        ImportResult(0, 0, 2)
    )
    assert [c for c in rest.calls if c[0] != "GET"] == []
    assert "d" not in rest.tables["/variables"]
    # One GetEnvironment for the line, however many calls.
    assert rest.environment_calls == 1


def test_airflow_2_a_pool_created_meanwhile_counts_as_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rest = FakeRest("2.10.5")
    airflow = fake_airflow(rest)
    # Created by someone else between the list and the POST: the POST answers 409.
    monkeypatch.setattr(airflow, "export_table", lambda *args: [])
    rest.tables["/pools"]["p"] = {"name": "p", "slots": 1}
    row = {"pool": "p", "slots": 3}
    assert airflow.import_rows(EAST, "e", "slot_pool", [row], on_conflict="skip") == (
        ImportResult(0, 1, 0)
    )
    with pytest.raises(PortError, match="409"):  # "fail" cannot call it skipped
        airflow.import_rows(EAST, "e", "slot_pool", [row], on_conflict="fail")
    assert rest.tables["/pools"]["p"]["slots"] == 1


def test_airflow_2_clear_deletes_each_key_and_keeps_default_pool() -> None:
    rest = FakeRest("2.10.5")
    airflow = fake_airflow(rest)
    airflow.import_rows(EAST, "e", "slot_pool", [{"pool": "p", "slots": 3}], on_conflict="skip")
    airflow.import_rows(EAST, "e", "variable", [{"key": "a", "val": "1"}], on_conflict="skip")
    rest.calls.clear()
    airflow.clear_tables(EAST, "e", ["variable", "slot_pool"])
    assert sorted(c for c in rest.calls if c[0] == "DELETE") == [
        ("DELETE", "/pools/p"),
        ("DELETE", "/variables/a"),
    ]
    assert rest.tables["/variables"] == {}
    assert list(rest.tables["/pools"]) == ["default_pool"]


def test_an_unknown_airflow_line_is_a_validation_error() -> None:
    airflow = fake_airflow(FakeRest("1.10.15"))
    with pytest.raises(PortError) as raised:
        airflow.import_rows(EAST, "e", "variable", [{"key": "a", "val": "1"}], on_conflict="skip")
    assert raised.value.code == "ValidationException"


def test_dag_runs_are_exported_finished_and_running_as_the_simulator_keeps_them() -> None:
    # a failback waits for the runs still running; a backup leaves them out (exportable)
    rest = RunsRest()
    airflow = LiveAirflow(lambda service, region: rest, WEST, LiveClock(), ["w"])
    rows = airflow.export_table(EAST, "e", "dag_run")
    assert [(r["run_id"], r["state"]) for r in rows] == [("done", "success"), ("busy", "running")]
