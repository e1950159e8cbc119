"""A trial's fault schedule: each scenario fault with its times and parameters sampled once.

Every model asks the schedule which faults of a kind cover a time in a Region. Knowing the
windows up front lets models answer analytically (when does an object arrive, is a datapoint
visible yet) instead of simulating each heartbeat; the world still switches faults on and off
at their times, records fault_on and fault_off, and acts on their edges.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.scenario.model import FaultKind, Scenario, Uniform, sample


@dataclass(frozen=True)
class ScheduledFault:
    """One fault of one trial: active over [start, end); end is inf until the drill's end."""

    fault_id: int  # its index in the scenario
    kind: FaultKind
    region: str
    start: float
    end: float
    params: Mapping[str, Any]  # the kind's parameters, Varying ones sampled to seconds

    def covers(self, t: float) -> bool:
        return self.start <= t < self.end

    def to_json(self) -> dict[str, Any]:
        """For the trial's report entry: when it struck, as sampled."""
        return {
            "fault_id": self.fault_id,
            "fault": self.kind.value,
            "region": self.region,
            "start": self.start,
            "end": self.end if math.isfinite(self.end) else None,
        }


class FaultSchedule:
    def __init__(self, faults: tuple[ScheduledFault, ...]) -> None:
        self.faults = faults
        self._by_kind: dict[tuple[FaultKind, str], tuple[ScheduledFault, ...]] = {}
        for fault in faults:
            key = (fault.kind, fault.region)
            self._by_kind[key] = (*self._by_kind.get(key, ()), fault)

    @classmethod
    def sample(cls, scenario: Scenario, rng: random.Random) -> FaultSchedule:
        """Draw every fault's times and parameters, in scenario order, from one stream."""
        drawn = []
        for fault_id, fault in enumerate(scenario.faults):
            start = sample(fault.at, rng)
            length = math.inf if fault.duration is None else sample(fault.duration, rng)
            params = {
                name: sample(value, rng) if isinstance(value, Uniform) else value
                for name, value in fault.params.items()
            }
            drawn.append(
                ScheduledFault(fault_id, fault.kind, fault.region, start, start + length, params)
            )
        return cls(tuple(drawn))

    def of(self, kind: FaultKind, region: str) -> tuple[ScheduledFault, ...]:
        return self._by_kind.get((kind, region), ())

    def active(self, kind: FaultKind, region: str, t: float) -> list[ScheduledFault]:
        return [fault for fault in self.of(kind, region) if fault.covers(t)]

    def any_active(self, kind: FaultKind, region: str, t: float) -> bool:
        return any(fault.covers(t) for fault in self.of(kind, region))
