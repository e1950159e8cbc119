"""One simulated trial: build the world for (scenario, index), run it, measure its history.

A trial's seed is derived from the scenario's seed and the trial's index with SHA-256 (never
Python's `hash()`, which changes between processes), so trial i is the same trial whichever
process or machine runs it and however many trials run beside it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from harness.checkers import measure_trial
from harness.history import History
from harness.report import TrialResult
from harness.scenario.model import Scenario
from harness.sim.calibration import Calibration
from harness.sim.world import DrLogic, World
from reference_impl.config import ProfileConfig


def trial_seed(seed: int, index: int) -> int:
    """The seed of trial `index` of a campaign seeded `seed`: 53 bits, exact in any JSON reader."""
    digest = hashlib.sha256(f"mwaa-drill/trial/{seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 11


@dataclass(frozen=True)
class SimTrial(TrialResult):
    """A TrialResult that can carry its history (only when asked: histories are large)."""

    history: History | None = None

    def result(self) -> TrialResult:
        """The bare TrialResult: what workers send back."""
        return TrialResult(self.index, self.seed, self.measures, self.extra)


def run_trial(
    scenario: Scenario,
    calibration: Calibration,
    index: int,
    *,
    keep_history: bool = False,
    logic: DrLogic | None = None,
    config: ProfileConfig | None = None,
) -> SimTrial:
    """Run trial `index` of `scenario`. Its measures come from its history alone; `extra`
    holds the fault times sampled for it. `config` replaces the scenario's DR settings (say,
    the compressed ones a live drill used)."""
    seed = trial_seed(scenario.seed, index)
    world = World(scenario, calibration, seed, logic, config=config)
    history = world.run()
    measures = measure_trial(history)
    extra = {"faults": [fault.to_json() for fault in world.faults.faults]}
    return SimTrial(index, seed, measures, extra, history if keep_history else None)
