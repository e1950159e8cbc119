"""restore_failure for the emulated MWAA API: which calls are restore writes, and attempts."""

from __future__ import annotations

import pytest

from harness.live.mwaa.restore_faults import RestoreFailureFaults, is_metadata_write


def test_metadata_writes_are_what_a_restore_sends() -> None:
    create = {"actions": [{"action": "create", "entities": []}]}
    assert is_metadata_write("PATCH", "/variables", create)
    assert is_metadata_write("PATCH", "/pools", create)
    assert not is_metadata_write("PATCH", "/variables", {"actions": [{"action": "delete"}]})
    assert is_metadata_write("POST", "/dags/w/dagRuns", {"logical_date": "2026-01-01T00:00:00Z"})
    # a triggered DR run has no logical date: the failover can still start its restore
    assert not is_metadata_write("POST", "/dags/mwaa_dr_restore/dagRuns", {"logical_date": None})
    assert is_metadata_write("PATCH", "/dags/w/dagRuns/r1/taskInstances/work", {})
    assert not is_metadata_write("GET", "/variables", None)
    assert not is_metadata_write("PATCH", "/dags/w", {"is_paused": False})


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def writes(faults: RestoreFailureFaults, clock: Clock, count: int) -> list[bool]:
    results = []
    for _ in range(count):
        clock.t += 0.1
        results.append(faults.fails("r", "PATCH", "/pools", {"actions": [{"action": "create"}]}))
    return results


def test_a_doomed_attempt_lets_a_few_writes_through_then_fails_every_write() -> None:
    clock = Clock()
    faults = RestoreFailureFaults(seed=1, now=clock, max_writes_before_failure=3)
    assert writes(faults, clock, 3) == [False] * 3  # no fault: nothing fails
    faults.switch_on("r", 1.0)
    clock.t += 10  # a new attempt
    outcome = writes(faults, clock, 8)
    first_failure = outcome.index(True)
    assert 1 <= first_failure <= 3 and all(outcome[first_failure:])
    assert faults.fails("other", "PATCH", "/pools", {"actions": [{"action": "create"}]}) is False


def test_attempts_are_drawn_once_each_and_reproducibly() -> None:
    def run() -> list[tuple[str, bool]]:
        clock = Clock()
        faults = RestoreFailureFaults(seed=7, now=clock)
        faults.switch_on("r", 0.5)
        for _ in range(20):
            clock.t += 10  # each burst is one attempt
            writes(faults, clock, 5)
        return faults.draws

    draws = run()
    assert len(draws) == 20 and draws == run()
    assert 0 < sum(doomed for _, doomed in draws) < 20


def test_a_cleared_fault_dooms_no_new_attempt() -> None:
    clock = Clock()
    faults = RestoreFailureFaults(now=clock)
    fault_id = faults.switch_on("r", 1.0)
    assert faults.clear(fault_id) and not faults.clear(fault_id)
    clock.t += 10
    assert writes(faults, clock, 5) == [False] * 5
    with pytest.raises(ValueError):
        faults.switch_on("r", 0.0)
