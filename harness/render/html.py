"""A report as one self-contained HTML page: inline CSS, no scripts, no external resources.

The page is a list of sections (`_sections`), each a function of the report returning an HTML
fragment, so that later views (a timeline, say) are one more function. Everything taken from
the report goes through `_text`, which escapes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
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

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2328; line-height: 1.4; }
h1 { font-size: 1.5rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; }
.subtitle { color: #59636e; }
.verdict { padding: 0.1rem 0.6rem; border-radius: 0.4rem; color: #fff; font-size: 1rem; }
.verdict-pass { background: #1a7f37; }
.verdict-fail { background: #cf222e; }
.verdict-unknown { background: #9a6700; }
.aborted { border-left: 4px solid #9a6700; padding: 0.2rem 0.8rem; background: #fff8c5; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #d1d9e0; padding: 0.25rem 0.6rem; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
tr.trial-fail td { background: #ffebe9; }
tr.trial-unknown td { background: #fff8c5; }
"""


def render_html(report: Mapping[str, Any]) -> str:
    body = "\n".join(section(report) for section in _sections())
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_text(title(report))} — {_text(verdict_word(report))}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _sections() -> Sequence[Callable[[Mapping[str, Any]], str]]:
    return (_header, _verdict, _objectives, _summary, _trials)


def _header(report: Mapping[str, Any]) -> str:
    word = verdict_word(report)
    parts = [
        f'<h1>{_text(title(report))} <span class="verdict verdict-{word.lower()}">'
        f"{_text(word)}</span></h1>",
        f'<p class="subtitle">{_text(subtitle(report))}</p>',
    ]
    if report.get("aborted") is not None:
        parts.append(f'<p class="aborted"><strong>Aborted:</strong> {_text(report["aborted"])}</p>')
    return "\n".join(parts)


def _verdict(report: Mapping[str, Any]) -> str:
    items = "".join(f"<li>{_text(reason)}</li>" for reason in report["reasons"])
    return f"<h2>Verdict: {_text(verdict_word(report))}</h2>\n<ul>{items}</ul>"


def _objectives(report: Mapping[str, Any]) -> str:
    if not report["objectives"]:
        return "<h2>Objectives</h2>\n<p>The scenario sets no objectives.</p>"
    return "<h2>Objectives</h2>\n" + _table(OBJECTIVE_HEADERS, objective_rows(report))


def _summary(report: Mapping[str, Any]) -> str:
    return (
        "<h2>Summary</h2>\n"
        + _table(("", "value"), summary_rows(report))
        + "\n"
        + _table(DISTRIBUTION_HEADERS, distribution_rows(report))
    )


def _trials(report: Mapping[str, Any]) -> str:
    selection = select_trials(report)
    if not selection.trials:
        return "<h2>Trials</h2>\n<p>No trials were run.</p>"
    rows = [trial_row(trial) for trial in selection.trials]
    classes = [f"trial-{_class_name(trial['verdict'])}" for trial in selection.trials]
    parts = ["<h2>Trials</h2>", _table(TRIAL_HEADERS, rows, classes)]
    if selection.note:
        parts.append(f"<p>{_text(selection.note)}</p>")
    return "\n".join(parts)


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    row_classes: Sequence[str] | None = None,
) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in headers)
    lines = [f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>"]
    for i, row in enumerate(rows):
        cells = "".join(f"<td>{_text(cell)}</td>" for cell in row)
        css = f' class="{_text(row_classes[i])}"' if row_classes else ""
        lines.append(f"<tr{css}>{cells}</tr>")
    lines.append("</tbody>\n</table>")
    return "\n".join(lines)


def _class_name(verdict: object) -> str:
    return str(verdict) if verdict in ("pass", "fail", "unknown") else "unknown"


def _text(value: object) -> str:
    return escape(str(value), quote=True)
