"""`--dry-run`: the plan of a drill, printed without starting anything."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.cli import main
from harness.plan import describe_plan
from harness.scenario import DetectorOverrides, Objective, Objectives, Profile, load_scenario
from harness.scenario.model import Scenario

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "scenarios"


def catalog(name: str) -> Scenario:
    return load_scenario(CATALOG / f"{name}.yaml")


@pytest.mark.parametrize("path", sorted(CATALOG.glob("*.yaml")), ids=lambda p: p.stem)
@pytest.mark.parametrize("mode", ["simulate", "run"])
def test_every_catalog_scenario_has_a_plan(path: Path, mode: str) -> None:
    scenario = load_scenario(path)
    text = describe_plan(scenario, mode)  # type: ignore[arg-type]
    assert text.startswith(f"mwaa-drill {mode} --dry-run: ")
    assert f"  name         {scenario.name} ({path})" in text
    for fault in scenario.faults:
        assert f". {fault.kind} in {fault.region}" in text
    assert f"DR settings (profile {scenario.profile}," in text
    assert f"What `{mode}` would do" in text


def test_simulate_plan() -> None:
    scenario = catalog("regional-outage-warm-standby")
    text = describe_plan(
        scenario, "simulate", trials=20, seed=5, calibration="cal.yaml", outputs=["JSON: o.json"]
    )
    assert "  strategy     warm_standby\n" in text
    assert "  profile      hardened\n" in text
    assert "  Regions      primary us-east-1, secondary us-west-2\n" in text
    assert "  duration     3h\n" in text
    assert "  backups      every 15m\n" in text
    assert "  workload     3 DAGs (workload_0 .. workload_2), each scheduled every 5m" in text
    assert "  trials       20, seed 5\n" in text
    assert "  calibration  cal.yaml\n" in text
    assert "  1. region_outage in us-east-1 (primary): at 40m, for 1h30m\n" in text
    assert "     unreachable_as: refused\n" in text
    assert "    confirmations                3\n" in text  # hardened's detector
    assert "  fencing                        yes\n" in text
    assert "  rto: p100 of the trials ≤ 20m\n" in text
    assert "  max_spurious_failover_rate: ≤ 0% of the trials\n" in text
    assert "  1. run 20 trials on virtual time, seeded from 5:" in text
    assert text.endswith("It would write\n  - JSON: o.json\n")


def test_run_plan_steps_in_order() -> None:
    scenario = catalog("primary-returns-while-secondary-active")
    text = describe_plan(scenario, "run", report_dir="out")
    steps = text.split("What `run` would do\n")[1].splitlines()
    assert steps[0].startswith("  1. provision both Regions on this machine:")
    assert "a warm standby environment in us-west-2" in steps[0]
    assert steps[2].startswith("  3. steady-state check:")
    assert steps[3] == ("  4. at 30m .. 50m: inject fault 1, region_outage in us-east-1 (primary)")
    assert steps[4] == "  5. at 1h15m .. 1h35m: heal fault 1 in us-east-1 (primary)"
    assert steps[5].startswith("  6. at 3h: end the drill;") and steps[5].endswith("to out/")
    assert steps[6] == "  7. teardown: stop every process of both Regions"
    assert "(drawn once from the seed)" in text
    assert "  seed         29\n" in text


def test_run_plan_faults_sorted_by_time_and_not_healed_when_lasting() -> None:
    scenario = catalog("failed-restore")
    text = describe_plan(scenario, "run")
    steps = text.split("What `run` would do\n")[1].splitlines()
    assert steps[3] == "  4. at 0s: inject fault 2, restore_failure in us-west-2 (secondary)"
    assert steps[4].startswith("  5. at 30m .. 50m: inject fault 1, region_outage")
    assert steps[5].startswith("  6. at 2h30m .. 2h50m: heal fault 1")
    assert "heal fault 2" not in text
    assert "  2. restore_failure in us-west-2 (secondary): at 0s, until the drill ends\n" in text
    assert "     probability: 0.5 (50%)\n" in text
    assert "backup and restore" not in steps[0]


def test_backup_restore_has_no_standby() -> None:
    text = describe_plan(catalog("regional-outage-backup-restore"), "run")
    assert "no environment in us-west-2 (backup and restore creates one at failover)" in text


def test_profile_settings_and_overrides() -> None:
    scenario = dataclasses.replace(
        catalog("cloudwatch-outage-warm-standby"),
        profile=Profile.SEED,
        detector=DetectorOverrides(confirmations=4),
    )
    text = describe_plan(scenario, "simulate")
    assert "    check_interval               5m\n" in text  # seed's default
    assert "    confirmations                4  (scenario override)\n" in text
    assert "    unknown_is_unhealthy         yes\n" in text
    assert "  plaintext_secrets              yes\n" in text
    assert "  workflow_timeout               1h\n" in text
    assert "  standby_cleanup_tables         variable, connection, slot_pool" in text


def test_recovery_objectives_without_a_primary_fault_are_not_applicable() -> None:
    scenario = dataclasses.replace(
        catalog("cloudwatch-outage-warm-standby"),
        objectives=Objectives(rto=Objective("rto", 1200.0, 95.0), max_lost_runs=0),
    )
    text = describe_plan(scenario, "simulate")
    assert "  rto: p95 of the trials ≤ 20m  (not applicable: no fault" in text
    assert "  max_lost_runs: ≤ 0 in any trial\n" in text


def test_no_faults_and_no_objectives() -> None:
    scenario = dataclasses.replace(
        catalog("regional-outage-warm-standby"), faults=(), objectives=Objectives()
    )
    text = describe_plan(scenario, "run")
    assert "Faults\n  (none: a steady-state drill)\n" in text
    assert "Objectives\n  (none set: every completed trial passes)\n" in text


def test_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="mode must be"):
        describe_plan(catalog("regional-outage-warm-standby"), "live")  # type: ignore[arg-type]


# The CLI ---------------------------------------------------------------------------------------


def test_simulate_dry_run_starts_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_campaign(*args: object, **kwargs: object) -> None:
        raise AssertionError("--dry-run ran the simulator")

    monkeypatch.setattr("harness.sim.campaign.run_campaign", no_campaign)
    report, junit = tmp_path / "out.json", tmp_path / "out.xml"
    scenario = CATALOG / "cloudwatch-outage-warm-standby.yaml"
    args = ["simulate", str(scenario), "--dry-run", "--trials", "7", "--profile", "seed"]
    code = main([*args, "--json", str(report), "--junit", str(junit)])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("mwaa-drill simulate --dry-run: ")
    assert "  trials       7, seed 3\n" in out
    assert "  profile      seed\n" in out
    assert f"  - the JSON report: {report}\n" in out
    assert f"  - the JUnit XML report: {junit}\n" in out
    assert not report.exists() and not junit.exists()


def test_run_dry_run_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = CATALOG / "regional-outage-warm-standby.yaml"
    reports = tmp_path / "reports"
    assert main(["run", str(scenario), "--dry-run", "--report-dir", str(reports)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mwaa-drill run --dry-run: ")
    assert f"write the report to {reports}/" in out
    assert not reports.exists()


@pytest.mark.parametrize("verb", ["simulate", "run"])
def test_dry_run_of_an_invalid_scenario_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstrategy: warm_standby\nprofile: seed\nduration: soon\n")
    assert main([verb, str(bad), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "duration" in err and "Traceback" not in err


def test_dry_run_checks_the_calibration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = CATALOG / "regional-outage-warm-standby.yaml"
    missing = tmp_path / "missing.yaml"
    assert main(["simulate", str(scenario), "--dry-run", "--calibration", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
