"""The calibration file: complete, sourced, validated with every error named; distributions."""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import pytest
import yaml

from harness.sim.calibration import (
    CalibrationError,
    Fixed,
    LogNormal,
    UniformDist,
    calibration_from_data,
    default_calibration,
    default_calibration_path,
    load_calibration,
)

SOURCE_TAG = re.compile(r"\[(post|ref|aws|guess)\]")


def default_data() -> dict[str, object]:
    data = yaml.safe_load(default_calibration_path().read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_default_loads_and_carries_the_anchor_numbers() -> None:
    cal = default_calibration()
    assert cal.cloudwatch.heartbeat_interval == 5.0  # the post
    assert cal.cloudwatch.max_attempts == 4  # botocore as the reference uses it
    assert cal.cloudwatch.lambda_timeout == 10.0
    assert cal.cloudwatch.exhausted["ThrottlingException"] == 3.5
    assert cal.mwaa.create_time == LogNormal(median=1620.0, sigma=0.12)
    json.dumps(cal.to_json())  # goes into the report as it is


def test_every_value_in_the_default_says_where_it_comes_from() -> None:
    """Each value has a source tag on its line, in the comments just above it, or on the
    line of the mapping it belongs to (e.g. `exhausted:`)."""
    lines = default_calibration_path().read_text(encoding="utf-8").splitlines()
    comments: list[str] = []
    parent_tagged = False
    missing = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            comments.append(stripped)
            continue
        tagged = bool(SOURCE_TAG.search(line)) or any(SOURCE_TAG.search(c) for c in comments)
        comments = []
        nested = line.startswith("    ")
        if stripped.endswith(":") or stripped.split("#")[0].strip().endswith(":"):
            parent_tagged = tagged  # a section or a mapping of values
            continue
        if not (tagged or (nested and parent_tagged)):
            missing.append(stripped)
    assert not missing, missing


def test_a_file_replaces_the_default(tmp_path: Path) -> None:
    data = default_data()
    data["mwaa"]["create_time"] = {"fixed": "40m"}  # type: ignore[index]
    path = tmp_path / "slow-mwaa.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    cal = load_calibration(path)
    assert cal.mwaa.create_time == Fixed(2400.0)
    assert cal.source == str(path)


def test_every_problem_is_named() -> None:
    data = default_data()
    del data["s3"]["call"]  # type: ignore[attr-defined]
    data["mwaa"]["create_failure_probability"] = 2  # type: ignore[index]
    data["airflow"]["workload_run"] = {"triangular": [1, 2]}  # type: ignore[index]
    data["cloudwatch"]["max_attempts"] = 0  # type: ignore[index]
    data["extra"] = {}
    with pytest.raises(CalibrationError) as caught:
        calibration_from_data(data, "cal.yaml")
    message = str(caught.value)
    for expected in (
        "cal.yaml: s3.call: missing",
        "mwaa.create_failure_probability: a probability is in [0, 1]",
        "airflow.workload_run: unknown distribution 'triangular'",
        "cloudwatch.max_attempts: expected a whole number >= 1",
        "extra: unknown key",
    ):
        assert expected in message


def test_unreadable_or_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="cannot read"):
        load_calibration(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cloudwatch: [unclosed", encoding="utf-8")
    with pytest.raises(CalibrationError, match="not YAML"):
        load_calibration(bad)


def test_distributions_sample_as_specified() -> None:
    rng = random.Random(3)
    assert Fixed(5.0).sample(rng) == 5.0
    draws = [UniformDist(1.0, 10.0).sample(rng) for _ in range(2000)]
    assert min(draws) >= 1.0 and max(draws) <= 10.0
    lognormal = LogNormal(median=25.0, sigma=0.5)
    draws = sorted(lognormal.sample(rng) for _ in range(20001))
    assert draws[10000] == pytest.approx(25.0, rel=0.05)
    # sigma is the log's: the 84th percentile is median * e^sigma
    assert draws[int(0.8413 * 20000)] == pytest.approx(25.0 * math.exp(0.5), rel=0.06)


def test_bare_durations_are_fixed_distributions() -> None:
    data = default_data()
    data["airflow"]["workload_run"] = "90s"  # type: ignore[index]
    assert calibration_from_data(data).airflow.workload_run == Fixed(90.0)
