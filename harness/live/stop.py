"""Watching a live drill while it runs: its stop conditions, and the event stream of `run -v`.

Both read the history as it grows (the harness's recorded events, the DR logic's journal, the
workload's ledger). Everything here is a pure function of those events and the drill time
`now`: no files, clocks or threads.

`objective_lost` says which objective the events so far already break for good, so a game day
can stop (`stop: {on_objective_lost: true}`) instead of running on with an outcome that is
already known. It only claims what no later event can undo:

- max_split_brain: seconds both Regions were scheduling, up to now, already over the maximum.
- max_duplicate_runs: runs done in both Regions, already over the maximum.
- rto (percentile 100 only: one trial over target breaks it): the primary fault started at
  t_fault and no secondary run due since then has succeeded, with now - t_fault past the
  target (or the recovery happened, later than the target).
- max_spurious_failover_rate of 0: a failover decided while the Region it left could run
  workflows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from harness.checkers import (
    Drill,
    duplicate_runs,
    failover_decisions,
    fault_windows,
    is_spurious,
    recovery_time,
    split_brain_seconds,
    t_fault,
)
from harness.durations import format_duration
from harness.history import Event
from harness.scenario.model import Scenario

EVENT_LINE_CHARS = 200  # longest line of the -v stream


def _seconds(value: float) -> float:
    """Rounded as the report judges it (harness.report.round_measures)."""
    return round(value, 3)


def objective_lost(
    scenario: Scenario, events: Iterable[Event], now: float, *, settle_s: float = 0.0
) -> str | None:
    """`"<objective> already lost: <detail>"` for the first objective (in the order above)
    that the events up to `now` break whatever happens next; None while all can still be met.

    `scenario` is the one the drill runs (live: the compressed one, in drill seconds, as the
    events). `settle_s`: events of the last settle_s seconds may not have been written yet
    (a run that ended just now): the rto is only called lost that much later.
    """
    ordered = sorted((e for e in events if e.t <= now), key=lambda e: e.t)
    primary, secondary = scenario.regions.primary, scenario.regions.secondary
    objectives = scenario.objectives

    limit = objectives.max_split_brain
    if limit is not None:
        drill = Drill(primary=primary, secondary=secondary, start=0.0, end=now)
        overlap = _seconds(split_brain_seconds(ordered, drill))
        if overlap > limit:
            return (
                f"max_split_brain already lost: both Regions scheduled for "
                f"{format_duration(overlap)} > {format_duration(limit)}"
            )

    most = objectives.max_duplicate_runs
    if most is not None:
        duplicates = duplicate_runs(ordered, primary, secondary)
        if duplicates > most:
            return (
                f"max_duplicate_runs already lost: {duplicates} run(s) done in both Regions "
                f"> {most}"
            )

    rto = objectives.rto
    windows = fault_windows(ordered, now)
    if rto is not None and rto.percentile >= 100.0:
        fault_t = t_fault(windows, primary)
        if fault_t is not None:
            recovered_t = recovery_time(ordered, secondary, fault_t)
            target = format_duration(rto.target)
            if recovered_t is None:
                waited = _seconds(now - settle_s - fault_t)
                if waited > rto.target:
                    return (
                        f"rto already lost: not recovered {format_duration(waited)} after "
                        f"the primary fault (t={fault_t:.1f}s) > target {target}"
                    )
            elif _seconds(recovered_t - fault_t) > rto.target:
                took = format_duration(_seconds(recovered_t - fault_t))
                return f"rto already lost: recovered after {took} > target {target}"

    if objectives.max_spurious_failover_rate == 0:
        for decision in failover_decisions(ordered):
            if is_spurious(decision, windows):
                return (
                    f"max_spurious_failover_rate already lost: failover from "
                    f"{decision['from_region']} at t={decision.t:.1f}s while it could still run "
                    "workflows (the target rate is 0)"
                )
    return None


# The -v stream ------------------------------------------------------------------------------

# The fields worth a glance, per event kind, in this order; other kinds show all their fields.
_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "run": ("region", "dag_id", "logical_date", "state"),
    "decision": ("action", "from_region", "to_region", "reason"),
    "probe": ("region", "result", "detail"),
    "fault_on": ("fault", "region", "fault_id"),
    "fault_off": ("fault", "region", "fault_id"),
    "fault_verified": ("fault_id", "landed", "detail"),
    "scheduling": ("region", "active"),
    "env_state": ("region", "state"),
    "replication": ("source", "dest", "backup_id", "state"),
    "backup": ("region", "backup_id", "state"),
    "restore": ("region", "backup_id", "state", "reason"),
    "phase": ("name", "state", "detail"),
    "note": ("message",),
    "inventory": ("region",),
}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value if value and " " not in value else repr(value)
    if isinstance(value, list | tuple):
        return f"[{len(value)} items]"
    if isinstance(value, dict):
        return "{...}"
    return str(value)


def event_line(event: Event) -> str:
    """One compact line for an event: `t=  812.4s decision action=failover ...`."""
    names = _KEY_FIELDS.get(event.kind, tuple(event.data))
    fields = " ".join(
        f"{name}={_shown(event.data[name])}"
        for name in names
        if name in event.data and event.data[name] not in ("", None)
    )
    line = f"t={event.t:8.1f}s {event.kind:<14} {fields}".rstrip()
    if len(line) > EVENT_LINE_CHARS:
        line = line[: EVENT_LINE_CHARS - 3] + "..."
    return line


class EventTail:
    """The events of each source not streamed yet. Sources only grow (files are append-only,
    the recorder's list too), so a count per source is the position. Not thread-safe: the
    caller serializes `new`."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def new(self, sources: dict[str, Sequence[Event]]) -> list[Event]:
        """The events past each source's position, in time order; positions move to the end."""
        fresh: list[Event] = []
        for name, events in sources.items():
            seen = self._seen.get(name, 0)
            fresh.extend(events[seen:])
            self._seen[name] = max(seen, len(events))
        return sorted(fresh, key=lambda e: e.t)


__all__ = ["EVENT_LINE_CHARS", "EventTail", "event_line", "objective_lost"]
