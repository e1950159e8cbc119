"""What a drill would do, without doing it: `mwaa-drill simulate|run FILE --dry-run`.

`describe_plan` reads a loaded scenario only: it starts no process, simulator or emulator and
writes no file. It states the strategy, profile, Regions and duration; each fault with its
Region, time, length and parameters; every DR setting of the profile with the scenario's
detector overrides (the very object the DR logic gets); the backup interval, the workload
and the objectives; and then the steps that `simulate` (trials on virtual time) or `run`
(provision, steady-state check, inject and heal each fault at its time, teardown) would take.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal

from harness.durations import format_duration
from harness.live.airflow.install import AIRFLOW_VERSION
from harness.live.time_scale import compress_config, compress_scenario
from harness.report import NOT_APPLICABLE, expects_primary_fault, format_percent
from harness.scenario.faults import FAULT_SPECS
from harness.scenario.model import (
    OPERATION_SUMMARIES,
    Fault,
    Scenario,
    Strategy,
    Uniform,
    Varying,
    lower,
    upper,
)
from reference_impl.config import profile_config

PlanMode = Literal["simulate", "run"]


def describe_plan(
    scenario: Scenario,
    mode: PlanMode,
    *,
    trials: int | None = None,
    seed: int | None = None,
    calibration: str | None = None,
    backend: str = "moto",
    report_dir: str | None = None,
    outputs: Sequence[str] = (),
    time_scale: float = 1.0,
    airflow_version: str = AIRFLOW_VERSION,
) -> str:
    """The plan of a drill as text. `trials` and `seed` override the scenario's (simulate);
    `calibration` names the calibration file (simulate); `backend`, `report_dir` and
    `airflow_version` are `run`'s options; `outputs` lists the files the command would
    write, one line each."""
    if mode not in ("simulate", "run"):
        raise ValueError(f"mode must be 'simulate' or 'run', got {mode!r}")
    seed = scenario.seed if seed is None else seed
    original = scenario
    scale = time_scale if mode == "run" else 1.0
    if scale != 1.0:  # a live drill runs the compressed scenario: show what will happen
        scenario = compress_scenario(original, scale)
    lines = [f"mwaa-drill {mode} --dry-run: the plan only; nothing is started or written.", ""]
    rows = _scenario_rows(scenario, mode, trials, seed, calibration)
    if scale != 1.0:
        rows.append(
            (
                "time scale",
                f"{scale:g}x: every duration of the scenario and of the DR settings divided "
                f"by {scale:g} (with floors for real Airflow); "
                f"{format_duration(original.duration)} of scenario in "
                f"{format_duration(scenario.duration)}",
            )
        )
    lines += _section("Scenario", rows)
    lines += ["", "Faults"]
    lines += _faults(scenario, mode) or ["  (none: a steady-state drill)"]
    if scenario.operations:
        lines += ["", "Operations (operator actions)"]
        lines += _operations(scenario, mode)
    lines += ["", f"DR settings (profile {scenario.profile}, with the scenario's overrides)"]
    lines += _settings(original, scale)
    lines += ["", "Objectives"]
    lines += _objectives(scenario) or ["  (none set: every completed trial passes)"]
    lines += ["", "Stop conditions", _stop(original, mode, scale)]
    lines += ["", f"What `{mode}` would do"]
    if mode == "simulate":
        steps = _simulate_steps(scenario, trials if trials is not None else scenario.trials, seed)
    else:
        steps = _run_steps(scenario, backend, report_dir, airflow_version)
    lines += [f"  {number}. {step}" for number, step in enumerate(steps, start=1)]
    if outputs:
        lines += ["", "It would write"]
        lines += [f"  - {output}" for output in outputs]
    return "\n".join(lines) + "\n"


# Parts ---------------------------------------------------------------------------------------


def _scenario_rows(
    scenario: Scenario, mode: PlanMode, trials: int | None, seed: int, calibration: str | None
) -> list[tuple[str, str]]:
    rows = [("name", f"{scenario.name} ({scenario.source})")]
    if scenario.description.strip():
        rows.append(("description", " ".join(scenario.description.split())))
    rows += [
        ("strategy", str(scenario.strategy)),
        ("profile", str(scenario.profile)),
        (
            "Regions",
            f"primary {scenario.regions.primary}, secondary {scenario.regions.secondary}",
        ),
        ("duration", format_duration(scenario.duration)),
        ("backups", f"every {format_duration(scenario.backup.interval)}"),
        ("workload", _workload(scenario)),
    ]
    if mode == "simulate":
        count = trials if trials is not None else scenario.trials
        rows += [
            ("trials", f"{count}, seed {seed}"),
            ("calibration", calibration or "the default (fixtures/calibration/default.yaml)"),
        ]
    else:
        rows.append(("seed", str(seed)))
    return rows


def _workload(scenario: Scenario) -> str:
    dags = scenario.workload.dags
    schedule = scenario.workload.schedule
    names = "workload_0" if dags == 1 else f"workload_0 .. workload_{dags - 1}"
    runs = math.floor(scenario.duration / schedule) if schedule > 0 else 0
    noun = "DAG" if dags == 1 else "DAGs"
    return (
        f"{dags} {noun} ({names}), each scheduled every {format_duration(schedule)}"
        f" (about {runs} runs each over the drill)"
    )


def _faults(scenario: Scenario, mode: PlanMode) -> list[str]:
    lines = []
    for number, fault in enumerate(scenario.faults, start=1):
        spec = FAULT_SPECS[fault.kind]
        lines.append(
            f"  {number}. {fault.kind} in {_region(scenario, fault.region)}:"
            f" at {_varying(fault.at, mode)}, {_length(fault, mode)}"
        )
        lines.append(f"     {spec.summary}")
        for param in spec.params:
            value = fault.params.get(param.name, param.default)
            lines.append(f"     {param.name}: {_param(param.kind, value, mode)}")
    return lines


def _operations(scenario: Scenario, mode: PlanMode) -> list[str]:
    lines = []
    for number, operation in enumerate(scenario.operations, start=1):
        lines.append(f"  {number}. {operation.action} at {_varying(operation.at, mode)}")
        lines.append(f"     {OPERATION_SUMMARIES[operation.action]}")
    return lines


def _region(scenario: Scenario, region: str) -> str:
    if region == scenario.regions.primary:
        return f"{region} (primary)"
    if region == scenario.regions.secondary:
        return f"{region} (secondary)"
    return region


def _length(fault: Fault, mode: PlanMode) -> str:
    if fault.duration is None:
        return "until the drill ends"
    return f"for {_varying(fault.duration, mode)}"


def _varying(value: Varying, mode: PlanMode) -> str:
    if isinstance(value, Uniform):
        drawn = "drawn per trial" if mode == "simulate" else "drawn once from the seed"
        return f"{format_duration(value.low)} .. {format_duration(value.high)} ({drawn})"
    return format_duration(value)


def _span(low: float, high: float) -> str:
    if low == high:
        return format_duration(low)
    return f"{format_duration(low)} .. {format_duration(high)}"


def _param(kind: str, value: Any, mode: PlanMode) -> str:
    if value is None:
        return "(required, missing)"
    if kind == "varying_duration" and isinstance(value, Uniform | int | float):
        return _varying(value if isinstance(value, Uniform) else float(value), mode)
    if kind == "rate" and isinstance(value, int | float):
        return f"{float(value):g} ({format_percent(float(value))})"
    return str(value)


def _settings(scenario: Scenario, scale: float = 1.0) -> list[str]:
    overrides = {k: v for k, v in dataclasses.asdict(scenario.detector).items() if v is not None}
    config = compress_config(profile_config(scenario.profile.value, **overrides), scale)
    detector = dataclasses.asdict(config.detector)
    rest = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    rest.pop("detector")
    rest.pop("name")
    column = max(len(name) for name in [*detector, *rest]) + 4
    lines = ["  detector:"]
    for name, value in detector.items():
        mark = "  (scenario override)" if name in overrides else ""
        lines.append(f"    {name:<{column - 2}}{_setting(value)}{mark}")
    lines += [f"  {name:<{column}}{_setting(value)}" for name, value in rest.items()]
    return lines


def _setting(value: object) -> str:
    """Floats in a ProfileConfig are seconds; None is "none"."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format_duration(value)
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) if value else "(none)"
    return str(value)


def _objectives(scenario: Scenario) -> list[str]:
    objectives = scenario.objectives
    applies = expects_primary_fault(scenario)
    lines = []
    for recovery in (objectives.rto, objectives.rpo):
        if recovery is None:
            continue
        target = f"p{recovery.percentile:g} of the trials ≤ {format_duration(recovery.target)}"
        note = "" if applies else f"  ({NOT_APPLICABLE})"
        lines.append(f"  {recovery.name}: {target}{note}")
    rate = objectives.max_spurious_failover_rate
    if rate is not None:
        lines.append(f"  max_spurious_failover_rate: ≤ {format_percent(rate)} of the trials")
    if objectives.max_split_brain is not None:
        lines.append(f"  max_split_brain: ≤ {format_duration(objectives.max_split_brain)}")
    for name in ("max_lost_runs", "max_duplicate_runs", "max_torn_restores"):
        value = getattr(objectives, name)
        if value is not None:
            lines.append(f"  {name}: ≤ {value} in any trial")
    if objectives.max_failback_time is not None:
        bound = format_duration(objectives.max_failback_time)
        lines.append(
            f"  max_failback_time: ≤ {bound} in any trial (a failback never done breaks it)"
        )
    return lines


def _stop(scenario: Scenario, mode: PlanMode, scale: float) -> str:
    """One line: the scenario's `stop:` and whether this command acts on it."""
    stop = scenario.stop
    parts = []
    if stop.on_objective_lost:
        parts.append("abort as soon as an objective is already lost")
    if stop.max_duration is not None:
        cap = f"abort after {format_duration(stop.max_duration)} of scenario time"
        if scale != 1.0:
            cap += f" ({format_duration(stop.max_duration / scale)} at {scale:g}x)"
        parts.append(cap)
    if not parts:
        return "  (none: the drill runs to its end)"
    if mode == "simulate":
        return f"  ignored by the simulator (live drills only): {'; '.join(parts)}"
    return f"  {'; '.join(parts)} (checked every 2 s; faults healed, report written)"


def _simulate_steps(scenario: Scenario, trials: int, seed: int) -> list[str]:
    return [
        f"run {trials} trials on virtual time, seeded from {seed}: each trial samples its own"
        " fault times and runs both Regions' models with the DR logic of reference_impl/"
        f" for {format_duration(scenario.duration)}",
        "measure every trial from its recorded history (RTO, RPO, detection time, spurious"
        " failovers, split brain, lost and duplicated runs, failback time), judge it against"
        " the objectives",
        "print the Markdown report and exit 0 (objectives met), 1 (violated) or 3 (not judged)",
    ]


def _run_steps(
    scenario: Scenario, backend: str, report_dir: str | None, airflow_version: str
) -> list[str]:
    primary, secondary = scenario.regions.primary, scenario.regions.secondary
    if scenario.strategy == Strategy.WARM_STANDBY:
        standby = f"a warm standby environment in {secondary}, its DAGs paused"
    else:
        standby = f"no environment in {secondary} (backup and restore creates one at failover)"
    steps = [
        f"provision both Regions on this machine: an emulated AWS endpoint ({backend}) per"
        f" Region with S3 buckets replicating across Regions, the MWAA-compatible API, the"
        f" primary Airflow environment in {primary} (Apache Airflow {airflow_version}) on"
        f" PostgreSQL, and {standby}",
        f"deploy the workload DAGs and the DR logic of profile {scenario.profile}; metadata"
        f" backups every {format_duration(scenario.backup.interval)}",
        "steady-state check: both Regions answer, the primary environment is AVAILABLE and runs"
        " the workload, heartbeats reach CloudWatch (if not, the drill stops: exit 3)",
    ]
    events: list[tuple[float, int, str]] = []
    for number, fault in enumerate(scenario.faults, start=1):
        where = _region(scenario, fault.region)
        start_low, start_high = lower(fault.at), upper(fault.at)
        events.append(
            (
                start_low,
                0,
                f"at {_span(start_low, start_high)}: inject fault {number},"
                f" {fault.kind} in {where}",
            )
        )
        if fault.duration is None:
            continue
        end_low = start_low + lower(fault.duration)
        end_high = start_high + upper(fault.duration)
        if end_low >= scenario.duration:
            events.append((end_low, 1, f"fault {number} lasts past the drill's end: not healed"))
        else:
            events.append(
                (end_low, 1, f"at {_span(end_low, end_high)}: heal fault {number} in {where}")
            )
    for number, operation in enumerate(scenario.operations, start=1):
        events.append(
            (
                lower(operation.at),
                2,
                f"at {_span(lower(operation.at), upper(operation.at))}: operation {number},"
                f" {operation.action}: {OPERATION_SUMMARIES[operation.action]}",
            )
        )
    steps += [text for _, _, text in sorted(events, key=lambda event: event[:2])]
    target = report_dir if report_dir is not None else "reports"
    steps += [
        f"at {format_duration(scenario.duration)}: end the drill; measure it from its recorded"
        f" history and write the report to {target}/",
        "teardown: stop every process of both Regions",
    ]
    return steps


def _section(title: str, rows: Sequence[tuple[str, str]]) -> list[str]:
    width = max(len(key) for key, _ in rows)
    return [title, *(f"  {key:<{width}}  {value}" for key, value in rows)]
