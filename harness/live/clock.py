"""The live world's real clock: the only module allowed to read the wall clock or sleep.

Everything else in the harness takes its time from here (or from an injected clock), so the
simulator stays deterministic and a lint rule (ruff TID251) can enforce it.

- `LiveClock.now()`: seconds since the clock was made (the drill's start), from the monotonic
  clock, so it never jumps backwards. It satisfies `reference_impl.runtime.Clock`.
- `monotonic()`, `sleep()`, `wall_time()`: the raw clocks, for timeouts and log stamps.
- `Deadline`: a bounded wait: `Deadline.after(5.0)`, then `remaining()` / `expired()`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


def monotonic() -> float:
    """Seconds on the monotonic clock (arbitrary origin): for timeouts and durations."""
    return time.monotonic()


def wall_time() -> float:
    """Seconds since the Unix epoch (UTC): only to stamp logs or compare with AWS timestamps."""
    return time.time()


def sleep(seconds: float) -> None:
    """Sleep for real; a negative or zero duration returns at once."""
    if seconds > 0:
        time.sleep(seconds)


class LiveClock:
    """Seconds since the start of the drill, in real time."""

    def __init__(self) -> None:
        self._origin = monotonic()
        self._origin_wall = wall_time()

    @classmethod
    def attached(cls, origin_wall: float) -> LiveClock:
        """The clock of a drill that started at Unix time `origin_wall`, for another process
        of the same drill (an Airflow task): the same drill time on both sides, as far as
        the two processes' wall clocks agree (one machine: they do)."""
        attached = cls()
        attached._origin_wall = origin_wall
        attached._origin = monotonic() - (wall_time() - origin_wall)
        return attached

    @property
    def origin_wall(self) -> float:
        """The Unix time of drill time 0."""
        return self._origin_wall

    def now(self) -> float:
        return monotonic() - self._origin

    def sleep(self, seconds: float) -> None:
        sleep(seconds)

    def sleep_until(self, t: float) -> None:
        """Sleep until `now()` reaches `t` (drill seconds); returns at once if it has."""
        sleep(t - self.now())

    def wall_of(self, t: float) -> float:
        """The Unix time of drill time `t` (for comparing with timestamps AWS APIs return)."""
        return self._origin_wall + t

    def drill_time_of(self, unix_time: float) -> float:
        """The drill time of a Unix time (inverse of `wall_of`)."""
        return unix_time - self._origin_wall

    def deadline(self, timeout_s: float) -> Deadline:
        return Deadline.after(timeout_s)


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock by which a bounded wait must end."""

    expires_at: float

    @classmethod
    def after(cls, timeout_s: float) -> Deadline:
        if timeout_s < 0:
            raise ValueError(f"a timeout must be >= 0, got {timeout_s}")
        return cls(monotonic() + timeout_s)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.expires_at - monotonic())

    def expired(self) -> bool:
        return monotonic() >= self.expires_at
