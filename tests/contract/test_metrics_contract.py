"""The Metrics port, one set of assertions for the simulated and the live CloudWatch.

What the health check relies on: no datapoint without a heartbeat in the period, a datapoint
(value 1) when one was published in it, the same PortError code for each CloudWatch fault and
for an unreachable or hanging Region, in both worlds.
"""

from __future__ import annotations

import pytest

from reference_impl.ports import THROTTLED, TIMED_OUT, UNREACHABLE, PortError
from tests.contract.conftest import P, S, WorldAdapter

PERIOD_S = 60.0


def heartbeat(
    world: WorldAdapter, caller: str, region: str, env: str, period: float
) -> list[float]:
    metrics, _ = world.ports_for(caller)
    return list(metrics.scheduler_heartbeat(region, env, period))


def code_of(call: object) -> str:
    assert callable(call)
    with pytest.raises(PortError) as raised:
        call()
    return raised.value.code


def test_no_datapoint_before_any_heartbeat(world: WorldAdapter) -> None:
    env = world.unique("env")
    for caller in (P, S):
        assert heartbeat(world, caller, P, env, PERIOD_S) == []
        assert heartbeat(world, caller, S, env, PERIOD_S) == []


def test_heartbeats_in_the_period_are_a_datapoint_of_one(world: WorldAdapter) -> None:
    env = world.unique("env")
    world.heartbeats_between(P, env, start_ago=30.0, end_ago=0.0)
    for caller in (P, S):  # inside the Region and across Regions
        values = heartbeat(world, caller, P, env, PERIOD_S)
        assert values and all(value == 1.0 for value in values)
        assert len(values) == 1  # one period, one datapoint
    # Only that environment, only that Region.
    assert heartbeat(world, S, P, world.unique("other-env"), PERIOD_S) == []
    assert heartbeat(world, S, S, env, PERIOD_S) == []


def test_heartbeats_that_stopped_before_the_period_are_not_seen(world: WorldAdapter) -> None:
    env = world.unique("env")
    world.heartbeats_between(P, env, start_ago=200.0, end_ago=130.0)
    assert heartbeat(world, S, P, env, PERIOD_S) == []
    assert heartbeat(world, S, P, env, 120.0) == []
    assert heartbeat(world, S, P, env, 180.0) == [1.0]  # a longer period reaches back


def test_a_running_scheduler_is_seen_within_seconds_and_a_stopped_one_until_it_ages_out(
    world: WorldAdapter,
) -> None:
    env = world.unique("env")
    assert heartbeat(world, S, P, env, PERIOD_S) == []
    started = world.now()
    world.start_scheduler(P, env)
    seen = world.wait_until(lambda: bool(heartbeat(world, S, P, env, PERIOD_S)), timeout_s=3.0)
    assert seen is not None and seen - started <= 3.0
    world.stop_scheduler(P, env)
    world.advance(0.5)
    assert heartbeat(world, S, P, env, PERIOD_S) == [1.0]  # its last beats are in the period


def test_a_metric_delay_hides_heartbeats_until_it_has_passed(world: WorldAdapter) -> None:
    env = world.unique("env")
    delay = world.fault_on("metric_delay", P, seconds=3.0)
    started = world.now()
    world.start_scheduler(P, env)
    world.advance(1.5)
    assert heartbeat(world, S, P, env, PERIOD_S) == []
    seen = world.wait_until(lambda: bool(heartbeat(world, S, P, env, PERIOD_S)), timeout_s=4.0)
    assert seen is not None
    assert 3.0 - 0.05 <= seen - started <= 5.0
    world.fault_off(delay)


@pytest.mark.parametrize(
    ("kind", "params", "code"),
    [
        ("cloudwatch_error", {"code": "ServiceUnavailable"}, "ServiceUnavailable"),
        ("cloudwatch_error", {"code": "InternalFailure"}, "InternalFailure"),
        ("cloudwatch_throttling", {}, THROTTLED),
    ],
)
def test_cloudwatch_faults_fail_calls_with_the_same_code(
    world: WorldAdapter, kind: str, params: dict[str, str], code: str
) -> None:
    env = world.unique("env")
    world.heartbeats_between(P, env, start_ago=30.0, end_ago=0.0)
    fault = world.fault_on(kind, P, **params)
    for caller in (P, S):
        assert code_of(lambda caller=caller: heartbeat(world, caller, P, env, PERIOD_S)) == code
    # The other Region's CloudWatch and the Region's S3 are not affected.
    assert heartbeat(world, S, S, env, PERIOD_S) == []
    _, store = world.ports_for(S)
    assert store.get(P, world.bucket(P), world.unique("absent")) is None
    world.fault_off(fault)
    assert heartbeat(world, S, P, env, PERIOD_S) == [1.0]


def test_an_unreachable_region_refuses_calls_to_it(world: WorldAdapter) -> None:
    env = world.unique("env")
    world.heartbeats_between(P, env, start_ago=30.0, end_ago=0.0)
    outage = world.fault_on("region_unreachable", P, mode="refuse")
    metrics, store = world.ports_for(S)
    assert code_of(lambda: metrics.scheduler_heartbeat(P, env, PERIOD_S)) == UNREACHABLE
    assert code_of(lambda: store.get(P, world.bucket(P), "k")) == UNREACHABLE
    assert code_of(lambda: store.put(P, world.bucket(P), "k", {})) == UNREACHABLE
    assert code_of(lambda: store.list_keys(P, world.bucket(P), "")) == UNREACHABLE
    # The caller's own Region answers.
    assert metrics.scheduler_heartbeat(S, env, PERIOD_S) == []
    assert store.get(S, world.bucket(S), world.unique("absent")) is None
    world.fault_off(outage)
    assert metrics.scheduler_heartbeat(P, env, PERIOD_S) == [1.0]


def test_a_hanging_region_times_calls_out(world: WorldAdapter) -> None:
    env = world.unique("env")
    hang = world.fault_on("region_unreachable", P, mode="hang")
    metrics, store = world.ports_for(S)
    assert code_of(lambda: metrics.scheduler_heartbeat(P, env, PERIOD_S)) == TIMED_OUT
    world.fault_off(hang)
    assert metrics.scheduler_heartbeat(P, env, PERIOD_S) == []
    assert store.get(P, world.bucket(P), world.unique("absent")) is None


def test_nothing_leaves_a_dark_region(world: WorldAdapter) -> None:
    outage = world.fault_on("region_unreachable", P, mode="refuse")
    metrics, _ = world.ports_for(P)
    try:
        assert code_of(lambda: metrics.scheduler_heartbeat(S, "env", PERIOD_S)) == UNREACHABLE
    finally:
        world.fault_off(outage)


@pytest.mark.parametrize(("mode", "code"), [("refuse", UNREACHABLE), ("hang", TIMED_OUT)])
def test_a_partition_cuts_calls_between_the_regions_both_ways_not_inside_them(
    world: WorldAdapter, mode: str, code: str
) -> None:
    env = world.unique("env")
    world.heartbeats_between(P, env, start_ago=30.0, end_ago=0.0)
    cut = world.fault_on("partition", P, mode=mode)
    try:
        assert code_of(lambda: heartbeat(world, S, P, env, PERIOD_S)) == code
        _, primary_store = world.ports_for(P)
        missing = world.unique("absent")
        assert code_of(lambda: primary_store.get(S, world.bucket(S), missing)) == code
        # Each Region still reaches its own endpoints.
        assert heartbeat(world, P, P, env, PERIOD_S) == [1.0]
        assert heartbeat(world, S, S, env, PERIOD_S) == []
    finally:
        world.fault_off(cut)
    assert heartbeat(world, S, P, env, PERIOD_S) == [1.0]
