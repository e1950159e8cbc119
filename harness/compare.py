"""Compare two drill reports: what got better or worse from BASE to NEW (`mwaa-drill compare`).

Objectives are paired by name. For each one the comparison says the observed value in base
and new, whether it got better, worse or stayed the same (within the tolerance), and whether
it was met in each. The summary numbers compared are the p50 and p95 of RTO, RPO and detection
time and the spurious-failover rate. Every one of these numbers is "lower is better".

Regressions
-----------

NEW regresses from BASE, and `mwaa-drill compare` exits 1, when any of these holds:

1. an objective met in base (met true) is not met in new (met false), whatever the tolerance;
2. an objective's observed value, or a summary number, is worse by more than the tolerance;
3. the verdict got worse: pass -> unknown or fail, unknown -> fail.

An rto or rpo objective whose percentile lands on a trial that never recovered has observed
null and met false in the report; it is compared as +infinity (shown as `∞`). Any other null
(not applicable, not measured) cannot be compared: the change is `n/a`, never a regression by
itself (rules 1 and 3 still apply). An objective in only one of the reports is listed as added
or removed and is not a regression by itself.

`regressions` lists one line per regressed item: the verdict, each objective (met -> not met
and a worse value on one line), each summary number. The summary's spurious-failover rate is
left out of that list when both reports set max_spurious_failover_rate, whose observed value
is the very same rate.

Tolerance
---------

A value is worse when new > base + allowance, better when new < base - allowance, else the
same. The allowance depends on the value's unit:

- seconds (rto, rpo, max_split_brain, the RTO/RPO/detection percentiles): 10% of the base
  value by default. `seconds=15%` (or a bare `15%`) sets a relative allowance, `seconds=30s`
  an absolute one; given both, the larger allowance wins. Giving either drops the default.
- rate (max_spurious_failover_rate, the spurious-failover rate): absolute, 0 by default:
  `rate=0.01` (or `rate=1%`) allows one percentage point.
- runs (max_lost_runs, max_duplicate_runs, max_torn_restores): absolute, 0 by default:
  `runs=1` allows one more run.

Simulated drills with the same scenario, seed and trial count are deterministic, so the strict
defaults for rates and counts only flag real changes; the 10% on seconds absorbs small shifts
of timing that a change of calibration or code may bring without meaning harm.

Reports of different scenarios (or modes) are compared anyway, with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from harness.durations import DurationError, format_duration, parse_duration
from harness.report import ReportError, format_percent, load_report

Change = Literal["better", "worse", "same", "n/a", "added", "removed"]
Unit = Literal["seconds", "rate", "runs"]

TOLERANCE_KINDS: tuple[Unit, ...] = ("seconds", "rate", "runs")
TOLERANCE_HELP = """\
tolerance (repeatable, or comma-separated): KIND=VALUE, a bare VALUE meaning seconds=VALUE
  seconds=10%   relative to the base value (default 10%); seconds=30s: absolute;
                given both, the larger allowance wins
  rate=0.01     absolute, for rates such as the spurious-failover rate (default 0); 1% = 0.01
  runs=1        absolute, for lost, duplicate and torn-restore counts (default 0)

a regression (exit 1): an objective met in BASE and not met in NEW; an objective's observed
value or a summary number (RTO/RPO/detection p50 and p95, spurious-failover rate) worse by
more than the tolerance; or a worse verdict (pass -> unknown -> fail). Lower is better.

exit codes: 0 no regression, 1 a regression, 2 bad usage or an unreadable or invalid report
"""

_EPSILON = 1e-9  # report values are rounded to 3 decimals; this only absorbs float noise
_VERDICT_RANK: Mapping[str, int] = {"pass": 0, "unknown": 1, "fail": 2}
_VERDICT_WORDS: Mapping[str, str] = {"pass": "PASS", "fail": "FAIL", "unknown": "UNKNOWN"}
_VERDICT_MARKS: Mapping[str, str] = {"pass": "✅", "fail": "❌", "unknown": "❔"}
_MET_MARKS: Mapping[bool | None, str] = {True: "✅", False: "❌", None: "—"}
# Objectives written before reports carried a `unit` key are recognised by name.
_UNITS_BY_NAME: Mapping[str, Unit] = {
    "rto": "seconds",
    "rpo": "seconds",
    "max_split_brain": "seconds",
    "max_failback_time": "seconds",
    "max_spurious_failover_rate": "rate",
}
_SUMMARY_DISTRIBUTIONS = (("rto_s", "RTO"), ("rpo_s", "RPO"), ("detection_s", "detection"))
_FAILBACK_DISTRIBUTION = ("failback_s", "failback")  # compared when either report measured it
NONE = "—"


class CompareError(ValueError):
    """An unreadable or invalid report, or a bad tolerance; one line per problem."""


# Tolerance -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """How much worse a value may get before it is a regression (see the module docstring)."""

    seconds_relative: float = 0.10
    seconds_absolute: float = 0.0
    rate: float = 0.0
    runs: float = 0.0

    def allowance(self, unit: str, base: float) -> float:
        if unit == "seconds":
            relative = self.seconds_relative * abs(base) if math.isfinite(base) else 0.0
            return max(relative, self.seconds_absolute)
        if unit == "rate":
            return self.rate
        return self.runs

    def describe_unit(self, unit: str) -> str:
        """The allowance of one unit, without its sign: `10%`, `10% or 30s`, `1 pp`, `0`."""
        if unit == "seconds":
            seconds = []
            if self.seconds_relative > 0 or self.seconds_absolute == 0:
                seconds.append(f"{self.seconds_relative * 100:g}%")
            if self.seconds_absolute > 0:
                seconds.append(format_duration(self.seconds_absolute))
            return " or ".join(seconds)
        if unit == "rate":
            return f"{self.rate * 100:g} pp"
        return f"{self.runs:g}"

    def describe(self) -> str:
        """`seconds ±10%, rates ±0 pp, runs ±0`."""
        return ", ".join(
            f"{label} ±{self.describe_unit(unit)}"
            for label, unit in (("seconds", "seconds"), ("rates", "rate"), ("runs", "runs"))
        )

    def to_json(self) -> dict[str, float]:
        return {
            "seconds_relative": self.seconds_relative,
            "seconds_absolute": self.seconds_absolute,
            "rate": self.rate,
            "runs": self.runs,
        }


def parse_tolerance(texts: Sequence[str]) -> Tolerance:
    """A Tolerance from `--tolerance` values: `KIND=VALUE` items, comma-separated or repeated.

    A bare VALUE means `seconds=VALUE`. Kinds not given keep their defaults; giving `seconds`
    at all replaces both its relative and absolute defaults with what is given.
    """
    default = Tolerance()
    relative: float | None = None
    absolute: float | None = None
    rate = default.rate
    runs = default.runs
    for text in texts:
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            kind, _, value = item.rpartition("=")
            kind = kind.strip() or "seconds"
            value = value.strip()
            if kind == "seconds":
                if value.endswith("%"):
                    relative = _number(item, value[:-1]) / 100.0
                else:
                    try:
                        absolute = parse_duration(value)
                    except DurationError as err:
                        raise CompareError(f"--tolerance {item}: {err}") from None
            elif kind == "rate":
                if value.endswith("%"):
                    rate = _number(item, value[:-1]) / 100.0
                else:
                    rate = _number(item, value)
                if rate > 1.0:
                    raise CompareError(f"--tolerance {item}: a rate tolerance is at most 1 (100%)")
            elif kind == "runs":
                runs = _number(item, value)
            else:
                raise CompareError(
                    f"--tolerance {item}: unknown kind {kind!r}; expected one of: "
                    + ", ".join(TOLERANCE_KINDS)
                )
    if relative is None and absolute is None:
        return Tolerance(default.seconds_relative, default.seconds_absolute, rate, runs)
    return Tolerance(relative or 0.0, absolute or 0.0, rate, runs)


def _number(item: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CompareError(f"--tolerance {item}: expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise CompareError(f"--tolerance {item}: must be a finite number >= 0, got {text!r}")
    return value


# Reading -------------------------------------------------------------------------------------


def read_reports(
    base: str | PathLike[str], new: str | PathLike[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both reports, validated. CompareError naming each file that cannot be used."""
    problems: list[str] = []
    loaded: list[dict[str, Any]] = []
    for path in (base, new):
        try:
            loaded.append(load_report(path))
        except OSError as err:
            problems.append(f"{path}: cannot read: {err.strerror or err}")
        except ReportError as err:
            problems.append(f"{path}: {err}")
    if problems:
        raise CompareError("\n".join(problems))
    return loaded[0], loaded[1]


# Comparing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """What the table says about one report."""

    label: str  # the file name, or "base"/"new"
    scenario: str
    mode: str
    strategy: str
    profile: str
    seed: int
    trials: int
    verdict: str

    def to_json(self) -> dict[str, Any]:
        return {
            "report": self.label,
            "scenario": self.scenario,
            "mode": self.mode,
            "strategy": self.strategy,
            "profile": self.profile,
            "seed": self.seed,
            "trials": self.trials,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class ObjectiveChange:
    """One objective of either report, paired by name."""

    name: str
    unit: Unit
    target_base: float | None
    target_new: float | None
    percentile_base: float | None
    percentile_new: float | None
    observed_base: float | None  # as in the report: null when not measured or infinite
    observed_new: float | None
    met_base: bool | None
    met_new: bool | None
    change: Change
    regressions: tuple[str, ...]

    @property
    def regression(self) -> bool:
        return bool(self.regressions)

    @property
    def value_base(self) -> float | None:
        """The observed value compared: +inf for an objective that never recovered."""
        return _comparable(self.unit, self.observed_base, self.met_base)

    @property
    def value_new(self) -> float | None:
        return _comparable(self.unit, self.observed_new, self.met_new)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "target": {"base": self.target_base, "new": self.target_new},
            "percentile": {"base": self.percentile_base, "new": self.percentile_new},
            "observed": {"base": self.observed_base, "new": self.observed_new},
            "infinite": {
                "base": self.value_base == math.inf,
                "new": self.value_new == math.inf,
            },
            "met": {"base": self.met_base, "new": self.met_new},
            "change": self.change,
            "regression": self.regression,
            "regressions": list(self.regressions),
        }


@dataclass(frozen=True)
class SummaryChange:
    """One summary number: a percentile of RTO, RPO or detection time, or a rate."""

    key: str  # "rto_s.p95", "spurious_failover_rate"
    label: str  # "RTO p95"
    unit: Unit
    base: float | None
    new: float | None
    change: Change
    regressions: tuple[str, ...]

    @property
    def regression(self) -> bool:
        return bool(self.regressions)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "base": self.base,
            "new": self.new,
            "change": self.change,
            "regression": self.regression,
        }


@dataclass(frozen=True)
class Comparison:
    base: Side
    new: Side
    tolerance: Tolerance
    verdict_change: Change
    objectives: tuple[ObjectiveChange, ...]
    summary: tuple[SummaryChange, ...]
    regressions: tuple[str, ...]  # one line each: what got worse
    warnings: tuple[str, ...]

    @property
    def regression(self) -> bool:
        return bool(self.regressions)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable result (`mwaa-drill compare --json`)."""
        return {
            "base": self.base.to_json(),
            "new": self.new.to_json(),
            "tolerance": self.tolerance.to_json(),
            "regression": self.regression,
            "regressions": list(self.regressions),
            "warnings": list(self.warnings),
            "verdict": {
                "base": self.base.verdict,
                "new": self.new.verdict,
                "change": self.verdict_change,
            },
            "objectives": [entry.to_json() for entry in self.objectives],
            "summary": [entry.to_json() for entry in self.summary],
        }


def compare_reports(
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    tolerance: Tolerance | None = None,
    *,
    base_label: str = "base",
    new_label: str = "new",
) -> Comparison:
    """Compare two valid reports (see the module docstring for what is a regression)."""
    tolerance = tolerance or Tolerance()
    base_side = _side(base, base_label)
    new_side = _side(new, new_label)
    warnings = []
    if base_side.scenario != new_side.scenario:
        warnings.append(
            f"the reports are of different scenarios ({base_side.scenario!r} in {base_label},"
            f" {new_side.scenario!r} in {new_label}); comparing anyway"
        )
    if base_side.mode != new_side.mode:
        warnings.append(
            f"the reports come from different modes ({base_side.mode} in {base_label},"
            f" {new_side.mode} in {new_label}); comparing anyway"
        )
    regressions: list[str] = []
    verdict_change = _verdict_change(base_side.verdict, new_side.verdict)
    if verdict_change == "worse":
        regressions.append(
            f"verdict: {_VERDICT_WORDS[base_side.verdict]} → {_VERDICT_WORDS[new_side.verdict]}"
        )
    objectives = _objective_changes(base["objectives"], new["objectives"], tolerance)
    regressions += [line for entry in objectives for line in entry.regressions]
    # The spurious-failover objective observes the very rate of the summary: one line is enough.
    both = {entry.name for entry in objectives if entry.change not in ("added", "removed")}
    covered = frozenset(
        {"spurious_failover_rate"} if "max_spurious_failover_rate" in both else set()
    )
    summary = _summary_changes(base["summary"], new["summary"], tolerance, covered)
    regressions += [line for entry in summary for line in entry.regressions]
    return Comparison(
        base=base_side,
        new=new_side,
        tolerance=tolerance,
        verdict_change=verdict_change,
        objectives=tuple(objectives),
        summary=tuple(summary),
        regressions=tuple(regressions),
        warnings=tuple(warnings),
    )


def _side(report: Mapping[str, Any], label: str) -> Side:
    scenario = report["scenario"]
    return Side(
        label=label,
        scenario=str(scenario.get("name", "?")),
        mode=str(report["mode"]),
        strategy=str(scenario.get("strategy", "?")),
        profile=str(scenario.get("profile", "?")),
        seed=int(report["seed"]),
        trials=int(report["summary"]["trials"]),
        verdict=str(report["verdict"]),
    )


def _verdict_change(base: str, new: str) -> Change:
    before, after = _VERDICT_RANK[base], _VERDICT_RANK[new]
    if after > before:
        return "worse"
    if after < before:
        return "better"
    return "same"


def objective_unit(entry: Mapping[str, Any]) -> Unit:
    """An objective's unit: its `unit` key, else known by its name, else a count."""
    unit = entry.get("unit")
    if unit in TOLERANCE_KINDS:
        return unit  # type: ignore[no-any-return]
    return _UNITS_BY_NAME.get(str(entry["name"]), "runs")


def _comparable(unit: str, observed: float | None, met: bool | None) -> float | None:
    if observed is None and met is False and unit == "seconds":
        return math.inf  # the percentile landed on a trial that never recovered
    return observed


def _value_change(unit: str, base: float | None, new: float | None, tol: Tolerance) -> Change:
    if base is None or new is None:
        return "n/a"
    if base == new:
        return "same"
    if math.isinf(new):
        return "worse"
    if math.isinf(base):
        return "better"
    allowance = tol.allowance(unit, base)
    if new > base + allowance + _EPSILON:
        return "worse"
    if new < base - allowance - _EPSILON:
        return "better"
    return "same"


def _objective_changes(
    base: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], tol: Tolerance
) -> list[ObjectiveChange]:
    base_by_name = {str(entry["name"]): entry for entry in base}
    new_by_name = {str(entry["name"]): entry for entry in new}
    names = list(base_by_name) + [name for name in new_by_name if name not in base_by_name]
    changes = []
    for name in names:
        before, after = base_by_name.get(name), new_by_name.get(name)
        either = before if before is not None else after
        assert either is not None
        unit = objective_unit(either)
        change = ObjectiveChange(
            name=name,
            unit=unit,
            target_base=None if before is None else before["target"],
            target_new=None if after is None else after["target"],
            percentile_base=None if before is None else before.get("percentile"),
            percentile_new=None if after is None else after.get("percentile"),
            observed_base=None if before is None else before["observed"],
            observed_new=None if after is None else after["observed"],
            met_base=None if before is None else before["met"],
            met_new=None if after is None else after["met"],
            change="removed" if after is None else "added",
            regressions=(),
        )
        if before is not None and after is not None:
            value_change = _value_change(unit, change.value_base, change.value_new, tol)
            reasons = []
            if change.met_base is True and change.met_new is False:
                reasons.append("met → not met")
            if value_change == "worse":
                reasons.append(_worse_text(unit, change.value_base, change.value_new, tol))
            regressions = (f"{name}: {'; '.join(reasons)}",) if reasons else ()
            change = replace(change, change=value_change, regressions=regressions)
        changes.append(change)
    return changes


def _summary_values(
    summary: Mapping[str, Any], failback: bool
) -> list[tuple[str, str, Unit, float | None]]:
    values: list[tuple[str, str, Unit, float | None]] = []
    distributions = _SUMMARY_DISTRIBUTIONS + ((_FAILBACK_DISTRIBUTION,) if failback else ())
    for key, label in distributions:
        dist = summary.get(key)
        for level in ("p50", "p95"):
            value = None if dist is None else dist.get(level)
            values.append((f"{key}.{level}", f"{label} {level}", "seconds", value))
    rate = summary["spurious_failover_rate"]["value"]
    values.append(("spurious_failover_rate", "spurious-failover rate", "rate", rate))
    return values


def _summary_changes(
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    tol: Tolerance,
    judged_by_objective: frozenset[str] = frozenset(),
) -> list[SummaryChange]:
    """`judged_by_objective`: summary keys whose regression an objective already reports."""
    changes = []
    failback = any(r.get(_FAILBACK_DISTRIBUTION[0]) is not None for r in (base, new))
    for (key, label, unit, before), (_, _, _, after) in zip(
        _summary_values(base, failback), _summary_values(new, failback), strict=True
    ):
        change = _value_change(unit, before, after, tol)
        reasons: tuple[str, ...] = ()
        if change == "worse" and key not in judged_by_objective:
            reasons = (f"{label}: {_worse_text(unit, before, after, tol)}",)
        changes.append(SummaryChange(key, label, unit, before, after, change, reasons))
    return changes


# Rendering -----------------------------------------------------------------------------------


def _value_text(unit: str, value: float | None) -> str:
    if value is None:
        return NONE
    if math.isinf(value):
        return "∞"
    if unit == "seconds":
        return format_duration(value)
    if unit == "rate":
        return format_percent(value)
    return f"{value:g}"


def _worse_text(unit: str, base: float | None, new: float | None, tol: Tolerance) -> str:
    """`6m35s → 9m58s, +3m23s (+51%), beyond the tolerance of ±10%`."""
    text = f"{_value_text(unit, base)} → {_value_text(unit, new)}"
    if new is not None and math.isinf(new):
        return text
    delta = _delta_text(unit, base, new)
    return f"{text}, {delta}, beyond the tolerance of ±{tol.describe_unit(unit)}"


def _delta_text(unit: str, base: float | None, new: float | None) -> str:
    """`+1m30s (+15%)`, `+2.5 pp`, `+1`; empty when there is nothing to say."""
    if base is None or new is None:
        return ""
    if math.isinf(new) and not math.isinf(base):
        return "never recovered"
    if math.isinf(base) and not math.isinf(new):
        return "recovered"
    if math.isinf(base) or base == new:
        return "±0"
    delta = new - base
    sign = "+" if delta > 0 else "-"
    if unit == "seconds":
        text = f"{sign}{format_duration(abs(delta))}"
        if base <= 0:
            return text
        relative = delta / base * 100
        return text + (f" ({relative:+.0f}%)" if abs(relative) >= 1 else f" ({relative:+.1f}%)")
    if unit == "rate":
        return f"{delta * 100:+.3g} pp"
    return f"{delta:+g}"


def _change_text(change: Change, delta: str) -> str:
    words = {
        "better": "✅ better",
        "worse": "❌ worse",
        "same": "same",
        "n/a": "n/a",
        "added": "added",
        "removed": "removed",
    }
    text = words[change]
    return f"{text}: {delta}" if delta and change in ("better", "worse", "same") else text


def _target_text(unit: str, target: float | None, percentile: float | None) -> str:
    if target is None:
        return NONE
    text = f"≤ {_value_text(unit, target)}"
    return f"p{percentile:g} {text}" if percentile is not None else text


def render_comparison_markdown(comparison: Comparison) -> str:
    """The comparison as GitHub-flavoured Markdown, for terminals and pull-request comments."""
    base, new = comparison.base, comparison.new
    count = len(comparison.regressions)
    if count:
        noun = "regression" if count == 1 else "regressions"
        headline = f"❌ {count} {noun}"
    else:
        headline = "✅ no regression"
    lines = [f"## mwaa-drill compare: {headline}", ""]
    lines += [f"> ⚠️ {_inline(warning)}" for warning in comparison.warnings]
    if comparison.warnings:
        lines.append("")
    lines += _table(
        ("", "base", "new"),
        [
            ("report", f"`{base.label}`", f"`{new.label}`"),
            ("scenario", base.scenario, new.scenario),
            ("mode", base.mode, new.mode),
            ("strategy", base.strategy, new.strategy),
            ("profile", base.profile, new.profile),
            ("seed", str(base.seed), str(new.seed)),
            ("trials", str(base.trials), str(new.trials)),
            ("verdict", _verdict_text(base.verdict), _verdict_text(new.verdict)),
        ],
    )
    lines += ["", "### Objectives", ""]
    if comparison.objectives:
        rows = []
        for entry in comparison.objectives:
            target_base = _target_text(entry.unit, entry.target_base, entry.percentile_base)
            target_new = _target_text(entry.unit, entry.target_new, entry.percentile_new)
            target = target_base if target_base == target_new else f"{target_base} → {target_new}"
            delta = _delta_text(entry.unit, entry.value_base, entry.value_new)
            rows.append(
                (
                    entry.name,
                    target,
                    _value_text(entry.unit, entry.value_base),
                    _value_text(entry.unit, entry.value_new),
                    _change_text(entry.change, delta),
                    f"{_MET_MARKS[entry.met_base]} → {_MET_MARKS[entry.met_new]}",
                )
            )
        lines += _table(("objective", "target", "base", "new", "change", "met"), rows)
    else:
        lines.append("Neither report sets objectives.")
    lines += ["", "### Summary", ""]
    lines += _table(
        ("measure", "base", "new", "change"),
        [
            (
                entry.label,
                _value_text(entry.unit, entry.base),
                _value_text(entry.unit, entry.new),
                _change_text(entry.change, _delta_text(entry.unit, entry.base, entry.new)),
            )
            for entry in comparison.summary
        ],
    )
    lines += ["", "### Regressions", ""]
    lines += [f"- {_inline(line)}" for line in comparison.regressions] or ["None."]
    lines += ["", f"Tolerance: {comparison.tolerance.describe()}."]
    return "\n".join(lines) + "\n"


def _verdict_text(verdict: str) -> str:
    return f"{_VERDICT_MARKS[verdict]} {_VERDICT_WORDS[verdict]}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")


def _inline(text: object) -> str:
    return " ".join(str(text).split())


def compare_files(
    base: str | PathLike[str],
    new: str | PathLike[str],
    tolerance: Tolerance | None = None,
) -> Comparison:
    """Read both reports (CompareError naming a bad file) and compare them."""
    base_report, new_report = read_reports(base, new)
    return compare_reports(
        base_report,
        new_report,
        tolerance,
        base_label=str(Path(base)),
        new_label=str(Path(new)),
    )
