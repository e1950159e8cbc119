"""The scenario catalog: every file loads, the expected drills are there, each is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import FaultKind, Profile, ScenarioError, Strategy, Uniform, load_scenario
from harness.scenario import catalog as catalog_module
from harness.scenario.catalog import catalog_dir, list_catalog

REPO = Path(__file__).resolve().parents[2]
FILES = sorted((REPO / "scenarios").glob("*.yaml"))

EXPECTED = {
    "regional-outage-warm-standby.yaml",
    "regional-outage-backup-restore.yaml",
    "cloudwatch-outage-warm-standby.yaml",
    "cloudwatch-outage-backup-restore.yaml",
    "late-cloudwatch-metrics.yaml",
    "replication-lag-at-outage.yaml",
    "failed-environment-creation.yaml",
    "failed-restore.yaml",
    "primary-returns-while-secondary-active.yaml",
    "regional-outage-hanging-endpoints.yaml",
    "transient-environment-creation-failure.yaml",
    "network-partition-warm-standby.yaml",
    "detector-tradeoff.yaml",
    "failback-after-regional-outage.yaml",
}


def test_catalog_dir_is_the_checkout_scenarios_or_the_installed_copy() -> None:
    # Tests may import the installed wheel (tox; the pytest plugin loads `harness` first).
    found = catalog_dir()
    assert found in (REPO / "scenarios", Path(catalog_module.__file__).parents[1] / "_catalog")
    assert sorted(p.name for p in found.glob("*.yaml")) == sorted(p.name for p in FILES)


def test_catalog_has_the_expected_files() -> None:
    assert {path.name for path in FILES} == EXPECTED


def test_list_catalog_loads_every_file_sorted_by_name() -> None:
    catalog = list_catalog()
    assert [path.name for path, _ in catalog] == sorted(EXPECTED)
    for path, scenario in catalog:
        assert scenario.name == path.stem  # the name is the file name, so reports match files
        assert scenario.source == str(path)
        assert scenario.description.strip()


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_each_file_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.faults, "every drill injects at least one fault"


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_each_file_starts_with_a_comment_block(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line)
    assert len(header) >= 5, "a comment block documents the drill"
    text = "\n".join(header)
    assert "Expected" in text
    assert "seed" in text and "hardened" in text
    assert f"mwaa-drill simulate scenarios/{path.name}" in text
    assert f"mwaa-drill run scenarios/{path.name}" in text


def test_key_scenarios_say_what_the_brief_says() -> None:
    by_name = {path.name: scenario for path, scenario in list_catalog()}

    main = by_name["regional-outage-warm-standby.yaml"]
    assert (main.strategy, main.profile, main.duration) == (
        Strategy.WARM_STANDBY,
        Profile.HARDENED,
        3 * 3600.0,
    )
    (outage,) = main.faults
    assert (outage.kind, outage.region, outage.at, outage.duration) == (
        FaultKind.REGION_OUTAGE,
        main.regions.primary,
        40 * 60.0,
        90 * 60.0,
    )
    assert main.objectives.rto is not None and main.objectives.rto.target == 20 * 60.0
    assert main.objectives.rpo is not None and main.objectives.rpo.target == 20 * 60.0
    assert main.objectives.max_spurious_failover_rate == 0.0

    for name in ("cloudwatch-outage-warm-standby.yaml", "cloudwatch-outage-backup-restore.yaml"):
        scenario = by_name[name]
        assert scenario.trials >= 300
        assert [fault.kind for fault in scenario.faults] == [FaultKind.CLOUDWATCH_OUTAGE]
        assert scenario.faults[0].duration == 15 * 60.0
        assert scenario.objectives.max_spurious_failover_rate == 0.0
    assert {by_name[name].strategy for name in EXPECTED if name.startswith("cloudwatch")} == set(
        Strategy
    )

    split = by_name["primary-returns-while-secondary-active.yaml"]
    assert split.objectives.max_split_brain == 0.0
    assert all(fault.duration is not None for fault in split.faults)  # the primary returns

    failback = by_name["failback-after-regional-outage.yaml"]
    assert [op.action.value for op in failback.operations] == ["failback"]
    assert failback.objectives.max_failback_time is not None
    assert failback.objectives.max_split_brain == 0.0
    assert failback.objectives.max_duplicate_runs == 0
    (outage,) = failback.faults
    assert outage.duration is not None  # the primary returns before the failback

    creation = by_name["failed-environment-creation.yaml"]
    assert creation.strategy is Strategy.BACKUP_RESTORE
    assert {fault.kind for fault in creation.faults} == {
        FaultKind.REGION_OUTAGE,
        FaultKind.CREATE_ENVIRONMENT_FAILURE,
    }

    varying = [
        name for name, s in by_name.items() if any(isinstance(f.at, Uniform) for f in s.faults)
    ]
    assert len(varying) >= 2


def test_an_invalid_catalog_file_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.yaml").write_text("name: a\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text((REPO / "scenarios" / "failed-restore.yaml").read_text())
    monkeypatch.setattr(catalog_module, "catalog_dir", lambda: tmp_path)
    with pytest.raises(ScenarioError) as caught:
        list_catalog()
    assert all(error.source == str(tmp_path / "a.yaml") for error in caught.value.errors)


def test_a_missing_catalog_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_module, "catalog_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(ScenarioError):
        list_catalog()
