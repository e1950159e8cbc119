"""The live drill's shared records: the DR logic's journal and the workload's run ledger.

Both are JSON-lines files on this machine's disk, appended by any process of the drill (the
harness, Airflow tasks of either Region) with one `write` of one line on a file opened with
O_APPEND, which Linux keeps whole for lines this short. Times are drill seconds.

- Journal: what the DR logic reports about itself (`reference_impl.ports.Journal`): probes,
  decisions, backups, restores, notes. Each line is a history event (`harness.history`).
- Ledger: one line per workload task that finished, written by the task itself:
  {dag_id, logical_date, region, due_t, start_t, end_t, state}. It is the fact a `run` event
  is made of; it survives the Region that ran it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.history import Event, HistoryError
from harness.journal import JournalEvents
from reference_impl.runtime import Clock


def append_line(path: Path, record: Mapping[str, Any]) -> None:
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a JSON-lines file (a last line being written is left out)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


class FileJournal(JournalEvents):
    """reference_impl.ports.Journal that appends history events to a file."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()

    def _record(self, kind: str, **data: Any) -> None:
        event = Event(self.clock.now(), kind, data)  # checks the fields now, not at read time
        with self._lock:
            append_line(self.path, event.to_json())


def read_journal(path: Path) -> list[Event]:
    """The journal's events (lines that are not valid events are skipped: a bug of a writer
    must not lose the rest)."""
    events = []
    for record in read_lines(path):
        try:
            events.append(Event.from_json(record))
        except HistoryError:
            continue
    return events


LEDGER_FIELDS = ("dag_id", "logical_date", "region", "due_t", "start_t", "end_t", "state")


def ledger_run_events(path: Path) -> list[Event]:
    """`run` events from the ledger, one per line, at their end time."""
    events = []
    for record in read_lines(path):
        if any(name not in record for name in LEDGER_FIELDS):
            continue
        events.append(
            Event(
                float(record["end_t"]),
                "run",
                {
                    "region": record["region"],
                    "dag_id": record["dag_id"],
                    "logical_date": record["logical_date"],
                    "due_t": float(record["due_t"]),
                    "start_t": float(record["start_t"]),
                    "state": record["state"],
                },
            )
        )
    return events
