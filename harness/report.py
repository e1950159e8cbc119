"""The drill report: per-trial and campaign verdicts, as JSON that follows
`harness/schemas/report.schema.json`. The verdict is what the exit code means (0 pass, 1 fail,
3 unknown). A trial may carry its history as `timeline` (the `timelines` of `build_report`):
the HTML report draws it; nothing is judged from it here.

Judging
-------

Every number is rounded first (seconds to 3 decimals) and judged as rounded, so a report never
shows a value at its target next to a broken objective.

A scenario *expects a primary fault* when one of its faults has a primary-disabling kind
(region_outage, environment_failure) in the primary Region. The rto and rpo objectives apply
only then; otherwise they are listed with observed and met null, "not applicable".

Trial verdict, in this order:

1. "unknown" if the trial did not complete (its history lacks drill_end or was aborted), or the
   scenario expects a primary fault and none started ("the primary fault never started").
2. "fail" if the trial breaks an objective on its own: rto or rpo (never recovered, or the
   value over target), max_split_brain, max_lost_runs, max_duplicate_runs, and
   max_spurious_failover_rate when its target is 0 (any spurious failover breaks it).
3. "unknown" if one of those could not be judged: rto or rpo not measured on a recovered trial,
   lost runs not measured on a recovered trial. (Lost runs of a trial that never recovered are
   not judged at all: that trial fails on rto/rpo if the scenario sets them.)
4. "pass".

A trial that fails a percentile objective (rto p95, say) does not by itself fail the campaign.
The trial's reasons are the checkers' reasons plus one line per broken or unjudged objective.

Campaign objectives, one entry per objective the scenario sets:

- rto, rpo: the objective's percentile over the judged trials (verdict not unknown) that had a
  primary fault, a trial that never recovered counting as +infinity. A percentile that lands
  on infinity gives observed null, met false. Recovered trials without the value are left out.
- max_spurious_failover_rate: the rate over all trials, met when rate <= target; the detail
  gives the exact one-sided 95% upper bound.
- max_split_brain, max_lost_runs, max_duplicate_runs: the maximum over all trials (lost runs:
  where measured). Lost runs are counted after a recovery, so when no trial recovered and none
  measured them, max_lost_runs is "not applicable" (a CloudWatch outage with no failover).
- max_failback_time: the maximum failback time over all trials; met false when a judged trial
  never completed its failback. It applies only to a scenario with a failback operation.

Values from unknown trials are facts too: they count towards the spurious rate and the maxima,
so they can break an objective but never show one met. An objective is met null when nothing
could be judged (no trials, all trials unknown, never measured).

Campaign verdict: "fail" if an objective has met false (even when the drill was aborted);
else "unknown" if there were no trials, a trial is unknown, an applicable objective has met
null, or the drill was aborted; else "pass". `reasons` says why.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from os import PathLike
from pathlib import Path, PurePath
from types import MappingProxyType
from typing import Any, Literal

import jsonschema

import harness
from harness.durations import format_duration
from harness.history import Event
from harness.measures import TrialMeasures
from harness.scenario.model import (
    PRIMARY_DISABLING_KINDS,
    Objective,
    OperationAction,
    Scenario,
    to_json,
)
from harness.stats import binomial_upper_95, percentile, summarize

SCHEMA_VERSION = "1.1"  # 1.1: failback_s, max_failback_time
TOOL_NAME = "mwaa-drill"

Mode = Literal["simulate", "live"]
Verdict = Literal["pass", "fail", "unknown"]

EXIT_CODES: Mapping[str, int] = MappingProxyType({"pass": 0, "fail": 1, "unknown": 3})

NOT_APPLICABLE = "not applicable: no fault in this scenario stops the primary"
NO_FAILBACK = "not applicable: the scenario has no failback operation"
PRIMARY_FAULT_NEVER_STARTED = "the primary fault never started"
INCOMPLETE_TRIAL = "the trial did not complete: its history has no drill_end or was aborted"


class ReportError(ValueError):
    """A report that is not JSON or breaks the report schema; the message says where."""


@dataclass(frozen=True)
class TrialResult:
    """One trial: its measures, plus `extra` keys merged into its JSON (history path, ...)."""

    index: int
    seed: int
    measures: TrialMeasures
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


# Judging -------------------------------------------------------------------------------------


def expects_primary_fault(scenario: Scenario) -> bool:
    """Whether a fault of the scenario stops the primary (and so rto/rpo apply)."""
    return any(
        fault.kind in PRIMARY_DISABLING_KINDS and fault.region == scenario.regions.primary
        for fault in scenario.faults
    )


def expects_failback(scenario: Scenario) -> bool:
    """Whether the scenario asks an operator to fail back (and so max_failback_time applies)."""
    return any(op.action is OperationAction.FAILBACK for op in scenario.operations)


def round_measures(measures: TrialMeasures) -> tuple[TrialMeasures, list[str]]:
    """The measures with seconds rounded to 3 decimals; non-finite numbers become None.

    Returns the rounded measures and one reason per number that was not finite.
    """
    problems: list[str] = []

    def seconds(name: str, value: float | None) -> float | None:
        if value is None:
            return None
        if not math.isfinite(value):
            problems.append(f"{name}: {value} is not a finite number")
            return None
        return round(float(value), 3)

    split_brain = seconds("split_brain_s", measures.split_brain_s)
    rounded = dataclasses.replace(
        measures,
        t_fault=seconds("t_fault", measures.t_fault),
        detection_s=seconds("detection_s", measures.detection_s),
        rto_s=seconds("rto_s", measures.rto_s),
        rpo_s=seconds("rpo_s", measures.rpo_s),
        failback_s=seconds("failback_s", measures.failback_s),
        split_brain_s=0.0 if split_brain is None else split_brain,
    )
    return rounded, problems


def judge_trial(scenario: Scenario, measures: TrialMeasures) -> tuple[Verdict, list[str]]:
    """The verdict of one trial (rounded measures) and its reasons (see the module docstring)."""
    reasons = list(measures.reasons)
    if not measures.complete:
        return "unknown", [*reasons, INCOMPLETE_TRIAL]
    primary = expects_primary_fault(scenario)
    if primary and measures.t_fault is None:
        return "unknown", [*reasons, PRIMARY_FAULT_NEVER_STARTED]
    broken: list[str] = []
    unjudged: list[str] = []
    objectives = scenario.objectives
    if primary and objectives.rto is not None:
        _judge_recovery("rto", measures.rto_s, objectives.rto, measures, broken, unjudged)
    if primary and objectives.rpo is not None:
        _judge_recovery("rpo", measures.rpo_s, objectives.rpo, measures, broken, unjudged)
    if objectives.max_spurious_failover_rate == 0 and measures.spurious_failover:
        broken.append("spurious failover (the target rate is 0)")
    max_split_brain = objectives.max_split_brain
    if max_split_brain is not None and measures.split_brain_s > max_split_brain:
        broken.append(
            f"split brain {format_duration(measures.split_brain_s)}"
            f" > {format_duration(max_split_brain)}"
        )
    if objectives.max_lost_runs is not None:
        if measures.lost_runs is None:
            if measures.recovered:
                unjudged.append("lost runs not judged: not measured")
        elif measures.lost_runs > objectives.max_lost_runs:
            broken.append(f"lost runs {measures.lost_runs} > {objectives.max_lost_runs}")
    max_duplicates = objectives.max_duplicate_runs
    if max_duplicates is not None and measures.duplicate_runs > max_duplicates:
        broken.append(f"duplicate runs {measures.duplicate_runs} > {max_duplicates}")
    max_torn = objectives.max_torn_restores
    if max_torn is not None and measures.torn_restores > max_torn:
        broken.append(f"torn restores {measures.torn_restores} > {max_torn}")
    max_failback = objectives.max_failback_time
    if max_failback is not None and expects_failback(scenario):
        if measures.failback_s is None:
            broken.append("failback never completed")
        elif measures.failback_s > max_failback:
            broken.append(
                f"failback time {format_duration(measures.failback_s)}"
                f" > {format_duration(max_failback)}"
            )
    if broken:
        return "fail", reasons + broken + unjudged
    if unjudged:
        return "unknown", reasons + unjudged
    return "pass", reasons


def _judge_recovery(
    name: str,
    value: float | None,
    objective: Objective,
    measures: TrialMeasures,
    broken: list[str],
    unjudged: list[str],
) -> None:
    if not measures.recovered:
        broken.append(f"{name}: never recovered")
    elif value is None:
        unjudged.append(f"{name} not judged: not measured")
    elif value > objective.target:
        broken.append(f"{name} {format_duration(value)} > {format_duration(objective.target)}")


@dataclass(frozen=True)
class _Trial:
    """A trial after rounding and judging."""

    result: TrialResult
    measures: TrialMeasures  # rounded
    verdict: Verdict
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class _Entry:
    """One campaign objective, with whether it applies to this scenario at all."""

    name: str
    unit: Literal["seconds", "rate", "runs"]
    target: float
    observed: float | None
    met: bool | None
    detail: str
    applicable: bool = True
    percentile: float | None = None

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "target": self.target,
            "observed": self.observed,
            "met": self.met,
            "detail": self.detail,
            "unit": self.unit,
        }
        if self.percentile is not None:
            entry["percentile"] = self.percentile
        return entry


def _campaign_objectives(scenario: Scenario, trials: Sequence[_Trial]) -> list[_Entry]:
    objectives = scenario.objectives
    primary = expects_primary_fault(scenario)
    entries: list[_Entry] = []
    if objectives.rto is not None:
        entries.append(_recovery_entry("rto", objectives.rto, primary, trials, lambda m: m.rto_s))
    if objectives.rpo is not None:
        entries.append(_recovery_entry("rpo", objectives.rpo, primary, trials, lambda m: m.rpo_s))
    if objectives.max_spurious_failover_rate is not None:
        entries.append(_spurious_entry(objectives.max_spurious_failover_rate, trials))
    if objectives.max_split_brain is not None:
        values = [t.measures.split_brain_s for t in trials]
        entries.append(
            _max_entry("max_split_brain", "seconds", objectives.max_split_brain, values, trials)
        )
    if objectives.max_lost_runs is not None:
        entries.append(_lost_runs_entry(objectives.max_lost_runs, trials))
    if objectives.max_duplicate_runs is not None:
        dups = [t.measures.duplicate_runs for t in trials]
        entries.append(
            _max_entry("max_duplicate_runs", "runs", objectives.max_duplicate_runs, dups, trials)
        )
    if objectives.max_torn_restores is not None:
        torn = [t.measures.torn_restores for t in trials]
        entries.append(
            _max_entry("max_torn_restores", "runs", objectives.max_torn_restores, torn, trials)
        )
    if objectives.max_failback_time is not None:
        entries.append(
            _failback_entry(objectives.max_failback_time, expects_failback(scenario), trials)
        )
    return entries


def _failback_entry(target: float, applies: bool, trials: Sequence[_Trial]) -> _Entry:
    name = "max_failback_time"
    if not applies:
        return _Entry(name, "seconds", target, None, None, NO_FAILBACK, applicable=False)
    values = [t.measures.failback_s for t in trials if t.measures.failback_s is not None]
    never = sum(1 for t in trials if t.verdict != "unknown" and t.measures.failback_s is None)
    if never:
        observed = max(values) if values else None
        judged = sum(1 for t in trials if t.verdict != "unknown")
        detail = f"{never} of {_trials(judged, 'judged trial')} never completed the failback"
        return _Entry(name, "seconds", target, observed, False, detail)
    return _max_entry(name, "seconds", target, values, trials)


def _recovery_entry(
    name: str,
    objective: Objective,
    primary: bool,
    trials: Sequence[_Trial],
    value_of: Callable[[TrialMeasures], float | None],
) -> _Entry:
    def entry(observed: float | None, met: bool | None, detail: str, applicable: bool) -> _Entry:
        return _Entry(
            name=name,
            unit="seconds",
            target=objective.target,
            observed=observed,
            met=met,
            detail=detail,
            applicable=applicable,
            percentile=objective.percentile,
        )

    if not primary:
        return entry(None, None, NOT_APPLICABLE, applicable=False)
    judged = [t for t in trials if t.verdict != "unknown" and t.measures.t_fault is not None]
    values: list[float] = []
    never = unmeasured = 0
    for trial in judged:
        value = value_of(trial.measures)
        if not trial.measures.recovered:
            values.append(math.inf)
            never += 1
        elif value is None:
            unmeasured += 1
        else:
            values.append(value)
    unknown = sum(1 for t in trials if t.verdict == "unknown")
    notes = []
    if unmeasured:
        notes.append(f"{_trials(unmeasured, 'recovered trial')} without a measured {name} left out")
    if unknown:
        notes.append(f"{_trials(unknown, 'unknown trial')} left out")
    if not values:
        return entry(None, None, "; ".join(["no trial could be judged", *notes]), True)
    level = percentile(values, objective.percentile)
    if math.isinf(level):
        detail = f"{never} of {len(values)} trials never recovered"
        return entry(None, False, "; ".join([detail, *notes]), True)
    observed = round(level, 3)
    detail = f"p{objective.percentile:g} over {_trials(len(values), 'judged trial')}"
    if never:
        notes.insert(0, f"{never} of {len(values)} trials never recovered")
    return entry(observed, observed <= objective.target, "; ".join([detail, *notes]), True)


def _spurious_entry(target: float, trials: Sequence[_Trial]) -> _Entry:
    name = "max_spurious_failover_rate"
    if not trials:
        return _Entry(name, "rate", target, None, None, "no trials")
    spurious = sum(1 for t in trials if t.measures.spurious_failover)
    rate = spurious / len(trials)
    upper = binomial_upper_95(spurious, len(trials))
    detail = (
        f"{spurious} of {len(trials)} trials ({format_percent(rate)});"
        f" one-sided 95% upper bound {format_percent(upper)}"
    )
    if rate > target:
        return _Entry(name, "rate", target, rate, False, detail)
    if not _any_judged(trials):
        return _Entry(name, "rate", target, rate, None, f"{detail}; no trial could be judged")
    if upper > target:
        detail += "; the bound is above the target: more trials would be needed to show it"
    return _Entry(name, "rate", target, rate, True, detail)


def _lost_runs_entry(target: int, trials: Sequence[_Trial]) -> _Entry:
    lost = [t.measures.lost_runs for t in trials if t.measures.lost_runs is not None]
    if trials and not lost and not any(t.measures.recovered for t in trials):
        # Lost runs are counted after a recovery; with none, no run could have been lost.
        detail = "not applicable: no trial recovered in the secondary, so no run was lost"
        return _Entry("max_lost_runs", "runs", target, None, None, detail, applicable=False)
    return _max_entry("max_lost_runs", "runs", target, lost, trials)


def _max_entry(
    name: str,
    unit: Literal["seconds", "runs"],
    target: float,
    values: Sequence[float],
    trials: Sequence[_Trial],
) -> _Entry:
    if not trials:
        return _Entry(name, unit, target, None, None, "no trials")
    if not values:
        return _Entry(name, unit, target, None, None, "not measured in any trial")
    observed = max(values)
    over = sum(1 for v in values if v > target)
    if len(values) == len(trials):
        measured = f"max over {_trials(len(trials))}"
    else:
        measured = f"max over the {len(values)} of {len(trials)} trials where it was measured"
    if over:
        detail = f"{over} of {len(values)} trials over the target; {measured}"
        return _Entry(name, unit, target, observed, False, detail)
    if not _any_judged(trials):
        return _Entry(name, unit, target, observed, None, "no trial could be judged")
    return _Entry(name, unit, target, observed, True, measured)


def _trials(count: int, noun: str = "trial") -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _any_judged(trials: Sequence[_Trial]) -> bool:
    return any(t.verdict != "unknown" for t in trials)


def _campaign_verdict(
    entries: Sequence[_Entry], trials: Sequence[_Trial], aborted: str | None
) -> tuple[Verdict, list[str]]:
    reasons = [f"aborted: {aborted}"] if aborted is not None else []
    failed = [e for e in entries if e.met is False]
    if failed:
        return "fail", reasons + [_broken_line(e) for e in failed]
    if not trials:
        reasons.append("no trials were run")
    unknown = sum(1 for t in trials if t.verdict == "unknown")
    if unknown:
        reasons.append(f"{unknown} of {len(trials)} trials could not be judged")
    for entry in entries:
        if entry.applicable and entry.met is None and trials:
            reasons.append(f"{entry.name} not judged: {entry.detail}")
    if reasons:
        return "unknown", reasons
    if not entries:
        return "pass", [f"the scenario sets no objectives; {_trials(len(trials))} completed"]
    return "pass", [f"every objective met over {_trials(len(trials))}"]


def _broken_line(entry: _Entry) -> str:
    if entry.observed is None:
        return f"{entry.name}: {entry.detail}"
    observed = format_value(entry.unit, entry.observed)
    target = format_value(entry.unit, entry.target)
    return f"{entry.name}: {observed} > target {target} ({entry.detail})"


def format_value(unit: str, value: float) -> str:
    """An objective's target or observed value in its unit: `20m`, `0.994%`, `3`."""
    if unit == "seconds":
        return format_duration(value)
    if unit == "rate":
        return format_percent(value)
    return f"{value:g}"


def format_percent(rate: float) -> str:
    """A rate in [0, 1] as a short percentage: 0.009936 -> `0.994%`."""
    return f"{rate * 100:.3g}%"


# Building ------------------------------------------------------------------------------------


def build_report(
    *,
    mode: Mode,
    scenario: Scenario,
    seed: int,
    trials: Sequence[TrialResult],
    settings: Mapping[str, Any] | None = None,
    aborted: str | None = None,
    tool_version: str = harness.__version__,
    timelines: Mapping[int, Sequence[Event]] | None = None,
) -> dict[str, Any]:
    """The JSON report of a drill (see the module docstring for the judging).

    `timelines` maps a trial index to that trial's history: it is embedded in the trial's
    JSON as `timeline` (see `timeline_json`), for the HTML report's timeline.
    """
    if mode not in ("simulate", "live"):
        raise ValueError(f"mode must be 'simulate' or 'live', got {mode!r}")
    timelines = timelines or {}
    unknown = sorted(set(timelines) - {result.index for result in trials})
    if unknown:
        raise ValueError(f"timelines given for trials that are not in the report: {unknown}")
    judged: list[_Trial] = []
    for result in trials:
        rounded, problems = round_measures(result.measures)
        rounded = dataclasses.replace(rounded, reasons=(*rounded.reasons, *problems))
        verdict, reasons = judge_trial(scenario, rounded)
        judged.append(_Trial(result, rounded, verdict, tuple(reasons)))
    entries = _campaign_objectives(scenario, judged)
    verdict, reasons = _campaign_verdict(entries, judged, aborted)
    scenario_json = _plain(to_json(scenario), "scenario")
    scenario_json["file"] = scenario_json.pop("source", scenario.source)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": tool_version},
        "mode": mode,
        "scenario": scenario_json,
        "seed": seed,
        "verdict": verdict,
        "reasons": reasons,
        "aborted": aborted,
        "objectives": [entry.to_json() for entry in entries],
        "summary": _summary(judged),
        "settings": _plain(dict(settings or {}), "settings"),
        "trials": [_trial_json(trial, timelines.get(trial.result.index)) for trial in judged],
    }


def unknown_report(
    *,
    mode: Mode,
    scenario: Scenario,
    seed: int,
    reason: str,
    settings: Mapping[str, Any] | None = None,
    tool_version: str = harness.__version__,
) -> dict[str, Any]:
    """A valid report for a drill that could not complete: no trials, verdict unknown."""
    return build_report(
        mode=mode,
        scenario=scenario,
        seed=seed,
        trials=(),
        settings=settings,
        aborted=reason,
        tool_version=tool_version,
    )


def _summary(trials: Sequence[_Trial]) -> dict[str, Any]:
    measures = [t.measures for t in trials]
    spurious = sum(1 for m in measures if m.spurious_failover)
    return {
        "trials": len(trials),
        "failovers": sum(1 for m in measures if m.failover_triggered),
        "spurious_failovers": spurious,
        "spurious_failover_rate": {
            "value": spurious / len(trials) if trials else None,
            "upper_95": binomial_upper_95(spurious, len(trials)),
        },
        "recovered": sum(1 for m in measures if m.recovered),
        "split_brain_trials": sum(1 for m in measures if m.split_brain_s > 0),
        "lost_runs": sum(m.lost_runs for m in measures if m.lost_runs is not None),
        "duplicate_runs": sum(m.duplicate_runs for m in measures),
        "torn_restore_trials": sum(1 for m in measures if m.torn_restores > 0),
        "unknown_trials": sum(1 for t in trials if t.verdict == "unknown"),
        "rto_s": _seconds_summary([m.rto_s for m in measures]),
        "rpo_s": _seconds_summary([m.rpo_s for m in measures]),
        "detection_s": _seconds_summary([m.detection_s for m in measures]),
        "failback_s": _seconds_summary([m.failback_s for m in measures]),
    }


def _seconds_summary(values: Sequence[float | None]) -> dict[str, Any] | None:
    summary = summarize([v for v in values if v is not None])
    if summary is None:
        return None
    return {key: value if key == "n" else round(value, 3) for key, value in summary.items()}


def timeline_json(events: Iterable[Event]) -> list[dict[str, Any]]:
    """A trial's history as the report's `timeline`: its events as JSON objects, in order."""
    return [_plain(event.to_json(), f"timeline[{i}]") for i, event in enumerate(events)]


def _trial_json(trial: _Trial, timeline: Sequence[Event] | None = None) -> dict[str, Any]:
    m = trial.measures
    data: dict[str, Any] = {
        "index": trial.result.index,
        "seed": trial.result.seed,
        "failover_triggered": m.failover_triggered,
        "spurious_failover": m.spurious_failover,
        "detection_s": m.detection_s,
        "rto_s": m.rto_s,
        "rpo_s": m.rpo_s,
        "failback_s": m.failback_s,
        "split_brain_s": m.split_brain_s,
        "lost_runs": m.lost_runs,
        "duplicate_runs": m.duplicate_runs,
        "torn_restores": m.torn_restores,
        "recovered": m.recovered,
        "verdict": trial.verdict,
        "reasons": list(trial.reasons),
        "t_fault": m.t_fault,
        "failovers": m.failovers,
        "complete": m.complete,
    }
    clashes = sorted(set(trial.result.extra) & set(data))
    if clashes:
        raise ValueError(f"trial {trial.result.index}: extra keys {clashes} clash with measures")
    extra = _plain(dict(trial.result.extra), f"trials[{trial.result.index}]")
    if timeline is not None:
        if "timeline" in extra:
            raise ValueError(
                f"trial {trial.result.index}: timeline given twice (extra and timelines)"
            )
        extra["timeline"] = timeline_json(timeline)
    return {**data, **extra}


def _plain(value: Any, where: str) -> Any:
    """`value` as plain JSON data: non-finite floats become null, paths become strings."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return str(value)  # a StrEnum becomes its plain value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(to_json(value), where)
    raise ValueError(f"{where}: a {type(value).__name__} is not JSON data")


# Reading and checking ------------------------------------------------------------------------


@cache
def _validator() -> jsonschema.protocols.Validator:
    text = resources.files("harness.schemas").joinpath("report.schema.json").read_text("utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


def validate_report(report: Mapping[str, Any]) -> None:
    """Raise ReportError, naming each place, if `report` breaks the report schema."""
    try:
        json.dumps(report, allow_nan=False)
    except ValueError:
        raise ReportError("the report holds NaN or Infinity, which JSON does not allow") from None
    except TypeError as err:
        raise ReportError(f"the report holds something that is not JSON data: {err}") from None
    errors = sorted(_validator().iter_errors(dict(report)), key=lambda e: str(list(e.path)))
    if not errors:
        return
    lines = [f"{_path(error.absolute_path)}: {error.message}" for error in errors[:5]]
    if len(errors) > 5:
        lines.append(f"(and {len(errors) - 5} more)")
    raise ReportError("not a valid mwaa-drill report: " + "; ".join(lines))


def _path(parts: Sequence[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "(top level)"


def load_report(path: str | PathLike[str]) -> dict[str, Any]:
    """Read and validate a JSON report. OSError if unreadable, ReportError if not a report."""
    data = Path(path).read_bytes()
    try:
        report = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ReportError(f"not UTF-8 text: {err}") from None
    except json.JSONDecodeError as err:
        raise ReportError(f"not JSON: {err}") from None
    if not isinstance(report, dict):
        raise ReportError("not a valid mwaa-drill report: the top level must be an object")
    validate_report(report)
    return report


def exit_code(report: Mapping[str, Any]) -> int:
    """The process exit code of a report: pass 0, fail 1, unknown 3."""
    verdict = report.get("verdict")
    if not isinstance(verdict, str) or verdict not in EXIT_CODES:
        raise ReportError(f"verdict must be pass, fail or unknown, got {verdict!r}")
    return EXIT_CODES[verdict]
