"""A report as GitHub-flavoured Markdown, for terminals and pull-request comments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.render import (
    DISTRIBUTION_HEADERS,
    OBJECTIVE_HEADERS,
    TRIAL_HEADERS,
    distribution_rows,
    objective_rows,
    select_trials,
    subtitle,
    summary_rows,
    title,
    trial_row,
    verdict_word,
)

_BADGES: Mapping[str, str] = {"PASS": "✅ PASS", "FAIL": "❌ FAIL", "UNKNOWN": "❔ UNKNOWN"}


def render_markdown(report: Mapping[str, Any]) -> str:
    verdict = verdict_word(report)
    lines = [f"# {_inline(title(report))} — {_BADGES[verdict]}", "", _inline(subtitle(report)), ""]
    if report.get("aborted") is not None:
        lines += [f"> **Aborted:** {_inline(report['aborted'])}", ""]
    lines += [f"## Verdict: {verdict}", ""]
    lines += [f"- {_inline(reason)}" for reason in report["reasons"]] or ["- (no reasons given)"]
    lines.append("")
    lines += ["## Objectives", ""]
    if report["objectives"]:
        lines += _table(OBJECTIVE_HEADERS, objective_rows(report))
    else:
        lines.append("The scenario sets no objectives.")
    lines += ["", "## Summary", ""]
    lines += _table(("", "value"), summary_rows(report))
    lines.append("")
    lines += _table(DISTRIBUTION_HEADERS, distribution_rows(report))
    lines += ["", "## Trials", ""]
    selection = select_trials(report)
    if selection.trials:
        lines += _table(TRIAL_HEADERS, [trial_row(t) for t in selection.trials])
    else:
        lines.append("No trials were run.")
    if selection.note:
        lines += ["", selection.note]
    return "\n".join(lines) + "\n"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _cell(text: str) -> str:
    # A pipe would end the cell early and a newline the whole row.
    return _inline(text).replace("|", "\\|")


def _inline(text: object) -> str:
    return " ".join(str(text).split())
