"""The Journal port: what the DR logic says about itself becomes history events, stamped with
virtual time. It never fails and costs nothing: it is the drill's record, not a service."""

from __future__ import annotations

from typing import Any

from harness.history import History
from harness.journal import JournalEvents
from harness.sim.engine import Engine


class JournalPort(JournalEvents):
    def __init__(self, engine: Engine, history: History) -> None:
        self.engine = engine
        self.history = history

    def _record(self, kind: str, **data: Any) -> None:
        self.history.record(self.engine.t, kind, **data)
