"""A simulator calibration measured from a live drill: what the live stack really takes.

    live = measure_calibration(outcome.history, base, heartbeat_interval_s=2.0)
    live.calibration                 # a complete Calibration: measured values over `base`
    live.measured, live.unmeasured   # what was measured (samples, fit, how) and what was not

Every value is in drill seconds, the unit of the history: a drill compressed 30 times gives
the values of the compressed world, to simulate the same compressed scenario with the same
compressed DR settings (`World(..., config=drill.config)`). `base` gives every value the
history cannot show; pass `scale_calibration(default_calibration(), time_scale)` to keep the
default's AWS figures at the drill's compression.

What is measured, from which events (nothing else of the history is read):

| calibration field            | samples                                                      |
|------------------------------|--------------------------------------------------------------|
| mwaa.create_time             | env_state CREATING -> AVAILABLE or CREATE_FAILED, per Region |
|                              | (every creation of the history, the harness's provisioning   |
|                              | included: the same MWAA API path, real Airflow start-up)     |
| mwaa.delete_time             | env_state DELETING -> DELETED                                |
| airflow.export (Linear)      | backup started -> completed, with the rows it exported       |
| airflow.import (Linear)      | restore started -> completed, with the rows of its backup    |
| airflow.task_start_latency   | the recovery workflow's step that triggers mwaa_dr_restore   |
|                              | -> the next restore event (the DAG's task began); the        |
|                              | trigger call's own time included, as the simulator charges   |
|                              | it to the workflow, not the task (`task_start_latencies`)    |
| airflow.scheduling_latency   | run start_t - max(due_t, the Region's last `scheduling`      |
|                              | active edge before the start): a run due while the Region    |
|                              | was not scheduling starts when it resumes, as simulated     |
| airflow.workload_run         | run t - start_t (successful runs)                            |
| airflow.scheduler_restart    | fault_off of a region_outage/environment_failure -> the      |
|                              | Region's next `scheduling` active edge (before a new fault)  |
| s3.replication_lag           | replication t - written_t                                    |
| workflow.start_offset        | note "recovery workflow started" - drill_start's t_ready     |
| cloudwatch.heartbeat_interval| not in the history: the live setting, when given             |

Fitting (a sample set -> the distribution family the base value uses):

- lognormal: median = the sample median; sigma = (ln q75 - ln q25) / 1.349 (the interquartile
  range of a normal) with 4 samples or more, the standard deviation of the logs with 2 or 3.
  Samples are floored at 1 ms (a lognormal is positive).
- uniform: with 4 samples or more, centred on the median with the sample's interquartile range
  (a uniform [a, b] has median (a+b)/2 and IQR (b-a)/2, so [median - IQR, median + IQR]),
  clipped to the observed [min, max]: robust to a few outliers, which [min, max] is not;
  with 2 or 3 samples, [min, max].
- one sample gives a location, not a spread: the base's relative spread is kept around it
  (lognormal: the base's sigma; uniform [a, b]: [x * a / m, x * b / m], m = (a + b) / 2), so
  a single restore does not make the simulator deterministic where the base is not.
- fixed: the median.
- Linear (export, import): the simulator charges a backup
  `T * (airflow.call + s3.call + export.base) + export.per_row * rows` and a restore
  `T * (airflow.call + s3.call + import.base) + import.per_row * rows + 2 * s3.call`
  (T tables, one Airflow call and one S3 call each; the restore also lists the bucket and
  reads the manifest). per_row is the least-squares slope of duration on rows when there are
  3 samples or more with at least two row counts (floored at 0), else the base's; then
  base = (median(duration - per_row * rows) - the fixed calls) / T, floored at 0. The fixed
  calls use the calibration's own airflow.call and s3.call (base values: not measurable).

Not measurable from a history, kept from `base` and listed in `unmeasured` with the reason:
CloudWatch delivery delay and call costs (no heartbeat publish/read events: probes only say
healthy / no data), the network's refused/hang/cross-Region costs, single API call costs,
creation failure probability, clear time, and any field above without samples.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from harness.history import Event
from harness.sim.calibration import (
    Calibration,
    Distribution,
    Fixed,
    Linear,
    LogNormal,
    UniformDist,
)
from reference_impl.context import RESTORE_DAG
from reference_impl.ports import BACKUP_TABLES

MIN_SAMPLE_S = 0.001  # lognormal samples are floored here
TRIGGER_NOTE = re.compile(r"^failover: triggered (\S+) \(")
WORKFLOW_STARTED_NOTE = "recovery workflow started"
# Notes the recovery workflow journals in the same step as (right before) triggering the
# restore DAG: the start of that step, for the task start latency.
STEP_NOTES = (
    "failover: active-Region record claimed",
    "failover: environment AVAILABLE",
    "failover: restore attempt",
)
RESTARTING_FAULTS = frozenset({"region_outage", "environment_failure"})

# Why a field is never in a history (the rest: "no samples in this history").
NOT_IN_HISTORY: Mapping[str, str] = {
    "cloudwatch.heartbeat_interval": "a live setting (LiveSettings.heartbeat_interval_s), "
    "not an event; pass heartbeat_interval_s to use it",
    "cloudwatch.delivery_delay": "no heartbeat publish or read events in a history "
    "(probes say healthy / no data, not when a datapoint became readable)",
    "cloudwatch.call": "single API call costs are not recorded",
    "cloudwatch.max_attempts": "a client setting, not an event",
    "cloudwatch.exhausted": "single API call costs are not recorded",
    "cloudwatch.lambda_timeout": "a client setting, not an event",
    "network.refused": "single API call costs are not recorded",
    "network.hang_timeout": "single API call costs are not recorded",
    "network.cross_region_call": "single API call costs are not recorded",
    "s3.call": "single API call costs are not recorded",
    "mwaa.call": "single API call costs are not recorded",
    "mwaa.create_failure_probability": "one drill's creations cannot estimate a failure "
    "rate (and injected failures would bias it)",
    "airflow.call": "single API call costs are not recorded",
    "airflow.clear": "the cleanup DAG's duration is not journaled",
}


@dataclass(frozen=True)
class Measurement:
    """One calibration field measured: its samples, the value fitted and how."""

    field: str  # "section.name", as in the calibration file
    samples: tuple[float, ...]
    value: Distribution | Linear | float
    method: str

    def to_json(self) -> dict[str, Any]:
        value = self.value.to_json() if hasattr(self.value, "to_json") else self.value
        data: dict[str, Any] = {
            "field": self.field,
            "n": len(self.samples),
            "value": value,
            "method": self.method,
        }
        if self.samples:
            data["samples"] = {
                "min": min(self.samples),
                "p50": statistics.median(self.samples),
                "max": max(self.samples),
            }
        return data


@dataclass(frozen=True)
class LiveCalibration:
    calibration: Calibration
    measured: tuple[Measurement, ...]
    unmeasured: Mapping[str, str] = field(default_factory=dict)  # field -> why (base kept)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.calibration.source,
            "measured": [m.to_json() for m in self.measured],
            "unmeasured": dict(self.unmeasured),
            "calibration": self.calibration.to_json(),
        }


def calibration_from_history(
    history: Iterable[Event],
    base: Calibration,
    *,
    heartbeat_interval_s: float | None = None,
) -> Calibration:
    """`base` with every value the live history measures replaced (see the module doc)."""
    return measure_calibration(history, base, heartbeat_interval_s=heartbeat_interval_s).calibration


def measure_calibration(
    history: Iterable[Event],
    base: Calibration,
    *,
    heartbeat_interval_s: float | None = None,
) -> LiveCalibration:
    """The calibration measured from `history`, with what was and was not measured."""
    events = sorted(history, key=lambda e: e.t)
    found: list[Measurement] = []

    def fit_field(name: str, samples: Sequence[float], how: str) -> None:
        if samples:
            value = fit(samples, _get(base, name))
            found.append(
                Measurement(
                    name, tuple(samples), value, f"{how}; {_fit_words(value, len(samples))}"
                )
            )

    fit_field("mwaa.create_time", creation_times(events), "env_state CREATING -> end of creation")
    fit_field("mwaa.delete_time", deletion_times(events), "env_state DELETING -> DELETED")
    latency, how = task_start_latencies(events)
    fit_field("airflow.task_start_latency", latency, how)
    fit_field(
        "airflow.scheduling_latency",
        scheduling_latencies(events),
        "run start_t - max(due_t, the Region's last scheduling-active edge)",
    )
    fit_field("airflow.workload_run", workload_runs(events), "run t - start_t")
    fit_field(
        "airflow.scheduler_restart",
        scheduler_restarts(events),
        "fault_off -> the Region's next scheduling-active edge",
    )
    fit_field("s3.replication_lag", replication_lags(events), "replication t - written_t")
    fit_field(
        "workflow.start_offset",
        workflow_start_offsets(events),
        "note 'recovery workflow started' - t_ready",
    )
    tables = len(BACKUP_TABLES)
    backups = backup_durations(events)
    if backups:
        fixed = tables * (base.airflow.call + base.s3.call)
        linear = fit_linear(backups, base.airflow.export, fixed, tables)
        found.append(
            Measurement(
                "airflow.export",
                tuple(d for d, _ in backups),
                linear,
                f"backup started -> completed ({len(backups)}), rows from the backup's tables; "
                f"the simulator's backup model inverted ({tables} tables)",
            )
        )
    restores = restore_durations(events)
    if restores:
        fixed = tables * (base.airflow.call + base.s3.call) + 2 * base.s3.call
        linear = fit_linear(restores, base.airflow.import_, fixed, tables)
        found.append(
            Measurement(
                "airflow.import",
                tuple(d for d, _ in restores),
                linear,
                f"restore started -> completed ({len(restores)}), rows of the restored "
                f"backup; the simulator's restore model inverted ({tables} tables)",
            )
        )
    if heartbeat_interval_s is not None:
        found.append(
            Measurement(
                "cloudwatch.heartbeat_interval",
                (),
                float(heartbeat_interval_s),
                "the live drill's setting (not measured)",
            )
        )
    calibration = base
    for measurement in found:
        calibration = _set(calibration, measurement.field, measurement.value)
    names = {m.field for m in found}
    unmeasured = {
        name: NOT_IN_HISTORY.get(name, "no samples in this history")
        for name in calibration_fields(base)
        if name not in names
    }
    source = (
        f"live drill history (measured: {', '.join(sorted(names)) or 'nothing'}); "
        f"everything else from {base.source}"
    )
    calibration = replace(calibration, source=source)
    return LiveCalibration(calibration, tuple(found), unmeasured)


# Samples ----------------------------------------------------------------------------------------


def creation_times(events: Sequence[Event]) -> list[float]:
    """CREATING -> AVAILABLE or CREATE_FAILED, per (Region, environment)."""
    return _state_spans(events, "CREATING", ("AVAILABLE", "CREATE_FAILED"))


def deletion_times(events: Sequence[Event]) -> list[float]:
    return _state_spans(events, "DELETING", ("DELETED",))


def _state_spans(events: Sequence[Event], start: str, ends: Sequence[str]) -> list[float]:
    since: dict[tuple[str, str], float] = {}
    spans: list[float] = []
    for event in events:
        if event.kind != "env_state":
            continue
        key = (str(event["region"]), str(event["environment"]))
        state = str(event["state"])
        if state == start:
            since[key] = event.t
        elif key in since and state in ends:
            spans.append(event.t - since.pop(key))
        elif key in since:
            since.pop(key)  # another state: that span is not a clean creation/deletion
    return spans


def backup_durations(events: Sequence[Event]) -> list[tuple[float, int | None]]:
    """(started -> completed, rows exported or None) of every completed backup."""
    started: dict[tuple[str, str], float] = {}
    out: list[tuple[float, int | None]] = []
    for event in events:
        if event.kind != "backup":
            continue
        key = (str(event["region"]), str(event["backup_id"]))
        if event["state"] == "started":
            started[key] = event.t
        elif event["state"] == "completed" and key in started:
            out.append((event.t - started.pop(key), _rows(event.get("tables"))))
    return out


def restore_durations(events: Sequence[Event]) -> list[tuple[float, int | None]]:
    """(started -> completed, rows of the restored backup or None) of every completed
    restore; the rows come from the completed backup event of its first source."""
    backup_rows = {
        str(e["backup_id"]): _rows(e.get("tables"))
        for e in events
        if e.kind == "backup" and e["state"] == "completed"
    }
    started: dict[tuple[str, str], float] = {}
    out: list[tuple[float, int | None]] = []
    for event in events:
        if event.kind != "restore":
            continue
        key = (str(event["region"]), str(event["backup_id"]))
        if event["state"] == "started":
            started[key] = event.t
        elif event["state"] == "completed" and key in started:
            sources = event.get("sources") or [event["backup_id"]]
            rows = backup_rows.get(str(sources[0])) if len(sources) == 1 else None
            out.append((event.t - started.pop(key), rows))
        elif event["state"] == "failed":
            started.pop(key, None)
    return out


def _rows(tables: Any) -> int | None:
    if not isinstance(tables, Mapping):
        return None
    return sum(int(n) for n in tables.values() if isinstance(n, int | float))


def task_start_latencies(events: Sequence[Event]) -> tuple[list[float], str]:
    """How long after the recovery workflow asks for the restore DAG its task begins.

    The simulator charges the trigger call to the workflow, not to the task: the task starts
    `task_start_latency` after the workflow step that triggered it began. Live, that step's
    calls take real time (an InvokeRestApi trigger: about a second), so a sample runs from the
    workflow's last journal event before the trigger within that step (the failover decision,
    "record claimed", "environment AVAILABLE" or "restore attempt ... did not succeed"),
    else from the trigger note itself (a cleanup DAG ran in between: seed's warm standby),
    to the next restore event. Without trigger notes: decision -> next restore started."""
    samples: list[float] = []
    anchor: float | None = None
    triggered: float | None = None
    for event in events:
        if event.kind == "decision" and event["action"] == "failover":
            anchor = event.t
        elif event.kind == "note":
            message = str(event["message"])
            match = TRIGGER_NOTE.match(message)
            if match:
                if match.group(1) == RESTORE_DAG:
                    triggered = anchor if anchor is not None else event.t
                anchor = None
            elif message.startswith(STEP_NOTES):
                anchor = event.t
        elif event.kind == "restore" and triggered is not None:
            samples.append(event.t - triggered)
            triggered = None
    if samples:
        return samples, (
            "the workflow step that triggered mwaa_dr_restore (its last journal event "
            "before the trigger note) -> the next restore event"
        )
    decided: float | None = None
    for event in events:
        if event.kind == "decision" and event["action"] == "failover":
            decided = event.t
        elif event.kind == "restore" and event["state"] == "started" and decided is not None:
            samples.append(event.t - decided)
            decided = None
    return samples, "failover decision -> next restore started (no trigger notes: upper bound)"


def scheduling_latencies(events: Sequence[Event]) -> list[float]:
    """start_t - max(due_t, the Region's last scheduling-active edge at or before start_t)."""
    edges: dict[str, list[float]] = {}
    for event in events:
        if event.kind == "scheduling" and event["active"]:
            edges.setdefault(str(event["region"]), []).append(event.t)
    samples: list[float] = []
    for event in events:
        if event.kind != "run" or event["state"] != "success":
            continue
        start, due = float(event["start_t"]), float(event["due_t"])
        resumed = [t for t in edges.get(str(event["region"]), []) if t <= start]
        since = max(due, resumed[-1]) if resumed else due
        samples.append(max(0.0, start - since))
    return samples


def workload_runs(events: Sequence[Event]) -> list[float]:
    return [
        max(0.0, e.t - float(e["start_t"]))
        for e in events
        if e.kind == "run" and e["state"] == "success"
    ]


def scheduler_restarts(events: Sequence[Event]) -> list[float]:
    """fault_off of a Region fault that killed its scheduler -> the Region schedules again
    (its next scheduling-active edge, unless a new fault comes first)."""
    samples: list[float] = []
    healed: dict[str, float] = {}
    for event in events:
        if event.kind == "fault_off" and event["fault"] in RESTARTING_FAULTS:
            healed[str(event["region"])] = event.t
        elif event.kind == "fault_on" and event["fault"] in RESTARTING_FAULTS:
            healed.pop(str(event["region"]), None)
        elif event.kind == "scheduling" and event["active"]:
            since = healed.pop(str(event["region"]), None)
            if since is not None:
                samples.append(event.t - since)
    return samples


def replication_lags(events: Sequence[Event]) -> list[float]:
    return [
        max(0.0, e.t - float(e["written_t"]))
        for e in events
        if e.kind == "replication" and isinstance(e.get("written_t"), int | float)
    ]


def workflow_start_offsets(events: Sequence[Event]) -> list[float]:
    start = next((e for e in events if e.kind == "drill_start"), None)
    t_ready = start.get("t_ready") if start is not None else None
    if not isinstance(t_ready, int | float):
        return []
    for event in events:
        if event.kind == "note" and str(event["message"]).startswith(WORKFLOW_STARTED_NOTE):
            return [max(0.0, event.t - float(t_ready))]
    return []


# Fitting ----------------------------------------------------------------------------------------


def fit(samples: Sequence[float], like: Any) -> Distribution:
    """A distribution of `like`'s family fitted to `samples` (see the module doc)."""
    if not samples:
        raise ValueError("fit of no samples")
    values = sorted(float(s) for s in samples)
    median = statistics.median(values)
    if isinstance(like, LogNormal):
        logs = [math.log(max(v, MIN_SAMPLE_S)) for v in values]
        if len(logs) >= 4:
            q25, _, q75 = statistics.quantiles(logs, n=4, method="inclusive")
            sigma = (q75 - q25) / 1.349
        elif len(logs) >= 2:
            sigma = statistics.stdev(logs)
        else:
            sigma = like.sigma  # one sample: a location, not a spread
        return LogNormal(max(median, MIN_SAMPLE_S), sigma)
    if isinstance(like, UniformDist):
        if len(values) == 1:
            middle = (like.low + like.high) / 2
            if middle <= 0:
                return UniformDist(median, median)
            return UniformDist(median * like.low / middle, median * like.high / middle)
        low, high = values[0], values[-1]
        if len(values) >= 4:
            q25, _, q75 = statistics.quantiles(values, n=4, method="inclusive")
            spread = q75 - q25
            low, high = max(low, median - spread), min(high, median + spread)
        return UniformDist(low, high)
    return Fixed(median)


def fit_linear(
    samples: Sequence[tuple[float, int | None]], like: Linear, fixed: float, tables: int
) -> Linear:
    """Linear(base, per_row) such that `tables * base + per_row * rows + fixed` fits the
    durations (see the module doc). Samples without a row count count 0 rows."""
    durations = [d for d, _ in samples]
    rows = [float(r or 0) for _, r in samples]
    per_row = like.per_row
    if len(samples) >= 3 and len(set(rows)) >= 2:
        mean_r, mean_d = statistics.fmean(rows), statistics.fmean(durations)
        spread = sum((r - mean_r) ** 2 for r in rows)
        slope = sum((r - mean_r) * (d - mean_d) for r, d in zip(rows, durations, strict=True))
        per_row = max(0.0, slope / spread)
    intercept = statistics.median(d - per_row * r for d, r in zip(durations, rows, strict=True))
    return Linear(max(0.0, (intercept - fixed) / tables), per_row)


def _fit_words(value: Distribution | Linear | float, n: int) -> str:
    if n == 1 and isinstance(value, LogNormal | UniformDist):
        return f"{type(value).__name__}: one sample, with the base's relative spread around it"
    if isinstance(value, LogNormal):
        if n >= 4:
            return "lognormal: median of the samples, sigma from their log IQR"
        return "lognormal: median of the samples, sigma the deviation of their logs"
    if isinstance(value, UniformDist):
        if n >= 4:
            return "uniform: median +- IQR of the samples, within their range"
        return "uniform: the samples' range"
    return "fixed: median of the samples"


# Scaling and access -----------------------------------------------------------------------------


def scale_calibration(calibration: Calibration, scale: float) -> Calibration:
    """Every duration divided by `scale` (counts and probabilities kept): the calibration of a
    world compressed `scale` times, as a live drill compresses its scenario."""
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    sections: dict[str, Any] = {}
    for section in fields(calibration):
        if section.name == "source":
            continue
        value = getattr(calibration, section.name)
        changes = {
            f.name: _scaled(getattr(value, f.name), f.name, scale)
            for f in fields(value)
            if f.name != "max_attempts" and not f.name.endswith("probability")
        }
        sections[section.name] = replace(value, **changes)
    return replace(
        calibration, source=f"{calibration.source} with every duration / {scale:g}", **sections
    )


def _scaled(value: Any, name: str, scale: float) -> Any:
    if isinstance(value, Fixed):
        return Fixed(value.value / scale)
    if isinstance(value, UniformDist):
        return UniformDist(value.low / scale, value.high / scale)
    if isinstance(value, LogNormal):
        return LogNormal(value.median / scale, value.sigma)
    if isinstance(value, Linear):
        return Linear(value.base / scale, value.per_row / scale)
    if isinstance(value, Mapping):
        return {k: float(v) / scale for k, v in value.items()}
    if isinstance(value, int | float):
        return float(value) / scale
    raise TypeError(f"cannot scale {name}: {value!r}")


def calibration_fields(calibration: Calibration) -> list[str]:
    """Every "section.name" of a calibration (the file's keys: `import`, not `import_`)."""
    return [
        f"{section.name}.{f.name.rstrip('_')}"
        for section in fields(calibration)
        if section.name != "source"
        for f in fields(getattr(calibration, section.name))
    ]


def _attribute(name: str) -> tuple[str, str]:
    section, key = name.split(".", 1)
    return section, "import_" if key == "import" else key


def _get(calibration: Calibration, name: str) -> Any:
    section, key = _attribute(name)
    return getattr(getattr(calibration, section), key)


def _set(calibration: Calibration, name: str, value: Any) -> Calibration:
    section, key = _attribute(name)
    updated = replace(getattr(calibration, section), **{key: value})
    return replace(calibration, **{section: updated})


__all__ = [
    "LiveCalibration",
    "Measurement",
    "backup_durations",
    "calibration_fields",
    "calibration_from_history",
    "creation_times",
    "deletion_times",
    "fit",
    "fit_linear",
    "measure_calibration",
    "replication_lags",
    "restore_durations",
    "scale_calibration",
    "scheduler_restarts",
    "scheduling_latencies",
    "task_start_latencies",
    "workflow_start_offsets",
    "workload_runs",
]
