"""The timeline of one trial, from its history: a swimlane per Region and the RTO split.

Pure functions of a sequence of `Event`s (the history embedded in a report's trial as
`timeline`), so the HTML renderer only draws what is decided here, and tests can check it on
hand-built histories. The moments come from the checkers (`harness.checkers`), so a timeline
never disagrees with the numbers of the report:

- t_fault: the start of the first primary-disabling fault on the primary;
- decision: the first failover decided at or after t_fault (detection = decision - t_fault);
- ready: the secondary is provisioned and restored: the last `restore` completed or
  `env_state` AVAILABLE of the secondary between the decision and the recovery (the decision
  itself when neither was recorded: a warm standby with nothing to restore);
- recovered: the end of the first successful secondary run due at or after t_fault.

RTO = (decision - t_fault) + (ready - decision) + (recovered - ready): detection,
provisioning/restore, first successful run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.checkers import (
    Drill,
    active_intervals,
    drill_end_t,
    failover_decisions,
    fault_windows,
    first_of_kind,
    recovery_time,
    t_fault,
)
from harness.history import Event, HistoryError

# Tracks of a Region's swimlane, top to bottom.
TRACKS: tuple[str, ...] = (
    "environment",
    "scheduling",
    "probes",
    "backups",
    "replication",
    "restores",
    "runs",
)

DETECTION = "detection"
PROVISIONING = "provisioning/restore"
FIRST_RUN = "first successful run"

NOTHING_TO_PROVISION = "no restore or environment change recorded after the decision"


@dataclass(frozen=True)
class Interval:
    """Something that lasted [start, end): `state` picks its colour, `label` names it."""

    start: float
    end: float
    state: str
    label: str
    detail: str = ""


@dataclass(frozen=True)
class Mark:
    """Something that happened at one moment."""

    t: float
    state: str
    label: str
    detail: str = ""


@dataclass(frozen=True)
class Lane:
    """One Region's swimlane."""

    region: str
    role: str  # "primary", "secondary" or "" (another Region)
    faults: tuple[Interval, ...]
    environment: tuple[Interval, ...]
    scheduling: tuple[Interval, ...]
    probes: tuple[Mark, ...]
    backups: tuple[Interval, ...]
    replication: tuple[Mark, ...]
    restores: tuple[Interval, ...]
    runs: tuple[Interval, ...]

    def track(self, name: str) -> tuple[Interval | Mark, ...]:
        items: tuple[Interval | Mark, ...] = getattr(self, name)
        return items


@dataclass(frozen=True)
class Segment:
    name: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class RtoSplit:
    """The moments that split a trial's RTO; None where a moment did not happen."""

    t_fault: float | None
    t_decision: float | None
    t_ready: float | None
    t_recovered: float | None
    ready_basis: str  # what t_ready was read from
    note: str = ""  # why the split is incomplete, "" when it is whole

    @property
    def rto_s(self) -> float | None:
        if self.t_fault is None or self.t_recovered is None:
            return None
        return self.t_recovered - self.t_fault

    @property
    def detection_s(self) -> float | None:
        return _between(self.t_fault, self.t_decision)

    @property
    def provisioning_s(self) -> float | None:
        return _between(self.t_decision, self.t_ready)

    @property
    def first_run_s(self) -> float | None:
        return _between(self.t_ready, self.t_recovered)

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The parts that were measured, in time order (all three when the split is whole)."""
        moments = (
            (DETECTION, self.t_fault, self.t_decision),
            (PROVISIONING, self.t_decision, self.t_ready),
            (FIRST_RUN, self.t_ready, self.t_recovered),
        )
        return tuple(
            Segment(name, start, end)
            for name, start, end in moments
            if start is not None and end is not None and end >= start
        )

    @property
    def complete(self) -> bool:
        return len(self.segments) == 3


@dataclass(frozen=True)
class Timeline:
    start: float
    end: float
    primary: str | None
    secondary: str | None
    lanes: tuple[Lane, ...]
    decisions: tuple[Mark, ...]  # failovers and failbacks, drawn across every lane
    phases: tuple[Interval, ...]  # live drill progress
    notes: tuple[Mark, ...]
    split: RtoSplit
    skipped: int = 0  # events of the report that could not be read

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(lane.region for lane in self.lanes)


# Reading ---------------------------------------------------------------------------------------


def events_from_json(items: Iterable[Any]) -> tuple[list[Event], int]:
    """The events of a report's `timeline` in time order, and how many could not be read.

    A report may come from another producer or a newer version: an event of an unknown kind
    or with an unusable time field is skipped and counted, never fatal to the page.
    """
    events: list[Event] = []
    skipped = 0
    for item in items:
        try:
            event = Event.from_json(item)
        except HistoryError:
            skipped += 1
            continue
        if not math.isfinite(event.t) or not _times_ok(event):
            skipped += 1
            continue
        events.append(event)
    events.sort(key=lambda e: e.t)
    return events, skipped


def _times_ok(event: Event) -> bool:
    if event.kind == "run":
        return all(_is_number(event[name]) for name in ("due_t", "start_t"))
    if event.kind == "decision":
        return isinstance(event["action"], str)
    return True


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# The RTO split ---------------------------------------------------------------------------------


def drill_span(events: Sequence[Event]) -> Drill | None:
    """The drill from drill_start/drill_end; None when the history has no drill_start."""
    start = first_of_kind(events, "drill_start")
    if start is None:
        return None
    return Drill(
        primary=str(start["primary"]),
        secondary=str(start["secondary"]),
        start=start.t,
        end=max(start.t, drill_end_t(events)),
    )


def ready_time(
    events: Sequence[Event], region: str, after: float, before: float | None
) -> tuple[float | None, str]:
    """(t, basis): the last restore completed or environment AVAILABLE of `region` in
    [after, before] (before None: until the end), or (None, "") when there is none."""
    restored = [
        e.t
        for e in events
        if e.kind == "restore" and e["region"] == region and e["state"] == "completed"
    ]
    available = [
        e.t
        for e in events
        if e.kind == "env_state" and e["region"] == region and e["state"] == "AVAILABLE"
    ]
    limit = math.inf if before is None else before
    last_restore = max((t for t in restored if after <= t <= limit), default=None)
    last_available = max((t for t in available if after <= t <= limit), default=None)
    if last_restore is None and last_available is None:
        return None, ""
    if last_available is None or (last_restore is not None and last_restore >= last_available):
        return last_restore, "restore completed"
    return last_available, "environment AVAILABLE"


def rto_split(events: Iterable[Event]) -> RtoSplit:
    """The RTO of one trial split into detection, provisioning/restore and first run."""
    ordered = sorted(events, key=lambda e: e.t)
    drill = drill_span(ordered)
    if drill is None:
        return RtoSplit(None, None, None, None, "", "the history has no drill_start")
    windows = fault_windows(ordered, drill.end)
    fault_t = t_fault(windows, drill.primary)
    if fault_t is None:
        return RtoSplit(None, None, None, None, "", "no fault stopped the primary")
    recovered_t = recovery_time(ordered, drill.secondary, fault_t)
    decision_t = next((d.t for d in failover_decisions(ordered) if d.t >= fault_t), None)
    if decision_t is None:
        note = "no failover was decided after the fault"
        return RtoSplit(fault_t, None, None, recovered_t, "", note)
    if recovered_t is not None and recovered_t < decision_t:
        note = "the secondary ran the workload before the failover decision"
        return RtoSplit(fault_t, decision_t, None, recovered_t, "", note)
    ready_t, basis = ready_time(ordered, drill.secondary, decision_t, recovered_t)
    if ready_t is None:
        ready_t, basis = decision_t, NOTHING_TO_PROVISION
    note = "" if recovered_t is not None else "never recovered before the drill ended"
    return RtoSplit(fault_t, decision_t, ready_t, recovered_t, basis, note)


def _between(start: float | None, end: float | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return end - start


# Swimlanes -------------------------------------------------------------------------------------


def build_timeline(events: Iterable[Event], skipped: int = 0) -> Timeline:
    """Everything a timeline shows, from one trial's history."""
    ordered = sorted(events, key=lambda e: e.t)
    drill = drill_span(ordered)
    if drill is not None:
        start, end = drill.start, drill.end
    elif ordered:
        start, end = ordered[0].t, ordered[-1].t
    else:
        start, end = 0.0, 0.0
    end = max(end, max((e.t for e in ordered), default=end))
    if end <= start:
        end = start + 1.0
    span = Drill(
        primary=drill.primary if drill else "",
        secondary=drill.secondary if drill else "",
        start=start,
        end=end,
    )
    regions = regions_of(ordered, drill)
    windows = fault_windows(ordered, end)
    lanes = tuple(
        Lane(
            region=region,
            role=_role(region, drill),
            faults=tuple(
                Interval(w.start, w.end, w.fault, w.fault, f"fault {w.fault_id}")
                for w in windows
                if w.region == region
            ),
            environment=_environment(ordered, region, end),
            scheduling=tuple(
                Interval(a, b, "active", "scheduling")
                for a, b in active_intervals(ordered, region, span)
            ),
            probes=tuple(
                Mark(e.t, str(e["result"]), f"probe {e['result']}", str(e["detail"]))
                for e in ordered
                if e.kind == "probe" and e["region"] == region
            ),
            backups=_paired(ordered, "backup", region, end),
            replication=tuple(
                Mark(
                    e.t,
                    str(e["state"]),
                    f"{e['backup_id']} arrived",
                    _replication_detail(e),
                )
                for e in ordered
                if e.kind == "replication" and e["dest"] == region
            ),
            restores=_paired(ordered, "restore", region, end),
            runs=tuple(
                Interval(
                    min(float(e["start_t"]), e.t),
                    e.t,
                    str(e["state"]),
                    f"{e['dag_id']} {e['logical_date']}",
                    f"due {e['due_t']:.0f}s",
                )
                for e in ordered
                if e.kind == "run" and e["region"] == region
            ),
        )
        for region in regions
    )
    decisions = tuple(
        Mark(
            e.t,
            str(e["action"]),
            f"{e['action']} {e['from_region']} → {e['to_region']}",
            str(e["reason"]),
        )
        for e in ordered
        if e.kind == "decision"
    )
    notes = tuple(Mark(e.t, "note", "note", str(e["message"])) for e in ordered if e.kind == "note")
    return Timeline(
        start=start,
        end=end,
        primary=drill.primary if drill else None,
        secondary=drill.secondary if drill else None,
        lanes=lanes,
        decisions=decisions,
        phases=_phases(ordered, end),
        notes=notes,
        split=rto_split(ordered),
        skipped=skipped,
    )


def regions_of(events: Sequence[Event], drill: Drill | None) -> tuple[str, ...]:
    """Every Region the history names: the primary, the secondary, then others as they come."""
    seen: dict[str, None] = {}
    if drill is not None:
        seen[drill.primary] = None
        seen[drill.secondary] = None
    for event in events:
        for name in ("region", "source", "dest", "from_region", "to_region"):
            value = event.get(name)
            if isinstance(value, str) and value:
                seen.setdefault(value, None)
    return tuple(seen)


def _role(region: str, drill: Drill | None) -> str:
    if drill is None:
        return ""
    if region == drill.primary:
        return "primary"
    if region == drill.secondary:
        return "secondary"
    return ""


def _environment(events: Sequence[Event], region: str, end: float) -> tuple[Interval, ...]:
    """Each env_state of `region` lasts until the next one (or the end)."""
    changes = [e for e in events if e.kind == "env_state" and e["region"] == region]
    intervals = []
    for i, event in enumerate(changes):
        until = changes[i + 1].t if i + 1 < len(changes) else end
        state = str(event["state"])
        intervals.append(Interval(event.t, max(event.t, until), state, state, event["environment"]))
    return tuple(intervals)


def _paired(events: Sequence[Event], kind: str, region: str, end: float) -> tuple[Interval, ...]:
    """Backups or restores: `started` paired with the next completed/failed of the same id.

    An end without a start is a moment; a start without an end lasts until the drill's end
    (state "running").
    """
    open_: dict[str, Event] = {}
    intervals: list[Interval] = []
    for event in events:
        if event.kind != kind or event["region"] != region:
            continue
        key = str(event["backup_id"])
        state = str(event["state"])
        if state == "started":
            open_.setdefault(key, event)
            continue
        began = open_.pop(key, event)
        detail = str(event.get("reason") or "")
        intervals.append(Interval(began.t, event.t, state, f"{kind} {key}", detail))
    intervals.extend(
        Interval(e.t, max(e.t, end), "running", f"{kind} {key}", "not finished")
        for key, e in open_.items()
    )
    return tuple(sorted(intervals, key=lambda i: i.start))


def _phases(events: Sequence[Event], end: float) -> tuple[Interval, ...]:
    open_: dict[str, Event] = {}
    intervals: list[Interval] = []
    for event in events:
        if event.kind != "phase":
            continue
        name = str(event["name"])
        if event["state"] == "started":
            open_.setdefault(name, event)
            continue
        began = open_.pop(name, event)
        intervals.append(Interval(began.t, event.t, str(event["state"]), name))
    intervals.extend(Interval(e.t, max(e.t, end), "running", n) for n, e in open_.items())
    return tuple(sorted(intervals, key=lambda i: i.start))


def _replication_detail(event: Event) -> str:
    written = event.get("written_t")
    source = f"from {event['source']}"
    if _is_number(written):
        return f"{source}, written at {float(written):.0f}s"
    return source


# Axes ------------------------------------------------------------------------------------------

_TICK_STEPS = (
    1.0,
    2.0,
    5.0,
    10.0,
    15.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    10800.0,
    21600.0,
    43200.0,
    86400.0,
)


def time_ticks(start: float, end: float, most: int = 10) -> list[float]:
    """Round times (1s, 5m, 30m, 1h, ...) between start and end, at most `most` + 1 of them."""
    span = max(end - start, 1e-9)
    step = next((s for s in _TICK_STEPS if span / s <= most), None)
    if step is None:
        step = math.ceil(span / most / 86400.0) * 86400.0
    first = math.ceil(start / step) * step
    count = math.floor((end - first) / step + 1e-9) + 1
    return [first + i * step for i in range(max(0, count))]


def summarize_kinds(events: Iterable[Event]) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        counts[event.kind] = counts.get(event.kind, 0) + 1
    return counts
