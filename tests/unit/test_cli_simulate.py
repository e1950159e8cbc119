"""`mwaa-drill simulate` and `mwaa-drill sweep`: output, report, histories, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.history import History
from harness.report import load_report
from harness.sim.calibration import default_calibration_path
from harness.sim.sweep import SweepError, grid, parse_setting

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "scenarios"


def short_scenario(tmp_path: Path, name: str, **changes: object) -> Path:
    """A catalog scenario cut to a shorter drill, written next to the test."""
    data = yaml.safe_load((CATALOG / f"{name}.yaml").read_text(encoding="utf-8"))
    data.update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_simulate_prints_markdown_writes_the_report_and_histories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = short_scenario(tmp_path, "regional-outage-warm-standby", duration="2h")
    report_path = tmp_path / "out.json"
    histories = tmp_path / "histories"
    code = main(
        [
            "simulate",
            str(scenario),
            "--trials",
            "7",
            "--seed",
            "5",
            "--workers",
            "1",
            "--json",
            str(report_path),
            "--history-dir",
            str(histories),
        ]
    )
    out = capsys.readouterr().out
    report = load_report(report_path)  # validates against the schema
    assert code == {"pass": 0, "fail": 1, "unknown": 3}[report["verdict"]]
    assert out.startswith("# mwaa-drill: regional-outage-warm-standby")
    assert report["seed"] == 5 and report["summary"]["trials"] == 7
    files = sorted(histories.glob("*.jsonl"))
    assert [f.name for f in files] == [f"trial-{i:04d}.jsonl" for i in range(5)]
    assert report["trials"][0]["history"] == str(files[0])
    assert "history" not in report["trials"][5]
    first = History.load(files[0])
    assert first.events[0].kind == "drill_start" and first.events[-1].kind == "drill_end"


def test_simulate_exit_code_follows_the_verdict(tmp_path: Path) -> None:
    spurious = short_scenario(
        tmp_path, "cloudwatch-outage-warm-standby", profile="seed", duration="90m"
    )
    assert main(["simulate", str(spurious), "--trials", "3", "--workers", "1"]) == 1
    healthy = short_scenario(tmp_path, "cloudwatch-outage-warm-standby", duration="90m")
    assert main(["simulate", str(healthy), "--trials", "3", "--workers", "1"]) == 0


def test_progress_goes_to_stderr_for_long_campaigns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = short_scenario(tmp_path, "cloudwatch-outage-warm-standby", duration="70m")
    main(["simulate", str(scenario), "--trials", "100", "--workers", "1"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("simulate:")]
    assert 5 <= len(lines) <= 11
    assert lines[-1] == "simulate: 100 of 100 trials"


def test_a_calibration_file_replaces_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(default_calibration_path().read_text(encoding="utf-8"))
    data["mwaa"]["create_time"] = "45m"
    calibration = tmp_path / "slow.yaml"
    calibration.write_text(yaml.safe_dump(data), encoding="utf-8")
    scenario = short_scenario(tmp_path, "regional-outage-backup-restore", duration="3h")
    report_path = tmp_path / "out.json"
    main(
        [
            "simulate",
            str(scenario),
            "--trials",
            "2",
            "--workers",
            "1",
            "--calibration",
            str(calibration),
            "--json",
            str(report_path),
        ]
    )
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["settings"]["calibration"]["source"] == str(calibration)
    assert report["settings"]["calibration"]["mwaa"]["create_time"] == {"fixed": 2700.0}
    assert all(t["rto_s"] > 2700.0 for t in report["trials"])


def test_a_bad_calibration_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calibration = tmp_path / "bad.yaml"
    calibration.write_text("cloudwatch: {}\n", encoding="utf-8")
    scenario = CATALOG / "regional-outage-warm-standby.yaml"
    assert main(["simulate", str(scenario), "--calibration", str(calibration)]) == 2
    err = capsys.readouterr().err
    assert "cloudwatch.heartbeat_interval: missing" in err
    assert "Traceback" not in err


def test_a_bad_scenario_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n", encoding="utf-8")
    assert main(["simulate", str(bad)]) == 2
    assert main(["sweep", str(bad), "--set", "confirmations=1"]) == 2


# Sweep ------------------------------------------------------------------------------------------


def test_sweep_prints_detection_against_spurious_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = short_scenario(tmp_path, "regional-outage-warm-standby", duration="2h")
    out_json = tmp_path / "sweep.json"
    code = main(
        [
            "sweep",
            str(scenario),
            "--set",
            "confirmations=1,3",
            "--set",
            "check_interval=30s,2m",
            "--trials",
            "3",
            "--workers",
            "1",
            "--json",
            str(out_json),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0].startswith("| confirmations | check_interval | detection p50")
    assert [row.split(" | ")[:2] for row in rows[1:]] == [
        ["| 1", "30s"],
        ["| 1", "2m"],
        ["| 3", "30s"],
        ["| 3", "2m"],
    ]
    points = json.loads(out_json.read_text(encoding="utf-8"))["points"]
    assert points[0]["settings"] == {"confirmations": 1, "check_interval": 30.0}
    fast, slow = points[0]["detection_p50"], points[3]["detection_p50"]
    assert fast is not None and slow is not None and fast < slow


def test_bad_sweep_settings_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = CATALOG / "regional-outage-warm-standby.yaml"
    for setting in ("confirmations=0", "colour=red", "check_interval", "second_signal=maybe"):
        assert main(["sweep", str(scenario), "--set", setting]) == 2
    assert "unknown setting 'colour'" in capsys.readouterr().err


def test_sweep_settings_parse_and_grid() -> None:
    assert parse_setting("confirmations=1,2,3") == ("confirmations", [1, 2, 3])
    assert parse_setting("metric_period=1m, 5m") == ("metric_period", [60.0, 300.0])
    assert parse_setting("second_signal=true,no") == ("second_signal", [True, False])
    points = grid([("confirmations", [1, 2]), ("unknown_is_unhealthy", [True, False])])
    assert points == [
        {"confirmations": 1, "unknown_is_unhealthy": True},
        {"confirmations": 1, "unknown_is_unhealthy": False},
        {"confirmations": 2, "unknown_is_unhealthy": True},
        {"confirmations": 2, "unknown_is_unhealthy": False},
    ]
    with pytest.raises(SweepError):
        grid([("confirmations", [1]), ("confirmations", [2])])


def test_an_unreachable_dask_scheduler_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("distributed")
    scenario = CATALOG / "regional-outage-warm-standby.yaml"
    args = ["simulate", str(scenario), "--trials", "2", "--dask", "inproc://nobody-here/0/0"]
    assert main(args) == 2
    assert "Dask scheduler" in capsys.readouterr().err
