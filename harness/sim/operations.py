"""A trial's operator actions (`operations:`), each with its time sampled once.

Drawn from their own random stream, so adding an operation to a scenario shifts no fault time.
Both worlds use it: the simulator and the live drill run each action at its time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.scenario.model import OperationAction, Scenario, sample


@dataclass(frozen=True)
class ScheduledOperation:
    operation_id: int  # its index in the scenario
    action: OperationAction
    at: float


def sample_operations(scenario: Scenario, rng: random.Random) -> tuple[ScheduledOperation, ...]:
    """Every operation's time, in scenario order, from one stream; sorted by time."""
    drawn = [
        ScheduledOperation(number, operation.action, sample(operation.at, rng))
        for number, operation in enumerate(scenario.operations)
    ]
    return tuple(sorted(drawn, key=lambda op: (op.at, op.operation_id)))
