"""The scenario fault `restore_failure`, for the emulated MWAA API: restores that fail part-way.

While such a fault is on in a Region, each restore *attempt* into an environment of that
Region fails with the fault's probability, after a few of its metadata writes went through:
the simulator's model (`harness.sim.airflow`: a restore run fails part-way, after 1..n-1
tables). The API cannot see DR DAG runs, so it sees attempts in what reaches Airflow:

- a metadata write is a bulk create on /variables, /connections or /pools (Airflow 2.10: a
  POST of one there), a POST of a DAG run
  WITH a logical date (a restored run; a triggered DR run has none), or a PATCH of a task
  instance (InvokeRestApi, any caller);
- writes closer than `gap_s` to the previous one belong to the same attempt; a longer pause
  starts a new attempt (retries are seconds apart: a new DR DAG run, a poll interval);
- at the first write of an attempt one seeded draw decides (per active fault, in the order
  they were switched on); a doomed attempt lets 1..`max_writes_before_failure` writes through,
  then every write of the attempt answers HTTP 500 (RestApiServerException).

Reads, triggers and everything else always pass: the failover can start a restore and see
it fail, as in the simulator.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.live import clock

_BULK = re.compile(r"^/(variables|connections|pools)/?$")
_RUNS = re.compile(r"^/dags/[^/]+/dagRuns/?$")
_TASK = re.compile(r"^/dags/[^/]+/dagRuns/[^/]+/taskInstances/[^/]+/?$")


def is_metadata_write(method: str, path: str, body: Any) -> bool:
    """Whether an InvokeRestApi call writes restored metadata (see the module docstring)."""
    method = method.upper()
    if method == "PATCH" and _BULK.match(path):
        actions = body.get("actions") if isinstance(body, Mapping) else None
        return isinstance(actions, list) and any(
            isinstance(a, Mapping) and a.get("action") == "create" for a in actions
        )
    if method == "POST" and _BULK.match(path):  # Airflow 2.10 creates them one by one
        return True
    if method == "POST" and _RUNS.match(path):
        return isinstance(body, Mapping) and body.get("logical_date") is not None
    return method == "PATCH" and bool(_TASK.match(path))


@dataclass(frozen=True)
class RestoreFailureFault:
    id: int
    region: str
    probability: float


@dataclass
class _Attempt:
    last_write: float
    writes_left: int  # -1: not doomed


class RestoreFailureFaults:
    """Active restore_failure faults per Region, the seeded draws, the attempts seen."""

    def __init__(
        self,
        *,
        seed: int = 0,
        gap_s: float = 2.0,
        max_writes_before_failure: int = 3,
        now: Callable[[], float] = clock.monotonic,
    ) -> None:
        if gap_s <= 0 or max_writes_before_failure < 1:
            raise ValueError("gap_s must be > 0 and max_writes_before_failure >= 1")
        self.seed = seed
        self.gap_s = gap_s
        self.max_writes = max_writes_before_failure
        self._now = now
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._faults: dict[int, RestoreFailureFault] = {}
        self._rngs: dict[str, random.Random] = {}
        self._attempts: dict[str, _Attempt] = {}
        self.draws: list[tuple[str, bool]] = []  # (region, doomed) per attempt

    def switch_on(self, region: str, probability: float) -> int:
        if not 0.0 < float(probability) <= 1.0:
            raise ValueError(f"probability must be in (0, 1], got {probability!r}")
        with self._lock:
            fault = RestoreFailureFault(next(self._ids), region, float(probability))
            self._faults[fault.id] = fault
            return fault.id

    def clear(self, fault_id: int) -> bool:
        with self._lock:
            return self._faults.pop(fault_id, None) is not None

    def _rng(self, region: str) -> random.Random:
        rng = self._rngs.get(region)
        if rng is None:
            rng = self._rngs[region] = random.Random(
                self.seed * 1_000_003 + zlib.crc32(f"restore:{region}".encode())
            )
        return rng

    def fails(self, region: str, method: str, path: str, body: Any) -> bool:
        """Whether this call must fail (HTTP 500); counts it towards its attempt."""
        if not is_metadata_write(method, path, body):
            return False
        with self._lock:
            active = [f for f in sorted(self._faults.values(), key=lambda f: f.id)]
            active = [f for f in active if f.region == region]
            now = self._now()
            attempt = self._attempts.get(region)
            if attempt is None or now - attempt.last_write > self.gap_s:
                if not active:
                    self._attempts.pop(region, None)
                    return False
                rng = self._rng(region)
                doomed = any(rng.random() < f.probability for f in active)
                left = rng.randint(1, self.max_writes) if doomed else -1
                attempt = self._attempts[region] = _Attempt(now, left)
                self.draws.append((region, doomed))
            attempt.last_write = now
            if attempt.writes_left < 0:
                return False
            if attempt.writes_left == 0:
                return True
            attempt.writes_left -= 1
            return False
