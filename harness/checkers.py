"""The checkers: pure functions of one drill history that compute what the trial measured.

One small function per number, so each can be tested alone; `measure_trial` puts them together.
The meanings are the published ones (README "What the numbers mean"):

- t_fault: start of the first region_outage / environment_failure fault of the primary.
- a Region can run workflows at t unless t is inside [start, end) of a disabling fault on it.
- spurious failover: a failover decided while its from_region could run workflows.
- detection: first failover decision at or after t_fault, minus t_fault.
- RTO: end of the first successful secondary run due at or after t_fault, minus t_fault.
- RPO: t_fault minus the newest pre-fault primary change present in the secondary's last
  inventory (the drill's start when none is present).
- split brain: seconds during which both Regions were scheduling the workload.
- lost runs: successful pre-fault primary runs absent from the secondary's inventory.
- duplicate runs: (dag_id, logical_date) run to success in both Regions.
- failback time: end of the first successful primary run due at or after the first failback
  decision, minus that decision. Only measured (or explained) when a failback was decided or
  an operator asked for one (an `operation` event); otherwise None with no reason.

Split brain and duplicate runs span the whole drill, failback hand-over included: a secondary
still scheduling when the primary resumes counts, and so does a tick both Regions ran.

A number that cannot be measured is None and `reasons` gets one entry for it, starting with its
name. Nothing here reads files, clocks or globals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.history import Event, run_change_id
from harness.measures import TrialMeasures
from harness.scenario.model import PRIMARY_DISABLING_KINDS

# Compare by value: a StrEnum member hashes by name, so `"region_outage" in {member}` is False.
DISABLING_FAULTS: frozenset[str] = frozenset(kind.value for kind in PRIMARY_DISABLING_KINDS)

NO_FAULT = "no fault stopped the primary"

RunKey = tuple[str, str]  # (dag_id, logical_date)


@dataclass(frozen=True)
class Drill:
    """Who is who and how long the drill lasted, from drill_start and drill_end."""

    primary: str
    secondary: str
    start: float
    end: float


@dataclass(frozen=True)
class FaultWindow:
    """One fault, from its fault_on to its fault_off (or the end of the drill): [start, end)."""

    fault_id: Any
    fault: str
    region: str
    start: float
    end: float

    @property
    def disabling(self) -> bool:
        return self.fault in DISABLING_FAULTS

    def covers(self, t: float) -> bool:
        return self.start <= t < self.end


# The drill ------------------------------------------------------------------------------------
def first_of_kind(events: Sequence[Event], kind: str) -> Event | None:
    return next((e for e in events if e.kind == kind), None)


def drill_end_t(events: Sequence[Event]) -> float:
    """The drill_end event's t, else the last event's t (a drill cut short ends where it stops)."""
    end = first_of_kind(events, "drill_end")
    if end is not None:
        return end.t
    return events[-1].t if events else 0.0


def drill_of(events: Sequence[Event]) -> Drill | None:
    start = first_of_kind(events, "drill_start")
    if start is None:
        return None
    return Drill(
        primary=str(start["primary"]),
        secondary=str(start["secondary"]),
        start=start.t,
        end=drill_end_t(events),
    )


def history_reasons(events: Sequence[Event]) -> tuple[str, ...]:
    """What makes the history incomplete; empty when it is complete."""
    if first_of_kind(events, "drill_start") is None:
        return ("history: no drill_start event",)
    end = first_of_kind(events, "drill_end")
    if end is None:
        return ("history: no drill_end event",)
    if end["aborted"]:
        return (f"history: aborted: {end.get('reason') or 'no reason given'}",)
    return ()


# Faults ---------------------------------------------------------------------------------------
def fault_windows(events: Sequence[Event], drill_end: float) -> list[FaultWindow]:
    """Pair fault_on/fault_off by fault_id; an unmatched fault_on lasts until the drill's end."""
    open_faults: dict[Any, Event] = {}
    windows: list[FaultWindow] = []
    for event in events:
        if event.kind == "fault_on":
            # A second fault_on of a fault still on adds nothing: keep the earlier start.
            open_faults.setdefault(event["fault_id"], event)
        elif event.kind == "fault_off":
            on = open_faults.pop(event["fault_id"], None)
            if on is not None:
                windows.append(_window(on, event.t))
    for on in open_faults.values():
        # max(): a fault switched on after drill_end must not get a negative length.
        windows.append(_window(on, max(on.t, drill_end)))
    return sorted(windows, key=lambda w: w.start)


def _window(on: Event, end: float) -> FaultWindow:
    return FaultWindow(
        fault_id=on["fault_id"],
        fault=str(on["fault"]),
        region=str(on["region"]),
        start=on.t,
        end=end,
    )


def t_fault(windows: Iterable[FaultWindow], primary: str) -> float | None:
    """Start of the first primary-disabling fault on the primary, None if there is none."""
    starts = [w.start for w in windows if w.disabling and w.region == primary]
    return min(starts) if starts else None


def can_run_workflows(windows: Iterable[FaultWindow], region: str, t: float) -> bool:
    return not any(w.disabling and w.region == region and w.covers(t) for w in windows)


# Decisions ------------------------------------------------------------------------------------
def failover_decisions(events: Sequence[Event]) -> list[Event]:
    """Failover decisions in time order; failbacks are not failovers."""
    return [e for e in events if e.kind == "decision" and e["action"] == "failover"]


def is_spurious(decision: Event, windows: Iterable[FaultWindow]) -> bool:
    """A failover is spurious when the Region it leaves could still run workflows."""
    return can_run_workflows(windows, str(decision["from_region"]), decision.t)


def detection(failovers: Sequence[Event], fault_t: float | None) -> tuple[float | None, str | None]:
    """(detection_s, reason): time from t_fault to the first failover decided at or after it."""
    if fault_t is None:
        return None, f"detection_s: {NO_FAULT}"
    after = [d for d in failovers if d.t >= fault_t]
    if after:
        return after[0].t - fault_t, None
    if failovers:
        return None, "detection_s: failed over before the fault (spurious), nothing left to detect"
    return None, "detection_s: no failover decision after the fault"


# Recovery -------------------------------------------------------------------------------------
def is_success(event: Event, region: str) -> bool:
    return event.kind == "run" and event["region"] == region and event["state"] == "success"


def recovery_time(events: Sequence[Event], secondary: str, fault_t: float | None) -> float | None:
    """End t of the first successful secondary run that was due at or after t_fault.

    Runs due before the fault are catch-up of old work, not proof the workload runs again.
    """
    if fault_t is None:
        return None
    for event in events:
        if is_success(event, secondary) and event["due_t"] >= fault_t:
            return event.t
    return None


def never_recovered_cause(
    events: Sequence[Event], failovers: Sequence[Event], secondary: str
) -> str:
    """Why the secondary never ran the workload: the first cause found, in a fixed order."""
    if not failovers:
        return "no failover was decided"
    for event in events:
        if (
            event.kind == "env_state"
            and event["region"] == secondary
            and event["state"] == "CREATE_FAILED"
        ):
            return f"environment creation failed in {secondary}"
    for event in events:
        if event.kind == "restore" and event["region"] == secondary and event["state"] == "failed":
            return f"restore failed: {event['reason']}"
    return f"no workload run due after the fault succeeded in {secondary} before the drill ended"


def rto(
    events: Sequence[Event],
    failovers: Sequence[Event],
    secondary: str,
    fault_t: float | None,
    recovered_t: float | None,
) -> tuple[float | None, str | None]:
    """(rto_s, reason)."""
    if fault_t is None:
        return None, f"rto_s: {NO_FAULT}"
    if recovered_t is None:
        cause = never_recovered_cause(events, failovers, secondary)
        return None, f"rto_s: never recovered: {cause}"
    return recovered_t - fault_t, None


# Data -----------------------------------------------------------------------------------------
def recovered_inventory(
    events: Sequence[Event], secondary: str, recovered_t: float
) -> Event | None:
    """The secondary's last inventory, if it was read at or after recovery."""
    inventories = [e for e in events if e.kind == "inventory" and e["region"] == secondary]
    if not inventories or inventories[-1].t < recovered_t:
        return None
    return inventories[-1]


def inventory_runs(inventory: Event) -> set[RunKey]:
    return {(str(dag_id), str(logical_date)) for dag_id, logical_date in inventory["runs"]}


def inventory_change_ids(inventory: Event) -> set[str]:
    """Every change id the inventory holds: its changes and its runs' change ids."""
    ids = {str(change_id) for change_id in inventory["changes"]}
    ids.update(run_change_id(dag_id, date) for dag_id, date in inventory_runs(inventory))
    return ids


def primary_runs_before(events: Sequence[Event], primary: str, fault_t: float) -> list[Event]:
    """Successful primary runs that ended before the fault."""
    return [e for e in events if is_success(e, primary) and e.t < fault_t]


def primary_changes_before(
    events: Sequence[Event], primary: str, fault_t: float
) -> dict[str, float]:
    """Change id -> latest t, for every primary change (runs included) before the fault."""
    changes: dict[str, float] = {}
    for run in primary_runs_before(events, primary, fault_t):
        change_id = run_change_id(str(run["dag_id"]), str(run["logical_date"]))
        changes[change_id] = max(run.t, changes.get(change_id, run.t))
    for event in events:
        if event.kind == "change" and event["region"] == primary and event.t < fault_t:
            change_id = str(event["change_id"])
            changes[change_id] = max(event.t, changes.get(change_id, event.t))
    return changes


def rpo(
    events: Sequence[Event],
    drill: Drill,
    fault_t: float | None,
    recovered_t: float | None,
) -> tuple[float | None, tuple[str, ...]]:
    """(rpo_s, reasons): t_fault minus the newest pre-fault primary change that reached the
    secondary. A value can come with a note (nothing reached: counted from the drill's start).
    """
    if fault_t is None:
        return None, (f"rpo_s: {NO_FAULT}",)
    if recovered_t is None:
        return None, ("rpo_s: not recovered",)
    inventory = recovered_inventory(events, drill.secondary, recovered_t)
    if inventory is None:
        return None, (f"rpo_s: no inventory of {drill.secondary} after recovery",)
    # A run the secondary did itself (a re-run of a tick the primary had finished) is in its
    # inventory, but it is not the primary's data reaching the secondary: it must not make a
    # lost change look replicated. (lost_runs counts it as present: the work was done again,
    # and duplicate_runs reports it.)
    rerun = {
        run_change_id(str(e["dag_id"]), str(e["logical_date"]))
        for e in events
        if is_success(e, drill.secondary)
    }
    present = inventory_change_ids(inventory) - rerun
    times = [
        t
        for change_id, t in primary_changes_before(events, drill.primary, fault_t).items()
        if change_id in present
    ]
    if times:
        return fault_t - max(times), ()
    # The state the drill started from counts as replicated.
    note = (
        f"rpo_s: no change the primary made during the drill reached {drill.secondary}; "
        "counted from the drill's start"
    )
    return fault_t - drill.start, (note,)


def lost_runs(
    events: Sequence[Event],
    drill: Drill,
    fault_t: float | None,
    recovered_t: float | None,
) -> tuple[int | None, str | None]:
    """(lost_runs, reason): successful pre-fault primary runs absent from the inventory."""
    if fault_t is None:
        return None, f"lost_runs: {NO_FAULT}"
    if recovered_t is None:
        return None, "lost_runs: not recovered"
    inventory = recovered_inventory(events, drill.secondary, recovered_t)
    if inventory is None:
        return None, f"lost_runs: no inventory of {drill.secondary} after recovery"
    # Same notion of "present" as rpo: a run listed under runs or, by its id, under changes.
    present = inventory_change_ids(inventory)
    finished = {
        run_change_id(str(run["dag_id"]), str(run["logical_date"]))
        for run in primary_runs_before(events, drill.primary, fault_t)
    }
    return len(finished - present), None


def duplicate_runs(events: Sequence[Event], primary: str, secondary: str) -> int:
    """Distinct (dag_id, logical_date) run to success in both Regions, at any time."""

    def succeeded(region: str) -> set[RunKey]:
        return {(str(e["dag_id"]), str(e["logical_date"])) for e in events if is_success(e, region)}

    return len(succeeded(primary) & succeeded(secondary))


# Split brain ----------------------------------------------------------------------------------
def active_intervals(
    events: Sequence[Event], region: str, drill: Drill
) -> list[tuple[float, float]]:
    """When `region` was scheduling: inactive until told otherwise, open intervals close at the
    drill's end; clipped to the drill."""
    intervals: list[tuple[float, float]] = []
    active_since: float | None = None
    for event in events:
        if event.kind != "scheduling" or event["region"] != region:
            continue
        if event["active"] and active_since is None:
            active_since = event.t
        elif not event["active"] and active_since is not None:
            intervals.append((active_since, event.t))
            active_since = None
    if active_since is not None:
        intervals.append((active_since, drill.end))
    clipped = [(max(a, drill.start), min(b, drill.end)) for a, b in intervals]
    return [(a, b) for a, b in clipped if b > a]


def split_brain_seconds(events: Sequence[Event], drill: Drill) -> float:
    """Total time both Regions were scheduling at once."""
    overlap = 0.0
    # Each Region's intervals are disjoint, so summing pairwise overlaps counts no time twice.
    for a_start, a_end in active_intervals(events, drill.primary, drill):
        for b_start, b_end in active_intervals(events, drill.secondary, drill):
            overlap += max(0.0, min(a_end, b_end) - max(a_start, b_start))
    return overlap


# Failback -------------------------------------------------------------------------------------
def failback_decisions(events: Sequence[Event]) -> list[Event]:
    return [e for e in events if e.kind == "decision" and e["action"] == "failback"]


def failback_requests(events: Sequence[Event]) -> list[Event]:
    """When an operator started a failback (the `operation` events of the scenario)."""
    return [
        e
        for e in events
        if e.kind == "operation" and e["action"] == "failback" and e["state"] == "started"
    ]


def failback_time(events: Sequence[Event], primary: str) -> tuple[float | None, str | None]:
    """(failback_s, reason): from the first failback decision to the end of the first
    successful primary run due at or after it. Runs due before it are the primary catching up,
    not proof that it runs the workload again."""
    decisions = failback_decisions(events)
    if not decisions:
        requests = failback_requests(events)
        if not requests:
            return None, None  # nothing asked, nothing to measure
        return None, f"failback_s: no failback decided: {_failback_outcome(events, requests[0])}"
    decided = decisions[0].t
    for event in events:
        if is_success(event, primary) and event["due_t"] >= decided:
            return event.t - decided, None
    return None, (
        f"failback_s: never completed: no workload run due after the failback decision "
        f"succeeded in {primary} before the drill ended"
    )


def _failback_outcome(events: Sequence[Event], request: Event) -> str:
    """What the DR logic said of a failback that decided nothing: its first note after the
    request, or how the operation ended."""
    for event in events:
        if event.t < request.t:
            continue
        if event.kind == "note" and str(event["message"]).startswith("failback"):
            return str(event["message"])
        if event.kind == "operation" and event["state"] == "failed":
            return f"the operation failed: {event.get('reason') or 'no reason given'}"
    return "the operation left no note"


# The trial ------------------------------------------------------------------------------------
def torn_restores(events: Sequence[Event]) -> int:
    """Completed restores whose rows were not one consistent backup: rows from more than one
    backup (a manifest-less restore reading fixed keys mid-replication), or from a backup that
    was recorded torn (tables read at different moments with a change in between)."""
    torn_backups = {
        str(e["backup_id"])
        for e in events
        if e.kind == "backup" and e["state"] == "completed" and e.get("torn")
    }
    count = 0
    for event in events:
        if event.kind != "restore" or event["state"] != "completed":
            continue
        sources = {str(s) for s in (event.get("sources") or [event["backup_id"]])}
        if len(sources) > 1 or sources & torn_backups:
            count += 1
    return count


def unjudged(reason: str) -> TrialMeasures:
    """Measures of a history that cannot be judged at all."""
    return TrialMeasures(
        t_fault=None,
        failovers=0,
        failover_triggered=False,
        spurious_failover=False,
        recovered=False,
        detection_s=None,
        rto_s=None,
        rpo_s=None,
        split_brain_s=0.0,
        lost_runs=None,
        duplicate_runs=0,
        complete=False,
        reasons=(
            f"history: {reason}",
            f"detection_s: {reason}",
            f"rto_s: {reason}",
            f"rpo_s: {reason}",
            f"lost_runs: {reason}",
        ),
    )


def measure_trial(events: Iterable[Event]) -> TrialMeasures:
    """Every number of one trial, from its history alone."""
    # A History is already in time order; a stable sort makes a bare iterable safe too.
    ordered = sorted(events, key=lambda e: e.t)
    drill = drill_of(ordered)
    if drill is None:
        return unjudged("no drill_start event")

    history_notes = history_reasons(ordered)
    windows = fault_windows(ordered, drill.end)
    fault_t = t_fault(windows, drill.primary)
    failovers = failover_decisions(ordered)
    recovered_t = recovery_time(ordered, drill.secondary, fault_t)

    detection_s, detection_reason = detection(failovers, fault_t)
    rto_s, rto_reason = rto(ordered, failovers, drill.secondary, fault_t, recovered_t)
    rpo_s, rpo_reasons = rpo(ordered, drill, fault_t, recovered_t)
    lost, lost_reason = lost_runs(ordered, drill, fault_t, recovered_t)
    failback_s, failback_reason = failback_time(ordered, drill.primary)

    reasons = [
        *history_notes,
        *(r for r in (detection_reason, rto_reason) if r is not None),
        *rpo_reasons,
        *(r for r in (lost_reason, failback_reason) if r is not None),
    ]
    return TrialMeasures(
        t_fault=fault_t,
        failovers=len(failovers),
        failover_triggered=bool(failovers),
        spurious_failover=any(is_spurious(d, windows) for d in failovers),
        recovered=recovered_t is not None,
        detection_s=detection_s,
        rto_s=rto_s,
        rpo_s=rpo_s,
        split_brain_s=split_brain_seconds(ordered, drill),
        lost_runs=lost,
        duplicate_runs=duplicate_runs(ordered, drill.primary, drill.secondary),
        complete=not history_notes,
        reasons=tuple(reasons),
        torn_restores=torn_restores(ordered),
        failback_s=failback_s,
    )
