"""Human renderings of a JSON report: `markdown` (terminals, pull requests) and `html`.

Both show the same content, so the text of every cell is decided here, once, from the report
JSON alone (a report loaded from disk renders the same as a fresh one). The renderers only
lay the cells out and escape them for their format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.durations import format_duration
from harness.report import format_percent
from harness.report import format_value as _format_value

TRIALS_SHOWN = 20  # trials listed in full; the JSON report always has every trial

VERDICT_WORDS: Mapping[str, str] = {"pass": "PASS", "fail": "FAIL", "unknown": "UNKNOWN"}
MET_MARKS: Mapping[bool | None, str] = {True: "✅", False: "❌", None: "—"}
NONE = "—"

OBJECTIVE_HEADERS = ("objective", "target", "observed", "met", "detail")
DISTRIBUTION_HEADERS = ("measure", "p50", "p95", "p99", "max", "n")
TRIAL_HEADERS = (
    "trial",
    "seed",
    "verdict",
    "failover",
    "spurious",
    "detection",
    "RTO",
    "RPO",
    "split brain",
    "lost",
    "duplicate",
    "reasons",
)

# Objectives written before reports carried a `unit` key are recognised by name.
_UNITS_BY_NAME: Mapping[str, str] = {
    "rto": "seconds",
    "rpo": "seconds",
    "max_split_brain": "seconds",
    "max_spurious_failover_rate": "rate",
}


def verdict_word(report: Mapping[str, Any]) -> str:
    return VERDICT_WORDS.get(str(report.get("verdict")), "UNKNOWN")


def title(report: Mapping[str, Any]) -> str:
    return f"mwaa-drill: {report['scenario'].get('name', '?')}"


def subtitle(report: Mapping[str, Any]) -> str:
    """One line: mode, strategy, profile, seed, trials and tool version."""
    scenario = report["scenario"]
    tool = report["tool"]
    return (
        f"{report['mode']} · strategy {scenario.get('strategy', '?')}"
        f" · profile {scenario.get('profile', '?')} · seed {report['seed']}"
        f" · {report['summary']['trials']} trials · {tool['name']} {tool['version']}"
    )


def format_seconds(value: float | None) -> str:
    return NONE if value is None else format_duration(value)


def format_value(unit: str, value: float | None) -> str:
    return NONE if value is None else _format_value(unit, value)


def objective_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(objective, target, observed, met mark, detail) per objective."""
    rows = []
    for entry in report["objectives"]:
        unit = entry.get("unit") or _UNITS_BY_NAME.get(entry["name"], "runs")
        target = f"≤ {format_value(unit, entry['target'])}"
        if entry.get("percentile") is not None:
            target = f"p{entry['percentile']:g} {target}"
        rows.append(
            (
                entry["name"],
                target,
                format_value(unit, entry["observed"]),
                MET_MARKS[entry["met"]],
                entry["detail"],
            )
        )
    return rows


def summary_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    summary = report["summary"]
    rate = summary["spurious_failover_rate"]
    spurious = str(summary["spurious_failovers"])
    if rate["value"] is not None:
        spurious += (
            f" (rate {format_percent(rate['value'])},"
            f" one-sided 95% upper bound {format_percent(rate['upper_95'])})"
        )
    return [
        ("trials", str(summary["trials"])),
        ("failovers", str(summary["failovers"])),
        ("spurious failovers", spurious),
        ("recovered", str(summary["recovered"])),
        ("split-brain trials", str(summary["split_brain_trials"])),
        ("lost runs", str(summary["lost_runs"])),
        ("duplicate runs", str(summary["duplicate_runs"])),
        ("torn-restore trials", str(summary.get("torn_restore_trials", 0))),
        ("unknown trials", str(summary["unknown_trials"])),
    ]


def distribution_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """RTO, RPO and detection time (and failback time, in a drill that failed back): p50,
    p95, p99, max and how many trials measured them."""
    rows = []
    measures = [("RTO", "rto_s"), ("RPO", "rpo_s"), ("detection", "detection_s")]
    if report["summary"].get("failback_s") is not None or report["scenario"].get("operations"):
        measures.append(("failback", "failback_s"))
    for label, key in measures:
        dist = report["summary"].get(key)
        if dist is None:
            rows.append((label, NONE, NONE, NONE, NONE, "0"))
        else:
            rows.append(
                (
                    label,
                    format_seconds(dist["p50"]),
                    format_seconds(dist["p95"]),
                    format_seconds(dist["p99"]),
                    format_seconds(dist["max"]),
                    str(dist["n"]),
                )
            )
    return rows


@dataclass(frozen=True)
class TrialSelection:
    trials: Sequence[Mapping[str, Any]]
    left_out: int
    note: str  # says what was left out, or ""


def select_trials(report: Mapping[str, Any], limit: int = TRIALS_SHOWN) -> TrialSelection:
    """Every trial when there are at most `limit`; else failing, then unknown, then passing."""
    trials = list(report["trials"])
    if len(trials) <= limit:
        return TrialSelection(trials, 0, "")
    order = {"fail": 0, "unknown": 1}
    ranked = sorted(trials, key=lambda t: (order.get(t["verdict"], 2), t["index"]))
    shown = ranked[:limit]
    left = ranked[limit:]
    counts = {v: sum(1 for t in left if t["verdict"] == v) for v in ("fail", "unknown", "pass")}
    note = (
        f"{len(left)} more trials not shown ({counts['fail']} failing, {counts['unknown']}"
        f" unknown, {counts['pass']} passing); the JSON report lists every trial."
    )
    return TrialSelection(shown, len(left), note)


def trial_row(trial: Mapping[str, Any]) -> tuple[str, ...]:
    lost = trial["lost_runs"]
    return (
        str(trial["index"]),
        str(trial["seed"]),
        VERDICT_WORDS.get(trial["verdict"], "UNKNOWN"),
        "yes" if trial["failover_triggered"] else "no",
        "yes" if trial["spurious_failover"] else "no",
        format_seconds(trial["detection_s"]),
        format_seconds(trial["rto_s"]),
        format_seconds(trial["rpo_s"]),
        format_seconds(trial["split_brain_s"]),
        NONE if lost is None else str(lost),
        str(trial["duplicate_runs"]),
        "; ".join(trial["reasons"]),
    )
