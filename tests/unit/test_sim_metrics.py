"""CloudWatch: heartbeat visibility from alive intervals and delays, API faults with botocore's
retries, and reachability across Regions."""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest

from harness.scenario.model import FaultKind
from harness.sim.calibration import default_calibration
from harness.sim.engine import Engine
from harness.sim.faults import FaultSchedule, ScheduledFault
from harness.sim.metrics import CloudWatch, MetricsPort
from harness.sim.network import Network
from reference_impl.ports import THROTTLED, TIMED_OUT, UNREACHABLE, PortError
from reference_impl.runtime import Process, Wait
from tests.unit.test_sim_support import ENV, P, S


def fault(kind: FaultKind, start: float, end: float = math.inf, **params: Any) -> ScheduledFault:
    return ScheduledFault(0, kind, P, start, end, MappingProxyType(params))


def cloudwatch(*faults: ScheduledFault, seed: int = 0) -> tuple[Engine, CloudWatch, Network]:
    cal = default_calibration()
    engine = Engine(end=100_000.0)
    network = Network(engine, cal.network)
    cw = CloudWatch(
        engine, cal.cloudwatch, FaultSchedule(faults), network, random.Random(seed), (P, S)
    )
    cw.delivery_delay = {P: 30.0, S: 30.0}  # fixed, to assert exact times
    return engine, cw, network


def test_a_live_scheduler_has_a_readable_heartbeat_in_the_last_period() -> None:
    _, cw, _ = cloudwatch()
    cw.scheduler_up(P, ENV, 0.0)
    assert cw.heartbeat(P, ENV, 120.0, 600.0) == [1.0]
    assert cw.heartbeat(P, "another-env", 120.0, 600.0) == []
    assert cw.heartbeat(S, ENV, 120.0, 600.0) == []


def test_heartbeats_are_readable_only_after_the_delivery_delay() -> None:
    _, cw, _ = cloudwatch()
    cw.scheduler_up(P, ENV, 1000.0)
    # First heartbeat at 1000, readable from 1030.
    assert cw.heartbeat(P, ENV, 300.0, 1029.9) == []
    assert cw.heartbeat(P, ENV, 300.0, 1030.0) == [1.0]


def test_a_dead_scheduler_stops_publishing_and_its_last_beats_age_out() -> None:
    _, cw, _ = cloudwatch()
    cw.scheduler_up(P, ENV, 0.0)
    cw.scheduler_down(P, 300.0)  # last heartbeat at 295, readable from 325
    assert cw.heartbeat(P, ENV, 120.0, 400.0) == [1.0]  # 295 is in [280, 400)
    assert cw.heartbeat(P, ENV, 120.0, 416.0) == []  # [296, 416) holds none
    cw.scheduler_up(P, ENV, 1000.0)
    assert cw.heartbeat(P, ENV, 120.0, 1100.0) == [1.0]


def test_metric_delay_hides_the_heartbeats_published_in_its_window() -> None:
    delay = fault(FaultKind.CLOUDWATCH_METRIC_DELAY, 1000.0, 3000.0, delay=600.0)
    _, cw, _ = cloudwatch(delay)
    cw.scheduler_up(P, ENV, 0.0)
    # Heartbeats of [1200, 1500) are readable from 1800 on: the latest period looks empty.
    assert cw.heartbeat(P, ENV, 300.0, 1500.0) == []
    # Readable from t + delay: the one published at 1000 is there at 1600, not before.
    assert cw.heartbeat(P, ENV, 605.0, 1599.9) == [1.0]  # 995, before the window
    assert cw.heartbeat(P, ENV, 600.0, 1599.9) == []
    assert cw.heartbeat(P, ENV, 600.0, 1600.0) == [1.0]
    # Those before the window were not delayed.
    assert cw.heartbeat(P, ENV, 300.0, 1100.0) == [1.0]
    # A period reaching back far enough finds delayed ones that have become readable.
    assert cw.heartbeat(P, ENV, 900.0, 1700.0) == [1.0]
    # After the window, fresh heartbeats have the normal delay again.
    assert cw.heartbeat(P, ENV, 300.0, 3029.0) == []
    assert cw.heartbeat(P, ENV, 300.0, 3030.0) == [1.0]


def test_a_metric_delay_shorter_than_the_usual_one_changes_nothing() -> None:
    _, cw, _ = cloudwatch(fault(FaultKind.CLOUDWATCH_METRIC_DELAY, 0.0, delay=10.0))
    cw.scheduler_up(P, ENV, 1000.0)
    assert cw.heartbeat(P, ENV, 300.0, 1029.9) == []
    assert cw.heartbeat(P, ENV, 300.0, 1030.0) == [1.0]


def test_metrics_port_answers_with_the_call_cost() -> None:
    engine, cw, _ = cloudwatch()
    cw.scheduler_up(P, ENV, 0.0)
    port = MetricsPort(cw, S)
    engine.t = 600.0
    assert port.scheduler_heartbeat(P, ENV, 300.0) == [1.0]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("ServiceUnavailable", "ServiceUnavailable"),
        ("InternalFailure", "InternalFailure"),
        ("connection_refused", UNREACHABLE),
        ("hang", TIMED_OUT),
    ],
)
def test_cloudwatch_outage_fails_calls_with_its_error(error: str, code: str) -> None:
    outage = fault(FaultKind.CLOUDWATCH_OUTAGE, 0.0, error=error, error_rate=1.0)
    _, cw, _ = cloudwatch(outage)
    cw.scheduler_up(P, ENV, 0.0)
    with pytest.raises(PortError) as caught:
        cw.api_faults(P)
    assert caught.value.code == code
    cw.api_faults(S)  # the other Region's CloudWatch is fine


def test_throttling_fails_calls_with_throttling_exception() -> None:
    throttling = fault(FaultKind.CLOUDWATCH_THROTTLING, 0.0, error_rate=1.0)
    _, cw, _ = cloudwatch(throttling)
    with pytest.raises(PortError) as caught:
        cw.api_faults(P)
    assert caught.value.code == THROTTLED


def charged(engine: Engine, call: Callable[[], object]) -> float:
    """The virtual time `call` charges when a process makes it (errors swallowed)."""
    costs: list[float] = []

    def proc() -> Process[None]:
        with contextlib.suppress(PortError):
            call()
        assert engine.current is not None
        costs.append(engine.current.cost)
        yield Wait(0.0)

    engine.spawn(proc(), "caller")
    engine.run()
    return costs[0]


@pytest.mark.parametrize(
    ("kind", "params", "seconds"),
    [
        (FaultKind.CLOUDWATCH_THROTTLING, {"error_rate": 1.0}, 3.5),
        (FaultKind.CLOUDWATCH_OUTAGE, {"error": "ServiceUnavailable", "error_rate": 1.0}, 0.25),
        (FaultKind.CLOUDWATCH_OUTAGE, {"error": "hang", "error_rate": 1.0}, 10.0),
    ],
)
def test_a_call_whose_every_attempt_fails_costs_the_measured_retry_time(
    kind: FaultKind, params: dict[str, Any], seconds: float
) -> None:
    engine, cw, _ = cloudwatch(fault(kind, 0.0, **params))
    port = MetricsPort(cw, S)
    cost = charged(engine, lambda: port.scheduler_heartbeat(P, ENV, 300.0))
    assert cost == pytest.approx(seconds + default_calibration().network.cross_region_call)


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        # Retried 4 times: fails when all four attempts fail.
        (FaultKind.CLOUDWATCH_THROTTLING, {"error_rate": 0.5}, 0.5**4),
        (FaultKind.CLOUDWATCH_OUTAGE, {"error": "ServiceUnavailable", "error_rate": 0.7}, 0.7**4),
        # A hang is not retried within the Lambda budget: the first one ends the call.
        (FaultKind.CLOUDWATCH_OUTAGE, {"error": "hang", "error_rate": 0.5}, 0.5),
    ],
)
def test_partial_error_rates_fail_calls_as_botocore_retries_would(
    kind: FaultKind, params: dict[str, Any], expected: float
) -> None:
    _, cw, _ = cloudwatch(fault(kind, 0.0, **params), seed=7)
    calls = 20_000
    failed = 0
    for _ in range(calls):
        try:
            cw.api_faults(P)
        except PortError:
            failed += 1
    rate = failed / calls
    sigma = math.sqrt(expected * (1 - expected) / calls)
    assert abs(rate - expected) < 5 * sigma


def test_api_faults_only_act_inside_their_window() -> None:
    engine, cw, _ = cloudwatch(
        fault(FaultKind.CLOUDWATCH_OUTAGE, 100.0, 200.0, error="ServiceUnavailable", error_rate=1)
    )
    for t, fails in [(99.9, False), (100.0, True), (199.9, True), (200.0, False)]:
        engine.t = t
        if fails:
            with pytest.raises(PortError):
                cw.api_faults(P)
        else:
            cw.api_faults(P)


# Reachability ---------------------------------------------------------------------------------


def test_region_outage_refused_or_hanging() -> None:
    _, cw, network = cloudwatch()
    port = MetricsPort(cw, S)
    network.outage_on(P, "refused")
    with pytest.raises(PortError) as refused:
        port.scheduler_heartbeat(P, ENV, 300.0)
    assert refused.value.code == UNREACHABLE
    network.outage_off(P, "refused")
    network.outage_on(P, "hang")
    with pytest.raises(PortError) as hung:
        port.scheduler_heartbeat(P, ENV, 300.0)
    assert hung.value.code == TIMED_OUT
    network.outage_off(P, "hang")
    port.scheduler_heartbeat(P, ENV, 300.0)


def test_a_partition_times_out_cross_region_calls_only() -> None:
    _, cw, network = cloudwatch()
    network.partition_on(P, "hang")
    with pytest.raises(PortError) as caught:
        MetricsPort(cw, S).scheduler_heartbeat(P, ENV, 300.0)
    assert caught.value.code == TIMED_OUT
    MetricsPort(cw, P).scheduler_heartbeat(P, ENV, 300.0)  # inside the Region: fine
    MetricsPort(cw, S).scheduler_heartbeat(S, ENV, 300.0)
    network.partition_off(P, "hang")
    MetricsPort(cw, S).scheduler_heartbeat(P, ENV, 300.0)
