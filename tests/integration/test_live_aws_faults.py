"""The fault layer in front of a real moto server, driven by boto3 over loopback HTTP."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from harness.live import clock
from harness.live.endpoints import LiveAws
from harness.live.faults import FaultEvent
from harness.live.processes import port_accepts

pytestmark = pytest.mark.live

EAST, WEST = "us-east-1", "us-west-2"
NAMESPACE = "AmazonMWAA"
DIMENSIONS = [{"Name": "Environment", "Value": "env"}, {"Name": "Function", "Value": "Scheduler"}]


@pytest.fixture(scope="module")
def events() -> list[FaultEvent]:
    return []


@pytest.fixture(scope="module")
def aws(events: list[FaultEvent]) -> Iterator[LiveAws]:
    with LiveAws([EAST, WEST], on_fault=events.append, start_replicator=False) as live:
        yield live


@pytest.fixture(autouse=True)
def no_faults_left(aws: LiveAws) -> Iterator[None]:
    yield
    aws.faults.clear_all()


def cloudwatch(aws: LiveAws, region: str = EAST, **settings: Any) -> Any:
    settings.setdefault("max_attempts", 0)
    settings.setdefault("connect_timeout_s", 0.5)
    settings.setdefault("read_timeout_s", 0.5)
    return aws.client("cloudwatch", region, **settings)


def heartbeat(client: Any, value: float = 1.0) -> None:
    client.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[{"MetricName": "SchedulerHeartbeat", "Dimensions": DIMENSIONS, "Value": value}],
    )


def read_heartbeat(client: Any) -> list[float]:
    now = dt.datetime.fromtimestamp(clock.wall_time(), dt.UTC)
    result = client.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "hb",
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": "SchedulerHeartbeat",
                        "Dimensions": DIMENSIONS,
                    },
                    "Period": 60,
                    "Stat": "Average",
                },
            }
        ],
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=1),
    )
    values: list[float] = result["MetricDataResults"][0]["Values"]
    return values


def test_endpoints_are_distinct_loopback_urls(aws: LiveAws) -> None:
    urls = aws.endpoint_urls()
    assert set(urls) == {EAST, WEST}
    assert len(set(urls.values())) == 2
    assert all(url.startswith("http://127.0.0.1:") for url in urls.values())
    assert aws.emulator_url not in urls.values()


def test_metrics_through_the_proxy_with_state_per_region(aws: LiveAws) -> None:
    east, west = cloudwatch(aws, EAST), cloudwatch(aws, WEST)
    heartbeat(east, 1.0)
    assert set(read_heartbeat(east)) == {1.0}
    assert read_heartbeat(west) == []
    assert aws.proxies[EAST].counts()["forwarded/cloudwatch"] >= 2


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ServiceUnavailable", 503),
        ("InternalFailure", 500),
        ("Throttling", 400),
        ("ThrottlingException", 400),
    ],
)
def test_cloudwatch_errors_raise_client_error_with_the_code(
    aws: LiveAws, events: list[FaultEvent], code: str, status: int
) -> None:
    client = cloudwatch(aws)
    heartbeat(client)
    start = clock.monotonic()
    fault = aws.faults.error(EAST, "cloudwatch", code)
    switched_in = clock.monotonic() - start
    with pytest.raises(ClientError) as raised:
        read_heartbeat(client)
    error = raised.value.response
    assert error["Error"]["Code"] == code
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert switched_in < 0.25
    assert events[-1].action == "on" and events[-1].fault == fault
    # Other services of the Region and the other Region are untouched.
    aws.client("s3", EAST, max_attempts=0).list_buckets()
    read_heartbeat(cloudwatch(aws, WEST))
    aws.faults.clear(fault)
    assert events[-1].action == "off" and events[-1].fault == fault
    assert set(read_heartbeat(client)) == {1.0}


def test_standard_retries_see_every_error(aws: LiveAws) -> None:
    client = cloudwatch(aws, max_attempts=2)  # three tries in all
    fault = aws.faults.error(EAST, "cloudwatch", "ServiceUnavailable")
    with pytest.raises(ClientError) as raised:
        read_heartbeat(client)
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert aws.faults.injected(fault) == 3


def test_error_rate_is_partial(aws: LiveAws) -> None:
    client = cloudwatch(aws)
    aws.faults.error(EAST, "cloudwatch", "Throttling", rate=0.5)
    failures = 0
    for _ in range(40):
        try:
            client.list_metrics()
        except ClientError as err:
            assert err.response["Error"]["Code"] == "Throttling"
            failures += 1
    assert 8 <= failures <= 32


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("ServiceUnavailable", 503)])
def test_s3_errors(aws: LiveAws, code: str, status: int) -> None:
    s3 = aws.client("s3", EAST, max_attempts=0)
    s3.create_bucket(Bucket=f"errors-{code.lower()}")
    aws.faults.error(EAST, "s3", code)
    with pytest.raises(ClientError) as raised:
        s3.list_objects_v2(Bucket=f"errors-{code.lower()}")
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_latency(aws: LiveAws) -> None:
    client = cloudwatch(aws, read_timeout_s=5)
    aws.faults.latency(EAST, "cloudwatch", 0.4)
    start = clock.monotonic()
    client.list_metrics()
    assert clock.monotonic() - start >= 0.4


def test_hang_times_the_caller_out(aws: LiveAws) -> None:
    client = cloudwatch(aws)
    client.list_metrics()
    aws.faults.hang(EAST, "cloudwatch", max_hang_s=30)
    with pytest.raises(ReadTimeoutError):
        client.list_metrics()
    aws.faults.clear_all()
    client.list_metrics()


def test_hang_bound_closes_the_connection(aws: LiveAws) -> None:
    client = cloudwatch(aws, read_timeout_s=5)
    aws.faults.hang(EAST, "cloudwatch", max_hang_s=0.2)
    start = clock.monotonic()
    with pytest.raises(ConnectionClosedError):
        client.list_metrics()
    assert clock.monotonic() - start < 2


def test_drop(aws: LiveAws) -> None:
    aws.faults.drop(EAST, "cloudwatch")
    with pytest.raises(ConnectionClosedError):
        cloudwatch(aws).list_metrics()


def test_region_refused(aws: LiveAws) -> None:
    client = cloudwatch(aws)
    s3 = aws.client("s3", EAST, max_attempts=0, connect_timeout_s=0.5)
    client.list_metrics()
    port = aws.proxies[EAST].port
    fault = aws.faults.unreachable(EAST, "refuse")
    assert not port_accepts(port, timeout_s=0.2)
    start = clock.monotonic()
    with pytest.raises(EndpointConnectionError):
        client.list_metrics()
    with pytest.raises(EndpointConnectionError):
        s3.list_buckets()
    assert clock.monotonic() - start < 0.5  # refused at once, no timeout
    cloudwatch(aws, WEST).list_metrics()
    aws.faults.clear(fault)
    client.list_metrics()
    s3.list_buckets()


def test_region_blackhole_times_out_connecting(aws: LiveAws) -> None:
    aws.faults.unreachable(EAST, "blackhole")
    with pytest.raises(ConnectTimeoutError):
        cloudwatch(aws).list_metrics()
    aws.faults.clear_all()
    cloudwatch(aws).list_metrics()


def test_region_hang(aws: LiveAws) -> None:
    aws.faults.unreachable(EAST, "hang")
    with pytest.raises(ReadTimeoutError):
        aws.client("s3", EAST, max_attempts=0, read_timeout_s=0.5).list_buckets()


def test_frozen_emulator(aws: LiveAws) -> None:
    assert aws.moto is not None
    aws.moto.freeze()
    try:
        with pytest.raises(ReadTimeoutError):
            cloudwatch(aws).list_metrics()
    finally:
        aws.moto.thaw()
    cloudwatch(aws, read_timeout_s=5).list_metrics()


def test_faults_from_another_process(aws: LiveAws, events: list[FaultEvent]) -> None:
    script = (
        "import sys\n"
        "from harness.live.fault_proxy import FaultControlClient\n"
        "client = FaultControlClient(sys.argv[1])\n"
        "client.switch_on('error', 'us-east-1', service='cloudwatch', code='InternalFailure')\n"
    )
    assert aws.control_url is not None
    subprocess.run(
        [sys.executable, "-c", script, aws.control_url],
        check=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert events[-1].fault.code == "InternalFailure"
    with pytest.raises(ClientError) as raised:
        cloudwatch(aws).list_metrics()
    assert raised.value.response["Error"]["Code"] == "InternalFailure"
