"""A report as one self-contained HTML page: inline CSS and inline SVG, no scripts, nothing
fetched. Every chart is SVG drawn here in Python, so the page shows it without JavaScript and
can be archived or mailed as one file.

The page is a list of sections (`_sections`), each a function of the report returning an HTML
fragment:

- header, verdict, objectives and summary: the same cells as the Markdown report;
- distributions (a campaign of two or more trials): histograms of RTO, RPO and detection time
  from the trials, with the objective's target, and the spurious-failover rate with its
  one-sided 95% upper bound;
- timelines (trials whose JSON carries `timeline`, their history): a swimlane per Region
  (faults, environment states, scheduling, health probes, backups, replication arrivals,
  restores, workload runs), failover decisions across the lanes, and the RTO split into
  detection, provisioning/restore and first successful run (`harness.render.timeline`);
- trials, scenario and settings.

Everything taken from the report goes through `_text`, which escapes it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from harness.durations import format_duration
from harness.render import (
    DISTRIBUTION_HEADERS,
    OBJECTIVE_HEADERS,
    TRIAL_HEADERS,
    VERDICT_WORDS,
    distribution_rows,
    format_seconds,
    objective_rows,
    select_trials,
    subtitle,
    summary_rows,
    title,
    trial_row,
    verdict_word,
)
from harness.render.timeline import (
    DETECTION,
    FIRST_RUN,
    PROVISIONING,
    TRACKS,
    Interval,
    Lane,
    Mark,
    RtoSplit,
    Timeline,
    build_timeline,
    events_from_json,
    time_ticks,
)
from harness.report import format_percent

TIMELINES_SHOWN = 20  # trials drawn with their timeline; more would make the page heavy
EVENTS_LISTED = 400  # rows of a timeline's event table
QUIET_KINDS = frozenset({"probe", "run", "replication", "change"})  # drawn, not listed

# Colours (GitHub Primer palette): one per meaning, shared by the SVG and the legend.
GREEN = "#2da44e"
RED = "#cf222e"
AMBER = "#bf8700"
YELLOW = "#d4a72c"
GREY = "#8c959f"
BLUE = "#0969da"
PURPLE = "#8250df"
TEAL = "#1b7c83"
PINK = "#bf3989"
ORANGE = "#e16f24"
INK = "#1f2328"

SEGMENT_COLOURS: Mapping[str, str] = {DETECTION: ORANGE, PROVISIONING: PURPLE, FIRST_RUN: BLUE}
PROBE_COLOURS: Mapping[str, str] = {"healthy": GREEN, "unhealthy": RED, "unknown": AMBER}
RESULT_COLOURS: Mapping[str, str] = {
    "success": GREEN,
    "completed": GREEN,
    "done": GREY,
    "failed": RED,
    "running": YELLOW,
}

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2328; line-height: 1.4; }
h1 { font-size: 1.5rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-top: 1.5rem; }
h4 { font-size: 0.95rem; margin: 0.8rem 0 0.3rem; }
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
.note { color: #59636e; font-size: 0.9rem; }
svg.chart { display: block; width: 100%; height: auto; font-family: system-ui, sans-serif; }
svg.timeline, svg.split { max-width: 1200px; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure.chart-figure { margin: 0; flex: 1 1 380px; max-width: 560px; }
figcaption { font-size: 0.85rem; color: #59636e; }
.legend { display: flex; flex-wrap: wrap; gap: 0.3rem 1rem; font-size: 0.85rem; margin: 0.5rem 0; }
.legend span.swatch { display: inline-block; width: 0.9rem; height: 0.7rem;
                      margin-right: 0.3rem; vertical-align: middle; border-radius: 2px; }
.trial-timeline { border-top: 1px solid #d1d9e0; margin-top: 1.5rem; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { max-width: 60rem; overflow-wrap: anywhere; }
"""


def render_html(report: Mapping[str, Any]) -> str:
    body = "\n".join(section(report) for section in _sections())
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(title(report))} — {_text(verdict_word(report))}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _sections() -> Sequence[Callable[[Mapping[str, Any]], str]]:
    return (
        _header,
        _verdict,
        _objectives,
        _summary,
        _distributions,
        _timelines,
        _trials,
        _scenario,
        _settings,
    )


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
    return f'<h2 id="verdict">Verdict: {_text(verdict_word(report))}</h2>\n<ul>{items}</ul>'


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


# Distributions ---------------------------------------------------------------------------------

MEASURES: tuple[tuple[str, str, str | None], ...] = (
    # (trial key, label, the objective that targets it)
    ("rto_s", "RTO", "rto"),
    ("rpo_s", "RPO", "rpo"),
    ("detection_s", "detection time", None),
)
FAILBACK_MEASURE = ("failback_s", "failback time", "max_failback_time")


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int


def histogram(values: Iterable[float], max_bins: int = 20) -> list[Bin]:
    """Equal-width bins with round edges (1, 2 or 5 times a power of ten seconds), from the
    smallest value's bin to the largest's; about sqrt(n) bins, at most `max_bins`. All values
    equal: one bin of zero width. No values: no bins."""
    ordered = sorted(float(v) for v in values if math.isfinite(v))
    if not ordered:
        return []
    low, high = ordered[0], ordered[-1]
    if high == low:
        return [Bin(low, high, len(ordered))]
    wanted = min(max_bins, max(1, math.ceil(math.sqrt(len(ordered)))))
    step = _nice_step((high - low) / wanted)
    first = math.floor(low / step) * step
    count = int((high - first) // step) + 1
    while count > max_bins:  # rounding up the step can still leave one bin too many
        step = _nice_step(step * 1.000001)
        first = math.floor(low / step) * step
        count = int((high - first) // step) + 1
    counts = [0] * count
    for value in ordered:
        counts[min(count - 1, int((value - first) // step))] += 1
    return [Bin(first + i * step, first + (i + 1) * step, n) for i, n in enumerate(counts)]


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten that is at least `raw` (> 0)."""
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if factor * power >= raw * (1 - 1e-12):
            return factor * power
    return 10.0 * power


def _distributions(report: Mapping[str, Any]) -> str:
    trials = list(report["trials"])
    if len(trials) < 2:
        return ""
    targets = {
        entry["name"]: entry["target"]
        for entry in report["objectives"]
        if entry.get("unit", "seconds") == "seconds"
        and isinstance(entry.get("target"), int | float)
    }
    figures = []
    measures = list(MEASURES)
    if report["scenario"].get("operations") or any(_is_number(t.get("failback_s")) for t in trials):
        measures.append(FAILBACK_MEASURE)  # only in a drill that fails back
    for key, label, objective in measures:
        values = [float(t[key]) for t in trials if _is_number(t.get(key))]
        target = targets.get(objective) if objective else None
        figures.append(_histogram_figure(key, label, values, len(trials), target))
    figures.append(_rate_figure(report))
    return (
        f'<h2 id="distributions">Distributions over {len(trials)} trials</h2>\n'
        '<div class="charts">\n' + "\n".join(figures) + "\n</div>"
    )


def _histogram_figure(
    key: str, label: str, values: Sequence[float], trials: int, target: float | None
) -> str:
    missing = trials - len(values)
    caption = f"{label}: measured in {len(values)} of {trials} trials"
    if missing:
        caption += f"; {missing} not measured (never recovered, or nothing to measure)"
    if not values:
        return (
            f'<figure class="chart-figure" data-measure="{_text(key)}">'
            f"<p>No trial measured the {_text(label)}.</p>"
            f"<figcaption>{_text(caption)}</figcaption></figure>"
        )
    svg = _histogram_svg(key, label, histogram(values), target)
    if target is not None:
        caption += f"; dashed line: the objective's target {format_duration(target)}"
    return (
        f'<figure class="chart-figure" data-measure="{_text(key)}">{svg}'
        f"<figcaption>{_text(caption)}</figcaption></figure>"
    )


def _histogram_svg(key: str, label: str, bins: Sequence[Bin], target: float | None) -> str:
    width, height = 480.0, 230.0
    left, right, top, bottom = 44.0, 14.0, 26.0, 40.0
    low, high = bins[0].low, bins[-1].high
    if high == low:  # one value: a bar of a tenth of the range around it
        pad = max(1.0, abs(low) * 0.1)
        low, high = low - pad, high + pad
    if target is not None and 0 <= target <= 3 * max(high, 1.0):
        low, high = min(low, target), max(high, target * 1.02)
    else:
        target = None
    x = _Scale(low, high, left, width - right)
    most = max(b.count for b in bins)
    y = _Scale(0.0, float(most), height - bottom, top)
    parts = [
        f'<svg class="chart histogram" data-measure="{_text(key)}" viewBox="0 0 {width:g} '
        f'{height:g}" role="img" aria-label="{_text("histogram of " + label)}">',
        f"<title>{_text('Histogram of the ' + label + ' over the trials')}</title>",
        f'<text x="{left:g}" y="16" font-size="13" font-weight="600">{_text(label)}</text>',
    ]
    # Axes: counts on the left (0 and the tallest bar), seconds below.
    parts.append(_line(left, top, left, height - bottom, GREY))
    parts.append(_line(left, height - bottom, width - right, height - bottom, GREY))
    for count in sorted({0, most // 2, most}):
        parts.append(
            f'<text x="{left - 6:.1f}" y="{y(count) + 4:.1f}" font-size="10" '
            f'text-anchor="end">{count}</text>'
        )
    for tick in time_ticks(low, high, most=5):
        parts.append(_line(x(tick), height - bottom, x(tick), height - bottom + 4, GREY))
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - bottom + 16:.1f}" font-size="10" '
            f'text-anchor="middle">{_text(format_duration(tick))}</text>'
        )
    parts.append(
        f'<text x="{(left + width - right) / 2:.1f}" y="{height - 6:.1f}" font-size="10" '
        'text-anchor="middle" fill="#59636e">seconds (trials per bin)</text>'
    )
    for b in bins:
        if b.count == 0:
            continue
        x0 = x(b.low) if b.high > b.low else x(b.low) - 4
        w = max(2.0, x(b.high) - x(b.low) - 1) if b.high > b.low else 8.0
        span = (
            format_duration(b.low)
            if b.high == b.low
            else f"{format_duration(b.low)} to {format_duration(b.high)}"
        )
        parts.append(
            f'<rect class="bar" data-count="{b.count}" x="{x0:.1f}" y="{y(b.count):.1f}" '
            f'width="{w:.1f}" height="{y(0) - y(b.count):.1f}" fill="{BLUE}">'
            f"<title>{_text(f'{span}: {b.count} trials')}</title></rect>"
        )
    if target is not None:
        parts.append(
            f'<line class="target" x1="{x(target):.1f}" y1="{top - 6:.1f}" x2="{x(target):.1f}" '
            f'y2="{height - bottom:.1f}" stroke="{RED}" stroke-width="1.5" '
            'stroke-dasharray="5 3"></line>'
        )
        parts.append(
            f'<text x="{x(target) - 4:.1f}" y="{top + 6:.1f}" font-size="10" fill="{RED}" '
            f'text-anchor="end">target {_text(format_duration(target))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _rate_figure(report: Mapping[str, Any]) -> str:
    summary = report["summary"]
    rate = summary["spurious_failover_rate"]
    value = _number_or_none(rate.get("value"))
    upper = _number_or_none(rate.get("upper_95"))
    target = next(
        (
            _number_or_none(entry.get("target"))
            for entry in report["objectives"]
            if entry["name"] == "max_spurious_failover_rate"
        ),
        None,
    )
    caption = f"spurious failovers: {summary['spurious_failovers']} of {summary['trials']} trials"
    if value is None or upper is None:
        return (
            '<figure class="chart-figure" data-measure="spurious_failover_rate">'
            f"<figcaption>{_text(caption)}</figcaption></figure>"
        )
    caption += f": rate {format_percent(value)}, one-sided 95% upper bound {format_percent(upper)}"
    if target is not None:
        caption += f"; dashed line: the objective's target {format_percent(target)}"
    width, height = 480.0, 92.0
    left, right = 20.0, 20.0
    top = 40.0
    high = max(upper, target or 0.0, 0.001) * 1.15
    x = _Scale(0.0, high, left, width - right)
    parts = [
        f'<svg class="chart rate" data-measure="spurious_failover_rate" viewBox="0 0 '
        f'{width:g} {height:g}" role="img" aria-label="spurious failover rate">',
        "<title>Spurious-failover rate and its one-sided 95% upper bound</title>",
        f'<text x="{left:g}" y="16" font-size="13" font-weight="600">spurious-failover rate</text>',
        _line(left, top + 10, width - right, top + 10, GREY),
        f'<rect class="rate-interval" x="{x(value):.1f}" y="{top:.1f}" '
        f'width="{max(2.0, x(upper) - x(value)):.1f}" height="20" fill="{ORANGE}" '
        f'fill-opacity="0.35"><title>{_text(caption)}</title></rect>',
        f'<circle class="rate-value" cx="{x(value):.1f}" cy="{top + 10:.1f}" r="5" '
        f'fill="{ORANGE}"><title>{_text("rate " + format_percent(value))}</title></circle>',
    ]
    for tick, anchor in ((0.0, "start"), (upper, "middle")):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{top + 36:.1f}" font-size="10" '
            f'text-anchor="{anchor}">{_text(format_percent(tick))}</text>'
        )
    if target is not None:
        parts.append(
            f'<line class="target" x1="{x(target):.1f}" y1="{top - 8:.1f}" '
            f'x2="{x(target):.1f}" y2="{top + 28:.1f}" stroke="{RED}" stroke-width="1.5" '
            'stroke-dasharray="5 3"></line>'
        )
    parts.append("</svg>")
    return (
        '<figure class="chart-figure" data-measure="spurious_failover_rate">'
        + "".join(parts)
        + f"<figcaption>{_text(caption)}</figcaption></figure>"
    )


# Timelines -------------------------------------------------------------------------------------


def _timelines(report: Mapping[str, Any]) -> str:
    carried = [t for t in report["trials"] if isinstance(t.get("timeline"), list)]
    if not carried:
        return ""
    shown = carried[:TIMELINES_SHOWN]
    intro = (
        f"The history of {len(carried)} trial{'s' if len(carried) != 1 else ''}, one swimlane "
        "per Region; time is seconds since the trial started. Hover a mark for its details."
    )
    if len(carried) > len(shown):
        intro += f" The first {len(shown)} are drawn; the JSON report holds every one."
    parts = [
        '<h2 id="timelines">Timelines</h2>',
        f"<p>{_text(intro)}</p>",
        _legend(),
    ]
    parts += [_trial_timeline(trial) for trial in shown]
    return "\n".join(parts)


def _legend() -> str:
    entries = (
        (RED, "fault (shaded lane)", 0.3),
        (GREEN, "environment AVAILABLE / run succeeded / probe healthy", 1.0),
        (YELLOW, "environment changing / still running", 1.0),
        (RED, "failed / unhealthy", 1.0),
        (AMBER, "probe unknown", 1.0),
        (GREY, "environment deleted / other state", 1.0),
        (BLUE, "scheduling the workload", 1.0),
        (PURPLE, "backup", 1.0),
        (TEAL, "replication arrival", 1.0),
        (PINK, "restore", 1.0),
        (INK, "decision (failover / failback)", 1.0),
    )
    items = "".join(
        f'<span><span class="swatch" style="background:{colour};opacity:{opacity:g}">'
        f"</span>{_text(label)}</span>"
        for colour, label, opacity in entries
    )
    segments = "".join(
        f'<span><span class="swatch" style="background:{colour}"></span>RTO: {_text(name)}</span>'
        for name, colour in SEGMENT_COLOURS.items()
    )
    return f'<div class="legend">{items}{segments}</div>'


def _trial_timeline(trial: Mapping[str, Any]) -> str:
    events, skipped = events_from_json(trial["timeline"])
    timeline = build_timeline(events, skipped)
    index = trial.get("index", "?")
    verdict = VERDICT_WORDS.get(str(trial.get("verdict")), "UNKNOWN")
    heading = (
        f"Trial {index} · seed {trial.get('seed', '?')} · {verdict}"
        f" · RTO {format_seconds(_number_or_none(trial.get('rto_s')))}"
        f" · detection {format_seconds(_number_or_none(trial.get('detection_s')))}"
        f" · RPO {format_seconds(_number_or_none(trial.get('rpo_s')))}"
    )
    parts = [
        f'<section class="trial-timeline" id="timeline-{_text(index)}" '
        f'data-trial="{_text(index)}">',
        f"<h3>{_text(heading)}</h3>",
    ]
    if not events:
        parts.append("<p>The timeline holds no readable event.</p></section>")
        return "\n".join(parts)
    parts.append(_timeline_svg(timeline, index))
    parts.append("<h4>RTO split</h4>")
    parts.append(_split_view(timeline.split))
    parts.append(_event_table(events, skipped))
    parts.append("</section>")
    return "\n".join(parts)


# Layout of a timeline, in SVG user units.
_TL_WIDTH = 1000.0
_TL_LEFT = 150.0  # Region and track names
_TL_RIGHT = 14.0
_TL_AXIS = 28.0
_TL_TRACK = 11.0
_TL_TRACK_GAP = 3.0
_TL_LANE_HEAD = 17.0
_TL_LANE_GAP = 8.0
_TL_ROW = 16.0  # the drill row (phases, notes) and the RTO row


def _timeline_svg(timeline: Timeline, index: object) -> str:
    x = _Scale(timeline.start, timeline.end, _TL_LEFT, _TL_WIDTH - _TL_RIGHT)
    lane_height = _TL_LANE_HEAD + len(TRACKS) * (_TL_TRACK + _TL_TRACK_GAP)
    drill_row = bool(timeline.phases or timeline.notes)
    y = _TL_AXIS + (_TL_ROW + _TL_LANE_GAP if drill_row else 0.0)
    lanes_top = y
    body: list[str] = []
    for lane in timeline.lanes:
        body.append(_lane_svg(lane, x, y, lane_height))
        y += lane_height + _TL_LANE_GAP
    lanes_bottom = y - _TL_LANE_GAP
    rto_y = y
    height = rto_y + _TL_ROW + 8.0

    parts = [
        f'<svg class="chart timeline" data-trial="{_text(index)}" '
        f'viewBox="0 0 {_TL_WIDTH:g} {height:.0f}" role="img" '
        f'aria-label="{_text(f"timeline of trial {index}")}">',
        f"<title>{_text(f'Trial {index}: what happened in each Region')}</title>",
    ]
    # Time axis with a light grid through every lane.
    for tick in time_ticks(timeline.start, timeline.end):
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{_TL_AXIS - 6:.1f}" x2="{x(tick):.1f}" '
            f'y2="{lanes_bottom:.1f}" stroke="#d1d9e0" stroke-width="0.5"></line>'
        )
        parts.append(
            f'<text class="tick" x="{x(tick):.1f}" y="{_TL_AXIS - 10:.1f}" font-size="10" '
            f'text-anchor="middle">{_text(format_duration(tick))}</text>'
        )
    if drill_row:
        parts.append(_drill_row(timeline, x, _TL_AXIS))
    parts += body
    for mark in timeline.decisions:
        parts.append(_decision_svg(mark, x, lanes_top - 4, lanes_bottom))
    parts.append(_rto_row(timeline.split, x, rto_y))
    parts.append("</svg>")
    return "".join(parts)


def _lane_svg(lane: Lane, x: _Scale, top: float, height: float) -> str:
    label = lane.region + (f" ({lane.role})" if lane.role else "")
    parts = [
        f'<g class="swimlane" data-region="{_text(lane.region)}" data-role="{_text(lane.role)}">',
        f'<rect class="lane-bg" x="0" y="{top:.1f}" width="{_TL_WIDTH:g}" '
        f'height="{height:.1f}" fill="#f6f8fa"></rect>',
        f'<text class="lane-label" x="6" y="{top + 12:.1f}" font-size="12" '
        f'font-weight="600">{_text(label)}</text>',
    ]
    for fault in lane.faults:
        x0, x1 = x(fault.start), x(fault.end)
        parts.append(
            f'<rect class="fault" x="{x0:.1f}" y="{top:.1f}" width="{max(1.5, x1 - x0):.1f}" '
            f'height="{height:.1f}" fill="{RED}" fill-opacity="0.13" stroke="{RED}" '
            f'stroke-opacity="0.5"><title>{_text(_span_title(fault))}</title></rect>'
        )
        parts.append(
            f'<text x="{x0 + 3:.1f}" y="{top + 12:.1f}" font-size="10" fill="{RED}">'
            f"{_text(fault.label)}</text>"
        )
    for i, track in enumerate(TRACKS):
        track_y = top + _TL_LANE_HEAD + i * (_TL_TRACK + _TL_TRACK_GAP)
        parts.append(
            f'<text class="track-label" x="{_TL_LEFT - 6:.1f}" y="{track_y + 9:.1f}" '
            f'font-size="9.5" text-anchor="end" fill="#59636e">{_text(track)}</text>'
        )
        parts.append(f'<g class="track" data-track="{track}">')
        parts += [_item_svg(track, item, x, track_y) for item in lane.track(track)]
        parts.append("</g>")
    parts.append("</g>")
    return "".join(parts)


def _item_svg(track: str, item: Interval | Mark, x: _Scale, top: float) -> str:
    if isinstance(item, Mark):
        colour = PROBE_COLOURS.get(item.state, GREY) if track == "probes" else TEAL
        tip = _text(_mark_title(item))
        if track == "probes":
            return (
                f'<circle class="probe probe-{_token(item.state)}" cx="{x(item.t):.1f}" '
                f'cy="{top + _TL_TRACK / 2:.1f}" r="2.6" fill="{colour}">'
                f"<title>{tip}</title></circle>"
            )
        return (
            f'<rect class="{_token(track)}" x="{x(item.t) - 0.75:.1f}" y="{top:.1f}" '
            f'width="1.5" height="{_TL_TRACK:g}" fill="{colour}"><title>{tip}</title></rect>'
        )
    colour = _interval_colour(track, item.state)
    x0, x1 = x(item.start), x(item.end)
    css = f"{_token(track)} {_token(track)}-{_token(item.state)}"
    return (
        f'<rect class="{css}" x="{x0:.1f}" y="{top:.1f}" width="{max(1.5, x1 - x0):.1f}" '
        f'height="{_TL_TRACK:g}" fill="{colour}" fill-opacity="0.8">'
        f"<title>{_text(_span_title(item))}</title></rect>"
    )


def _interval_colour(track: str, state: str) -> str:
    if track == "environment":
        return _env_colour(state)
    if track == "scheduling":
        return BLUE
    if state in ("failed", "running"):
        return RESULT_COLOURS[state]
    if track == "backups":
        return PURPLE
    if track == "restores":
        return PINK
    return RESULT_COLOURS.get(state, GREY)


def _env_colour(state: str) -> str:
    upper = state.upper()
    if upper == "AVAILABLE":
        return GREEN
    if "FAIL" in upper or upper == "UNAVAILABLE":
        return RED
    if upper.startswith("DELET"):
        return GREY
    if upper.endswith("ING") or upper == "PENDING":
        return YELLOW
    return GREY


def _drill_row(timeline: Timeline, x: _Scale, top: float) -> str:
    parts = [
        '<g class="drill-row">',
        f'<text x="6" y="{top + 11:.1f}" font-size="11" font-weight="600">drill</text>',
    ]
    for phase in timeline.phases:
        x0, x1 = x(phase.start), x(phase.end)
        colour = RESULT_COLOURS.get(phase.state, GREY)
        parts.append(
            f'<rect class="phase phase-{_token(phase.state)}" x="{x0:.1f}" y="{top + 2:.1f}" '
            f'width="{max(1.5, x1 - x0):.1f}" height="{_TL_ROW - 4:g}" fill="{colour}" '
            f'fill-opacity="0.5" stroke="#fff" stroke-width="0.5">'
            f"<title>{_text(_span_title(phase))}</title></rect>"
        )
    for note in timeline.notes:
        parts.append(
            f'<circle class="note" cx="{x(note.t):.1f}" cy="{top + _TL_ROW / 2:.1f}" r="2" '
            f'fill="{INK}" fill-opacity="0.6"><title>{_text(_mark_title(note))}</title></circle>'
        )
    parts.append("</g>")
    return "".join(parts)


def _decision_svg(mark: Mark, x: _Scale, top: float, bottom: float) -> str:
    dash = "" if mark.state == "failover" else ' stroke-dasharray="4 2"'
    return (
        f'<g class="decision decision-{_token(mark.state)}"><title>{_text(_mark_title(mark))}'
        f'</title><line x1="{x(mark.t):.1f}" y1="{top:.1f}" x2="{x(mark.t):.1f}" '
        f'y2="{bottom:.1f}" stroke="{INK}" stroke-width="1.5"{dash}></line>'
        f'<text x="{x(mark.t) + 3:.1f}" y="{top + 2:.1f}" font-size="10" fill="{INK}">'
        f"{_text(mark.state)}</text></g>"
    )


def _rto_row(split: RtoSplit, x: _Scale, top: float) -> str:
    parts = [
        '<g class="rto-row">',
        f'<text x="6" y="{top + 11:.1f}" font-size="11" font-weight="600">RTO</text>',
    ]
    for segment in split.segments:
        x0, x1 = x(segment.start), x(segment.end)
        parts.append(
            f'<rect class="segment" data-segment="{_text(segment.name)}" x="{x0:.1f}" '
            f'y="{top + 2:.1f}" width="{max(1.5, x1 - x0):.1f}" height="{_TL_ROW - 4:g}" '
            f'fill="{SEGMENT_COLOURS[segment.name]}">'
            f"<title>{_text(f'{segment.name}: {format_duration(segment.seconds)}')}</title></rect>"
        )
    if not split.segments:
        parts.append(
            f'<text x="{_TL_LEFT:g}" y="{top + 11:.1f}" font-size="10" fill="#59636e">'
            f"{_text(split.note or 'nothing to split')}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def _split_view(split: RtoSplit) -> str:
    rows = [
        (
            DETECTION,
            "fault → failover decision",
            format_seconds(split.detection_s),
        ),
        (
            PROVISIONING,
            f"decision → secondary ready ({split.ready_basis or 'not reached'})",
            format_seconds(split.provisioning_s),
        ),
        (
            FIRST_RUN,
            "ready → first successful workload run due after the fault",
            format_seconds(split.first_run_s),
        ),
        ("RTO", "fault → first successful run", format_seconds(split.rto_s)),
    ]
    table = _table(("part", "from → to", "duration"), rows)
    note = f'<p class="note">{_text(split.note)}</p>' if split.note else ""
    return _split_svg(split) + "\n" + table + note


def _split_svg(split: RtoSplit) -> str:
    segments = split.segments
    if not segments:
        return ""
    width, height = 1000.0, 52.0
    left, right = 14.0, 14.0
    start, end = segments[0].start, segments[-1].end
    x = _Scale(start, max(end, start + 1e-9), left, width - right)
    parts = [
        f'<svg class="chart split" viewBox="0 0 {width:g} {height:g}" role="img" '
        'aria-label="RTO split">',
        "<title>The RTO split: detection, provisioning/restore, first successful run</title>",
    ]
    for segment in segments:
        x0, x1 = x(segment.start), x(segment.end)
        label = f"{segment.name} {format_duration(segment.seconds)}"
        parts.append(
            f'<rect class="segment" data-segment="{_text(segment.name)}" x="{x0:.1f}" y="4" '
            f'width="{max(1.5, x1 - x0):.1f}" height="24" fill="{SEGMENT_COLOURS[segment.name]}">'
            f"<title>{_text(label)}</title></rect>"
        )
        if x1 - x0 > len(label) * 6.2 + 8:
            parts.append(
                f'<text x="{(x0 + x1) / 2:.1f}" y="20" font-size="11" fill="#fff" '
                f'text-anchor="middle">{_text(label)}</text>'
            )
    for t, anchor in ((start, "start"), (end, "end")):
        parts.append(
            f'<text x="{x(t):.1f}" y="44" font-size="10" text-anchor="{anchor}">'
            f"t={_text(format_duration(t))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _event_table(events: Sequence[Any], skipped: int) -> str:
    listed = [e for e in events if e.kind not in QUIET_KINDS]
    quiet: dict[str, int] = {}
    for e in events:
        if e.kind in QUIET_KINDS:
            quiet[e.kind] = quiet.get(e.kind, 0) + 1
    rows = [
        (format_duration(e.t), f"{e.t:.3f}", e.kind, _event_detail(e.data))
        for e in listed[:EVENTS_LISTED]
    ]
    notes = []
    if quiet:
        counted = ", ".join(f"{n} {kind}" for kind, n in sorted(quiet.items()))
        notes.append(f"Drawn above, not listed: {counted} events.")
    if len(listed) > EVENTS_LISTED:
        notes.append(f"{len(listed) - EVENTS_LISTED} more events not listed.")
    if skipped:
        notes.append(f"{skipped} events could not be read and are left out.")
    head = "".join(f"<th>{h}</th>" for h in ("t", "seconds", "event", "details"))
    body = "".join(
        f'<tr><td class="num">{_text(a)}</td><td class="num">{_text(b)}</td>'
        f'<td>{_text(c)}</td><td class="wrap">{_text(d)}</td></tr>'
        for a, b, c, d in rows
    )
    note = "".join(f'<p class="note">{_text(n)}</p>' for n in notes)
    return (
        f"<details><summary>Events ({len(events)})</summary>{note}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>"
    )


def _event_detail(data: Mapping[str, Any]) -> str:
    parts = []
    for key, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > 160:
            text = text[:157] + "..."
        parts.append(f"{key}={text}")
    return ", ".join(parts)


def _span_title(item: Interval) -> str:
    text = (
        f"{item.label}: {item.state}, {format_duration(item.start)} to "
        f"{format_duration(item.end)} ({format_duration(item.end - item.start)})"
    )
    return f"{text}; {item.detail}" if item.detail else text


def _mark_title(item: Mark) -> str:
    text = f"{format_duration(item.t)}: {item.label}"
    return f"{text}: {item.detail}" if item.detail else text


# Scenario and settings -------------------------------------------------------------------------


def _scenario(report: Mapping[str, Any]) -> str:
    rows = flatten(report["scenario"])
    return '<h2 id="scenario">Scenario</h2>\n' + _table(("field", "value"), rows)


def _settings(report: Mapping[str, Any]) -> str:
    settings = report.get("settings") or {}
    if not settings:
        return '<h2 id="settings">Settings</h2>\n<p>The report records no settings.</p>'
    parts = ['<h2 id="settings">Settings</h2>']
    for key, value in settings.items():
        rows = (
            flatten(value, str(key))
            if isinstance(value, Mapping | list)
            else [(str(key), _scalar(value))]
        )
        is_open = " open" if len(rows) <= 30 else ""
        parts.append(
            f"<details{is_open}><summary>{_text(key)} ({len(rows)})</summary>"
            + _table(("setting", "value"), rows)
            + "</details>"
        )
    return "\n".join(parts)


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested JSON as (dotted path, value) rows: `detector.check_interval`, `faults[0].kind`.
    A list of plain values is one row."""
    if isinstance(value, Mapping):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows += flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return rows if rows or not prefix else [(prefix, "{}")]
    if isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value):
        rows = []
        for i, item in enumerate(value):
            rows += flatten(item, f"{prefix}[{i}]")
        return rows
    return [(prefix, _scalar(value))]


def _scalar(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_scalar(v) for v in value) if value else "[]"
    return str(value)


# Helpers ---------------------------------------------------------------------------------------


class _Scale:
    """A linear map from [d0, d1] to [r0, r1]."""

    def __init__(self, d0: float, d1: float, r0: float, r1: float) -> None:
        self._d0, self._r0 = d0, r0
        self._k = (r1 - r0) / (d1 - d0) if d1 != d0 else 0.0

    def __call__(self, value: float) -> float:
        return self._r0 + (value - self._d0) * self._k


def _line(x1: float, y1: float, x2: float, y2: float, colour: str) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{colour}" stroke-width="1"></line>'
    )


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


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number_or_none(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _token(value: object) -> str:
    """A CSS class token: lowercase letters, digits and dashes only."""
    text = "".join(c if c.isascii() and c.isalnum() else "-" for c in str(value).lower())
    return text.strip("-") or "x"


def _class_name(verdict: object) -> str:
    return str(verdict) if verdict in ("pass", "fail", "unknown") else "unknown"


def _text(value: object) -> str:
    return escape(str(value), quote=True)
