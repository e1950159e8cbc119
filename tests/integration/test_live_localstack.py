"""The moto integration checks, run against LocalStack (`LiveAws(emulator="localstack")`).

The behaviour checks of tests/integration/test_live_aws_faults.py (fault-proxy errors per
service in the request's own protocol, latency, hangs, drops, unreachable Regions, faults
from another process, CloudWatch put/get of SchedulerHeartbeat, S3) and of
test_live_aws_replication.py (the harness's S3 replication between Regions, with lag, stalls
and partitions) are the SAME test functions, collected here a second time with this module's
`aws` fixture: a LiveAws whose emulator is LocalStack instead of moto. Only what names moto
(freezing `aws.moto`, the process lifecycle checks) has its LocalStack version below.

Needs scripts/install-localstack.sh (pyenv's Python 3.13): without it these tests FAIL, with
the command to run; they never skip. Marker `localstack` (not `live`): the default tox envs do
not run them; `tox -e localstack` installs LocalStack and runs them.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from harness.live import clock
from harness.live.endpoints import LiveAws
from harness.live.faults import FaultEvent
from harness.live.localstack import (
    DEFAULT_SERVICES,
    LOCALSTACK_VERSION,
    ExistingEmulator,
    LocalStackNotInstalled,
    find_python,
    installation_problem,
)
from harness.live.processes import ReadinessTimeout, port_accepts, wait_until
from harness.live.replication import ReplicationArrival
from harness.live.safety import UnsafeEnvironment
from tests.integration import test_live_aws_faults as moto_faults
from tests.integration import test_live_aws_replication as moto_replication
from tests.integration.test_live_aws_lifecycle import assert_all_gone, process_exists

pytestmark = pytest.mark.localstack

EAST, WEST = moto_faults.EAST, moto_faults.WEST
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def localstack_installed() -> None:
    """FAIL (never skip) with the fix when LocalStack is not installed."""
    problem = installation_problem()
    if problem:
        pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="module")
def events() -> list[FaultEvent]:
    return []


@pytest.fixture(scope="module")
def arrivals() -> list[ReplicationArrival]:
    return []


@pytest.fixture(scope="module")
def aws(
    localstack_installed: None, events: list[FaultEvent], arrivals: list[ReplicationArrival]
) -> Iterator[LiveAws]:
    """One LiveAws over LocalStack for both sets of checks: the fault checks need no
    replicator but are not disturbed by one (it talks to the emulator directly)."""
    with LiveAws(
        [EAST, WEST],
        emulator="localstack",
        on_fault=events.append,
        on_replication=arrivals.append,
        replication_lag_s=moto_replication.LAG_S,
        replication_poll_s=0.05,
    ) as live:
        set_up_replication(live)
        yield live


def set_up_replication(live: LiveAws) -> None:
    """The buckets and rule test_live_aws_replication's fixture makes (versioned buckets in
    two Regions, one rule east -> west)."""
    east, west = live.client("s3", EAST), live.client("s3", WEST)
    east.create_bucket(Bucket="backups-east")
    west.create_bucket(
        Bucket="backups-west", CreateBucketConfiguration={"LocationConstraint": WEST}
    )
    for client, bucket in ((east, "backups-east"), (west, "backups-west")):
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    east.put_bucket_replication(
        Bucket="backups-east",
        ReplicationConfiguration={
            "Role": "arn:aws:iam::123456789012:role/replication",
            "Rules": [
                {
                    "ID": "to-west",
                    "Priority": 1,
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": "arn:aws:s3:::backups-west"},
                }
            ],
        },
    )
    live.replicator.refresh_rules()


@pytest.fixture(autouse=True)
def healed(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "aws" in request.fixturenames:
        live: LiveAws = request.getfixturevalue("aws")
        live.faults.clear_all()
        live.replicator.resume()


# It is LocalStack ------------------------------------------------------------------------------


def test_the_emulator_is_localstack(aws: LiveAws) -> None:
    assert aws.emulator == "localstack" and aws.moto is None
    assert aws.localstack is not None and aws.localstack.alive()
    health = aws.localstack.health()
    assert health is not None and health["version"] == LOCALSTACK_VERSION
    assert all(health["services"][s] == "running" for s in DEFAULT_SERVICES)
    # Requests through a Region's proxy reach LocalStack (it stamps its answers).
    s3 = aws.client("s3", EAST)
    reply = s3.list_buckets()
    assert reply["ResponseMetadata"]["HTTPHeaders"].get("x-localstack") == "true"
    assert aws.client("sts", WEST).get_caller_identity()["Account"].isdigit()


def test_s3_put_get_through_each_region(aws: LiveAws) -> None:
    for region in (EAST, WEST):
        s3 = aws.client("s3", region)
        bucket = f"put-get-{region}"
        extra = (
            {} if region == EAST else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        s3.create_bucket(Bucket=bucket, **extra)
        s3.put_object(Bucket=bucket, Key="a/b.json", Body=b'{"ok": true}')
        body = s3.get_object(Bucket=bucket, Key="a/b.json")["Body"].read()
        assert json.loads(body) == {"ok": True}
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
        assert (location or EAST) == region


# The moto checks, over LocalStack (same functions) ---------------------------------------------

test_endpoints_are_distinct_loopback_urls = moto_faults.test_endpoints_are_distinct_loopback_urls
test_metrics_through_the_proxy_with_state_per_region = (
    moto_faults.test_metrics_through_the_proxy_with_state_per_region
)
test_cloudwatch_errors_raise_client_error_with_the_code = (
    moto_faults.test_cloudwatch_errors_raise_client_error_with_the_code
)
test_standard_retries_see_every_error = moto_faults.test_standard_retries_see_every_error
test_error_rate_is_partial = moto_faults.test_error_rate_is_partial
test_s3_errors = moto_faults.test_s3_errors
test_latency = moto_faults.test_latency
test_hang_times_the_caller_out = moto_faults.test_hang_times_the_caller_out
test_hang_bound_closes_the_connection = moto_faults.test_hang_bound_closes_the_connection
test_drop = moto_faults.test_drop
test_region_refused = moto_faults.test_region_refused
test_region_blackhole_times_out_connecting = moto_faults.test_region_blackhole_times_out_connecting
test_region_hang = moto_faults.test_region_hang
test_faults_from_another_process = moto_faults.test_faults_from_another_process

test_rule_is_read_from_the_bucket = moto_replication.test_rule_is_read_from_the_bucket
test_object_arrives_after_the_lag_not_before = (
    moto_replication.test_object_arrives_after_the_lag_not_before
)
test_no_copy_while_stalled_then_catch_up = moto_replication.test_no_copy_while_stalled_then_catch_up
test_replication_continues_while_regions_are_unreachable = (
    moto_replication.test_replication_continues_while_regions_are_unreachable
)


# What names moto there, for LocalStack ---------------------------------------------------------


def test_localstack_does_not_replicate_by_itself(aws: LiveAws) -> None:
    """The harness's replicator is the only copier (else every copy would land twice)."""
    aws.replicator.stall()
    aws.client("s3", EAST).put_object(Bucket="backups-east", Key="own/1.json", Body=b"{}")
    assert moto_replication.watch(aws, "own/1.json", timeout_s=moto_replication.LAG_S + 1.0) is None


def test_frozen_emulator(aws: LiveAws) -> None:
    assert aws.localstack is not None
    aws.localstack.freeze()
    try:
        with pytest.raises(ReadTimeoutError):
            moto_faults.cloudwatch(aws).list_metrics()
    finally:
        aws.localstack.thaw()
    moto_faults.cloudwatch(aws, read_timeout_s=5).list_metrics()


def test_a_localstack_the_user_runs(aws: LiveAws) -> None:
    """emulator_url: fault proxies in front of a running LocalStack, which closing leaves up."""
    with LiveAws(
        [EAST, WEST],
        emulator="localstack",
        emulator_url=aws.emulator_url,
        start_replicator=False,
        control_api=False,
    ) as other:
        assert other.localstack is None and other.moto is None
        assert other.emulator_url == aws.emulator_url
        assert not other.registry.processes
        east = moto_faults.cloudwatch(other, EAST, read_timeout_s=5)
        moto_faults.heartbeat(east, 2.0)
        assert 2.0 in moto_faults.read_heartbeat(
            moto_faults.cloudwatch(aws, EAST, read_timeout_s=5)
        )
        other.faults.error(EAST, "cloudwatch", "ServiceUnavailable")
        with pytest.raises(ClientError):
            moto_faults.read_heartbeat(east)
        moto_faults.read_heartbeat(moto_faults.cloudwatch(aws, EAST))  # other's faults only
    assert aws.localstack is not None and aws.localstack.alive()


def test_a_url_that_is_not_loopback_or_not_localstack_is_refused(aws: LiveAws) -> None:
    with pytest.raises(UnsafeEnvironment):
        LiveAws([EAST], emulator="localstack", emulator_url="http://10.0.0.1:4566")
    assert aws.control_url is not None  # the control API answers, but it is no LocalStack
    with pytest.raises(ReadinessTimeout, match="_localstack/health"):
        ExistingEmulator(aws.control_url, kind="localstack", timeout_s=0.5).start()


def test_missing_install_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(LocalStackNotInstalled, match=r"scripts/install-localstack\.sh"):
        find_python(tmp_path / "no-venv")


# Nothing of ours survives (LocalStack version of test_live_aws_lifecycle) -----------------------

STACK_SCRIPT = """
import json
from harness.live import clock
from harness.live.endpoints import LiveAws

with LiveAws(["us-east-1", "us-west-2"], emulator="localstack") as aws:
    ports = [aws.localstack.port, *(p.port for p in aws.proxies.values()), aws.control.port]
    pids = [p.pid for p in aws.registry.processes]
    print(json.dumps({"pids": pids, "ports": ports, "work": str(aws.work_dir)}), flush=True)
    deadline = clock.Deadline.after(120)
    while not deadline.expired():
        clock.sleep(0.05)
"""


def stack_ids(aws: LiveAws) -> tuple[list[int], list[int]]:
    assert aws.localstack is not None and aws.localstack.port is not None
    assert aws.control is not None
    ports = [aws.localstack.port, *(p.port for p in aws.proxies.values()), aws.control.port]
    return [p.pid for p in aws.registry.processes], ports


def test_normal_exit_leaves_nothing() -> None:
    start = clock.monotonic()
    with LiveAws([EAST, WEST], emulator="localstack") as aws:
        started = clock.monotonic() - start
        pids, ports = stack_ids(aws)
        assert all(process_exists(pid) for pid in pids)
        assert all(port_accepts(port) for port in ports)
        work_dir = aws.work_dir
        assert work_dir is not None and (work_dir / "localstack" / "filesystem").is_dir()
        stop_from = clock.monotonic()
    stopped = clock.monotonic() - stop_from
    assert_all_gone(pids, ports)
    assert not work_dir.exists()  # LocalStack's files were in the drill's work dir
    assert started < 60.0
    assert stopped < 10.0


def test_exception_inside_the_block_leaves_nothing() -> None:
    pids: list[int] = []
    ports: list[int] = []
    with pytest.raises(RuntimeError, match="boom"), LiveAws([EAST], emulator="localstack") as aws:
        pids, ports = stack_ids(aws)
        raise RuntimeError("boom")
    assert pids
    assert_all_gone(pids, ports)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_signal_to_a_child_running_a_stack(sig: int) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", STACK_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 90.0)
        if not ready:
            pytest.fail("the stack child did not report its pids in 90 s")
        line = child.stdout.readline()
        if not line:
            child.wait(timeout=5)
            pytest.fail(f"the stack child died: {child.stderr.read() if child.stderr else ''}")
        info: dict[str, Any] = json.loads(line)
        assert all(process_exists(pid) for pid in info["pids"])
        start = clock.monotonic()
        child.send_signal(sig)
        returncode = child.wait(timeout=15)
        elapsed = clock.monotonic() - start
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=5)
    assert returncode == (128 + signal.SIGTERM if sig == signal.SIGTERM else -signal.SIGKILL)
    assert elapsed < 10.0
    # After a SIGKILL the kernel tears LocalStack's threads down (its listening socket last)
    # a moment after its /proc entry shows it gone: wait for the ports (bounded), then check.
    wait_until(
        lambda: not any(port_accepts(port, timeout_s=0.2) for port in info["ports"]),
        10.0,
        what="every port of the stack closed",
    )
    assert_all_gone(info["pids"], info["ports"], within_s=10.0)
    # A killed drill cannot remove its temporary work dir (LocalStack's files): we do.
    work = Path(info["work"])
    assert work.name.startswith("mwaa-drill-aws-")
    shutil.rmtree(work, ignore_errors=True)
