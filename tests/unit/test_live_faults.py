"""The fault controller: validation, decisions per request, switches and their callbacks."""

from __future__ import annotations

import threading

import pytest

from harness.live.faults import ANY_SERVICE, FaultController, FaultError, FaultEvent


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


def controller(**kwargs) -> FaultController:  # type: ignore[no-untyped-def]
    return FaultController(regions=("us-east-1", "us-west-2"), **kwargs)


def test_no_fault_forwards() -> None:
    decision = controller().decide("us-east-1", "cloudwatch")
    assert (decision.hang, decision.refuse, decision.drop, decision.error) == (None,) * 4
    assert decision.delay_s == 0.0


def test_error_fault_hits_its_region_and_service_only() -> None:
    faults = controller()
    fault = faults.error("us-east-1", "cloudwatch", "ServiceUnavailable")
    assert faults.decide("us-east-1", "cloudwatch").error == fault
    assert faults.decide("us-east-1", "s3").error is None
    assert faults.decide("us-west-2", "cloudwatch").error is None


def test_any_service() -> None:
    faults = controller()
    fault = faults.error("us-east-1", ANY_SERVICE, "InternalFailure")
    assert faults.decide("us-east-1", "s3").error == fault
    assert faults.decide("us-east-1", "mwaa").error == fault


def test_clear_makes_the_next_decision_clean() -> None:
    faults = controller()
    fault = faults.error("us-east-1", "cloudwatch", "Throttling")
    assert faults.clear(fault) is True
    assert faults.decide("us-east-1", "cloudwatch").error is None
    assert faults.clear(fault) is False


def test_rate_is_sampled_with_a_seed() -> None:
    def run(seed: int) -> list[bool]:
        faults = controller(seed=seed)
        faults.error("us-east-1", "cloudwatch", "Throttling", rate=0.3)
        return [faults.decide("us-east-1", "cloudwatch").error is not None for _ in range(2000)]

    first = run(7)
    assert first == run(7)
    assert 0.25 < sum(first) / len(first) < 0.35


def test_latency_adds_up_with_jitter_bounded() -> None:
    faults = controller()
    faults.latency("us-east-1", "cloudwatch", 0.2)
    faults.latency("us-east-1", ANY_SERVICE, 0.1, jitter_s=0.05)
    for _ in range(100):
        delay = faults.decide("us-east-1", "cloudwatch").delay_s
        assert 0.3 <= delay <= 0.35
    assert faults.decide("us-east-1", "s3").delay_s <= 0.15


def test_hang_drop_and_unreachable_decisions() -> None:
    faults = controller()
    hang = faults.hang("us-east-1", "cloudwatch", max_hang_s=5)
    drop = faults.drop("us-east-1", "s3")
    assert faults.decide("us-east-1", "cloudwatch").hang == hang
    assert faults.decide("us-east-1", "s3").drop == drop
    outage = faults.unreachable("us-west-2", "refuse")
    assert faults.decide("us-west-2", "anything").refuse == outage
    hung_region = faults.unreachable("us-east-1", "hang")
    assert faults.decide("us-east-1", "s3").hang == hung_region


def test_newest_unreachable_mode_wins() -> None:
    faults = controller()
    assert faults.unreachable_mode("us-east-1") is None
    first = faults.unreachable("us-east-1", "refuse")
    second = faults.unreachable("us-east-1", "blackhole")
    assert faults.unreachable_mode("us-east-1") == "blackhole"
    faults.clear(second)
    assert faults.unreachable_mode("us-east-1") == "refuse"
    faults.clear(first)
    assert faults.unreachable_mode("us-east-1") is None


@pytest.mark.parametrize(
    ("kind", "region", "params", "message"),
    [
        ("meteor", "us-east-1", {}, "unknown fault kind"),
        ("error", "mars-1", {"code": "X"}, "unknown region"),
        ("error", "us-east-1", {}, "needs a code"),
        ("error", "us-east-1", {"code": "X", "rate": 0}, "rate"),
        ("error", "us-east-1", {"code": "X", "rate": 1.5}, "rate"),
        ("error", "us-east-1", {"code": "X", "status": 200}, "status"),
        ("error", "us-east-1", {"code": "X", "latency_s": 1}, "unknown parameter"),
        ("latency", "us-east-1", {"latency_s": 0}, "latency_s > 0"),
        ("latency", "us-east-1", {"latency_s": -1}, ">= 0"),
        ("hang", "us-east-1", {"max_hang_s": 0}, "max_hang_s"),
        ("unreachable", "us-east-1", {"mode": "vanish"}, "mode"),
        ("unreachable", "us-east-1", {"service": "s3"}, "unknown parameter"),
        ("drop", "us-east-1", {"rate": "half"}, "number"),
    ],
)
def test_bad_faults_are_refused(kind: str, region: str, params: dict, message: str) -> None:  # type: ignore[type-arg]
    faults = controller()
    with pytest.raises(FaultError, match=message):
        faults.switch_on(kind, region, **params)
    assert faults.active() == []


def test_every_switch_reaches_the_callbacks_with_the_clock_time() -> None:
    clock = FakeClock()
    seen: list[FaultEvent] = []
    faults = controller(now=clock.now, on_change=seen.append)
    clock.t = 5.0
    fault = faults.error("us-east-1", "cloudwatch", "ServiceUnavailable", rate=0.5)
    clock.t = 9.5
    faults.clear_all()
    assert [(e.action, e.t, e.fault.id) for e in seen] == [("on", 5.0, fault.id), ("off", 9.5, 1)]
    assert seen[0].fault.params() == {
        "service": "cloudwatch",
        "code": "ServiceUnavailable",
        "status": None,
        "rate": 0.5,
    }
    assert faults.events == seen
    assert seen[0].to_json()["fault"]["kind"] == "error"


def test_reconcilers_run_before_the_callback() -> None:
    order: list[str] = []
    faults = controller(on_change=lambda event: order.append(f"event:{event.action}"))
    faults.register_region("us-east-1", lambda: order.append("reconcile"))
    fault = faults.unreachable("us-east-1")
    faults.clear(fault)
    assert order == ["reconcile", "event:on", "reconcile", "event:off"]


def test_clear_all_of_one_region() -> None:
    faults = controller()
    faults.error("us-east-1", "s3", "SlowDown")
    keep = faults.error("us-west-2", "s3", "SlowDown")
    cleared = faults.clear_all("us-east-1")
    assert len(cleared) == 1
    assert faults.active() == [keep]


def test_wait_for_change_wakes_on_clear() -> None:
    faults = controller()
    fault = faults.hang("us-east-1", "cloudwatch")
    version = faults.decide("us-east-1", "cloudwatch").version
    woke: list[int] = []
    thread = threading.Thread(target=lambda: woke.append(faults.wait_for_change(version, 10.0)))
    thread.start()
    faults.clear(fault)
    thread.join(timeout=5.0)
    assert woke and woke[0] != version


def test_wait_for_change_is_bounded() -> None:
    faults = controller()
    version = faults.decide("us-east-1", "s3").version
    assert faults.wait_for_change(version, 0.01) == version


def test_injection_counts() -> None:
    faults = controller()
    fault = faults.drop("us-east-1", "s3")
    faults.count_injection(fault)
    faults.count_injection(fault)
    assert faults.injected(fault) == 2
    assert faults.injected(fault.id + 100) == 0


# Paths between Regions: partitions and dark callers ------------------------------------------
P, S = "us-east-1", "us-west-2"


def test_a_partition_cuts_only_the_paths_between_regions_both_ways() -> None:
    faults = controller()
    cut = faults.partition(P)
    assert cut.mode == "blackhole"  # a partition drops packets unless told otherwise
    for target, caller in ((P, S), (S, P)):
        assert faults.decide(target, "s3", caller).refuse == cut
        assert faults.unreachable_mode(target, caller) == "blackhole"
    for target, caller in ((P, None), (P, P), (S, None), (S, S)):
        decision = faults.decide(target, "s3", caller)
        assert (decision.refuse, decision.hang) == (None, None)
        assert faults.unreachable_mode(target, caller) is None
    faults.clear(cut)
    assert faults.decide(P, "s3", S).refuse is None


def test_a_hanging_partition_holds_requests_across_it() -> None:
    faults = controller()
    cut = faults.partition(S, "hang", max_hang_s=5.0)
    assert faults.decide(P, "cloudwatch", S).hang == cut
    assert faults.decide(S, "cloudwatch", P).hang == cut
    assert faults.decide(S, "cloudwatch", S).hang is None


def test_nothing_leaves_a_dark_region_but_its_own_service_faults_stay_its_own() -> None:
    faults = controller()
    outage = faults.unreachable(P, "refuse")
    assert faults.decide(S, "s3", P).refuse == outage  # from the dark Region
    assert faults.decide(P, "s3", S).refuse == outage  # into it
    assert faults.decide(S, "s3").refuse is None  # the other Region, from inside
    error = faults.error(P, "cloudwatch", "ServiceUnavailable")
    assert faults.decide(S, "cloudwatch", P).error is None  # a fault of P's service, not S's
    assert faults.decide(P, "cloudwatch", S).error == error


def test_partition_parameters_are_checked() -> None:
    faults = controller()
    with pytest.raises(FaultError, match="mode"):
        faults.switch_on("partition", P, mode="sideways")
    with pytest.raises(FaultError, match="unknown parameter"):
        faults.switch_on("partition", P, service="s3")
    assert faults.switch_on("partition", P, mode="refuse").params() == {
        "service": ANY_SERVICE,
        "mode": "refuse",
        "max_hang_s": 300.0,
    }
