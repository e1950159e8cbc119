"""The MWAA-compatible API in-process on loopback, driven by plain boto3 `mwaa` clients, with
the ScriptedBackend (short delays on a LiveClock)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, WaiterError

from harness.live.clock import LiveClock
from harness.live.fault_proxy import RegionProxy
from harness.live.faults import FaultController
from harness.live.mwaa.backend import EnvironmentBackend, ProvisionHandle, ProvisionStatus
from harness.live.mwaa.faults import CreateFailureFaults
from harness.live.mwaa.scripted import ScriptedBackend
from harness.live.mwaa.service import MwaaService
from harness.live.mwaa_api import MwaaApiServer, RegionalMwaaApi, waiter
from harness.live.processes import free_port

EAST, WEST = "us-east-1", "us-west-2"
FAST = {"Delay": 0.05, "MaxAttempts": 100}


def env_request(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/mwaa-exec",
        "SourceBucketArn": "arn:aws:s3:::dags-east",
        "DagS3Path": "dags",
        "NetworkConfiguration": {
            "SubnetIds": ["subnet-a", "subnet-b"],
            "SecurityGroupIds": ["sg-1"],
        },
        "AirflowVersion": "3.0.6",
        "EnvironmentClass": "mw1.small",
        "MaxWorkers": 2,
        "AirflowConfigurationOptions": {"core.dags_are_paused_at_creation": "False"},
    }
    request.update(overrides)
    return request


def mwaa_client(region: str, endpoint_url: str) -> BaseClient:
    """A plain boto3 mwaa client (no retries, so each fault shows)."""
    return boto3.client(
        "mwaa",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            inject_host_prefix=False,
            retries={"mode": "standard", "max_attempts": 0},
            connect_timeout=2,
            read_timeout=5,
            proxies={},
        ),
    )


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, float]] = []
        self.lock = threading.Lock()

    def __call__(self, region: str, name: str, status: str, t: float) -> None:
        with self.lock:
            self.events.append((region, name, status, t))

    def statuses(self, region: str, name: str) -> list[str]:
        with self.lock:
            return [s for r, n, s, _ in self.events if (r, n) == (region, name)]


class Stack:
    def __init__(self, **service_kwargs: Any) -> None:
        self.clock = LiveClock()
        self.backend: Any = service_kwargs.pop("backend", None) or ScriptedBackend(
            now=self.clock.now, provision_s=service_kwargs.pop("provision_s", 0.0)
        )
        self.recorder = Recorder()
        self.failures = CreateFailureFaults(seed=11)
        self.service = MwaaService(
            self.backend,
            clock=self.clock,
            on_state=self.recorder,
            failures=self.failures,
            poll_interval_s=0.01,
            health_interval_s=0.02,
            **service_kwargs,
        )
        self.server = MwaaApiServer(self.service).start()
        self._clients: dict[str, BaseClient] = {}

    def client(self, region: str) -> BaseClient:
        if region not in self._clients:
            self._clients[region] = mwaa_client(region, self.server.url)
        return self._clients[region]

    def wait(self, region: str, name: str, *statuses: str | None) -> str | None:
        return self.service.wait_for_status(region, name, statuses, timeout_s=5.0)

    def close(self) -> None:
        self.server.stop(timeout_s=3.0)


@pytest.fixture
def stack() -> Iterator[Stack]:
    s = Stack(create_delay_s=0.05)
    try:
        yield s
    finally:
        s.close()


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Mapping[str, Any] = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# Lifecycle ------------------------------------------------------------------------------------


def test_create_goes_creating_then_available_with_the_request_echoed() -> None:
    s = Stack(provision_s=0.2, create_delay_s=0.1)
    try:
        mwaa = s.client(EAST)
        arn = mwaa.create_environment(Name="prod", **env_request(Tags={"team": "dr"}))["Arn"]
        assert arn == "arn:aws:airflow:us-east-1:123456789012:environment/prod"
        env = mwaa.get_environment(Name="prod")["Environment"]
        assert env["Status"] == "CREATING"
        assert env["Arn"] == arn and env["Name"] == "prod"
        assert env["DagS3Path"] == "dags" and env["SourceBucketArn"] == "arn:aws:s3:::dags-east"
        assert env["NetworkConfiguration"]["SubnetIds"] == ["subnet-a", "subnet-b"]
        assert env["AirflowConfigurationOptions"] == {"core.dags_are_paused_at_creation": "False"}
        assert env["MaxWorkers"] == 2 and env["MinWorkers"] == 1  # a default filled in
        assert env["Tags"] == {"team": "dr"}
        assert env["CreatedAt"].year >= 2024 and env["WebserverUrl"]

        waiter(mwaa, "EnvironmentAvailable").wait(Name="prod", WaiterConfig=FAST)
        assert mwaa.get_environment(Name="prod")["Environment"]["Status"] == "AVAILABLE"
        events = [e for e in s.recorder.events if e[1] == "prod"]
        assert [e[2] for e in events] == ["CREATING", "AVAILABLE"]
        assert events[1][3] - events[0][3] >= 0.3  # backend time + the creation delay
        assert ("provision", EAST, "prod") in s.backend.calls
    finally:
        s.close()


def test_get_of_an_unknown_name_is_resource_not_found(stack: Stack) -> None:
    with pytest.raises(ClientError) as excinfo:
        stack.client(EAST).get_environment(Name="nope")
    assert error_of(excinfo) == ("ResourceNotFoundException", 404)
    assert isinstance(excinfo.value, stack.client(EAST).exceptions.ResourceNotFoundException)


def test_create_twice_is_a_validation_exception_even_after_create_failed(stack: Stack) -> None:
    mwaa = stack.client(EAST)
    mwaa.create_environment(Name="dup", **env_request())
    with pytest.raises(ClientError) as excinfo:
        mwaa.create_environment(Name="dup", **env_request())
    assert error_of(excinfo) == ("ValidationException", 400)
    assert "already exists" in excinfo.value.response["Error"]["Message"]

    stack.failures.switch_on(EAST, 1.0)
    mwaa.create_environment(Name="dup2", **env_request())
    assert stack.wait(EAST, "dup2", "CREATE_FAILED") == "CREATE_FAILED"
    with pytest.raises(ClientError) as excinfo:
        mwaa.create_environment(Name="dup2", **env_request())
    assert error_of(excinfo) == ("ValidationException", 400)


def test_bad_requests_are_validation_exceptions(stack: Stack) -> None:
    mwaa = stack.client(EAST)
    bad = [
        ("1starts-with-digit", env_request()),
        ("ok", env_request(NetworkConfiguration={"SubnetIds": ["a", "b", "c"]})),
        ("ok", env_request(SourceBucketArn="arn:aws:s3:::Bad_Bucket")),
        ("ok", env_request(AirflowConfigurationOptions={"Core.Bad": "x"})),
        ("ok", env_request(MinWorkers=5, MaxWorkers=2)),
    ]
    for name, request in bad:
        with pytest.raises(ClientError) as excinfo:
            mwaa.create_environment(Name=name, **request)
        assert error_of(excinfo) == ("ValidationException", 400), (name, request)
    assert stack.service.environments() == []


def test_list_environments_pages(stack: Stack) -> None:
    mwaa = stack.client(EAST)
    names = [f"env-{i}" for i in range(5)]
    for name in names:
        mwaa.create_environment(Name=name, **env_request())
    first = mwaa.list_environments(MaxResults=2)
    assert first["Environments"] == names[:2] and first["NextToken"]
    second = mwaa.list_environments(MaxResults=2, NextToken=first["NextToken"])
    assert second["Environments"] == names[2:4]
    third = mwaa.list_environments(MaxResults=2, NextToken=second["NextToken"])
    assert third["Environments"] == names[4:] and "NextToken" not in third

    pages = list(mwaa.get_paginator("list_environments").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3
    assert [n for page in pages for n in page["Environments"]] == names
    assert mwaa.list_environments()["Environments"] == names

    for kwargs in ({"MaxResults": 26}, {"NextToken": "not-a-token"}):
        with pytest.raises(ClientError) as excinfo:
            mwaa.list_environments(**kwargs)
        assert error_of(excinfo) == ("ValidationException", 400)
    # A token of one Region is no good in another.
    with pytest.raises(ClientError) as excinfo:
        stack.client(WEST).list_environments(NextToken=first["NextToken"])
    assert error_of(excinfo) == ("ValidationException", 400)


def test_update_goes_updating_then_available_or_update_failed() -> None:
    s = Stack(provision_s=0.0, create_delay_s=0.3, update_delay_s=0.1)
    try:
        mwaa = s.client(EAST)
        mwaa.create_environment(Name="upd", **env_request())
        with pytest.raises(ClientError) as excinfo:  # not while CREATING
            mwaa.update_environment(Name="upd", MaxWorkers=4)
        assert error_of(excinfo) == ("ValidationException", 400)
        s.wait(EAST, "upd", "AVAILABLE")

        mwaa.update_environment(
            Name="upd", MaxWorkers=4, AirflowConfigurationOptions={"core.parallelism": "8"}
        )
        env = mwaa.get_environment(Name="upd")["Environment"]
        assert env["Status"] == "UPDATING" and env["LastUpdate"]["Status"] == "PENDING"
        assert env["MaxWorkers"] == 2  # not applied until the update is done
        s.wait(EAST, "upd", "AVAILABLE")
        env = mwaa.get_environment(Name="upd")["Environment"]
        assert env["MaxWorkers"] == 4
        assert env["AirflowConfigurationOptions"] == {"core.parallelism": "8"}
        assert env["LastUpdate"]["Status"] == "SUCCESS"

        s.backend.fail_next_update(EAST, "INCORRECT_CONFIGURATION", "bad option")
        mwaa.update_environment(Name="upd", MaxWorkers=9)
        s.wait(EAST, "upd", "UPDATE_FAILED")
        env = mwaa.get_environment(Name="upd")["Environment"]
        assert env["MaxWorkers"] == 4  # back on the previous configuration
        assert env["LastUpdate"]["Status"] == "FAILED"
        assert env["LastUpdate"]["Error"] == {
            "ErrorCode": "INCORRECT_CONFIGURATION",
            "ErrorMessage": "bad option",
        }
        assert s.recorder.statuses(EAST, "upd") == [
            "CREATING",
            "AVAILABLE",
            "UPDATING",
            "AVAILABLE",
            "UPDATING",
            "UPDATE_FAILED",
        ]
        with pytest.raises(ClientError) as excinfo:
            mwaa.update_environment(Name="nope", MaxWorkers=4)
        assert error_of(excinfo) == ("ResourceNotFoundException", 404)
    finally:
        s.close()


def test_delete_goes_deleting_then_gone() -> None:
    s = Stack(delete_delay_s=0.1, provision_s=0.1)
    try:
        mwaa = s.client(EAST)
        mwaa.create_environment(Name="gone", **env_request())
        with pytest.raises(ClientError) as excinfo:  # not while CREATING (as the simulator)
            mwaa.delete_environment(Name="gone")
        assert error_of(excinfo) == ("ValidationException", 400)
        s.wait(EAST, "gone", "AVAILABLE")
        mwaa.delete_environment(Name="gone")
        assert mwaa.get_environment(Name="gone")["Environment"]["Status"] == "DELETING"
        with pytest.raises(ClientError) as excinfo:  # twice
            mwaa.delete_environment(Name="gone")
        assert error_of(excinfo) == ("ValidationException", 400)
        waiter(mwaa, "EnvironmentDeleted").wait(Name="gone", WaiterConfig=FAST)
        with pytest.raises(ClientError) as excinfo:
            mwaa.get_environment(Name="gone")
        assert error_of(excinfo) == ("ResourceNotFoundException", 404)
        assert s.recorder.statuses(EAST, "gone")[-2:] == ["DELETING", "DELETED"]
        assert ("deprovision", EAST, "gone") in s.backend.calls
        assert mwaa.list_environments()["Environments"] == []
        with pytest.raises(ClientError) as excinfo:
            mwaa.delete_environment(Name="gone")
        assert error_of(excinfo) == ("ResourceNotFoundException", 404)
        # The name is free again.
        mwaa.create_environment(Name="gone", **env_request())
        assert s.wait(EAST, "gone", "AVAILABLE") == "AVAILABLE"
    finally:
        s.close()


# Failures -------------------------------------------------------------------------------------


def test_injected_create_failure_ends_create_failed_with_a_reason(stack: Stack) -> None:
    fault_id = stack.failures.switch_on(WEST, 1.0, error_message="injected for the test")
    west, east = stack.client(WEST), stack.client(EAST)
    west.create_environment(Name="dr", **env_request())
    east.create_environment(Name="dr", **env_request())
    with pytest.raises(WaiterError):
        waiter(west, "EnvironmentAvailable").wait(Name="dr", WaiterConfig=FAST)
    env = west.get_environment(Name="dr")["Environment"]
    assert env["Status"] == "CREATE_FAILED"
    assert env["LastUpdate"]["Status"] == "FAILED"
    assert env["LastUpdate"]["Error"] == {
        "ErrorCode": "INCORRECT_CONFIGURATION",
        "ErrorMessage": "injected for the test",
    }
    assert stack.wait(EAST, "dr", "AVAILABLE") == "AVAILABLE"  # the other Region is fine
    with pytest.raises(ClientError) as excinfo:  # a failed environment serves no REST API
        west.invoke_rest_api(Name="dr", Path="/dags", Method="GET")
    assert error_of(excinfo) == ("ValidationException", 400)

    # As in MWAA: delete the failed environment, then create it again.
    assert stack.failures.clear(fault_id)
    west.delete_environment(Name="dr")
    stack.wait(WEST, "dr", None)
    west.create_environment(Name="dr", **env_request())
    assert stack.wait(WEST, "dr", "AVAILABLE", "CREATE_FAILED") == "AVAILABLE"
    assert stack.recorder.statuses(WEST, "dr") == [
        "CREATING",
        "CREATE_FAILED",
        "DELETING",
        "DELETED",
        "CREATING",
        "AVAILABLE",
    ]


def test_create_failure_draws_are_seeded_per_region() -> None:
    def outcomes(seed: int) -> list[bool]:
        faults = CreateFailureFaults(seed=seed)
        faults.switch_on(EAST, 0.5)
        faults.switch_on(WEST, 0.5)
        out = []
        for i in range(40):
            if i % 3 == 0:
                faults.draw(WEST)  # draws in the other Region do not shift this one's
            out.append(faults.draw(EAST) is not None)
        return out

    first = outcomes(3)
    assert first == outcomes(3)
    assert 5 < sum(first) < 35  # both outcomes happen at p = 0.5
    faults = CreateFailureFaults(seed=3)
    faults.switch_on(EAST, 0.5)
    alone = [faults.draw(EAST) is not None for _ in range(40)]
    assert alone == first
    assert faults.draw(WEST) is None  # no fault on there
    with pytest.raises(ValueError):
        faults.switch_on(EAST, 0.0)


def test_a_backend_failure_and_a_creation_timeout_end_create_failed() -> None:
    s = Stack(provision_s=0.0, create_timeout_s=0.3)
    try:
        backend = s.backend
        backend.fail_next_provision(EAST, "INCORRECT_CONFIGURATION", "no such bucket")
        mwaa = s.client(EAST)
        mwaa.create_environment(Name="bad", **env_request())
        s.wait(EAST, "bad", "CREATE_FAILED")
        error = mwaa.get_environment(Name="bad")["Environment"]["LastUpdate"]["Error"]
        assert error == {"ErrorCode": "INCORRECT_CONFIGURATION", "ErrorMessage": "no such bucket"}
    finally:
        s.close()

    class Stuck(ScriptedBackend):
        def provision(self, region: str, name: str, config: Mapping[str, Any]) -> ProvisionHandle:
            if name == "boom":
                raise RuntimeError("cannot start")
            return _Never()

    class _Never:
        def poll(self) -> ProvisionStatus:
            return ProvisionStatus.pending()

        def cancel(self) -> None:
            cancelled.append(True)

    cancelled: list[bool] = []
    s = Stack(backend=Stuck(), create_timeout_s=0.2)
    try:
        mwaa = s.client(EAST)
        mwaa.create_environment(Name="slow", **env_request())
        mwaa.create_environment(Name="boom", **env_request())
        s.wait(EAST, "slow", "CREATE_FAILED")
        s.wait(EAST, "boom", "CREATE_FAILED")
        slow = mwaa.get_environment(Name="slow")["Environment"]["LastUpdate"]["Error"]
        boom = mwaa.get_environment(Name="boom")["Environment"]["LastUpdate"]["Error"]
        assert slow["ErrorCode"] == "TIMED_OUT" and cancelled == [True]
        assert boom["ErrorCode"] == "INTERNAL_FAILURE" and "cannot start" in boom["ErrorMessage"]
    finally:
        s.close()


def test_unavailable_while_airflow_is_gone(stack: Stack) -> None:
    mwaa = stack.client(EAST)
    mwaa.create_environment(Name="prod", **env_request())
    stack.wait(EAST, "prod", "AVAILABLE")
    backend = stack.backend
    backend.kill(EAST, "prod")
    assert stack.wait(EAST, "prod", "UNAVAILABLE") == "UNAVAILABLE"
    assert mwaa.get_environment(Name="prod")["Environment"]["Status"] == "UNAVAILABLE"
    with pytest.raises(ClientError) as excinfo:
        mwaa.invoke_rest_api(Name="prod", Path="/dags", Method="GET")
    assert error_of(excinfo) == ("ValidationException", 400)
    backend.revive(EAST, "prod")
    assert stack.wait(EAST, "prod", "AVAILABLE") == "AVAILABLE"
    assert stack.recorder.statuses(EAST, "prod") == [
        "CREATING",
        "AVAILABLE",
        "UNAVAILABLE",
        "AVAILABLE",
    ]


# Regions --------------------------------------------------------------------------------------


def test_regions_are_isolated(stack: Stack) -> None:
    east, west = stack.client(EAST), stack.client(WEST)
    east.create_environment(Name="shared", **env_request(MaxWorkers=3))
    west.create_environment(
        Name="shared", **env_request(MaxWorkers=7, SourceBucketArn="arn:aws:s3:::dags-west")
    )
    west.create_environment(Name="west-only", **env_request())
    e = east.get_environment(Name="shared")["Environment"]
    w = west.get_environment(Name="shared")["Environment"]
    assert (e["MaxWorkers"], w["MaxWorkers"]) == (3, 7)
    assert ":us-east-1:" in e["Arn"] and ":us-west-2:" in w["Arn"]
    assert east.list_environments()["Environments"] == ["shared"]
    assert west.list_environments()["Environments"] == ["shared", "west-only"]
    with pytest.raises(ClientError) as excinfo:
        east.get_environment(Name="west-only")
    assert error_of(excinfo) == ("ResourceNotFoundException", 404)
    # Tags by ARN: an ARN of another Region is not found.
    with pytest.raises(ClientError) as excinfo:
        east.list_tags_for_resource(ResourceArn=w["Arn"])
    assert error_of(excinfo) == ("ResourceNotFoundException", 404)

    stack.wait(EAST, "shared", "AVAILABLE")
    stack.wait(WEST, "shared", "AVAILABLE")
    east.invoke_rest_api(
        Name="shared", Path="/variables", Method="POST", Body={"key": "k", "value": "east"}
    )
    west_vars = west.invoke_rest_api(Name="shared", Path="/variables", Method="GET")
    assert west_vars["RestApiResponse"]["total_entries"] == 0
    east.delete_environment(Name="shared")
    stack.wait(EAST, "shared", None)
    assert west.get_environment(Name="shared")["Environment"]["Status"] == "AVAILABLE"


# InvokeRestApi --------------------------------------------------------------------------------


def test_invoke_rest_api_round_trip(stack: Stack) -> None:
    mwaa = stack.client(EAST)
    with pytest.raises(ClientError) as excinfo:
        mwaa.invoke_rest_api(Name="nope", Path="/dags", Method="GET")
    assert error_of(excinfo) == ("ResourceNotFoundException", 404)
    mwaa.create_environment(Name="prod", **env_request())
    with pytest.raises(ClientError) as excinfo:  # while CREATING
        mwaa.invoke_rest_api(Name="prod", Path="/dags", Method="GET")
    assert error_of(excinfo) == ("ValidationException", 400)
    stack.wait(EAST, "prod", "AVAILABLE")

    health = mwaa.invoke_rest_api(Name="prod", Path="/api/v2/monitor/health", Method="GET")
    assert health["RestApiStatusCode"] == 200
    assert health["RestApiResponse"]["metadatabase"]["status"] == "healthy"
    dags = mwaa.invoke_rest_api(
        Name="prod", Path="/dags", Method="GET", QueryParameters={"limit": 10, "paused": False}
    )
    assert dags["RestApiResponse"]["dags"][0]["dag_id"] == "workload_hourly"  # unpaused
    created = mwaa.invoke_rest_api(
        Name="prod",
        Path="/variables",
        Method="POST",
        Body={"key": "dr_bucket", "value": "backups-east"},
    )
    assert created["RestApiStatusCode"] == 201
    got = mwaa.invoke_rest_api(Name="prod", Path="/variables/dr_bucket", Method="GET")
    assert got["RestApiResponse"]["value"] == "backups-east"

    with pytest.raises(ClientError) as excinfo:  # Airflow 409 -> RestApiClientException
        mwaa.invoke_rest_api(
            Name="prod", Path="/variables", Method="POST", Body={"key": "dr_bucket", "value": "x"}
        )
    assert error_of(excinfo) == ("RestApiClientException", 400)
    assert excinfo.value.response["RestApiStatusCode"] == 409
    assert "already exists" in excinfo.value.response["RestApiResponse"]["detail"]
    with pytest.raises(ClientError) as excinfo:
        mwaa.invoke_rest_api(Name="prod", Path="/no/such/path", Method="GET")
    assert excinfo.value.response["RestApiStatusCode"] == 404

    backend = stack.backend
    backend.kill(EAST, "prod")  # no answer from Airflow (before the health check notices)
    with pytest.raises(ClientError) as excinfo:
        mwaa.invoke_rest_api(Name="prod", Path="/dags", Method="GET")
    code, status = error_of(excinfo)
    if code == "RestApiServerException":
        assert status == 400
        assert excinfo.value.response["RestApiStatusCode"] == 502
    else:  # the health check was faster: UNAVAILABLE
        assert code == "ValidationException"


# Tokens, tags, authentication -------------------------------------------------------------------


def test_tokens_and_tags(stack: Stack) -> None:
    mwaa = stack.client(EAST)
    arn = mwaa.create_environment(Name="prod", **env_request(Tags={"a": "1"}))["Arn"]
    cli = mwaa.create_cli_token(Name="prod")
    web = mwaa.create_web_login_token(Name="prod")
    assert cli["CliToken"] and web["WebToken"] and cli["CliToken"] != web["WebToken"]
    assert cli["WebServerHostname"].endswith(".invalid")
    assert web["IamIdentity"] == "user/testing"
    with pytest.raises(ClientError) as excinfo:
        mwaa.create_cli_token(Name="nope")
    assert error_of(excinfo) == ("ResourceNotFoundException", 404)

    mwaa.tag_resource(ResourceArn=arn, Tags={"b": "2"})
    assert mwaa.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"a": "1", "b": "2"}
    mwaa.untag_resource(ResourceArn=arn, tagKeys=["a"])
    assert mwaa.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"b": "2"}
    assert mwaa.get_environment(Name="prod")["Environment"]["Tags"] == {"b": "2"}


def raw_request(url: str, method: str, path: str, headers: dict[str, str]) -> tuple[int, Any, str]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request(method, path, body=b"{}", headers=headers)
        response = conn.getresponse()
        return (
            response.status,
            json.loads(response.read()),
            response.getheader("x-amzn-ErrorType") or "",
        )
    finally:
        conn.close()


def test_unsigned_and_wrongly_scoped_requests_are_refused(stack: Stack) -> None:
    status, body, code = raw_request(stack.server.url, "GET", "/environments", {})
    assert (status, code) == (403, "MissingAuthenticationTokenException")
    assert body["message"] == "Missing Authentication Token"
    status, _, code = raw_request(
        stack.server.url, "GET", "/environments", {"Authorization": "Basic dXNlcjpwdw=="}
    )
    assert (status, code) == (403, "IncompleteSignatureException")
    scoped = (
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{}/aws4_request, "
        "SignedHeaders=host, Signature=00"
    )
    status, _, code = raw_request(
        stack.server.url, "GET", "/environments", {"Authorization": scoped.format("monitoring")}
    )
    assert (status, code) == (403, "InvalidSignatureException")
    status, body, _ = raw_request(
        stack.server.url, "GET", "/environments", {"Authorization": scoped.format("airflow")}
    )
    assert (status, body) == (200, {"Environments": []})

    open_server = MwaaApiServer(
        stack.service, require_signature=False, default_region=WEST, manage_service=False
    )
    open_server.start()
    try:
        stack.client(WEST).create_environment(Name="w", **env_request())
        status, body, _ = raw_request(open_server.url, "GET", "/environments", {})
        assert (status, body) == (200, {"Environments": ["w"]})
    finally:
        open_server.stop(timeout_s=2.0)
    assert stack.client(WEST).list_environments()["Environments"] == ["w"]  # still served


# Behind the fault layer ---------------------------------------------------------------------------


def test_through_region_proxies_with_faults() -> None:
    """One pinned server per Region behind each Region's fault proxy (the LiveAws wiring)."""
    clock = LiveClock()
    service = MwaaService(ScriptedBackend(now=clock.now), clock=clock, poll_interval_s=0.01)
    controller = FaultController(regions=(EAST, WEST))
    dead_emulator = f"http://127.0.0.1:{free_port()}"  # nothing but mwaa is routed anywhere
    with RegionalMwaaApi(service, [EAST, WEST]) as api:
        proxies = {
            region: RegionProxy(
                region, dead_emulator, controller, routes={"mwaa": api.endpoint_url(region)}
            ).start()
            for region in (EAST, WEST)
        }
        try:
            east = mwaa_client(EAST, proxies[EAST].url)
            west = mwaa_client(WEST, proxies[WEST].url)
            east.create_environment(Name="prod", **env_request())
            assert west.list_environments()["Environments"] == []
            assert east.list_environments()["Environments"] == ["prod"]
            # A client of one Region sent to the other Region's endpoint is refused.
            with pytest.raises(ClientError) as excinfo:
                mwaa_client(WEST, proxies[EAST].url).list_environments()
            assert error_of(excinfo) == ("InvalidSignatureException", 403)

            controller.error(EAST, "mwaa", "ServiceUnavailableException")
            with pytest.raises(ClientError) as excinfo:
                east.get_environment(Name="prod")
            assert error_of(excinfo) == ("ServiceUnavailableException", 503)
            assert west.list_environments()["Environments"] == []  # the other Region is fine
            controller.clear_all()

            controller.unreachable(EAST, mode="refuse")
            with pytest.raises(EndpointConnectionError):
                east.get_environment(Name="prod")
            controller.clear_all()
            assert east.get_environment(Name="prod")["Environment"]["Name"] == "prod"
            assert proxies[EAST].counts()["forwarded/mwaa"] >= 3
        finally:
            for proxy in proxies.values():
                proxy.stop(timeout_s=1.0)


def test_scripted_backend_satisfies_the_protocol() -> None:
    backend = ScriptedBackend()
    assert isinstance(backend, EnvironmentBackend)
    handle = backend.provision(EAST, "x", {"AirflowVersion": "3.0.6"})
    assert isinstance(handle, ProvisionHandle)
    assert handle.poll().state == "ready"
    assert backend.health(EAST, "x") == "healthy"
    assert backend.invoke_rest_api(EAST, "x", "GET", "/version", {}, None) == (
        200,
        {"version": "3.0.6", "git_version": None},
    )
    assert backend.invoke_rest_api(EAST, "x", "PUT", "/dags", {}, None)[0] == 405
    backend.deprovision(EAST, "x")
    backend.deprovision(EAST, "x")  # idempotent
    assert backend.health(EAST, "x") == "unhealthy"
