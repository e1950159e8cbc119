"""Campaigns: the same seed gives the same trials whether they run in this process, in worker
processes or on a Dask cluster; the report follows the schema and states its settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from harness.report import validate_report
from harness.scenario import load_scenario
from harness.scenario.model import Scenario
from harness.sim.calibration import default_calibration
from harness.sim.campaign import chunks, run_campaign
from tests.unit.test_sim_trial import LOGIC, outage_scenario

REPO = Path(__file__).resolve().parents[2]


def catalog_scenario(name: str, **fields: Any) -> Scenario:
    return dataclasses.replace(load_scenario(REPO / "scenarios" / f"{name}.yaml"), **fields)


def campaign(scenario: Scenario, **options: Any) -> dict[str, Any]:
    return run_campaign(scenario, calibration=default_calibration(), **options)


def test_chunks_cover_every_index_once_in_order() -> None:
    for trials in (1, 7, 100, 1001):
        for workers in (1, 2, 8):
            parts = chunks(trials, workers)
            assert [i for part in parts for i in part] == list(range(trials))
            assert max(len(part) for part in parts) <= 50


def test_one_worker_and_two_worker_processes_give_identical_trials() -> None:
    scenario = catalog_scenario("regional-outage-warm-standby", duration=7200.0)
    one = campaign(scenario, trials=12, seed=42, workers=1)
    two = campaign(scenario, trials=12, seed=42, workers=2)
    assert one["trials"] == two["trials"]
    assert [t["index"] for t in one["trials"]] == list(range(12))
    assert one["summary"] == two["summary"]
    other_seed = campaign(scenario, trials=12, seed=43, workers=1)
    assert other_seed["trials"] != one["trials"]


def test_a_test_logic_reaches_worker_processes() -> None:
    one = campaign(outage_scenario(), trials=6, seed=1, workers=1, logic=LOGIC)
    two = campaign(outage_scenario(), trials=6, seed=1, workers=2, logic=LOGIC)
    assert one["trials"] == two["trials"]
    assert one["summary"]["recovered"] == 6


def test_a_dask_cluster_gives_identical_trials() -> None:
    distributed = pytest.importorskip("distributed")
    scenario = catalog_scenario("regional-outage-warm-standby", duration=7200.0)
    local = campaign(scenario, trials=10, seed=9, workers=1)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        on_dask = campaign(scenario, trials=10, seed=9, dask_address=cluster.scheduler_address)
    assert on_dask["trials"] == local["trials"]
    assert on_dask["settings"]["simulator"]["backend"].startswith("dask")


def test_the_report_follows_the_schema_and_states_its_settings() -> None:
    scenario = catalog_scenario("regional-outage-warm-standby", duration=7200.0)
    progress: list[tuple[int, int]] = []
    report = campaign(scenario, trials=5, seed=3, workers=1, progress=lambda *p: progress.append(p))
    validate_report(report)
    assert report["mode"] == "simulate" and report["seed"] == 3
    settings = report["settings"]
    assert settings["calibration"]["source"].endswith("default.yaml")
    assert settings["calibration"]["mwaa"]["create_time"] == {
        "lognormal": {"median": 1620.0, "sigma": 0.12}
    }
    assert settings["profile"]["name"] == "hardened"
    assert settings["profile"]["detector"]["confirmations"] == 3
    assert progress[-1] == (5, 5)
    trial = report["trials"][0]
    fault = {"fault_id": 0, "fault": "region_outage", "region": "us-east-1"}
    assert trial["faults"] == [{**fault, "start": 2400.0, "end": 7800.0}]


def test_scenario_detector_overrides_reach_the_dr_logic() -> None:
    scenario = catalog_scenario("regional-outage-warm-standby", duration=7200.0)
    detector = dataclasses.replace(scenario.detector, confirmations=5, check_interval=30.0)
    report = campaign(dataclasses.replace(scenario, detector=detector), trials=1, seed=0, workers=1)
    assert report["settings"]["profile"]["detector"]["confirmations"] == 5
    assert report["settings"]["profile"]["detector"]["check_interval"] == 30.0
