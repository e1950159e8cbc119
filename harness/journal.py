"""The DR logic's journal (`reference_impl.ports.Journal`), written once for every world.

What the DR logic says about itself (probes, decisions, backups, restores, notes) becomes one
history event per call: `JournalEvents` builds the event's kind and fields, and each world
only says where an event goes (`_record`): the simulator stamps it with virtual time into its
History (`harness.sim.journal`), the live drill appends it to a file shared by every process
(`harness.live.journal`), and unit tests keep it in a list.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from reference_impl.ports import ProbeResult


class JournalEvents(ABC):
    @abstractmethod
    def _record(self, kind: str, **data: Any) -> None:
        """Keep one event of `kind` with these fields, stamped with the world's time now."""

    def probe(self, region: str, result: ProbeResult, detail: str) -> None:
        self._record("probe", region=region, result=result, detail=detail)

    def decision(self, action: str, from_region: str, to_region: str, reason: str) -> None:
        self._record(
            "decision", action=action, from_region=from_region, to_region=to_region, reason=reason
        )

    def backup(self, region: str, backup_id: str, state: str, **details: Any) -> None:
        self._record("backup", **details, region=region, backup_id=backup_id, state=state)

    def restore(
        self,
        region: str,
        backup_id: str,
        state: str,
        reason: str = "",
        sources: Sequence[str] = (),
    ) -> None:
        self._record(
            "restore",
            region=region,
            backup_id=backup_id,
            state=state,
            reason=reason,
            sources=list(sources),
        )

    def note(self, message: str) -> None:
        self._record("note", message=message)
