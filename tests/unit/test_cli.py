"""The CLI's exit-code contract: 0 pass, 1 fail, 2 bad input (no traceback), 3 not judged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

REPO = Path(__file__).resolve().parents[2]
CATALOG = sorted((REPO / "scenarios").glob("*.yaml"))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point in a child process, as users and CI call it."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_teaches_verbs_and_exit_codes() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for word in ("validate", "scenarios", "simulate", "run", "report", "exit codes"):
        assert word in result.stdout


def test_validate_accepts_the_whole_catalog() -> None:
    assert CATALOG, "the scenario catalog is empty"
    result = run_cli("validate", *map(str, CATALOG))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == len(CATALOG)


INVALID_DOCUMENTS = {
    "wrong-type": (
        "name: x\nstrategy: warm_standby\nprofile: seed\nduration: 1h\ntrials: many\n",
        "trials",
    ),
    "unknown-key": (
        "name: x\nstrategy: warm_standby\nprofile: seed\nduration: 1h\ndetectr: {}\n",
        "detectr",
    ),
    "negative-duration": (
        "name: x\nstrategy: warm_standby\nprofile: seed\nduration: 1h\n"
        "faults: [{kind: region_outage, at: 10m, duration: -5m}]\n",
        "faults[0].duration",
    ),
    "unparsable-duration": (
        "name: x\nstrategy: warm_standby\nprofile: seed\nduration: soon\n",
        "duration",
    ),
    "unknown-fault-kind": (
        "name: x\nstrategy: warm_standby\nprofile: seed\nduration: 1h\n"
        "faults: [{kind: meteor_strike, at: 10m}]\n",
        "faults[0].kind",
    ),
    "fault-after-end": (
        "name: x\nstrategy: warm_standby\nprofile: seed\nduration: 1h\n"
        "faults: [{kind: region_outage, at: 2h}]\n",
        "faults[0].at",
    ),
    "missing-required": ("name: x\nprofile: seed\nduration: 1h\n", "strategy"),
}


@pytest.mark.parametrize("case", sorted(INVALID_DOCUMENTS))
def test_invalid_files_exit_2_naming_the_field_without_traceback(case: str, tmp_path: Path) -> None:
    text, field = INVALID_DOCUMENTS[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}: {field}" in result.stderr


def test_non_yaml_bytes_exit_2_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "image.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr


def test_missing_file_exit_2(tmp_path: Path) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2


def test_bad_usage_exit_2() -> None:
    result = run_cli("simulate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_scenarios_lists_every_catalog_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for path in CATALOG:
        assert path.name in out


def test_scenarios_faults_documents_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.scenario.model import FaultKind

    assert main(["scenarios", "--faults"]) == 0
    out = capsys.readouterr().out
    for kind in FaultKind:
        assert kind.value in out


def test_live_drill_on_localstack_without_localstack_exits_3_with_the_fix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.live.localstack as localstack

    monkeypatch.setattr(
        localstack, "installation_problem", lambda venv=None: "LocalStack is not installed; run X"
    )
    args = ["run", str(CATALOG[0]), "--backend", "localstack", "--report-dir", str(tmp_path)]
    assert main(args) == 3
    assert "LocalStack is not installed; run X" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("scale", ["0", "-1", "x", "inf"])
def test_run_refuses_a_bad_time_scale_with_exit_2(scale: str) -> None:
    result = run_cli("run", str(CATALOG[0]), "--time-scale", scale)
    assert result.returncode == 2
    assert "--time-scale" in result.stderr and "Traceback" not in result.stderr


def test_run_refuses_an_airflow_version_of_no_installed_line_with_exit_2() -> None:
    result = run_cli("run", str(CATALOG[0]), "--airflow-version", "2.9.2")
    assert result.returncode == 2
    assert "--airflow-version" in result.stderr and "2.10.5" in result.stderr


@pytest.mark.parametrize("version", ["2.10.5", "3.3.2"])
def test_run_dry_run_names_the_airflow_version(
    capsys: pytest.CaptureFixture[str], version: str
) -> None:
    assert main(["run", str(CATALOG[0]), "--dry-run", "--airflow-version", version]) == 0
    assert f"(Apache Airflow {version})" in capsys.readouterr().out


def test_live_settings_carry_the_airflow_version_into_the_report() -> None:
    from harness.live.drill import LiveDrill, LiveDrillError, LiveSettings
    from harness.scenario.load import load_scenario

    assert LiveSettings().to_json()["airflow_version"] == "3.3.2"
    assert LiveSettings(airflow_version="2.10.5").to_json()["airflow_version"] == "2.10.5"
    with pytest.raises(LiveDrillError, match="no Airflow line"):
        LiveDrill(load_scenario(CATALOG[0]), LiveSettings(airflow_version="1.10.15"))


def test_report_of_a_bad_json_file_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{not json")
    result = run_cli("report", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_report_renders_a_valid_report(fmt: str, tmp_path: Path) -> None:
    import json

    from tests.unit.test_report import never_recovered, outage_scenario, report_of

    path = tmp_path / "r.json"
    path.write_text(json.dumps(report_of(outage_scenario(), never_recovered())))
    out = tmp_path / f"r.{fmt}"
    assert main(["report", str(path), "--format", fmt, "-o", str(out)]) == 0
    text = out.read_text()
    assert "FAIL" in text
    assert "rto" in text
