"""The reference's measured behaviour (shared/notes/anchors.md), reproduced end to end: the seed
profile's health check against each CloudWatch condition, with a really healthy primary unless
noted, and the hardened profile's answer to the same conditions."""

from __future__ import annotations

from typing import Any

import pytest

from harness.measures import TrialMeasures
from harness.scenario import scenario_from_data
from harness.sim.calibration import default_calibration
from harness.sim.trial import run_trial

TRIALS = 8
WINDOW = {"at": "30m", "duration": "15m"}


def trials(profile: str, fault: dict[str, Any]) -> list[TrialMeasures]:
    scenario = scenario_from_data(
        {
            "name": "anchor",
            "strategy": "warm_standby",
            "profile": profile,
            "duration": "2h",
            "faults": [fault],
        }
    )
    cal = default_calibration()
    return [run_trial(scenario, cal, i).measures for i in range(TRIALS)]


SPURIOUS_FOR_SEED = {
    "503 ServiceUnavailable": {"kind": "cloudwatch_outage", "error": "ServiceUnavailable"},
    "400 ThrottlingException": {"kind": "cloudwatch_throttling"},
    "connection refused": {"kind": "cloudwatch_outage", "error": "connection_refused"},
    "datapoints 10 min late": {"kind": "cloudwatch_metric_delay", "delay": "10m"},
}
QUIET_FOR_SEED = {
    "datapoints 4 min late": {"kind": "cloudwatch_metric_delay", "delay": "4m"},
    "endpoint hangs": {"kind": "cloudwatch_outage", "error": "hang"},
}


@pytest.mark.parametrize("condition", SPURIOUS_FOR_SEED)
def test_seed_fails_over_for_nothing(condition: str) -> None:
    for m in trials("seed", {**SPURIOUS_FOR_SEED[condition], **WINDOW}):
        assert m.spurious_failover


@pytest.mark.parametrize("condition", QUIET_FOR_SEED)
def test_seed_stays_put(condition: str) -> None:
    for m in trials("seed", {**QUIET_FOR_SEED[condition], **WINDOW}):
        assert not m.failover_triggered


@pytest.mark.parametrize("condition", [*SPURIOUS_FOR_SEED, *QUIET_FOR_SEED])
def test_hardened_never_fails_over_for_cloudwatch(condition: str) -> None:
    fault = {**SPURIOUS_FOR_SEED, **QUIET_FOR_SEED}[condition]
    for m in trials("hardened", {**fault, **WINDOW}):
        assert not m.failover_triggered


def test_seed_misses_a_hanging_regional_outage_hardened_does_not() -> None:
    outage = {"kind": "region_outage", "at": "30m", "duration": "1h", "unreachable_as": "hang"}
    for m in trials("seed", outage):
        # No failover while the Region is dark: the check dies on its Lambda timeout.
        assert m.detection_s is None or m.detection_s >= 3600.0
    for m in trials("hardened", outage):
        assert m.recovered and m.detection_s is not None and m.detection_s < 600.0


def test_seed_detects_a_refusing_regional_outage_within_its_5_minute_checks() -> None:
    outage = {"kind": "region_outage", "at": "30m", "duration": "1h"}
    detections = [m.detection_s for m in trials("seed", outage)]
    assert all(d is not None and 0.0 <= d <= 300.0 + 10.0 for d in detections)
