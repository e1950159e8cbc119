from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from harness.render import select_trials
from harness.render.html import render_html
from harness.render.markdown import render_markdown
from harness.report import build_report, unknown_report
from tests.unit.test_report import never_recovered, outage_scenario, recovered, trials_of

OBJECTIVE_NAMES = (
    "rto",
    "rpo",
    "max_spurious_failover_rate",
    "max_split_brain",
    "max_lost_runs",
    "max_duplicate_runs",
)


def report_with(*measures: Any, **scenario_changes: Any) -> dict[str, Any]:
    return build_report(
        mode="simulate",
        scenario=outage_scenario(**scenario_changes),
        seed=11,
        trials=trials_of(*measures),
    )


def test_markdown_pass():
    report = report_with(recovered(rto_s=700.0), recovered(rto_s=900.0))
    text = render_markdown(report)
    assert text.startswith("# mwaa-drill: regional-outage-warm-standby — ✅ PASS\n")
    assert "simulate · strategy warm_standby · profile hardened · seed 11 · 2 trials" in text
    for name in OBJECTIVE_NAMES:
        assert f"| {name} |" in text
    assert "| rto | p95 ≤ 20m | 14m50s | ✅ |" in text  # p95 of 11m40s and 15m
    assert "| rpo | p100 ≤ 15m | 5m | ✅ |" in text
    assert "| max_spurious_failover_rate | ≤ 5% | 0% | ✅ |" in text
    assert "| RTO | 13m20s | 14m50s | 14m58s | 15m | 2 |" in text
    assert "| detection | 3m | 3m | 3m | 3m | 2 |" in text
    assert "every objective met over 2 trials" in text
    assert "Aborted" not in text


def test_markdown_fail_shows_reasons_and_numbers():
    report = report_with(recovered(), never_recovered(), recovered(rto_s=1630.0))
    text = render_markdown(report)
    assert "❌ FAIL" in text
    assert "## Verdict: FAIL" in text
    assert "1 of 3 trials never recovered" in text
    assert "rto 27m10s > 20m" in text
    assert "| 1 | 1001 | FAIL |" in text
    assert "| spurious failovers | 0 (rate 0%, one-sided 95% upper bound 63.2%) |" in text


def test_markdown_unknown_and_aborted():
    report = unknown_report(
        mode="live", scenario=outage_scenario(), seed=1, reason="the stack did not start"
    )
    text = render_markdown(report)
    assert "❔ UNKNOWN" in text
    assert "> **Aborted:** the stack did not start" in text
    assert "No trials were run." in text
    assert "| RTO | — | — | — | — | 0 |" in text


def test_markdown_escapes_pipes_in_cells():
    report = report_with(recovered(reasons=("a | b\nc",)))
    text = render_markdown(report)
    assert "a \\| b c" in text


def test_more_than_twenty_trials_shows_failing_first():
    measures = [recovered() for _ in range(30)]
    measures[25] = never_recovered()
    measures[27] = recovered(complete=False)
    report = report_with(*measures)
    selection = select_trials(report)
    assert [t["index"] for t in selection.trials[:2]] == [25, 27]
    assert len(selection.trials) == 20
    assert selection.left_out == 10
    text = render_markdown(report)
    assert "10 more trials not shown (0 failing, 0 unknown, 10 passing)" in text
    trial_lines = [line for line in text.splitlines() if line.startswith("| 2")]
    assert trial_lines[0].startswith("| 25 | 1025 | FAIL |")


def test_twenty_trials_are_all_shown_in_order():
    report = report_with(*[recovered() for _ in range(20)])
    selection = select_trials(report)
    assert [t["index"] for t in selection.trials] == list(range(20))
    assert selection.note == ""
    assert "not shown" not in render_markdown(report)


def test_markdown_without_objectives():
    from harness.scenario.model import Objectives

    text = render_markdown(report_with(recovered(), objectives=Objectives()))
    assert "The scenario sets no objectives." in text


class _Checker(HTMLParser):
    """Collects tags and checks that every non-void tag is closed in order."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> _Checker:
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert checker.stack == []
    return checker


def test_html_is_well_formed_and_self_contained():
    measures = [recovered() for _ in range(25)] + [never_recovered()]
    report = report_with(*measures)
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    checker = parse(page)
    assert "script" not in checker.tags
    assert "http" not in page  # no external stylesheets, fonts or images
    text = "".join(checker.text)
    assert "FAIL" in text
    for name in OBJECTIVE_NAMES:
        assert name in text
    assert "6 more trials not shown" in text
    assert "1 of 26 trials never recovered" in text


def test_html_escapes_everything_from_the_report():
    report = report_with(
        recovered(reasons=('<img src=x onerror="alert(1)">',)),
        name="<script>alert('x')</script>",
    )
    report["aborted"] = "<b>stopped</b> & gone"
    page = render_html(report)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "&lt;b&gt;stopped&lt;/b&gt; &amp; gone" in page
    checker = parse(page)
    assert "script" not in checker.tags
    assert "<script>alert('x')</script>" in "".join(checker.text)


@pytest.mark.parametrize("verdict", ["pass", "fail", "unknown"])
def test_html_verdict_badge(verdict):
    report = report_with(recovered())
    report = {**report, "verdict": verdict}
    page = render_html(report)
    assert f'class="verdict verdict-{verdict}"' in page
    parse(page)


def test_renderings_of_a_trial_without_optional_keys():
    # A report from another producer may lack keys the schema does not require.
    report = report_with(recovered())
    for trial in report["trials"]:
        del trial["t_fault"], trial["failovers"], trial["complete"]
    for entry in report["objectives"]:
        entry.pop("unit")
        entry.pop("percentile", None)
    text = render_markdown(report)
    assert "| rto | ≤ 20m |" in text
    assert "| max_spurious_failover_rate | ≤ 5% |" in text
    parse(render_html(report))
