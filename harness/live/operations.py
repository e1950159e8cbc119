"""The operator actions of a live drill (`operations:`), each run at its time on the live clock.

A failback runs `reference_impl.failback.failback` in a thread of the harness, with the DR
context of the secondary (`LiveDrill._context`), as the recovery workflow does: the
active-Region record is in the secondary's bucket, and every call takes the secondary's paths
(its own fault proxy, and its cross-Region path to the primary), as an operator's runbook run
from the secondary would. What it
decided is in the DR journal; the action itself is an `operation` event (started, then done or
failed) of the harness. A drill that stops closes the action at its next wait (failed: "the
drill stopped first").
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from harness.live.runner import Stopped, drive
from harness.scenario.model import OperationAction, Scenario
from harness.sim.operations import ScheduledOperation, sample_operations
from reference_impl.context import DrContext
from reference_impl.runtime import Process

Record = Callable[..., Any]  # _Recorder.record(kind, **fields)
Say = Callable[[str], None]


def live_operations(scenario: Scenario) -> tuple[ScheduledOperation, ...]:
    """The operations of a live drill, their times drawn once from the scenario's seed (the
    scenario already compressed)."""
    return sample_operations(scenario, random.Random(f"{scenario.seed}:operations"))


class OperationRunner:
    """Starts each operation in its own thread and records what became of it."""

    def __init__(
        self,
        region: str,
        make_context: Callable[[], DrContext],
        actions: dict[OperationAction, Callable[[DrContext], Process[None]]],
        stop: threading.Event,
        record: Record,
        say: Say,
    ) -> None:
        self.region = region  # where the actions run: the secondary
        self._make_context = make_context
        self._actions = actions
        self._stop = stop
        self._record = record
        self._say = say
        self.threads: list[threading.Thread] = []

    def start(self, operation: ScheduledOperation) -> threading.Thread:
        fields = {
            "operation_id": operation.operation_id,
            "action": operation.action.value,
            "region": self.region,
        }
        self._record("operation", state="started", **fields)
        self._say(f"operation: {operation.action.value} started in {self.region}")

        def run() -> None:
            try:
                drive(self._actions[operation.action](self._make_context()), self._stop)
            except Stopped:
                self._ended(fields, "failed", "the drill stopped first")
            except Exception as err:  # recorded, never lost in a thread
                self._ended(fields, "failed", f"{type(err).__name__}: {err}")
            else:
                self._ended(fields, "done")

        thread = threading.Thread(target=run, name=f"operation-{operation.operation_id}")
        thread.daemon = True
        self.threads.append(thread)
        thread.start()
        return thread

    def _ended(self, fields: dict[str, Any], state: str, reason: str = "") -> None:
        data = dict(fields, state=state)
        if reason:
            data["reason"] = reason
        self._record("operation", **data)
        self._say(f"operation: {fields['action']} {state}{' - ' + reason if reason else ''}")

    def join(self, timeout_s: float) -> None:
        for thread in self.threads:
            thread.join(timeout_s)
