"""The scenario fault `create_environment_failure`, for the emulated MWAA service.

While such a fault is on in a Region, each CreateEnvironment started there fails with the
fault's probability: the environment stays CREATING for its usual time, then ends
CREATE_FAILED with the fault's error in `LastUpdate.Error` (as the simulator does: see
`harness.sim.environments`). The decision is drawn once, when the creation starts, from a
random generator per Region seeded from `seed` and the Region's name, so a drill draws the
same outcomes for the same sequence of creations in a Region, whatever the other Region does.
Several faults on in one Region draw in the order they were switched on; any one failing
fails the creation.

It works for every backend: `MwaaService` consults it, not the backend.

    faults = CreateFailureFaults(seed=7)
    fault_id = faults.switch_on("us-west-2", probability=1.0)
    ...
    faults.clear(fault_id)
"""

from __future__ import annotations

import itertools
import random
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from harness.live.mwaa.backend import INCORRECT_CONFIGURATION

DEFAULT_MESSAGE = (
    "You may need to check the execution role permissions policy for your environment, and "
    "that each of the VPC networking components required by the environment are configured "
    "to allow traffic. (injected: create_environment_failure)"
)


@dataclass(frozen=True)
class CreateFailureFault:
    id: int
    region: str
    probability: float
    error_code: str = INCORRECT_CONFIGURATION
    error_message: str = DEFAULT_MESSAGE


@dataclass(frozen=True)
class InjectedFailure:
    """The outcome of a draw that failed: what goes into LastUpdate.Error."""

    fault_id: int
    error_code: str
    error_message: str


FaultChangeListener = Callable[[Literal["on", "off"], CreateFailureFault], None]


class CreateFailureFaults:
    """Active create_environment_failure faults per Region, and the seeded draws."""

    def __init__(self, *, seed: int = 0, on_change: FaultChangeListener | None = None) -> None:
        self.seed = seed
        self._on_change = on_change
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._faults: dict[int, CreateFailureFault] = {}
        self._rngs: dict[str, random.Random] = {}
        self._draws: list[tuple[str, int, bool]] = []  # (region, fault id, failed)

    def _rng(self, region: str) -> random.Random:
        rng = self._rngs.get(region)
        if rng is None:
            rng = random.Random(self.seed * 1_000_003 + zlib.crc32(region.encode()))
            self._rngs[region] = rng
        return rng

    def switch_on(
        self,
        region: str,
        probability: float,
        *,
        error_code: str = INCORRECT_CONFIGURATION,
        error_message: str = DEFAULT_MESSAGE,
    ) -> int:
        """Switch a fault on in `region`; returns its id. `probability` in (0, 1]."""
        if not 0.0 < float(probability) <= 1.0:
            raise ValueError(f"probability must be in (0, 1], got {probability!r}")
        if not region:
            raise ValueError("a region is required")
        with self._lock:
            fault = CreateFailureFault(
                next(self._ids), region, float(probability), error_code, error_message
            )
            self._faults[fault.id] = fault
        if self._on_change is not None:
            self._on_change("on", fault)
        return fault.id

    def clear(self, fault_id: int) -> bool:
        with self._lock:
            fault = self._faults.pop(fault_id, None)
        if fault is not None and self._on_change is not None:
            self._on_change("off", fault)
        return fault is not None

    def clear_all(self, region: str | None = None) -> list[CreateFailureFault]:
        with self._lock:
            gone = [f for f in self._faults.values() if region is None or f.region == region]
            for fault in gone:
                del self._faults[fault.id]
        if self._on_change is not None:
            for fault in gone:
                self._on_change("off", fault)
        return gone

    def active(self, region: str | None = None) -> list[CreateFailureFault]:
        with self._lock:
            return [f for f in self._faults.values() if region is None or f.region == region]

    def draw(self, region: str) -> InjectedFailure | None:
        """Decide one creation started now in `region`: None, or the failure to report."""
        with self._lock:
            rng = self._rng(region)
            failure: InjectedFailure | None = None
            for fault in sorted(self._faults.values(), key=lambda f: f.id):
                if fault.region != region:
                    continue
                failed = rng.random() < fault.probability
                self._draws.append((region, fault.id, failed))
                if failed and failure is None:
                    failure = InjectedFailure(fault.id, fault.error_code, fault.error_message)
            return failure

    def draws(self) -> list[tuple[str, int, bool]]:
        """Every draw made so far: (region, fault id, failed), in order."""
        with self._lock:
            return list(self._draws)
