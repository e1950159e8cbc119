"""S3: conditional writes, copies, and cross-Region replication with lag, stalls and outages."""

from __future__ import annotations

import math
import random
from types import MappingProxyType
from typing import Any

import pytest

from harness.history import History
from harness.scenario.model import FaultKind
from harness.sim.calibration import Fixed, default_calibration
from harness.sim.engine import Engine
from harness.sim.faults import FaultSchedule, ScheduledFault
from harness.sim.network import Network
from harness.sim.storage import S3, StorePort
from reference_impl.context import Topology
from reference_impl.ports import PRECONDITION_FAILED, TIMED_OUT, PortError
from tests.unit.test_sim_support import P, S

TOPOLOGY = Topology(primary=P, secondary=S)
SOURCE = TOPOLOGY.bucket(P)
REPLICA = TOPOLOGY.bucket(S)


def fault(
    kind: FaultKind, start: float, end: float = math.inf, region: str = P, **params: Any
) -> ScheduledFault:
    return ScheduledFault(0, kind, region, start, end, MappingProxyType(params))


def store(*faults: ScheduledFault, end: float = 10_000.0) -> tuple[Engine, S3, History, Network]:
    cal = default_calibration()
    engine = Engine(end=end)
    network = Network(engine, cal.network)
    history = History()
    s3_cal = type(cal.s3)(call=cal.s3.call, replication_lag=Fixed(10.0))
    s3 = S3(engine, s3_cal, FaultSchedule(faults), network, history, TOPOLOGY, random.Random(0))
    return engine, s3, history, network


def put_at(engine: Engine, s3: S3, t: float, key: str, body: dict[str, Any]) -> None:
    def put() -> None:
        StorePort(s3, P).put(P, SOURCE, key, body)

    engine.at(t, put)


def arrivals(history: History) -> list[tuple[float, str]]:
    return [(e.t, e["backup_id"]) for e in history if e.kind == "replication"]


def test_put_get_list_and_copies() -> None:
    _, s3, _, _ = store()
    port = StorePort(s3, P)
    body = {"rows": [{"a": 1}]}
    etag = port.put(P, SOURCE, "backups/1/x.json", body)
    body["rows"][0]["a"] = 2  # the caller's later changes do not reach the store
    got = port.get(P, SOURCE, "backups/1/x.json")
    assert got is not None and got.etag == etag and got.body == {"rows": [{"a": 1}]}
    got.body["rows"].append({"b": 2})  # nor do changes to what it read
    again = port.get(P, SOURCE, "backups/1/x.json")
    assert again is not None and again.body == {"rows": [{"a": 1}]}
    port.put(P, SOURCE, "backups/0/y.json", {})
    port.put(P, SOURCE, "dr/canary.json", {})
    assert port.list_keys(P, SOURCE, "backups/") == ["backups/0/y.json", "backups/1/x.json"]
    assert port.get(P, SOURCE, "missing") is None


def test_unknown_bucket() -> None:
    _, s3, _, _ = store()
    with pytest.raises(PortError) as caught:
        StorePort(s3, P).put(P, "nope", "k", {})
    assert caught.value.code == "NoSuchBucket"


def test_conditional_writes() -> None:
    _, s3, _, _ = store()
    port = StorePort(s3, S)
    first = port.put(S, REPLICA, "dr/active-region.json", {"epoch": 1}, if_none_match=True)
    with pytest.raises(PortError) as exists:
        port.put(S, REPLICA, "dr/active-region.json", {"epoch": 1}, if_none_match=True)
    assert exists.value.code == PRECONDITION_FAILED
    second = port.put(S, REPLICA, "dr/active-region.json", {"epoch": 2}, if_match=first)
    assert second != first
    with pytest.raises(PortError) as stale:  # a write based on the old version loses
        port.put(S, REPLICA, "dr/active-region.json", {"epoch": 3}, if_match=first)
    assert stale.value.code == PRECONDITION_FAILED
    with pytest.raises(PortError):
        port.put(S, REPLICA, "absent.json", {}, if_match=first)


def test_objects_replicate_to_the_secondary_after_the_lag_and_are_recorded() -> None:
    engine, s3, history, _ = store()
    put_at(engine, s3, 100.0, "backups/1/manifest.json", {"id": 1})
    seen: list[Any] = []
    engine.at(
        109.0, lambda: seen.append(StorePort(s3, S).get(S, REPLICA, "backups/1/manifest.json"))
    )
    engine.at(
        111.0, lambda: seen.append(StorePort(s3, S).get(S, REPLICA, "backups/1/manifest.json"))
    )
    engine.run()
    assert seen[0] is None
    assert seen[1] is not None and seen[1].body == {"id": 1} and seen[1].last_modified == 100.0
    assert arrivals(history) == [(110.0, "backups/1/manifest.json")]
    event = history.of_kind("replication")[0]
    assert (event["source"], event["dest"], event["state"]) == (P, S, "arrived")


def test_the_secondary_bucket_does_not_replicate_back() -> None:
    engine, s3, history, _ = store()

    def put() -> None:
        StorePort(s3, S).put(S, REPLICA, "dr/active-region.json", {})

    engine.at(1.0, put)
    engine.run()
    assert arrivals(history) == []
    assert StorePort(s3, P).get(P, SOURCE, "dr/active-region.json") is None


def test_replication_lag_delays_objects_written_in_its_window() -> None:
    engine, s3, history, _ = store(fault(FaultKind.REPLICATION_LAG, 500.0, 1500.0, lag=1200.0))
    put_at(engine, s3, 400.0, "before", {})
    put_at(engine, s3, 600.0, "during", {})
    put_at(engine, s3, 1600.0, "after", {})
    engine.run()
    assert arrivals(history) == [(410.0, "before"), (1610.0, "after"), (1810.0, "during")]


def test_a_stall_holds_every_arrival_until_it_ends() -> None:
    engine, s3, history, _ = store(fault(FaultKind.REPLICATION_STALL, 1000.0, 2000.0))
    put_at(engine, s3, 995.0, "in-flight", {})  # due at 1005, inside the stall
    put_at(engine, s3, 1500.0, "during", {})
    put_at(engine, s3, 2500.0, "after", {})
    engine.run()
    assert arrivals(history) == [(2000.0, "in-flight"), (2000.0, "during"), (2510.0, "after")]


def test_a_stall_to_the_end_of_the_drill_means_never() -> None:
    engine, s3, history, _ = store(fault(FaultKind.REPLICATION_STALL, 1000.0))
    put_at(engine, s3, 1500.0, "never", {})
    engine.run()
    assert arrivals(history) == []
    assert StorePort(s3, S).get(S, REPLICA, "never") is None


@pytest.mark.parametrize("region", [P, S])
def test_a_dark_region_holds_replication_until_it_returns(region: str) -> None:
    outage = fault(FaultKind.REGION_OUTAGE, 1000.0, 3000.0, region=region, unreachable_as="refused")
    engine, s3, history, _ = store(outage)
    put_at(engine, s3, 995.0, "in-flight", {})
    engine.run()
    assert arrivals(history) == [(3000.0, "in-flight")]


def test_a_partition_does_not_stop_replication_but_blocks_cross_region_calls() -> None:
    engine, s3, history, network = store()
    network.partition_on(P, "hang")
    put_at(engine, s3, 100.0, "k", {})
    engine.run()
    assert arrivals(history) == [(110.0, "k")]
    with pytest.raises(PortError) as caught:
        StorePort(s3, S).get(P, SOURCE, "k")
    assert caught.value.code == TIMED_OUT


def test_an_older_version_arriving_late_does_not_overwrite_a_newer_one() -> None:
    engine, s3, _, _ = store(fault(FaultKind.REPLICATION_LAG, 0.0, 150.0, lag=500.0))
    put_at(engine, s3, 100.0, "canary", {"v": 1})  # arrives at 610
    put_at(engine, s3, 200.0, "canary", {"v": 2})  # arrives at 210
    engine.run()
    replica = StorePort(s3, S).get(S, REPLICA, "canary")
    assert replica is not None and replica.body == {"v": 2}
