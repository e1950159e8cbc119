"""Write drill histories readably in tests: one line per thing that happened.

Calls may come in any order (a fault and its end on one line); `events()` sorts them by time,
keeping call order among events at the same time.
"""

from __future__ import annotations

from typing import Any

from harness.checkers import measure_trial
from harness.history import Event, History
from harness.measures import TrialMeasures

P = "us-east-1"  # the primary Region
S = "us-west-2"  # the secondary Region


class HistoryBuilder:
    def __init__(
        self, primary: str = P, secondary: str = S, duration_s: float = 3600.0, start: bool = True
    ) -> None:
        self._events: list[Event] = []
        self._next_fault_id = 0
        if start:
            self.add(
                0.0, "drill_start", primary=primary, secondary=secondary, duration_s=duration_s
            )

    def add(self, t: float, kind: str, **data: Any) -> HistoryBuilder:
        self._events.append(Event(float(t), kind, data))
        return self

    # Faults -----------------------------------------------------------------------------------
    def fault(
        self, t: float, fault: str, region: str, until: float | None = None
    ) -> HistoryBuilder:
        """fault_on at t, and fault_off at `until` unless it is None (still on at the end)."""
        fault_id = self._next_fault_id
        self._next_fault_id += 1
        self.add(t, "fault_on", fault_id=fault_id, fault=fault, region=region, params={})
        if until is not None:
            self.add(until, "fault_off", fault_id=fault_id, fault=fault, region=region)
        return self

    def outage(self, t: float, region: str = P, until: float | None = None) -> HistoryBuilder:
        return self.fault(t, "region_outage", region, until)

    # Decisions ---------------------------------------------------------------------------------
    def failover(self, t: float, from_region: str = P, to_region: str = S) -> HistoryBuilder:
        return self.add(
            t,
            "decision",
            action="failover",
            from_region=from_region,
            to_region=to_region,
            reason="test",
        )

    def failback(self, t: float, from_region: str = S, to_region: str = P) -> HistoryBuilder:
        return self.add(
            t,
            "decision",
            action="failback",
            from_region=from_region,
            to_region=to_region,
            reason="test",
        )

    # Airflow -----------------------------------------------------------------------------------
    def run(
        self,
        t: float,
        region: str,
        dag_id: str,
        logical_date: str,
        due_t: float,
        state: str = "success",
    ) -> HistoryBuilder:
        """A run that ended at t; it started when it was due."""
        return self.add(
            t,
            "run",
            region=region,
            dag_id=dag_id,
            logical_date=logical_date,
            due_t=due_t,
            start_t=due_t,
            state=state,
        )

    def change(self, t: float, region: str, change_id: str) -> HistoryBuilder:
        return self.add(t, "change", region=region, change_id=change_id)

    def inventory(
        self,
        t: float,
        region: str = S,
        runs: tuple[tuple[str, str], ...] = (),
        changes: tuple[str, ...] = (),
    ) -> HistoryBuilder:
        return self.add(
            t, "inventory", region=region, runs=[list(r) for r in runs], changes=list(changes)
        )

    def active(self, t: float, region: str, until: float | None = None) -> HistoryBuilder:
        """The Region schedules the workload from t (until `until`, if given)."""
        self.add(t, "scheduling", region=region, active=True)
        if until is not None:
            self.add(until, "scheduling", region=region, active=False)
        return self

    def inactive(self, t: float, region: str) -> HistoryBuilder:
        return self.add(t, "scheduling", region=region, active=False)

    def env_state(self, t: float, region: str, state: str) -> HistoryBuilder:
        return self.add(t, "env_state", region=region, environment="drill-env", state=state)

    def restore(self, t: float, region: str, state: str, reason: str = "") -> HistoryBuilder:
        return self.add(
            t, "restore", region=region, backup_id="backup-1", state=state, reason=reason
        )

    def note(self, t: float, message: str) -> HistoryBuilder:
        return self.add(t, "note", message=message)

    def end(self, t: float, aborted: bool = False, reason: str | None = None) -> HistoryBuilder:
        if reason is None:
            return self.add(t, "drill_end", aborted=aborted)
        return self.add(t, "drill_end", aborted=aborted, reason=reason)

    # Results -----------------------------------------------------------------------------------
    def events(self) -> list[Event]:
        return sorted(self._events, key=lambda e: e.t)

    def history(self) -> History:
        return History(self.events())

    def measure(self) -> TrialMeasures:
        return measure_trial(self.history())
