"""The HTML report in a real headless browser: Chromium from Debian's packages, driven by
Playwright (its own browser downloads are never used: `executable_path` is the system one).

Two pages, each opened from a file with JavaScript disabled (the charts are SVG drawn in
Python, so they must be there without it):

- a simulated campaign, made the way a user makes it: `mwaa-drill simulate` of 30 trials with
  `--history-dir` (so the first trials' histories are embedded), then `mwaa-drill report
  --format html`;
- a single-trial report in mode "live" built with `build_report(timelines={0: events})`, the
  history being a simulated backup-and-restore trial with the progress events of a live drill.

A missing browser or Playwright is a failure, not a skip: CI installs both
(scripts/install-browser.sh, tox env `browser`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.checkers import measure_trial
from harness.cli import HISTORIES_KEPT, main
from harness.history import Event, History
from harness.render.html import render_html
from harness.render.timeline import TRACKS
from harness.report import TrialResult, build_report, load_report, validate_report
from harness.scenario import load_scenario
from harness.sim.calibration import default_calibration
from harness.sim.trial import run_trial

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CAMPAIGN_TRIALS = 30
INSTALL_HINT = "install it with scripts/install-browser.sh (CI does), or run `tox -e browser`"


def chromium_executable() -> str:
    """The system Chromium: $MWAA_DRILL_CHROMIUM, else Debian's `chromium`."""
    chosen = os.environ.get("MWAA_DRILL_CHROMIUM")
    if chosen:
        if not os.access(chosen, os.X_OK):
            pytest.fail(f"MWAA_DRILL_CHROMIUM={chosen} is not an executable")
        return chosen
    candidates = [
        "/usr/lib/chromium/chromium",  # the binary itself, without the launcher script
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(f"no Chromium found (apt package `chromium`): {INSTALL_HINT}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"Playwright for Python is not installed: {INSTALL_HINT}")
    executable = chromium_executable()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Opened:
    """A page opened from a file, with every console message, page error and request seen."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.context = browser.new_context(
            java_script_enabled=False, viewport={"width": 1280, "height": 900}
        )
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.resolve().as_uri()
        response = self.page.goto(self.url, wait_until="load")
        assert response is None or response.ok
        if os.environ.get("MWAA_DRILL_SCREENSHOTS"):
            shots = Path(os.environ["MWAA_DRILL_SCREENSHOTS"])
            shots.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(shots / f"{path.stem}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()

    def check_clean(self) -> None:
        """No console error or warning, no page error, nothing fetched but the file itself."""
        assert [m for m in self.console if m.startswith(("error", "warning"))] == []
        assert self.errors == []
        assert self.requests == [self.url]

    def boxes(self, selector: str) -> list[dict[str, float]]:
        locator = self.page.locator(selector)
        script = (
            "els => els.map(e => { const r = e.getBoundingClientRect();"
            " return {x: r.x, y: r.y, width: r.width, height: r.height}; })"
        )
        boxes: list[dict[str, float]] = locator.evaluate_all(script)
        return boxes

    def check_drawn(self, selector: str, expected: int | None = None) -> list[dict[str, float]]:
        boxes = self.boxes(selector)
        if expected is not None:
            assert len(boxes) == expected, f"{selector}: {len(boxes)} drawn, {expected} expected"
        assert boxes, f"nothing matches {selector}"
        empty = [b for b in boxes if b["width"] <= 0 or b["height"] <= 0]
        assert empty == [], f"{selector}: {len(empty)} of {len(boxes)} have no area"
        return boxes

    def check_verdict(self, word: str) -> None:
        badge = self.page.locator("h1 .verdict")
        assert badge.is_visible()
        assert badge.inner_text().strip() == word
        heading = self.page.locator("#verdict")
        assert heading.is_visible() and heading.inner_text().strip() == f"Verdict: {word}"


def test_campaign_report(browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "campaign.json"
    html_path = tmp_path / "campaign.html"
    main(
        [
            "simulate",
            str(REPO / "scenarios/regional-outage-warm-standby.yaml"),
            "--trials",
            str(CAMPAIGN_TRIALS),
            "--workers",
            "1",
            "--json",
            str(report_path),
            "--history-dir",
            str(tmp_path / "histories"),
        ]
    )
    assert main(["report", str(report_path), "--format", "html", "-o", str(html_path)]) == 0
    capsys.readouterr()
    report = load_report(report_path)
    word = report["verdict"].upper()

    opened = Opened(browser, html_path)
    try:
        opened.check_clean()
        opened.check_verdict(word)
        assert opened.page.title().endswith(word)

        # Distributions: a histogram per measure, a bar per non-empty bin, every measured
        # trial in a bar; the spurious-failover rate with its bound.
        opened.check_drawn("svg.histogram", 3)
        for key in ("rto_s", "rpo_s", "detection_s"):
            bars = f'svg.histogram[data-measure="{key}"] rect.bar'
            opened.check_drawn(bars)
            counts = opened.page.locator(bars).evaluate_all(
                "els => els.map(e => Number(e.dataset.count))"
            )
            measured = sum(1 for t in report["trials"] if t[key] is not None)
            assert sum(counts) == measured
        opened.check_drawn("svg.rate")
        opened.check_drawn("svg.rate rect.rate-interval", 1)
        assert opened.page.locator("figure[data-measure=spurious_failover_rate]").is_visible()

        # Timelines: one per kept history, two swimlanes (Regions) each, every track.
        kept = min(HISTORIES_KEPT, CAMPAIGN_TRIALS)
        opened.check_drawn("svg.timeline", kept)
        lanes = opened.check_drawn("svg.timeline g.swimlane", 2 * kept)
        assert all(b["width"] > 500 for b in lanes)
        assert opened.page.locator("svg.timeline g.track").count() == 2 * kept * len(TRACKS)
        for kind in ("rect.fault", "circle.probe", "g.decision", "rect.runs", "rect.scheduling"):
            opened.check_drawn(f"svg.timeline {kind}")
        recovered = sum(1 for t in report["trials"][:kept] if t["rto_s"] is not None)
        opened.check_drawn("svg.split", recovered)
        opened.check_drawn("svg.split rect.segment", 3 * recovered)
        first = opened.page.locator("section.trial-timeline").first
        assert first.locator("h3").is_visible()
        assert "RTO" in first.locator("h3").inner_text()
    finally:
        opened.close()


def live_like_history() -> list[Event]:
    """A simulated backup-and-restore trial with the progress events a live drill adds."""
    scenario = load_scenario(REPO / "scenarios/regional-outage-backup-restore.yaml")
    trial = run_trial(scenario, default_calibration(), 0, keep_history=True)
    assert trial.history is not None
    events = list(trial.history.events)
    fault_t = next(e.t for e in events if e.kind == "fault_on")
    end_t = events[-1].t
    phases = [
        (0.0, "provision", "started"),
        (0.0, "provision", "done"),
        (fault_t, "inject", "started"),
        (fault_t, "inject", "done"),
        (fault_t, "observe", "started"),
        (end_t, "observe", "done"),
    ]
    events += [Event(t, "phase", {"name": n, "state": s}) for t, n, s in phases]
    events.append(
        Event(fault_t, "fault_verified", {"fault_id": 0, "landed": True, "detail": "refused"})
    )
    return list(History(sorted(events, key=lambda e: e.t)).events)


def test_single_live_trial_report(browser: Any, tmp_path: Path) -> None:
    events = live_like_history()
    scenario = load_scenario(REPO / "scenarios/regional-outage-backup-restore.yaml")
    report = build_report(
        mode="live",
        scenario=scenario,
        seed=scenario.seed,
        trials=[TrialResult(0, scenario.seed, measure_trial(events))],
        settings={"live": {"backend": "moto", "time_scale": 1}},
        timelines={0: events},
    )
    validate_report(report)
    html_path = tmp_path / "live.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    word = report["verdict"].upper()

    opened = Opened(browser, html_path)
    try:
        opened.check_clean()
        opened.check_verdict(word)
        assert "live · strategy backup_restore" in opened.page.locator(".subtitle").inner_text()
        assert opened.page.locator("svg.histogram").count() == 0  # one trial: no distribution
        opened.check_drawn("svg.timeline", 1)
        opened.check_drawn("svg.timeline g.swimlane", 2)
        opened.check_drawn("svg.timeline g.drill-row rect.phase", 3)
        opened.check_drawn('svg.timeline g.swimlane[data-role="secondary"] rect.environment')
        opened.check_drawn('svg.timeline g.swimlane[data-role="secondary"] rect.restores')
        opened.check_drawn("svg.timeline g.rto-row rect.segment", 3)
        segments = opened.check_drawn("svg.split rect.segment", 3)
        assert segments[0]["x"] < segments[1]["x"] < segments[2]["x"]
        table = opened.page.locator("section.trial-timeline table").first
        assert table.is_visible()
        assert "provisioning/restore" in table.inner_text()
    finally:
        opened.close()


# A real live drill's report, kept as data: `make drill` (regional-outage-warm-standby,
# hardened, 30x) on the development machine, its JSON report as written to reports/.
LIVE_REPORT = Path(__file__).parent / "data" / "live-regional-outage-warm-standby.report.json"


def test_real_live_drill_report(browser: Any, tmp_path: Path) -> None:
    report = load_report(LIVE_REPORT)  # validates against the report schema
    assert report["mode"] == "live" and report["trials"][0].get("timeline")
    html_path = tmp_path / "real-live.html"
    html_path.write_text(render_html(report), encoding="utf-8")

    opened = Opened(browser, html_path)
    try:
        opened.check_clean()
        opened.check_verdict(report["verdict"].upper())
        assert "live · strategy warm_standby" in opened.page.locator(".subtitle").inner_text()
        opened.check_drawn("svg.timeline", 1)
        opened.check_drawn("svg.timeline g.swimlane", 2)
        opened.check_drawn('svg.timeline g.swimlane[data-role="primary"] rect.runs')
        opened.check_drawn('svg.timeline g.swimlane[data-role="secondary"] rect.runs')
        opened.check_drawn('svg.timeline g.swimlane[data-role="secondary"] rect.restores')
        opened.check_drawn("svg.timeline g.rto-row rect.segment", 3)
        opened.check_drawn("svg.split rect.segment", 3)
    finally:
        opened.close()
