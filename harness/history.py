"""The drill history: every observation and action of one trial, timestamped, as JSON lines.

The history is the single source of truth. Checkers (`harness.checkers`) are pure functions of
it; nothing is counted on the side. Simulated and live drills write the same events.

`t` is seconds since the start of the trial (virtual seconds in the simulator, real seconds
live). Region fields hold Region names (`us-east-1`), never roles. Each kind has required
fields (`EVENT_FIELDS`); producers may add more.

Kinds and their fields:

- `drill_start`  primary, secondary, duration_s. The first event of every history.
- `drill_end`    aborted (bool), reason (str, optional). The last event of a complete history.
- `phase`        name, state ("started"|"done"|"failed"): progress of a live drill.
- `fault_on`     fault_id (int, index in the scenario), fault (kind), region, params.
- `fault_off`    fault_id, fault, region.
- `fault_verified` fault_id, landed (bool), detail: proof that a fault really took effect.
- `probe`        region (the Region whose health was checked), result
                 ("healthy"|"unhealthy"|"unknown"), detail.
- `decision`     action ("failover"|"failback"), from_region, to_region, reason.
- `env_state`    region, environment, state (MWAA states: CREATING, AVAILABLE, CREATE_FAILED,
                 UNAVAILABLE, DELETING, DELETED, ...).
- `scheduling`   region, active (bool): whether that Region's Airflow is scheduling the
                 workload DAGs (scheduler alive and workload DAGs unpaused), on every change.
- `backup`       region, backup_id, state ("started"|"completed"|"failed").
- `replication`  source, dest, backup_id, state ("arrived"): a backup object reached `dest`.
                 Optional written_t: when the object was written in the source bucket.
- `restore`      region, backup_id, state ("started"|"completed"|"failed"), reason; optional
                 sources: the backup ids the restored rows came from (more than one = mixed).
- `run`          region, dag_id, logical_date (str), due_t, start_t, state ("success"|
                 "failed"). A workload DAG run that ended; `t` is its end. `due_t` is when the
                 run was due to start.
- `change`       region, change_id: a metadata change committed in that Region other than a
                 run (a variable update, say). Finished runs are changes too, with the id
                 `run:<dag_id>:<logical_date>` (see `run_change_id`).
- `inventory`    region, runs ([[dag_id, logical_date], ...]), changes ([change_id, ...]):
                 what that Region's metadata holds, read after recovery (or at the end).
- `operation`    operation_id (int, index in the scenario's operations), action ("failback"),
                 state ("started"|"done"|"failed"), region (where the action runs, the
                 secondary); optional reason when failed. An operator action of the scenario;
                 what it decided comes from the DR journal (`decision`, `note`).
- `note`         message: anything worth reading in a timeline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TextIO

EVENT_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "drill_start": ("primary", "secondary", "duration_s"),
        "drill_end": ("aborted",),
        "phase": ("name", "state"),
        "fault_on": ("fault_id", "fault", "region", "params"),
        "fault_off": ("fault_id", "fault", "region"),
        "fault_verified": ("fault_id", "landed", "detail"),
        "probe": ("region", "result", "detail"),
        "decision": ("action", "from_region", "to_region", "reason"),
        "env_state": ("region", "environment", "state"),
        "scheduling": ("region", "active"),
        "backup": ("region", "backup_id", "state"),
        "replication": ("source", "dest", "backup_id", "state"),
        "restore": ("region", "backup_id", "state", "reason"),
        "run": ("region", "dag_id", "logical_date", "due_t", "start_t", "state"),
        "change": ("region", "change_id"),
        "inventory": ("region", "runs", "changes"),
        "operation": ("operation_id", "action", "state", "region"),
        "note": ("message",),
    }
)

PROBE_RESULTS = ("healthy", "unhealthy", "unknown")


class HistoryError(ValueError):
    """A history line that breaks the event contract."""


@dataclass(frozen=True)
class Event:
    t: float
    kind: str
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        required = EVENT_FIELDS.get(self.kind)
        if required is None:
            raise HistoryError(f"unknown event kind {self.kind!r}")
        missing = [name for name in required if name not in self.data]
        if missing:
            raise HistoryError(f"{self.kind} event at t={self.t} lacks {', '.join(missing)}")
        if self.kind == "probe" and self.data["result"] not in PROBE_RESULTS:
            raise HistoryError(f"probe result must be one of {PROBE_RESULTS}")

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "kind": self.kind, **self.data}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Event:
        if not isinstance(obj, Mapping) or "t" not in obj or "kind" not in obj:
            raise HistoryError("an event is an object with at least `t` and `kind`")
        t = obj["t"]
        if isinstance(t, bool) or not isinstance(t, int | float):
            raise HistoryError(f"event time must be a number, got {t!r}")
        data = {k: v for k, v in obj.items() if k not in ("t", "kind")}
        return cls(float(t), str(obj["kind"]), MappingProxyType(data))


def run_change_id(dag_id: str, logical_date: str) -> str:
    """The change id of a finished run, shared by `run` events and inventories."""
    return f"run:{dag_id}:{logical_date}"


class History:
    """An append-only, time-ordered list of events with one method per kind of producer call.

    Events must be appended in non-decreasing time; a live recorder stamps them with its clock.
    """

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self._events: list[Event] = []
        for event in events:
            self.append(event)

    def append(self, event: Event) -> Event:
        if self._events and event.t < self._events[-1].t:
            raise HistoryError(
                f"events out of order: {event.kind} at t={event.t} after t={self._events[-1].t}"
            )
        self._events.append(event)
        return event

    def record(self, t: float, kind: str, **data: Any) -> Event:
        return self.append(Event(t, kind, MappingProxyType(data)))

    @property
    def events(self) -> Sequence[Event]:
        return tuple(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def of_kind(self, *kinds: str) -> list[Event]:
        return [e for e in self._events if e.kind in kinds]

    # JSON lines -----------------------------------------------------------------------------
    def write_jsonl(self, out: TextIO) -> None:
        for event in self._events:
            out.write(json.dumps(event.to_json(), sort_keys=True) + "\n")

    def save(self, path: Path) -> None:
        with path.open("w", encoding="utf-8") as out:
            self.write_jsonl(out)

    @classmethod
    def read_jsonl(cls, lines: Iterable[str]) -> History:
        history = cls()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                history.append(Event.from_json(json.loads(line)))
            except (json.JSONDecodeError, HistoryError) as err:
                raise HistoryError(f"line {number}: {err}") from None
        return history

    @classmethod
    def load(cls, path: Path) -> History:
        with path.open(encoding="utf-8") as lines:
            return cls.read_jsonl(lines)
