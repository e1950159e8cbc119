"""The Journal port: what the DR logic says about itself becomes history events, stamped with
virtual time. It never fails and costs nothing: it is the drill's record, not a service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.history import History
from harness.sim.engine import Engine
from reference_impl.ports import ProbeResult


class JournalPort:
    def __init__(self, engine: Engine, history: History) -> None:
        self.engine = engine
        self.history = history

    def probe(self, region: str, result: ProbeResult, detail: str) -> None:
        self.history.record(self.engine.t, "probe", region=region, result=result, detail=detail)

    def decision(self, action: str, from_region: str, to_region: str, reason: str) -> None:
        self.history.record(
            self.engine.t,
            "decision",
            action=action,
            from_region=from_region,
            to_region=to_region,
            reason=reason,
        )

    def backup(self, region: str, backup_id: str, state: str, **details: Any) -> None:
        self.history.record(
            self.engine.t, "backup", **details, region=region, backup_id=backup_id, state=state
        )

    def restore(
        self,
        region: str,
        backup_id: str,
        state: str,
        reason: str = "",
        sources: Sequence[str] = (),
    ) -> None:
        self.history.record(
            self.engine.t,
            "restore",
            region=region,
            backup_id=backup_id,
            state=state,
            reason=reason,
            sources=list(sources),
        )

    def note(self, message: str) -> None:
        self.history.record(self.engine.t, "note", message=message)
