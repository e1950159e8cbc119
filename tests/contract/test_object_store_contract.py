"""The ObjectStore port, one set of assertions for the simulated and the live S3.

What backups, restores, the canary and the fencing record rely on: JSON bodies that come back
equal, None for a missing key, conditional writes that fail with PRECONDITION_FAILED when the
condition does not hold, sorted prefix listings, replication to the secondary's bucket after
the lag and not before.
"""

from __future__ import annotations

from typing import Any

import pytest

from reference_impl.ports import PRECONDITION_FAILED, PortError
from tests.contract.conftest import P, S, WorldAdapter

BODY: dict[str, Any] = {
    "backup_id": "b-0001",
    "rows": [{"dag_id": "workload_0", "logical_date": "2025-01-01T00:05:00+00:00", "n": 3}],
    "nested": {"list": [1, 2.5, None, True, "é ✓"], "empty": {}},
    "written_at": 12.25,
    "ready": False,
}


def code_of(call: object) -> str:
    assert callable(call)
    with pytest.raises(PortError) as raised:
        call()
    return raised.value.code


def test_put_then_get_returns_the_body_its_etag_and_when(world: WorldAdapter) -> None:
    _, store = world.ports_for(P)
    key = f"{world.unique('t')}/backups/manifest.json"
    before = world.now()
    etag = store.put(P, world.bucket(P), key, BODY)
    after = world.now()
    got = store.get(P, world.bucket(P), key)
    assert got is not None
    assert got.key == key and got.body == BODY and got.etag == etag
    assert etag.startswith('"') and etag.endswith('"')  # S3 ETags keep their quotes
    # Seconds on the drill clock (live: S3's whole seconds, so up to 1 s early).
    assert before - 1.0 <= got.last_modified <= after + 0.01
    # Another Region's DR code reads the same object across Regions.
    _, remote = world.ports_for(S)
    again = remote.get(P, world.bucket(P), key)
    assert again is not None and again.body == BODY and again.etag == etag


def test_get_of_a_missing_key_is_none(world: WorldAdapter) -> None:
    _, store = world.ports_for(S)
    assert store.get(S, world.bucket(S), f"{world.unique('t')}/nothing.json") is None
    assert store.get(P, world.bucket(P), f"{world.unique('t')}/nothing.json") is None


def test_an_unknown_bucket_is_an_error(world: WorldAdapter) -> None:
    _, store = world.ports_for(P)
    assert code_of(lambda: store.get(P, "no-such-bucket-here", "k")) == "NoSuchBucket"
    assert code_of(lambda: store.put(P, "no-such-bucket-here", "k", {})) == "NoSuchBucket"


def test_conditional_writes(world: WorldAdapter) -> None:
    _, store = world.ports_for(S)
    bucket = world.bucket(S)
    key = f"{world.unique('t')}/dr/active-region.json"
    first = store.put(S, bucket, key, {"active": P, "epoch": 1}, if_none_match=True)
    # If-None-Match on an existing key loses.
    assert (
        code_of(lambda: store.put(S, bucket, key, {"active": S, "epoch": 2}, if_none_match=True))
        == PRECONDITION_FAILED
    )
    # If-Match with the current ETag wins and gives a new ETag.
    second = store.put(S, bucket, key, {"active": S, "epoch": 2}, if_match=first)
    assert second != first
    # A write based on the old version (a stale ETag) loses, and changes nothing.
    assert (
        code_of(lambda: store.put(S, bucket, key, {"active": P, "epoch": 3}, if_match=first))
        == PRECONDITION_FAILED
    )
    got = store.get(S, bucket, key)
    assert got is not None and got.etag == second and got.body == {"active": S, "epoch": 2}
    # If-Match on a key that does not exist loses too (S3 says 404 NoSuchKey: same meaning).
    absent = f"{world.unique('t')}/absent.json"
    assert code_of(lambda: store.put(S, bucket, absent, {}, if_match=first)) == PRECONDITION_FAILED
    assert store.get(S, bucket, absent) is None
    # If-None-Match on a new key wins.
    store.put(S, bucket, absent, {"v": 1}, if_none_match=True)


def test_list_keys_by_prefix_in_order(world: WorldAdapter) -> None:
    _, store = world.ports_for(P)
    bucket = world.bucket(P)
    root = world.unique("t")
    for key in ("backups/20/b.json", "backups/03/a.json", "backups/100/c.json", "dr/canary.json"):
        store.put(P, bucket, f"{root}/{key}", {"key": key})
    assert list(store.list_keys(P, bucket, f"{root}/backups/")) == [
        f"{root}/backups/03/a.json",
        f"{root}/backups/100/c.json",
        f"{root}/backups/20/b.json",
    ]
    assert list(store.list_keys(P, bucket, f"{root}/dr/")) == [f"{root}/dr/canary.json"]
    assert list(store.list_keys(P, bucket, f"{root}/nothing/")) == []
    assert len(store.list_keys(P, bucket, f"{root}/")) == 4


def test_objects_reach_the_secondary_bucket_after_the_lag_not_before(world: WorldAdapter) -> None:
    _, store = world.ports_for(P)
    _, remote = world.ports_for(S)
    key = f"{world.unique('t')}/backups/manifest.json"
    written = world.now()
    etag = store.put(P, world.bucket(P), key, BODY)
    world.advance(world.replication_lag / 2)
    assert remote.get(S, world.bucket(S), key) is None
    seen = world.wait_until(
        lambda: remote.get(S, world.bucket(S), key) is not None,
        timeout_s=world.replication_lag + 2.0,
        step_s=0.05,
    )
    assert seen is not None
    assert seen - written >= world.replication_lag
    replica = remote.get(S, world.bucket(S), key)
    assert replica is not None and replica.body == BODY and replica.etag == etag
    source = store.get(P, world.bucket(P), key)
    assert source is not None
    # sim: the replica keeps the source's time; live: S3's LastModified of the copy.
    assert replica.last_modified >= source.last_modified - 1.0


def test_replication_goes_on_across_a_partition(world: WorldAdapter) -> None:
    """It runs inside AWS: a partition between the Regions' endpoints does not stop it."""
    _, store = world.ports_for(P)
    _, remote = world.ports_for(S)
    key = f"{world.unique('t')}/dr/canary.json"
    cut = world.fault_on("partition", P, mode="refuse")
    try:
        store.put(P, world.bucket(P), key, BODY)
        seen = world.wait_until(
            lambda: remote.get(S, world.bucket(S), key) is not None,
            timeout_s=world.replication_lag + 2.0,
            step_s=0.05,
        )
        assert seen is not None
    finally:
        world.fault_off(cut)


def test_the_secondary_bucket_does_not_replicate_back(world: WorldAdapter) -> None:
    _, remote = world.ports_for(S)
    _, store = world.ports_for(P)
    key = f"{world.unique('t')}/dr/active-region.json"
    remote.put(S, world.bucket(S), key, {"active": S})
    world.advance(world.replication_lag + 0.5)
    assert store.get(P, world.bucket(P), key) is None


def test_an_identical_rewrite_keeps_the_etag(world: WorldAdapter) -> None:
    _, store = world.ports_for(P)
    key = f"{world.unique('t')}/same.json"
    first = store.put(P, world.bucket(P), key, {"a": 1, "b": [1, 2]})
    second = store.put(P, world.bucket(P), key, {"b": [1, 2], "a": 1})
    assert second == first
