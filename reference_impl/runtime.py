"""How DR code runs on either clock: processes are generators that yield waits.

Every piece of DR logic that takes time (the scheduled recovery workflow, the backup and restore
DAG tasks, the fencing guard) is a generator. It talks to the world only through ports, whose
calls return at once, and it yields `Wait` whenever it waits. A driver runs it:

- the simulator resumes it on virtual time, after the wait plus whatever virtual time the port
  calls made since the last yield cost (a restore of many rows takes longer);
- the live runner sleeps for real (and the calls themselves took real time).

So the same code, not a copy of it, runs in both worlds. Rule for authors: yield (at least
`CHECKPOINT`) between port calls whose order in time matters, e.g. between reading two tables.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Wait:
    """Suspend the process for `seconds` (0 lets the time of the calls made so far pass)."""

    seconds: float


CHECKPOINT = Wait(0.0)

# A DR process: yields waits, receives nothing, returns its result.
Process = Generator[Wait, None, T]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the start of the drill (virtual or real)."""
        ...
