"""The replicator's logic against an in-memory S3 and a fake clock: lag, stalls, rules."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.live.replication import (
    ReplicationArrival,
    ReplicationRule,
    Replicator,
    rule_for,
    rules_from_configuration,
)


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "op")


class FakeS3:
    """Enough of an S3 client for the replicator; one global namespace like S3."""

    def __init__(self, page_size: int = 2) -> None:
        self.buckets: dict[str, dict[str, bytes]] = {}
        self.regions: dict[str, str] = {}
        self.replication: dict[str, dict[str, Any]] = {}
        self.page_size = page_size
        self.puts: list[tuple[str, str]] = []

    def create(self, bucket: str, region: str) -> None:
        self.buckets[bucket] = {}
        self.regions[bucket] = region

    def write(self, bucket: str, key: str, body: bytes) -> str:
        self.buckets[bucket][key] = body
        return self.etag(body)

    @staticmethod
    def etag(body: bytes) -> str:
        return '"' + hashlib.md5(body).hexdigest() + '"'

    # The client API the replicator uses --------------------------------------------------
    def list_buckets(self) -> dict[str, Any]:
        return {"Buckets": [{"Name": name} for name in self.buckets]}

    def get_bucket_location(self, Bucket: str) -> dict[str, Any]:
        region = self.regions[Bucket]
        return {"LocationConstraint": None if region == "us-east-1" else region}

    def get_bucket_replication(self, Bucket: str) -> dict[str, Any]:
        if Bucket not in self.replication:
            raise client_error("ReplicationConfigurationNotFoundError")
        return {"ReplicationConfiguration": self.replication[Bucket]}

    def list_objects_v2(self, Bucket: str, ContinuationToken: str | None = None) -> dict[str, Any]:
        if Bucket not in self.buckets:
            raise client_error("NoSuchBucket")
        keys = sorted(self.buckets[Bucket])
        start = int(ContinuationToken or 0)
        page = keys[start : start + self.page_size]
        more = start + self.page_size < len(keys)
        out: dict[str, Any] = {
            "Contents": [{"Key": k, "ETag": self.etag(self.buckets[Bucket][k])} for k in page],
            "IsTruncated": more,
        }
        if more:
            out["NextContinuationToken"] = str(start + self.page_size)
        return out

    def get_object(self, Bucket: str, Key: str, IfMatch: str) -> dict[str, Any]:
        body = self.buckets[Bucket].get(Key)
        if body is None:
            raise client_error("NoSuchKey")
        if self.etag(body) != IfMatch:
            raise client_error("PreconditionFailed")
        return {"Body": io.BytesIO(body), "ContentType": "application/json"}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.puts.append((Bucket, Key))
        return {"ETag": self.write(Bucket, Key, Body)}


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t


def configuration(dest: str, prefix: str = "", priority: int = 1, status: str = "Enabled"):  # type: ignore[no-untyped-def]
    return {
        "ID": f"to-{dest}",
        "Priority": priority,
        "Status": status,
        "Filter": {"Prefix": prefix},
        "Destination": {"Bucket": f"arn:aws:s3:::{dest}"},
    }


@pytest.fixture
def world() -> tuple[FakeS3, FakeClock, Replicator, list[ReplicationArrival]]:
    s3 = FakeS3()
    s3.create("src-bucket", "us-east-1")
    s3.create("dst-bucket", "us-west-2")
    s3.replication["src-bucket"] = {"Role": "r", "Rules": [configuration("dst-bucket")]}
    fake_clock = FakeClock()
    arrivals: list[ReplicationArrival] = []
    replicator = Replicator(
        "http://127.0.0.1:1",
        now=fake_clock.now,
        lag_s=10.0,
        rules_refresh_s=1000.0,
        on_arrival=arrivals.append,
        client_factory=lambda region: s3,
    )
    return s3, fake_clock, replicator, arrivals


def test_rules_are_read_with_regions(world) -> None:  # type: ignore[no-untyped-def]
    _, _, replicator, _ = world
    rules = replicator.refresh_rules()
    assert rules == [
        ReplicationRule(
            source_bucket="src-bucket",
            source_region="us-east-1",
            dest_bucket="dst-bucket",
            dest_region="us-west-2",
            prefix="",
            rule_id="to-dst-bucket",
            priority=1,
        )
    ]


def test_copy_arrives_after_the_lag_not_before(world) -> None:  # type: ignore[no-untyped-def]
    s3, fake_clock, replicator, arrivals = world
    etag = s3.write("src-bucket", "backups/1.json", b"{}")
    assert replicator.poll_once() == 0  # seen at t=100, due at t=110
    fake_clock.t = 109.9
    assert replicator.poll_once() == 0
    assert "backups/1.json" not in s3.buckets["dst-bucket"]
    fake_clock.t = 110.0
    assert replicator.poll_once() == 1
    assert s3.buckets["dst-bucket"]["backups/1.json"] == b"{}"
    assert arrivals == [
        ReplicationArrival(
            source_region="us-east-1",
            source_bucket="src-bucket",
            dest_region="us-west-2",
            dest_bucket="dst-bucket",
            key="backups/1.json",
            etag=etag,
            written_at=100.0,
            due_at=110.0,
            arrived_at=110.0,
        )
    ]
    assert arrivals[0].lag_s == 10.0
    assert replicator.poll_once() == 0  # nothing new: no second copy


def test_stall_holds_copies_and_resume_catches_up(world) -> None:  # type: ignore[no-untyped-def]
    s3, fake_clock, replicator, arrivals = world
    replicator.stall()
    for n in range(5):  # more than one ListObjectsV2 page
        s3.write("src-bucket", f"k{n}", b"x%d" % n)
    replicator.poll_once()
    fake_clock.t = 200.0
    assert replicator.poll_once() == 0
    assert s3.buckets["dst-bucket"] == {}
    assert replicator.stalled()
    assert len(replicator.pending()) == 5
    replicator.resume()
    fake_clock.t = 201.0
    assert replicator.poll_once() == 5
    assert sorted(s3.buckets["dst-bucket"]) == [f"k{n}" for n in range(5)]
    assert all(a.written_at == 100.0 and a.arrived_at == 201.0 for a in arrivals)


def test_stall_of_one_source_region(world) -> None:  # type: ignore[no-untyped-def]
    s3, fake_clock, replicator, _ = world
    replicator.stall("us-east-1")
    assert replicator.stalled("us-east-1")
    assert not replicator.stalled("us-west-2")
    s3.write("src-bucket", "k", b"1")
    replicator.poll_once()
    fake_clock.t = 500.0
    assert replicator.poll_once() == 0
    replicator.resume("us-east-1")
    assert replicator.poll_once() == 1


def test_a_change_before_the_copy_replaces_it(world) -> None:  # type: ignore[no-untyped-def]
    s3, fake_clock, replicator, arrivals = world
    s3.write("src-bucket", "k", b"v1")
    replicator.poll_once()
    fake_clock.t = 105.0
    new_etag = s3.write("src-bucket", "k", b"v2")
    replicator.poll_once()  # v2 seen at 105, due 115
    fake_clock.t = 111.0
    assert replicator.poll_once() == 0
    fake_clock.t = 115.0
    assert replicator.poll_once() == 1
    assert s3.buckets["dst-bucket"]["k"] == b"v2"
    assert [(a.etag, a.written_at) for a in arrivals] == [(new_etag, 105.0)]


def test_changed_between_scan_and_copy_is_skipped(world) -> None:  # type: ignore[no-untyped-def]
    s3, fake_clock, replicator, _ = world
    s3.write("src-bucket", "k", b"v1")
    replicator.poll_once()
    s3.write("src-bucket", "k", b"v2")  # not scanned yet: the copy of v1 must not send v2
    fake_clock.t = 110.0
    replicator._copy_due()
    assert "k" not in s3.buckets["dst-bucket"]


def test_lag_policy_per_object_and_set_lag(world) -> None:  # type: ignore[no-untyped-def]
    s3, fake_clock, replicator, arrivals = world
    replicator.set_lag(lambda rule, key: 1.0 if key.startswith("fast/") else 50.0)
    s3.write("src-bucket", "fast/a", b"a")
    s3.write("src-bucket", "slow/b", b"b")
    replicator.poll_once()
    fake_clock.t = 101.0
    replicator.poll_once()
    assert [a.key for a in arrivals] == ["fast/a"]


def test_replicas_are_not_replicated_back() -> None:
    s3 = FakeS3()
    s3.create("east-bucket", "us-east-1")
    s3.create("west-bucket", "us-west-2")
    s3.replication["east-bucket"] = {"Rules": [configuration("west-bucket")]}
    s3.replication["west-bucket"] = {"Rules": [configuration("east-bucket")]}
    fake_clock = FakeClock()
    replicator = Replicator(
        "http://127.0.0.1:1", now=fake_clock.now, client_factory=lambda region: s3
    )
    s3.write("east-bucket", "k", b"v")
    for _ in range(4):
        replicator.poll_once()
    assert s3.puts == [("west-bucket", "k")]


def test_rules_from_configuration_filters_and_priorities() -> None:
    config = {
        "Rules": [
            configuration("a", prefix="logs/", priority=1),
            configuration("a", prefix="logs/important/", priority=5),
            configuration("b", status="Disabled"),
            {"Status": "Enabled", "Prefix": "legacy/", "Destination": {"Bucket": "arn:aws:s3:::c"}},
            {
                "Status": "Enabled",
                "Filter": {"And": {"Prefix": "and/", "Tags": []}},
                "Destination": {"Bucket": "arn:aws:s3:::d"},
            },
        ]
    }
    rules = rules_from_configuration("src", "us-east-1", config, lambda bucket: "us-west-2")
    assert [(r.dest_bucket, r.prefix, r.priority) for r in rules] == [
        ("a", "logs/", 1),
        ("a", "logs/important/", 5),
        ("c", "legacy/", 0),
        ("d", "and/", 0),
    ]
    chosen = rule_for(rules, "a", "logs/important/x")
    assert chosen is not None and chosen.priority == 5
    assert rule_for(rules, "a", "other/x") is None


def test_refuses_a_non_loopback_emulator() -> None:
    from harness.live.safety import UnsafeEnvironment

    with pytest.raises(UnsafeEnvironment):
        Replicator("https://s3.amazonaws.com")
