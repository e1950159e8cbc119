"""Shared by the tests that run real Airflow: the installation check and a bounded poll."""

from __future__ import annotations

from typing import Any

import pytest

from harness.live import clock
from harness.live.airflow.install import (
    AirflowInstallation,
    AirflowNotInstalled,
    find_installation,
)
from harness.live.airflow.postgres import postgres_problem


def require_airflow() -> AirflowInstallation:
    """The installed Airflow; FAILS (never skips) with the fix when it or PostgreSQL is missing."""
    try:
        found = find_installation()
    except AirflowNotInstalled as err:
        pytest.fail(f"{err} (the live Airflow tests need scripts/install-airflow.sh)")
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
