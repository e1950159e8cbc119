"""Every weakness the hardened profile fixes is shown by a catalog scenario: run as it is
(hardened) it passes; run with `--profile seed` the same drill fails its objectives.

Real seeded campaigns of the simulator running the real DR logic, judged by the report code,
exactly as `mwaa-drill simulate FILE [--profile seed]` does.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from harness.report import exit_code
from harness.scenario import load_scenario
from harness.scenario.model import Profile
from harness.sim.calibration import default_calibration
from harness.sim.campaign import run_campaign

CATALOG = Path(__file__).resolve().parents[2] / "scenarios"

# scenario -> (the weakness of seed it shows, the objective seed breaks, trials needed)
WEAKNESSES: dict[str, tuple[str, str, int]] = {
    "cloudwatch-outage-warm-standby": (
        "a CloudWatch API error is taken for an outage",
        "max_spurious_failover_rate",
        40,
    ),
    "cloudwatch-outage-backup-restore": (
        "a CloudWatch API error is taken for an outage",
        "max_spurious_failover_rate",
        40,
    ),
    "late-cloudwatch-metrics": (
        "missing (late) datapoints are taken for an outage",
        "max_spurious_failover_rate",
        40,
    ),
    "regional-outage-hanging-endpoints": (
        "a check that times out decides nothing, so a hanging Region is never failed over",
        "rto",
        40,
    ),
    "primary-returns-while-secondary-active": (
        "nothing fences a primary that comes back",
        "max_split_brain",
        40,
    ),
    "failback-after-regional-outage": (
        "no failback: the returning primary schedules alongside the secondary",
        "max_failback_time",
        40,
    ),
    "replication-lag-at-outage": (
        "manifest-less fixed-key backups restore a mix of backups",
        "max_torn_restores",
        150,  # the mix needs an object caught in replication's tail: a few % of trials
    ),
    "failed-restore": (
        "one restore attempt, not idempotent, and no retry",
        "rto",
        40,
    ),
    "network-partition-warm-standby": (
        "a Region it cannot reach is taken for a dead one, and nothing fences the primary",
        "max_spurious_failover_rate",
        40,
    ),
    "transient-environment-creation-failure": (
        "the poll loop has no exit on CREATE_FAILED",
        "rto",
        40,
    ),
}


@cache
def campaign(name: str, profile: str, trials: int) -> dict[str, Any]:
    scenario = load_scenario(CATALOG / f"{name}.yaml")
    scenario = dataclasses.replace(scenario, profile=Profile(profile))
    return run_campaign(
        scenario,
        trials=trials,
        seed=scenario.seed,
        calibration=default_calibration(),
        workers=1,
    )


def objective(report: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [o for o in report["objectives"] if o["name"] == name]
    assert matches, f"the scenario sets no {name} objective"
    return matches[0]


@pytest.mark.parametrize("name", sorted(WEAKNESSES))
def test_hardened_passes(name: str) -> None:
    report = campaign(name, "hardened", WEAKNESSES[name][2])
    failed = [o for o in report["objectives"] if o["met"] is not True]
    assert report["verdict"] == "pass", failed
    assert exit_code(report) == 0


@pytest.mark.parametrize("name", sorted(WEAKNESSES))
def test_seed_fails_on_the_weakness(name: str) -> None:
    weakness, broken, trials = WEAKNESSES[name]
    report = campaign(name, "seed", trials)
    assert report["verdict"] == "fail", weakness
    assert exit_code(report) == 1
    assert objective(report, broken)["met"] is False, weakness


def test_every_catalog_scenario_that_hardened_passes_is_listed_or_is_a_plain_drill() -> None:
    # A new catalog scenario either shows a weakness (listed above) or is a plain drill of one
    # strategy; this keeps the list honest when the catalog grows.
    plain = {
        "regional-outage-warm-standby",
        "regional-outage-backup-restore",
        "failed-environment-creation",
        "detector-tradeoff",  # for `sweep`: docs/detector-tradeoff.md
    }
    names = {path.stem for path in CATALOG.glob("*.yaml")}
    assert names == set(WEAKNESSES) | plain
