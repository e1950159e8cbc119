"""Shared by the tests that run real Airflow: the installation check and a bounded poll.

The Airflow line under test is $MWAA_DRILL_AIRFLOW_LINE ("3" by default, "2" for 2.10: tox
-e integration-airflow2 runs the same tests on it).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from harness.live import clock
from harness.live.airflow.install import (
    LINES,
    AirflowInstallation,
    AirflowLine,
    AirflowNotInstalled,
    find_installation,
)
from harness.live.airflow.postgres import postgres_problem

LINE_VARIABLE = "MWAA_DRILL_AIRFLOW_LINE"


def airflow_line() -> AirflowLine:
    """The line under test: $MWAA_DRILL_AIRFLOW_LINE, "3" when unset."""
    line = os.environ.get(LINE_VARIABLE, "3")
    if line == "2":
        return "2"
    if line == "3":
        return "3"
    raise ValueError(f"${LINE_VARIABLE} must be 2 or 3, got {line!r}")


def airflow_version() -> str:
    """The MWAA AirflowVersion of the line under test (what CreateEnvironment asks for)."""
    return LINES[airflow_line()].version


def require_airflow() -> AirflowInstallation:
    """The installed Airflow of the line under test; FAILS (never skips) with the fix when it
    or PostgreSQL is missing."""
    line = airflow_line()
    try:
        found = find_installation(line=line)
    except AirflowNotInstalled as err:
        pytest.fail(f"{err} (the live Airflow tests need {LINES[line].install_command(line)})")
    problem = postgres_problem()
    if problem:
        pytest.fail(problem)
    return found


def wait_for(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.5) -> Any:
    """Poll `predicate` until it returns something truthy (returned); fail after timeout_s."""
    deadline = clock.Deadline.after(timeout_s)
    while True:
        value = predicate()
        if value:
            return value
        if deadline.expired():
            pytest.fail(f"{what}: not reached within {timeout_s:.0f} s")
        clock.sleep(min(interval_s, deadline.remaining()))
