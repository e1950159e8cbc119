"""The live Metrics/ObjectStore ports and the heartbeat publisher, without a server: error
translation, the requests they make (checked against botocore's models with Stubber), paging,
bodies, and the publisher's schedule."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, cast

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    ParamValidationError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.response import StreamingBody
from botocore.stub import Stubber

from harness.live import clock
from harness.live.heartbeat import (
    HeartbeatPublisher,
    heartbeat_datum,
    heartbeat_times,
    put_heartbeats,
)
from harness.live.ports import (
    MALFORMED_BODY,
    LiveMetrics,
    LiveObjectStore,
    cloudwatch_period,
    encode_body,
    live_ports,
    translate_error,
    translated,
)
from reference_impl.ports import (
    PRECONDITION_FAILED,
    THROTTLED,
    TIMED_OUT,
    UNREACHABLE,
    PortError,
)

P, S = "us-east-1", "us-west-2"
ORIGIN = 1_700_000_000.0
URL = "http://127.0.0.1:9"


class FakeClock:
    def __init__(self, t: float = 500.0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    def wall_of(self, t: float) -> float:
        return ORIGIN + t

    def drill_time_of(self, unix_time: float) -> float:
        return unix_time - ORIGIN


def client_error(code: str, status: int = 400, message: str = "msg") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "Operation")


def boto_client(service: str, region: str = P) -> Any:
    return boto3.session.Session(
        region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
    ).client(cast(Any, service), endpoint_url=URL)


# Error translation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (client_error("ServiceUnavailable", 503), "ServiceUnavailable"),
        (client_error("InternalFailure", 500), "InternalFailure"),
        (client_error("NoSuchBucket", 404), "NoSuchBucket"),
        (client_error("Throttling"), THROTTLED),
        (client_error("ThrottlingException"), THROTTLED),
        (client_error("SlowDown", 503), THROTTLED),
        (client_error("TooManyRequestsException", 429), THROTTLED),
        (client_error("RequestLimitExceeded", 503), THROTTLED),
        (client_error("LimitExceededException"), "LimitExceededException"),  # a quota
        (client_error("PreconditionFailed", 412), PRECONDITION_FAILED),
        (client_error("NoSuchKey", 404), "NoSuchKey"),  # only a conditional put loses by it
        (client_error("ConditionalRequestConflict", 409), "ConditionalRequestConflict"),
        (ClientError(cast(Any, {"ResponseMetadata": {"HTTPStatusCode": 404}}), "Head"), "404"),
        (EndpointConnectionError(endpoint_url=URL), UNREACHABLE),
        (ConnectionClosedError(endpoint_url=URL), UNREACHABLE),
        (ResponseStreamingError(error="reset"), UNREACHABLE),
        (IncompleteReadError(actual_bytes=1, expected_bytes=2), UNREACHABLE),
        (ConnectTimeoutError(endpoint_url=URL), TIMED_OUT),
        (ReadTimeoutError(endpoint_url=URL), TIMED_OUT),
    ],
)
def test_translate_error(error: Exception, code: str) -> None:
    translated_error = translate_error(error)
    assert translated_error is not None
    assert translated_error.code == code


@pytest.mark.parametrize("code", ["NoSuchKey", "ConditionalRequestConflict", "PreconditionFailed"])
def test_a_conditional_write_that_loses_is_precondition_failed(code: str) -> None:
    translated_error = translate_error(client_error(code), conditional_write=True)
    assert translated_error is not None and translated_error.code == PRECONDITION_FAILED
    assert code in translated_error.message


def test_throttling_keeps_the_original_code_in_the_message() -> None:
    translated_error = translate_error(client_error("SlowDown", 503, "Reduce your rate"))
    assert translated_error is not None and translated_error.message == "SlowDown: Reduce your rate"


def test_bugs_are_not_translated() -> None:
    assert translate_error(ParamValidationError(report="bad")) is None
    assert translate_error(ValueError("x")) is None
    with pytest.raises(ParamValidationError), translated():
        raise ParamValidationError(report="bad")


def test_translated_chains_the_botocore_error() -> None:
    original = client_error("ServiceUnavailable", 503)
    with pytest.raises(PortError) as raised, translated():
        raise original
    assert raised.value.code == "ServiceUnavailable" and raised.value.__cause__ is original


# Wiring ---------------------------------------------------------------------------------------


class StubAws:
    regions = (P, S)

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, dict[str, Any]]] = []

    def client(self, service: str, region: str, **settings: Any) -> Any:
        self.asked.append((service, region, settings))
        return object()


def test_live_ports_are_bound_to_a_caller_and_reach_the_target_region() -> None:
    aws = StubAws()
    metrics, store = live_ports(cast(Any, aws), S, FakeClock(), max_attempts=1)
    assert (metrics.caller, store.caller) == (S, S)
    metrics.clients("cloudwatch", P)
    store.clients("s3", P)
    # Each call goes to the target's endpoint as the caller's Region reaches it (its path).
    assert aws.asked == [
        ("cloudwatch", P, {"caller": S, "max_attempts": 1}),
        ("s3", P, {"caller": S, "max_attempts": 1}),
    ]
    with pytest.raises(ValueError):
        live_ports(cast(Any, aws), "eu-west-1", FakeClock())


# Metrics --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        (0.5, 1),
        (1, 1),
        (3, 5),
        (5, 5),
        (7, 10),
        (30, 30),
        (31, 60),
        (60, 60),
        (60.0000000001, 60),
        (61, 120),
        (90, 120),
        (300, 300),
        (301, 360),
    ],
)
def test_cloudwatch_period(period: float, expected: int) -> None:
    assert cloudwatch_period(period) == expected


@pytest.mark.parametrize("period", [0, -5, math.inf, math.nan])
def test_cloudwatch_period_rejects_non_periods(period: float) -> None:
    with pytest.raises(ValueError):
        cloudwatch_period(period)


def metric_query(env: str, period: int) -> dict[str, Any]:
    return {
        "Id": "heartbeat",
        "MetricStat": {
            "Metric": {
                "Namespace": "AmazonMWAA",
                "MetricName": "SchedulerHeartbeat",
                "Dimensions": [
                    {"Name": "Environment", "Value": env},
                    {"Name": "Function", "Value": "Scheduler"},
                ],
            },
            "Period": period,
            "Stat": "Average",
        },
        "ReturnData": True,
    }


def test_scheduler_heartbeat_asks_for_one_period_ending_now_in_the_target_region() -> None:
    cloudwatch = boto_client("cloudwatch", P)
    asked: list[tuple[str, str]] = []

    def clients(service: str, region: str) -> Any:
        asked.append((service, region))
        return cloudwatch

    metrics = LiveMetrics(clients, S, FakeClock(500.0))
    with Stubber(cloudwatch) as stub:
        stub.add_response(
            "get_metric_data",
            {"MetricDataResults": [{"Id": "heartbeat", "Values": [1.0], "StatusCode": "Complete"}]},
            {
                "MetricDataQueries": [metric_query("env", 120)],
                "StartTime": datetime.fromtimestamp(ORIGIN + 410.0, UTC),
                "EndTime": datetime.fromtimestamp(ORIGIN + 500.0, UTC),
            },
        )
        assert metrics.scheduler_heartbeat(P, "env", 90.0) == [1.0]
        stub.assert_no_pending_responses()
    assert asked == [("cloudwatch", P)]


class FakeCloudWatch:
    def __init__(self, pages: list[dict[str, Any]] | None = None, error: Exception | None = None):
        self.pages = pages or []
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return self.pages[len(self.calls) - 1]


def metrics_with(fake: FakeCloudWatch, **kwargs: Any) -> LiveMetrics:
    return LiveMetrics(lambda service, region: fake, S, FakeClock(), **kwargs)


def test_scheduler_heartbeat_is_empty_without_datapoints_and_follows_pages() -> None:
    empty = FakeCloudWatch([{"MetricDataResults": [{"Id": "heartbeat", "Values": []}]}])
    assert metrics_with(empty).scheduler_heartbeat(P, "env", 60.0) == []
    paged = FakeCloudWatch(
        [
            {"MetricDataResults": [{"Id": "heartbeat", "Values": [1.0]}], "NextToken": "t1"},
            {"MetricDataResults": [{"Id": "heartbeat", "Values": [1.0]}, {"Id": "other"}]},
        ]
    )
    assert metrics_with(paged).scheduler_heartbeat(P, "env", 60.0) == [1.0, 1.0]
    assert paged.calls[1]["NextToken"] == "t1"


def test_scheduler_heartbeat_paging_is_bounded() -> None:
    endless = FakeCloudWatch([{"MetricDataResults": [], "NextToken": f"t{i}"} for i in range(5)])
    with pytest.raises(RuntimeError):
        metrics_with(endless, max_pages=3).scheduler_heartbeat(P, "env", 60.0)
    assert len(endless.calls) == 3


def test_scheduler_heartbeat_errors_are_port_errors() -> None:
    for error, code in [
        (client_error("Throttling"), THROTTLED),
        (ReadTimeoutError(endpoint_url=URL), TIMED_OUT),
        (EndpointConnectionError(endpoint_url=URL), UNREACHABLE),
    ]:
        with pytest.raises(PortError) as raised:
            metrics_with(FakeCloudWatch(error=error)).scheduler_heartbeat(P, "env", 60.0)
        assert raised.value.code == code
    failed = FakeCloudWatch(
        [
            {
                "MetricDataResults": [
                    {
                        "Id": "heartbeat",
                        "StatusCode": "InternalError",
                        "Messages": [{"Code": "x", "Value": "boom"}],
                    }
                ]
            }
        ]
    )
    with pytest.raises(PortError) as raised:
        metrics_with(failed).scheduler_heartbeat(P, "env", 60.0)
    assert raised.value.code == "InternalError" and "boom" in raised.value.message


# Objects: bodies ------------------------------------------------------------------------------


def test_bodies_are_canonical_json() -> None:
    body = MappingProxyType({"b": (1, 2), "a": {"x": None, "é": 1.5}})
    assert encode_body(body) == '{"a":{"x":null,"é":1.5},"b":[1,2]}'.encode()
    assert encode_body({"a": 1, "b": 2}) == encode_body({"b": 2, "a": 1})


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({1: "x"}, TypeError),
        ({"a": {2: "x"}}, TypeError),
        ({"a": math.nan}, ValueError),
        ({"a": math.inf}, ValueError),
        ({"a": {1, 2}}, TypeError),
        ({"a": b"bytes"}, TypeError),
    ],
)
def test_what_json_cannot_carry_is_refused(body: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_body(body)


# Objects: requests ----------------------------------------------------------------------------


def store_with(client: Any, **kwargs: Any) -> LiveObjectStore:
    return LiveObjectStore(lambda service, region: client, S, FakeClock(), **kwargs)


@pytest.mark.parametrize(
    ("conditions", "headers"),
    [
        ({}, {}),
        ({"if_none_match": True}, {"IfNoneMatch": "*"}),
        ({"if_match": '"abc"'}, {"IfMatch": '"abc"'}),
    ],
)
def test_put_sends_json_and_its_conditions(
    conditions: dict[str, Any], headers: dict[str, str]
) -> None:
    s3 = boto_client("s3")
    with Stubber(s3) as stub:
        stub.add_response(
            "put_object",
            {"ETag": '"e1"'},
            {
                "Bucket": "bucket",
                "Key": "k.json",
                "Body": b'{"a":1}',
                "ContentType": "application/json",
                **headers,
            },
        )
        assert store_with(s3).put(P, "bucket", "k.json", {"a": 1}, **conditions) == '"e1"'
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "conditions", "expected"),
    [
        ("PreconditionFailed", 412, {"if_none_match": True}, PRECONDITION_FAILED),
        ("PreconditionFailed", 412, {"if_match": '"x"'}, PRECONDITION_FAILED),
        ("NoSuchKey", 404, {"if_match": '"x"'}, PRECONDITION_FAILED),
        ("ConditionalRequestConflict", 409, {"if_match": '"x"'}, PRECONDITION_FAILED),
        ("ServiceUnavailable", 503, {"if_match": '"x"'}, "ServiceUnavailable"),
        ("NoSuchBucket", 404, {}, "NoSuchBucket"),
    ],
)
def test_put_failures(code: str, status: int, conditions: dict[str, Any], expected: str) -> None:
    s3 = boto_client("s3")
    with Stubber(s3) as stub:
        stub.add_client_error("put_object", code, http_status_code=status)
        with pytest.raises(PortError) as raised:
            store_with(s3).put(P, "bucket", "k", {}, **conditions)
    assert raised.value.code == expected


def streaming(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_get_reads_the_body_etag_and_drill_time() -> None:
    s3 = boto_client("s3")
    with Stubber(s3) as stub:
        stub.add_response(
            "get_object",
            {
                "Body": streaming(b'{"a": [1, {"b": null}]}'),
                "ETag": '"e1"',
                "LastModified": datetime.fromtimestamp(ORIGIN + 42.0, UTC),
            },
            {"Bucket": "bucket", "Key": "k"},
        )
        got = store_with(s3).get(P, "bucket", "k")
    assert got is not None
    assert (got.key, got.body, got.etag, got.last_modified) == (
        "k",
        {"a": [1, {"b": None}]},
        '"e1"',
        42.0,
    )


def test_get_of_a_missing_key_is_none_other_errors_raise() -> None:
    s3 = boto_client("s3")
    with Stubber(s3) as stub:
        stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
        stub.add_client_error("get_object", "NoSuchBucket", http_status_code=404)
        stub.add_client_error("get_object", "SlowDown", http_status_code=503)
        store = store_with(s3)
        assert store.get(P, "bucket", "k") is None
        with pytest.raises(PortError) as no_bucket:
            store.get(P, "bucket", "k")
        with pytest.raises(PortError) as slow:
            store.get(P, "bucket", "k")
    assert no_bucket.value.code == "NoSuchBucket" and slow.value.code == THROTTLED


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_get_of_something_that_is_not_a_json_object(data: bytes) -> None:
    s3 = boto_client("s3")
    with Stubber(s3) as stub:
        stub.add_response(
            "get_object",
            {
                "Body": streaming(data),
                "ETag": '"e"',
                "LastModified": datetime.fromtimestamp(ORIGIN, UTC),
            },
        )
        with pytest.raises(PortError) as raised:
            store_with(s3).get(P, "bucket", "k")
    assert raised.value.code == MALFORMED_BODY


class FailingBody:
    def read(self) -> bytes:
        raise ReadTimeoutError(endpoint_url=URL)


class FakeS3:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    def list_objects_v2(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return self.pages[len(self.calls) - 1]

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        return {
            "Body": FailingBody(),
            "ETag": '"e"',
            "LastModified": datetime.fromtimestamp(ORIGIN, UTC),
        }


def test_a_body_that_times_out_while_read_is_timed_out() -> None:
    with pytest.raises(PortError) as raised:
        store_with(FakeS3([])).get(P, "bucket", "k")
    assert raised.value.code == TIMED_OUT


def page(keys: list[str], token: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"Contents": [{"Key": key} for key in keys], "IsTruncated": bool(token)}
    if token:
        out["NextContinuationToken"] = token
    return out


def test_list_keys_pages_and_sorts() -> None:
    fake = FakeS3([page(["p/b", "p/c"], "t1"), page(["p/a"], "t2"), page([])])
    assert store_with(fake, page_size=2).list_keys(P, "bucket", "p/") == ["p/a", "p/b", "p/c"]
    assert [call.get("ContinuationToken") for call in fake.calls] == [None, "t1", "t2"]
    assert all(call["Prefix"] == "p/" and call["MaxKeys"] == 2 for call in fake.calls)


def test_list_keys_is_bounded() -> None:
    endless = FakeS3([page([f"k{i}"], f"t{i}") for i in range(10)])
    with pytest.raises(RuntimeError):
        store_with(endless, max_pages=4).list_keys(P, "bucket", "")
    assert len(endless.calls) == 4
    stuck = FakeS3([page(["a"], "same"), page(["b"], "same")])
    with pytest.raises(RuntimeError):
        store_with(stuck).list_keys(P, "bucket", "")


def test_list_keys_request_is_valid_for_botocore() -> None:
    s3 = boto_client("s3")
    with Stubber(s3) as stub:
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": "p/z"}, {"Key": "p/a"}], "IsTruncated": False},
            {"Bucket": "bucket", "Prefix": "p/", "MaxKeys": 1000},
        )
        assert store_with(s3).list_keys(P, "bucket", "p/") == ["p/a", "p/z"]


# The heartbeat publisher ----------------------------------------------------------------------


class RecordingCloudWatch:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def put_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return {}

    def beats(self) -> list[dict[str, Any]]:
        return [datum for call in self.calls for datum in call["MetricData"]]


def test_heartbeat_datum_is_valid_put_metric_data() -> None:
    cloudwatch = boto_client("cloudwatch")
    with Stubber(cloudwatch) as stub:
        stub.add_response(
            "put_metric_data",
            {},
            {
                "Namespace": "AmazonMWAA",
                "MetricData": [
                    {
                        "MetricName": "SchedulerHeartbeat",
                        "Dimensions": [
                            {"Name": "Environment", "Value": "env"},
                            {"Name": "Function", "Value": "Scheduler"},
                        ],
                        "Timestamp": datetime.fromtimestamp(ORIGIN, UTC),
                        "Value": 1.0,
                        "Unit": "Count",
                    }
                ],
            },
        )
        assert put_heartbeats(cloudwatch, "env", [ORIGIN]) == 1


def test_put_heartbeats_batches() -> None:
    fake = RecordingCloudWatch()
    assert put_heartbeats(fake, "env", [ORIGIN + i for i in range(45)]) == 3
    assert [len(call["MetricData"]) for call in fake.calls] == [20, 20, 5]
    assert put_heartbeats(fake, "env", []) == 0


def test_heartbeat_times_are_the_grid_of_an_alive_interval() -> None:
    assert heartbeat_times(100.0, 120.0) == [100.0, 105.0, 110.0, 115.0]
    assert heartbeat_times(100.0, 120.5) == [100.0, 105.0, 110.0, 115.0, 120.0]
    assert heartbeat_times(100.0, 100.0) == []
    assert heartbeat_times(100.0, 100.1) == [100.0]


def test_beat_publishes_only_while_alive() -> None:
    fake = RecordingCloudWatch()
    alive = [False]
    publisher = HeartbeatPublisher(fake, "env", lambda: alive[0], wall_time=lambda: ORIGIN)
    assert publisher.beat() is False and fake.calls == []
    alive[0] = True
    assert publisher.beat() is True
    assert fake.beats() == [heartbeat_datum("env", ORIGIN)]
    assert (publisher.produced, publisher.published, publisher.failed) == (1, 1, 0)


def test_a_failing_put_or_probe_is_counted_not_raised() -> None:
    seen: list[Exception] = []
    fake = RecordingCloudWatch(error=client_error("ServiceUnavailable", 503))
    publisher = HeartbeatPublisher(fake, "env", lambda: True, on_error=seen.append)
    assert publisher.beat() is True
    assert (publisher.published, publisher.failed) == (0, 1)
    assert len(seen) == 1 and "ServiceUnavailable" in publisher.errors[0]

    def broken() -> bool:
        raise RuntimeError("probe down")

    quiet = HeartbeatPublisher(RecordingCloudWatch(), "env", broken)
    assert quiet.beat() is False and "probe down" in quiet.errors[0]


def test_a_delivery_delay_holds_heartbeats_back_with_their_time() -> None:
    fake = RecordingCloudWatch()
    publisher = HeartbeatPublisher(
        fake, "env", lambda: True, delivery_delay_s=0.2, wall_time=lambda: ORIGIN
    )
    publisher.beat()
    assert fake.calls == []
    clock.sleep(0.25)
    assert publisher.flush_due() == 1
    assert fake.beats() == [heartbeat_datum("env", ORIGIN)]


@pytest.fixture
def running() -> Iterator[list[HeartbeatPublisher]]:
    publishers: list[HeartbeatPublisher] = []
    yield publishers
    for publisher in publishers:
        publisher.stop(timeout_s=2.0)


def test_the_thread_beats_on_its_interval_while_alive(running: list[HeartbeatPublisher]) -> None:
    fake = RecordingCloudWatch()
    alive = [True]
    publisher = HeartbeatPublisher(fake, "env", lambda: alive[0], interval_s=0.05)
    running.append(publisher.start())
    deadline = clock.Deadline.after(3.0)
    while len(fake.calls) < 4 and not deadline.expired():
        clock.sleep(0.01)
    assert len(fake.calls) >= 4  # one at once, then one per interval
    alive[0] = False
    clock.sleep(0.1)
    count = len(fake.calls)
    clock.sleep(0.2)
    assert len(fake.calls) == count  # nothing while not alive
    publisher.stop(timeout_s=2.0)
    assert not publisher.running


def test_the_thread_ends_by_itself_after_max_runtime(running: list[HeartbeatPublisher]) -> None:
    publisher = HeartbeatPublisher(
        RecordingCloudWatch(), "env", lambda: True, interval_s=0.05, max_runtime_s=0.2
    )
    running.append(publisher.start())
    deadline = clock.Deadline.after(3.0)
    while publisher.running and not deadline.expired():
        clock.sleep(0.02)
    assert not publisher.running


def test_publisher_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        HeartbeatPublisher(RecordingCloudWatch(), "env", lambda: True, interval_s=0)
    with pytest.raises(ValueError):
        HeartbeatPublisher(RecordingCloudWatch(), "env", lambda: True, max_runtime_s=0)
    assert json.dumps(heartbeat_datum("env", ORIGIN), default=str)  # plain data
